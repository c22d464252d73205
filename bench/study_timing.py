"""Wall time of each stage of the demo study, then of a one-student run (run on demand).

    .venv/bin/python bench/study_timing.py [--keep DIR]

Copies conf/ into a fresh folder, runs `kedro run` there (demo generated from scratch),
then `kedro run --pipeline student --params tau:0.65`, and prints per-pipeline times.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = re.compile(r"Stage (?P<node>\S+) finished in (?P<seconds>[\d.]+) s")
PIPELINE_OF = [
    ("data_engineering", ("build_label_tables", "decode_")),
    ("controls", ("control_",)),
    ("teacher", ("train_teacher", "predict_teacher")),
    ("baselines", ("baseline_",)),
    ("self_training", ("round_", "predict_student")),
    ("pseudo_labeling", ("make_pseudo_labels", "assess_pseudo_labels")),
    ("student", ("train_student",)),
    ("reporting", ("report_study", "report_variants")),
]


def pipeline_of(node: str) -> str:
    """Which pipeline a node belongs to, from its name."""
    for pipeline, markers in PIPELINE_OF:
        if any(marker in node for marker in markers):
            return pipeline
    return "other"


def timed_kedro(project: Path, *args: str) -> tuple[float, dict[str, float]]:
    """Run kedro in `project`; return the wall time and the seconds spent per pipeline."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "KEDRO_DISABLE_TELEMETRY": "1",
            "COLUMNS": "250",
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        },
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"kedro run {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    per_pipeline: dict[str, float] = defaultdict(float)
    for match in STAGE.finditer(result.stdout + result.stderr):
        per_pipeline[pipeline_of(match["node"])] += float(match["seconds"])
    return wall, dict(per_pipeline)


def scratch_project(keep: Path | None, prefix: str) -> Path:
    """A folder with this project's pyproject.toml and conf/ (`keep`, or a temporary one)."""
    project = keep or Path(tempfile.mkdtemp(prefix=prefix))
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", dirs_exist_ok=True)
    (project / "src").mkdir(exist_ok=True)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    project = scratch_project(args.keep, "spml-bench-")

    wall, stages = timed_kedro(project)
    print(f"full study (kedro run): {wall:.1f} s wall")
    for pipeline, _ in PIPELINE_OF:
        print(f"  {pipeline:<17} {stages.get(pipeline, 0.0):6.1f} s")
    print(f"  {'startup/tracking':<17} {wall - sum(stages.values()):6.1f} s")
    shutil.rmtree(project / "data" / "06_models" / "checkpoints")  # train it again, not resume
    student_wall, _ = timed_kedro(project, "--pipeline", "student", "--params", "tau:0.65")
    print(
        f"one student (--pipeline student --params tau:0.65): {student_wall:.1f} s wall "
        f"= {100 * student_wall / wall:.0f}% of the full study"
    )
    if not args.keep:
        shutil.rmtree(project)


if __name__ == "__main__":
    main()
