"""The study on PASCAL VOC, CUB and formatted-files (NUS-WIDE layout) fixtures (run on demand).

    .venv/bin/python bench/other_benchmarks.py [--real-size voc cub] [--no-fixtures]

For each data set, writes a small fixture in the official layout (tests/layouts.py: noise
JPEGs, the layout's quirks) and runs `kedro run --env voc|cub|formatted` on it in a fresh copy
of conf/, printing what the protocol kept and dropped, each model's test mAP and the wall
time. `--real-size` also writes formatted files of a data set's real size (VOC 2012: 5,717
train / 5,823 test images, 20 classes; CUB: 5,994 / 5,794, 312 attributes) with synthetic
2048-d "pre-extracted" features that carry the labels linearly, and runs the formatted
environment's own settings (the reference's linear setting) on them: how long the whole
linear study takes on this CPU. Synthetic features: their mAPs say nothing about real data.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/layouts.py writes the fixtures

from tests.layouts import write_cub, write_formatted, write_voc  # noqa: E402

FIXTURE_SETTINGS = {  # small images, a small CNN: what a CPU trains in minutes
    "image_size": 32,
    "model": {"name": "small_cnn", "frozen_backbone": False},
    "training": {"epochs": 3, "batch_size": 16, "compile": False},
    "taus": [0.55, 0.75, 0.95],
}
REAL_SIZES = {  # train images, test images, classes, mean positives per image (Cole et al.)
    "voc": (5717, 5823, 20, 1.5),
    "cub": (5994, 5794, 312, 31.4),
}


def project_copy(folder: Path, env: str, settings: dict) -> Path:
    """conf/ and pyproject.toml in a scratch folder, as bench/study_timing.py does, with
    `settings` merged into the environment's parameters (--params cannot pass lists)."""
    project = folder / "project"
    (project / "src").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    parameters = project / "conf" / env / "parameters.yml"
    merged = merge(yaml.safe_load(parameters.read_text()), settings)
    parameters.write_text(yaml.safe_dump(merged))
    return project


def merge(base: dict, override: dict) -> dict:
    """`override` merged into `base`, nested keys one by one."""
    result = dict(base)
    for key, value in override.items():
        both = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merge(result[key], value) if both else value
    return result


def run_study(project: Path, env: str, data_root: Path) -> tuple[float, float]:
    """`kedro run --env ENV --params data_root=...` in `project`; its wall and CPU seconds
    (the CPU time does not grow when other work shares the machine)."""
    started, cpu_before = time.perf_counter(), _children_cpu()
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env", env, "--params", f"data_root={data_root}"],
        cwd=project,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "KEDRO_DISABLE_TELEMETRY": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        },
    )
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-4000:]
        sys.exit(f"kedro run --env {env} failed (exit status {result.returncode}):\n{log}")
    return time.perf_counter() - started, _children_cpu() - cpu_before


def _children_cpu() -> float:
    """User + system seconds of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(name: str, project: Path, seconds: tuple[float, float]) -> None:
    """What the protocol kept, each model's test mAP and the wall and CPU time."""
    stats = pd.read_csv(project / "data/08_reporting/dataset_stats.csv")
    results = pd.read_csv(project / "data/08_reporting/results.csv")
    print(f"\n## {name}: {seconds[0]:.0f} s wall, {seconds[1]:.0f} s CPU", flush=True)
    for row in stats.itertuples():
        print(
            f"  {row.split:<5} {row.source:<24} {row.images:>6} listed, "
            f"{row.images_without_positives} without a positive dropped, "
            f"{row.positives_per_image:.2f} positives/image"
            + (f", split {row.train_split}/{row.val_split}" if row.split == "train" else "")
        )
    for row in results.itertuples():
        print(f"  {row.name:<18} test mAP {row.test_map:6.2f}")


def synthetic_features(root: Path, data_set: str, seed: int = 0) -> None:
    """Formatted files of the data set's real size, 2048-d features that carry the labels."""
    n_train, n_test, classes, mean_positives = REAL_SIZES[data_set]
    rng = np.random.default_rng(seed)
    prevalence = rng.dirichlet(np.ones(classes)) * mean_positives
    mixing = rng.normal(size=(classes, 2048)).astype(np.float32)
    for split, count in (("train", n_train), ("val", n_test)):
        labels = (rng.random((count, classes)) < np.clip(prevalence, 0, 0.95)).astype(np.float64)
        features = labels.astype(np.float32) @ mixing
        features += rng.normal(scale=4.0, size=features.shape).astype(np.float32)
        np.save(root / f"formatted_{split}_labels.npy", labels)
        np.save(
            root / f"formatted_{split}_images.npy", np.array([f"{i}.jpg" for i in range(count)])
        )
        np.save(root / f"{split}_features_imagenet_resnet50.npy", features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--real-size", nargs="*", default=[], choices=sorted(REAL_SIZES))
    parser.add_argument("--no-fixtures", action="store_true", help="only the --real-size runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spml-benchmarks-") as scratch:
        folder = Path(scratch)
        write_voc(folder / "voc", {"train": 200, "val": 120})
        write_cub(folder / "cub", 300)
        (folder / "formatted").mkdir()
        write_formatted(
            folder / "formatted", {"train": 300, "val": 150}, 81, feature_dim=64, images=False
        )
        fixtures = (
            ("PASCAL VOC 2012 layout (--env voc)", "voc", FIXTURE_SETTINGS),
            ("CUB-200-2011 layout (--env cub)", "cub", FIXTURE_SETTINGS),
            (
                "formatted files + pre-extracted features (--env formatted)",
                "formatted",
                {"training": {"epochs": 5}, "taus": FIXTURE_SETTINGS["taus"]},
            ),
        )
        for name, env, settings in () if args.no_fixtures else fixtures:
            project = project_copy(folder / f"{env}_run", env, settings)
            report(name, project, run_study(project, env, folder / env))
        for data_set in args.real_size:
            root = folder / f"real_size_{data_set}"
            root.mkdir()
            synthetic_features(root, data_set)
            project = project_copy(folder / f"real_size_{data_set}_run", "formatted", {})
            seconds = run_study(project, "formatted", root)
            report(f"{data_set} size, synthetic 2048-d features, formatted env", project, seconds)


if __name__ == "__main__":
    main()
