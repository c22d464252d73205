"""Test mAP of each teacher and of the best student it yields, over training seeds (on demand).

    nice -n 10 .venv/bin/python bench/teacher_comparison.py --work DIR [--seeds 0 1]

Each (teacher, seed) runs the project's own pipelines in a scratch copy of the project
(pyproject.toml, conf/ and a snapshot of src/, so editing the worktree meanwhile changes
nothing) under DIR/<teacher>_seed<S>, without baselines, in a scratch Kedro environment
`compare`: the threshold students at tau 0.55, 0.65 and 0.75 (0.85 and 0.95 were never the
best of EM, EM+APL or GR + BoostLU on seed 0: they keep too few positives), and one student
on soft targets (T = 1) with the observed positive kept, the best round-1 policy of the
variants study (issue 11):

    kedro run --env compare --params TEACHER,training.seed=S,baselines.losses=[]

A teacher-only option (model.head=boostlu) splits this in two, so every student keeps the
same linear head:

    kedro run --env compare --pipelines data_engineering,teacher --params TEACHER,HEAD,...
    kedro run --env compare --pipelines pseudo_labeling,student,reporting --params TEACHER,...

A finished (teacher, seed) keeps its variants.csv and is not run again. Prints one row per
teacher: its test mAP, its best threshold student's (and that student's tau) and its soft
student's, per seed and the mean.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


class Teacher(NamedTuple):
    """A teacher of the comparison: its label, its parameters, and teacher-only parameters."""

    slug: str
    label: str
    params: tuple[str, ...]
    teacher_only: tuple[str, ...] = ()


TEACHERS = (
    Teacher("em", "EM (alpha 0.2, the study's teacher)", ()),
    Teacher("em_apl", "EM+APL", ("teacher.loss=em_apl", "teacher.loss_options=null")),
    Teacher("ll_r", "LL-R", ("teacher.loss=ll_r", "teacher.loss_options=null")),
    Teacher("gr", "GR", ("teacher.loss=gr", "teacher.loss_options=null")),
    Teacher(
        "ll_r_boostlu",
        "LL-R + BoostLU",
        ("teacher.loss=ll_r", "teacher.loss_options=null"),
        ("model.head=boostlu",),
    ),
    Teacher(
        "gr_boostlu",
        "GR + BoostLU",
        ("teacher.loss=gr", "teacher.loss_options=null"),
        ("model.head=boostlu",),
    ),
)


ENV = "compare"
# The paper's thresholds that can be a teacher's best (see the docstring),
# and the variants study's best round-1 student (issue 11).
SOFT_STUDENT = """taus: [0.55, 0.65, 0.75]
self_training:
  chains:
    - {policy: soft, value: 1.0, keep_observed: true, rounds: 1}
"""


def scratch_project(folder: Path) -> None:
    """A copy of the project to run in: its configuration and a snapshot of its library."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", folder)
    shutil.copytree(ROOT / "conf", folder / "conf", dirs_exist_ok=True)
    shutil.copytree(ROOT / "src", folder / "src", dirs_exist_ok=True)
    (folder / "conf" / ENV).mkdir(exist_ok=True)
    (folder / "conf" / ENV / "parameters.yml").write_text(SOFT_STUDENT)


def kedro(project: Path, log: Path, *args: str) -> None:
    """Run `kedro run ARGS` in `project`, appending its output to `log`; stop on failure."""
    command = [sys.executable, "-m", "kedro", "run", "--env", ENV, *args]
    env = {
        **os.environ,
        "PYTHONPATH": str(project / "src"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "COLUMNS": "200",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"$ {' '.join(command[1:])}\n")
        out.flush()
        result = subprocess.run(command, cwd=project, stdout=out, stderr=subprocess.STDOUT, env=env)
    print(f"  {' '.join(args)}: {time.perf_counter() - started:.0f} s", flush=True)
    if result.returncode != 0:
        sys.exit(f"kedro run {' '.join(args)} failed in {project}; see {log}")


def run_teacher(teacher: Teacher, seed: int, work: Path) -> pd.DataFrame:
    """The results table the pipelines wrote for `teacher` at `seed`, running them if needed."""
    project = work / f"{teacher.slug}_seed{seed}"
    results = project / "data/08_reporting/variants.csv"
    if not results.is_file():
        print(f"{teacher.label}, seed {seed}", flush=True)
        scratch_project(project)
        log = project / "kedro.log"
        common = ",".join((*teacher.params, f"training.seed={seed}"))
        students = f"{common},baselines.losses=[]"
        if teacher.teacher_only:
            first = ",".join((common, *teacher.teacher_only))
            kedro(project, log, "--pipelines", "data_engineering,teacher", "--params", first)
            kedro(
                project,
                log,
                "--pipelines",
                "pseudo_labeling,student,reporting",
                "--params",
                students,
            )
        else:
            kedro(project, log, "--params", students)
    return pd.read_csv(results)


def summary(teacher: Teacher, seed: int, table: pd.DataFrame) -> dict[str, object]:
    """Teacher test mAP, the best threshold student's test mAP and tau, and the soft
    student's test mAP, from one variants table."""
    students = table[table["role"] == "student"]
    threshold = students[students["policy"] == "threshold"]
    best = threshold.loc[threshold["test_map_mean"].idxmax()]
    soft = students[students["policy"] == "soft"]
    return {
        "teacher": teacher.label,
        "seed": seed,
        "teacher_map": float(table.loc[table["role"] == "teacher", "test_map_mean"].iloc[0]),
        "best_student_map": float(best["test_map_mean"]),
        "best_tau": float(best["policy_value"]),
        "soft_student_map": float(soft["test_map_mean"].iloc[0]),
    }


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table, numbers to 2 decimals, without extra packages."""
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in frame.values]
    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|---" + "|---:" * (frame.shape[1] - 1) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def comparison_table(rows: list[dict[str, object]], seeds: list[int]) -> pd.DataFrame:
    """One row per teacher: its test mAP, its best threshold student's and its soft student's,
    per seed and as the mean."""
    frame = pd.DataFrame(rows)
    table = []
    for label, runs in frame.groupby("teacher", sort=False):
        runs = runs.set_index("seed").loc[seeds]
        row: dict[str, object] = {"teacher": label}
        row.update({f"teacher, seed {s}": runs.at[s, "teacher_map"] for s in seeds})
        row["teacher, mean"] = runs["teacher_map"].mean()
        for s in seeds:
            row[f"best student, seed {s} (tau)"] = (
                f"{runs.at[s, 'best_student_map']:.2f} ({runs.at[s, 'best_tau']:.2f})"
            )
        row["best student, mean"] = runs["best_student_map"].mean()
        row.update({f"soft +observed, seed {s}": runs.at[s, "soft_student_map"] for s in seeds})
        row["soft +observed, mean"] = runs["soft_student_map"].mean()
        table.append(row)
    return pd.DataFrame(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="folder for the scratch runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    rows = [
        summary(teacher, seed, run_teacher(teacher, seed, args.work))
        for seed in args.seeds
        for teacher in TEACHERS
    ]
    print(markdown(comparison_table(rows, args.seeds)))


if __name__ == "__main__":
    main()
