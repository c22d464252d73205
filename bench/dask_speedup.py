"""The demo study's wall time with the Dask runner on local workers against the sequential
runner, on this machine, one run after the other (run on demand).

    .venv/bin/python bench/dask_speedup.py [--workers 2] [--threads 1]

Each run gets a fresh copy of conf/ (demo generated and decoded from scratch in both). The
sequential run uses torch's default threads; each Dask worker runs one task at a time with
`--threads` torch threads. Prints both wall times, their ratio, and whether the two runs
wrote the same results.md (sha256 of each).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_timing import ROOT, timed_kedro  # noqa: E402


def fresh_project(parent: Path, name: str) -> Path:
    """A scratch copy of the project's configuration, with nothing run yet."""
    project = parent / name
    (project / "src").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "conf", project / "conf")
    return project


def results_digest(project: Path) -> str:
    """The sha256 of the study's results table."""
    return hashlib.sha256((project / "data/08_reporting/results.md").read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="spml-dask-bench-"))

    sequential = fresh_project(folder, "sequential")
    sequential_wall, _ = timed_kedro(sequential)
    print(f"sequential runner: {sequential_wall:.1f} s wall", flush=True)

    dask = fresh_project(folder, "dask")
    runner_params = f"n_workers={args.workers},torch_threads={args.threads}"
    dask_wall, _ = timed_kedro(dask, "--runner", "dask", "--runner-params", runner_params)
    print(f"Dask runner, {args.workers} local workers x {args.threads} torch thread(s): ", end="")
    print(f"{dask_wall:.1f} s wall")
    print(f"ratio sequential / Dask: {sequential_wall / dask_wall:.2f}")
    print(f"results.md sha256, sequential: {results_digest(sequential)}")
    print(f"results.md sha256, Dask:       {results_digest(dask)}")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
