"""Hours of training are never lost to a typo, a torn checkpoint, a stale cache or a kill:
each failure as a user meets it, through `kedro run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import mlflow
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from spml.hooks import MissingInputsError, StaleImageCacheError
from tests.conftest import kedro

Found = TypeVar("Found")
TEACHER_CHECKPOINTS = Path("data/06_models/checkpoints/teacher__em")


def _run(project: Path, pipeline: str, **runtime_params: object) -> None:
    """One pipeline through a KedroSession in this process (set-up, faster than a subprocess)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_name=pipeline)


def _said(output: str, phrase: str) -> bool:
    """Whether the log says `phrase`, however the console wrapped its lines."""
    return "".join(phrase.split()) in "".join(output.split())


def _teacher_metrics(project: Path) -> dict:
    return json.loads((project / "data/07_model_output/teacher_metrics.json").read_text())


def test_a_misspelt_key_stops_the_run_naming_the_closest_keys(tiny_project: Path) -> None:
    result = kedro(
        tiny_project, "run", "--pipeline", "student", "--params", "tua=0.65,teacher.los:an"
    )
    assert result.returncode != 0
    assert "tua: did you mean tau?" in result.stderr
    assert "teacher.los: did you mean teacher.loss?" in result.stderr
    assert "Running node" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "runtime_params, named",
    [
        ({"trainig": {"epochs": 1}}, r"trainig: did you mean training\b"),
        ({"model": {"options": {"small_cnn": {"widht": 4}}}}, r"'widht'; did you mean width\?"),
        ({"teacher": {"loss_options": {"alpah": 0.3}}}, r"'alpah'; did you mean alpha\?"),
    ],
)
def test_runtime_params_of_a_session_are_checked_the_same_way(
    tiny_project: Path, runtime_params: dict, named: str
) -> None:
    bootstrap_project(tiny_project)
    with KedroSession.create(project_path=tiny_project, runtime_params=runtime_params) as session:
        with pytest.raises(ValueError, match=named):
            session.run()
    assert not list((tiny_project / "data" / "03_primary").iterdir())


def test_missing_inputs_name_the_command_that_makes_each(tiny_project: Path) -> None:
    result = kedro(tiny_project, "run", "--pipeline", "reporting", "--params", "tau=0.75")
    assert result.returncode != 0
    lines = result.stderr.splitlines()

    def advice(dataset: str) -> str:
        return next(line for line in lines if line.startswith(f"  - {dataset}:"))

    assert "`kedro run --pipeline student --params tau=0.75`" in advice("student_metrics_tau_0_75")
    assert "`kedro run --pipeline teacher`" in advice("teacher_metrics")
    assert "`kedro run --pipeline data_engineering`" in advice("full_labels")
    assert "Running node" not in result.stdout + result.stderr


def test_a_changed_raw_image_stops_every_pipeline_that_reads_the_cache(tiny_project: Path) -> None:
    _run(tiny_project, "data_engineering")
    cache = tiny_project / "data/05_model_input/train_images.npy"
    decoded_at = cache.stat().st_mtime_ns
    listed = pd.read_parquet(tiny_project / "data/03_primary/full_labels.parquet")["file_name"]
    raw = tiny_project / "data/01_raw/coco_demo/train2014"
    deleted, touched = raw / listed.iloc[0], raw / listed.iloc[-1]
    deleted.unlink()
    os.utime(touched)  # same bytes, a new modification time

    result = kedro(tiny_project, "run", "--pipeline", "teacher")
    assert result.returncode != 0
    assert f"{deleted.name} (missing)" in result.stderr
    assert f"{touched.name} (modified)" in result.stderr
    assert "`kedro run --pipeline data_engineering`" in result.stderr
    assert "Running node" not in result.stdout + result.stderr
    with pytest.raises(StaleImageCacheError, match=rf"{touched.name} \(modified\)"):
        _run(tiny_project, "baselines")  # every pipeline that reads the cache
    assert cache.stat().st_mtime_ns == decoded_at


