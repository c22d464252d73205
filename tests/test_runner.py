"""The Dask runner: the study's numbers as the sequential runner's, even when a worker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from spml import tracking
from spml.runner import GPU, check_every_handover_is_a_file, gpu_resources
from tests.conftest import kedro, make_tiny_project

# Four epochs leave a killed training something to resume; one thread per torch process
# in both runners, so every sum is taken in the same order.
TRAINING = ("--params", "training.epochs=4")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "KEDRO_DISABLE_TELEMETRY": "1"}


def _project(root: Path) -> tuple[Path, dict[str, str]]:
    """A tiny project with its own MLflow store, and the environment to run it in."""
    project = make_tiny_project(root)
    return project, {**ONE_THREAD, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}


def _numbers(project: Path) -> dict[str, Any]:
    """Every number the study wrote, less wall times and run ids (they differ between runs)."""
    numbers: dict[str, Any] = {}
    for path in sorted((project / "data" / "07_model_output").glob("*.json")):
        metrics = json.loads(path.read_text())
        metrics.pop("mlflow_run_id", None)
        for epoch in metrics.get("history", []):
            epoch.pop("seconds")
        numbers[path.name] = metrics
    numbers["results.md"] = (project / "data" / "08_reporting" / "results.md").read_text()
    return numbers


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny study's numbers from Kedro's sequential runner."""
    project, env = _project(tmp_path_factory.mktemp("sequential") / "project")
    result = kedro(project, "run", *TRAINING, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return _numbers(project)


def test_a_local_cluster_of_two_workers_gives_the_sequential_numbers(
    tmp_path: Path, sequential: dict[str, Any]
) -> None:
    project, env = _project(tmp_path / "project")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    args = ("--runner", "dask", "--runner-params", "n_workers=2,torch_threads=1")
    result = kedro(project, "run", *args, *TRAINING, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _numbers(project) == sequential

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["spml-pseudo-labels"])
    study = runs[runs["tags.mlflow.runName"] == "__default__"]["run_id"].item()
    models = runs[runs["params.role"].notna()]
    assert len(models) == 6
    assert (models[f"tags.{tracking.KEDRO_RUN_TAG}"] == study).all()  # linked from the workers
    top_level = mlflow.search_runs(
        experiment_names=["spml-pseudo-labels"], filter_string="tags.mlflow.parentRunId IS NULL"
    )
    assert set(models["run_id"]) <= set(top_level["run_id"])  # listed without expanding
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(study)}
    assert "results.md" in artifacts


def _kill_a_training_worker(client: Any, checkpoints: Path, run: subprocess.Popen) -> str:
    """Once a model has checkpointed an epoch, SIGKILL the worker training one; its task key."""
    while run.poll() is None:
        if any(checkpoints.glob("**/*.ckpt")):
            for worker, keys in client.processing().items():
                training = [key for key in keys if "train_" in str(key)]
                if training:
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    return str(training[0])
        time.sleep(0.05)
    raise AssertionError("the study ended before any worker could be killed mid-training")


def test_a_worker_killed_mid_training_is_retried_and_resumes_to_the_same_numbers(
    tmp_path: Path, sequential: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client, LocalCluster

    project, env = _project(tmp_path / "project")
    for name, value in ONE_THREAD.items():  # the cluster's workers inherit them
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)  # and start here: their log file is the project's info.log
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        run = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--runner", "dask", *TRAINING],
            cwd=project,
            env={**os.environ, **env, "DASK_SCHEDULER_ADDRESS": cluster.scheduler_address},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        killed = _kill_a_training_worker(client, project / "data/06_models/checkpoints", run)
        output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    assert _numbers(project) == sequential
    assert "resuming from" in (project / "info.log").read_text(), f"{killed} started afresh"
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["spml-pseudo-labels"])
    assert len(runs[runs["params.role"].notna()]) == 6  # the killed training kept its run


def test_a_gpu_is_asked_for_only_when_the_study_trains_on_cuda() -> None:
    with_gpu, without = [{GPU: 1.0}, {}], [{}, {}]
    assert gpu_resources("auto", with_gpu) == {GPU: 1}
    assert gpu_resources("cuda:0", with_gpu) == {GPU: 1}
    assert gpu_resources("auto", without) is None
    assert gpu_resources("cpu", with_gpu) is None
    with pytest.raises(ValueError, match="training.device='cuda'.*--resources GPU=1"):
        gpu_resources("cuda", without)


def test_a_dataset_handed_over_in_memory_is_named_before_anything_runs() -> None:
    pipeline = Pipeline(
        [node(lambda x: x, "raw", "middle", name="a"), node(lambda x: x, "middle", "out", name="b")]
    )
    catalog = DataCatalog(
        {"raw": MemoryDataset(1), "middle": MemoryDataset(), "out": MemoryDataset()}
    )
    with pytest.raises(ValueError, match=r"in memory only: \['middle'\]"):
        check_every_handover_is_a_file(pipeline, catalog)
