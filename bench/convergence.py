"""Has the demo study converged? Each model trained as configured and twice as long (on demand).

    .venv/bin/python bench/convergence.py [--keep DIR] [--epochs N]

Runs, in two scratch copies of the project, the teacher, the baselines and the τ = 0.65 student
(`--pipelines data_engineering,teacher,baselines,student --params tau=0.65`): once at
`training.epochs` (or N) and once at twice that. Prints, per model, both test mAPs, the best
epoch of each (a best epoch before the last: the validation curve has peaked) and the gain of
the longer training. The issue's criterion: the longer training gains less than half a point.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_timing import ROOT, scratch_project, timed_kedro  # noqa: E402

PIPELINES = "data_engineering,teacher,baselines,student"
METRICS = ("teacher_metrics", "baseline_metrics_*", "student_metrics_tau_0_65")


def configured_epochs() -> int:
    """training.epochs as conf/base holds it."""
    return int(
        yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["training"]["epochs"]
    )


def trained(project: Path, epochs: int) -> dict[str, dict]:
    """Run the models at `epochs` in `project`; their metrics by model name."""
    wall, _ = timed_kedro(
        project, "--pipelines", PIPELINES, "--params", f"tau=0.65,training.epochs={epochs}"
    )
    print(f"{epochs} epochs: {wall:.0f} s wall", flush=True)
    outputs = project / "data" / "07_model_output"
    found = [path for pattern in METRICS for path in sorted(outputs.glob(f"{pattern}.json"))]
    return {metrics["name"]: metrics for metrics in (json.loads(p.read_text()) for p in found)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--epochs", type=int, default=configured_epochs())
    args = parser.parse_args()
    short = scratch_project(args.keep and args.keep / "short", "spml-converge-")
    long = scratch_project(args.keep and args.keep / "long", "spml-converge-")
    runs = {
        args.epochs: trained(short, args.epochs),
        2 * args.epochs: trained(long, 2 * args.epochs),
    }
    print(
        f"\n| model | test mAP, {args.epochs} ep | best epoch | test mAP, {2 * args.epochs} ep "
        "| best epoch | gain |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    gains = []
    for name, first in runs[args.epochs].items():
        second = runs[2 * args.epochs][name]
        gain = second["test_map"] - first["test_map"]
        gains.append(gain)
        print(
            f"| {name} | {first['test_map']:.2f} | {first['best_epoch']} | "
            f"{second['test_map']:.2f} | {second['best_epoch']} | {gain:+.2f} |"
        )
    below = sum(gain < 0.5 for gain in gains)
    print(f"\n{below} of {len(gains)} models gain less than half a point from twice the epochs")
    if not args.keep:
        shutil.rmtree(short)
        shutil.rmtree(long)


if __name__ == "__main__":
    main()