def test_the_default_training_survives_an_experiment_and_a_torn_checkpoint(
    tiny_project: Path,
) -> None:
    _run(tiny_project, "data_engineering")
    _run(tiny_project, "teacher")
    trained = _teacher_metrics(tiny_project)
    checkpoints = tiny_project / TEACHER_CHECKPOINTS
    (latest,) = (path for path in checkpoints.glob("*.ckpt") if ".previous" not in path.name)

    _run(tiny_project, "teacher", training={"epochs": 1})  # an experiment
    assert len(list(checkpoints.glob("*.ckpt"))) == 3  # the default's 2 epochs, and 1 more

    back = kedro(tiny_project, "run", "--pipeline", "teacher")  # the default settings again
    assert back.returncode == 0, back.stderr
    said = back.stdout + back.stderr
    assert _said(said, f"resuming from {TEACHER_CHECKPOINTS / latest.name} after epoch 2")
    assert "epoch 1/2" not in said and "epoch 2/2" not in said  # nothing trained again
    assert _teacher_metrics(tiny_project)["test_map"] == trained["test_map"]

    latest.write_bytes(latest.read_bytes()[:4096])  # torn, as by a full disk or a power cut
    torn = kedro(tiny_project, "run", "--pipeline", "teacher")
    assert torn.returncode == 0, torn.stderr
    said = torn.stdout + torn.stderr
    (aside,) = checkpoints.glob("*.unreadable-*")
    assert _said(said, f"checkpoint {TEACHER_CHECKPOINTS / latest.name} cannot be read")
    assert _said(said, f"kept as {TEACHER_CHECKPOINTS / aside.name}")
    assert _said(said, "previous.ckpt after epoch 1") and "epoch 2/2" in said
    resumed = _teacher_metrics(tiny_project)
    assert resumed["test_map"] == trained["test_map"]
    assert [e["val_map"] for e in resumed["history"]] == [e["val_map"] for e in trained["history"]]


def _start(project: Path, log: Path, *args: str) -> subprocess.Popen:
    """A `kedro run` in the background, its output going to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kedro", *args],
            cwd=project,
            env={**os.environ, "COLUMNS": "200"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(check: Callable[[], Found | None], timeout: float = 300) -> Found:
    """Poll until `check` returns something."""
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_a_second_run_waits_and_a_killed_training_resumes_in_its_own_mlflow_run(
    tiny_project: Path,
) -> None:
    _run(tiny_project, "data_engineering")
    command = ("run", "--pipeline", "teacher", "--params", "training.epochs=6")
    logs = [tiny_project / "first.log", tiny_project / "second.log"]
    runs = [_start(tiny_project, log, *command) for log in logs]
    try:
        waiter = _wait_for(
            lambda: next(
                (
                    i
                    for i, log in enumerate(logs)
                    if "another process is training" in log.read_text()
                ),
                None,
            )
        )
        holder = runs[1 - waiter]
        _wait_for(lambda: next((tiny_project / TEACHER_CHECKPOINTS).glob("*.ckpt"), None))
        assert holder.poll() is None, "the first run finished before it could be killed"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert runs[waiter].wait(timeout=600) == 0, logs[waiter].read_text()
    finally:
        for run in runs:
            run.kill()
    output = logs[waiter].read_text()
    assert _said(output, "continuing MLflow run") and _said(output, "resuming from")

    with pytest.raises(MissingInputsError):  # the next run, whatever it is, ends killed runs
        _run(tiny_project, "reporting")
    mlflow.set_tracking_uri(f"sqlite:///{tiny_project / 'mlflow.db'}")
    runs_table = mlflow.search_runs(experiment_names=["spml-pseudo-labels"])
    model = runs_table[runs_table["tags.mlflow.runName"] == "teacher (em)"]
    assert list(model["status"]) == ["FINISHED"]  # one model, one run
    run_id = model["run_id"].item()
    history = mlflow.tracking.MlflowClient().get_metric_history(run_id, "val_map")
    assert sorted({metric.step for metric in history}) == [1, 2, 3, 4, 5, 6]
    assert _teacher_metrics(tiny_project)["mlflow_run_id"] == run_id
    studies = runs_table[runs_table["tags.mlflow.runName"] == "teacher"]
    assert sorted(studies["status"]) == ["FINISHED", "KILLED"]
