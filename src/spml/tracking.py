"""One MLflow run per trained model, with the same names everywhere so runs line up; a
resumed training continues its run, a finished one reuses it, and runs left RUNNING by killed
processes are ended. Model runs are top-level runs (MLflow's UI lists and charts them at once)
tagged with the `kedro run` that produced them."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spml import models
from spml.study import ModelSpec
from spml.training import EpochReport

log = logging.getLogger(__name__)

# Where a model's metrics record the MLflow run that trained it.
RUN_ID_KEY = "mlflow_run_id"

# Tags naming the host and process of a run (see end_abandoned_runs).
HOST_TAG = "spml_host"
PID_TAG = "spml_pid"

# MLflow 3's UI opens an experiment of this kind on its runs, not on the GenAI overview.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"

# A model run's link to the `kedro run` that started it (mlflow.parentRunId would nest it).
KEDRO_RUN_TAG = "kedro_run_id"

# A learning-rate search's candidate runs: "selected" on the one the study keeps, else "candidate".
SEARCH_TAG = "search"

# The selected weights (a state dict: torch.load(..., weights_only=True)) and how to build them.
WEIGHTS_ARTIFACT = "model/weights.pt"
CONFIG_ARTIFACT = "model/config.json"


@dataclass(frozen=True)
class ModelRun:
    """A model's MLflow run, and whether it had already finished (its numbers are logged)."""

    run_id: str
    finished: bool


@dataclass(frozen=True)
class StudyRun:
    """The `kedro run`'s MLflow run, as a process without it (a Dask worker) reaches it."""

    tracking_uri: str
    experiment_id: str
    run_id: str


_sent_study_run: StudyRun | None = None


def study_run() -> StudyRun | None:
    """The `kedro run`'s run: this process's active run, else the one a Dask worker was sent."""
    active = mlflow.active_run()
    if active is None:
        return _sent_study_run
    return StudyRun(mlflow.get_tracking_uri(), active.info.experiment_id, active.info.run_id)


@contextlib.contextmanager
def under_study_run(study: StudyRun | None) -> Iterator[None]:
    """Model runs started inside go to `study`'s store and experiment, tagged with its run."""
    global _sent_study_run
    if study is not None:
        mlflow.set_tracking_uri(study.tracking_uri)
        mlflow.set_experiment(experiment_id=study.experiment_id)
    _sent_study_run = study
    try:
        yield
    finally:
        _sent_study_run = None


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds, naming the URI, when a tracking server is down (MLflow retries minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            pass
    except (urllib.error.URLError, OSError) as error:
        raise ConnectionError(
            f"MLflow tracking server {uri} cannot be reached ({error}). Start it "
            "(e.g. `make mlflow-ui`) or unset MLFLOW_TRACKING_URI to use the embedded store."
        ) from error


def run_params(
    spec: ModelSpec, training: Mapping[str, Any], model: Mapping[str, Any], dataset: str
) -> dict[str, Any]:
    """The parameters every model run logs, so the compare view lines them up."""
    variant = spec.variant
    params = {
        "role": spec.role,
        "loss": spec.loss,
        "tau": "" if spec.tau is None else spec.tau,
        "policy": variant.policy if variant else "",
        "policy_value": variant.value if variant else "",
        "keep_observed": variant.keep_observed if variant else "",
        "round": "" if spec.round is None else spec.round,
        "augment": bool(variant and variant.augment),
        "dropout": variant.dropout if variant else 0.0,
        "seed": training["seed"],
        "lr": training["lr"],
        "batch_size": training["batch_size"],
        "epochs": training["epochs"],
        "schedule": training.get("schedule", "constant"),
        "warmup_epochs": training.get("warmup_epochs", 0),
        "weight_decay": training.get("weight_decay", 0),
        "model": model["name"],
        "frozen_backbone": bool(model.get("frozen_backbone", False)),
        "head": models.head_in_use(model),
        "dataset": dataset,
    }
    if params["head"] == "boostlu":
        params["boostlu_alpha"] = model.get("boostlu_alpha", models.BOOSTLU_ALPHA)
    params.update({f"loss.{key}": value for key, value in spec.loss_options.items()})
    return params


@contextlib.contextmanager
def model_run(
    name: str, params: Mapping[str, Any], recorded_run_id: str | None = None
) -> Iterator[ModelRun]:
    """The run of one model: `recorded_run_id` (the run its checkpoint names) when it still
    exists, so a resumed training keeps one run and one curve and a finished one adds no
    duplicate; else a new top-level run tagged with the `kedro run` that opened it."""
    run, finished = _start_or_resume(name, recorded_run_id)
    with run:
        logged = run.data.params  # a continued run keeps the params it logged first
        mlflow.log_params({key: value for key, value in params.items() if key not in logged})
        yield ModelRun(run.info.run_id, finished)


def _start_or_resume(name: str, recorded_run_id: str | None) -> tuple[mlflow.ActiveRun, bool]:
    """Reopen `recorded_run_id` (and whether it had finished), or start a run named `name`."""
    if recorded_run_id:
        try:
            finished = MlflowClient().get_run(recorded_run_id).info.status == "FINISHED"
            run = mlflow.start_run(
                run_id=recorded_run_id, nested=mlflow.active_run() is not None, tags=_process_tags()
            )
        except MlflowException as error:
            log.warning(
                "%s: MLflow run %s cannot be continued (%s); the training goes on in a new run",
                name,
                recorded_run_id,
                error.message,
            )
        else:
            log.info(
                "%s: %s MLflow run %s",
                name,
                "reusing the finished" if finished else "continuing",
                recorded_run_id,
            )
            return run, finished
    return _start_top_level(name), False


def _start_top_level(name: str) -> mlflow.ActiveRun:
    """A new run at the top level of the experiment, linked to the study's run by a tag (from
    the `kedro run`'s process or a Dask worker alike)."""
    study = study_run()
    if study is None:
        return mlflow.start_run(run_name=name, tags=_process_tags())
    created = MlflowClient().create_run(
        study.experiment_id, run_name=name, tags={**_process_tags(), KEDRO_RUN_TAG: study.run_id}
    )
    # nested=True only keeps the study's run active beneath: a run reopened by id gets no parent.
    return mlflow.start_run(run_id=created.info.run_id, nested=mlflow.active_run() is not None)


def _process_tags() -> dict[str, str]:
    """Which process on which host runs a run, so a later `kedro run` can tell a run that is
    still going from one left RUNNING by a killed process."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def claim_active_run() -> None:
    """Tag the run kedro-mlflow opened for the study with this process, and mark its
    experiment as model training (also one made before the tag existed)."""
    study = mlflow.active_run()
    if study is None:
        return
    mlflow.set_tags(_process_tags())
    client = MlflowClient()
    experiment = client.get_experiment(study.info.experiment_id)
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)


def end_abandoned_runs(uri: str, experiment_name: str) -> None:
    """Mark KILLED every run this host left RUNNING in a process that no longer exists."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return
    here = f"tags.{HOST_TAG} = '{socket.gethostname()}'"
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.status = 'RUNNING' and {here}"
    )
    for run in runs:
        pid = int(run.data.tags.get(PID_TAG, "0"))
        if pid and not _process_exists(pid):
            client.set_terminated(run.info.run_id, "KILLED")
            log.warning(
                "MLflow run %s (%s) was left RUNNING by process %d, which no longer exists: "
                "marked KILLED",
                run.info.run_id,
                run.info.run_name,
                pid,
            )


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def tag_model_version(outputs: Mapping[str, Any], version: str) -> None:
    """Tag each model run among a node's outputs with the version its weights are saved as."""
    for value in outputs.values():
        if isinstance(value, Mapping) and value.get(RUN_ID_KEY):
            mlflow.tracking.MlflowClient().set_tag(value[RUN_ID_KEY], "model_version", version)


def tag_search(run_ids: list[str], chosen: int) -> None:
    """Mark a search's candidate runs: the one whose weights the study keeps as selected."""
    client = MlflowClient()
    for number, run_id in enumerate(run_ids):
        client.set_tag(run_id, SEARCH_TAG, "selected" if number == chosen else "candidate")


def log_epoch(report: EpochReport) -> None:
    """Record an epoch as soon as it ends, so an interrupted run has already told its story."""
    mlflow.log_metrics(
        {
            "train_loss": report.train_loss,
            "val_map": report.val_map,
            "epoch_seconds": report.seconds,
        },
        step=report.epoch,
    )


def log_missing_epochs(run_id: str, reports: list[EpochReport]) -> None:
    """Record the trained epochs a run lacks: its process was killed between saving an epoch
    and logging it, or the training goes on in a new run."""
    logged = {metric.step for metric in MlflowClient().get_metric_history(run_id, "val_map")}
    for report in reports:
        if report.epoch not in logged:
            log_epoch(report)


def log_model(state: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> None:
    """Attach the selected weights and the configuration that builds their model to the
    active run, so a run in the UI leads to a usable model (no pickled classes)."""
    with tempfile.TemporaryDirectory(prefix="spml-weights-") as folder:
        weights = Path(folder) / Path(WEIGHTS_ARTIFACT).name
        torch.save(dict(state), weights)
        mlflow.log_artifact(str(weights), artifact_path=str(Path(WEIGHTS_ARTIFACT).parent))
    mlflow.log_dict(dict(config), CONFIG_ARTIFACT)


def log_final(metrics: Mapping[str, Any]) -> None:
    """Record the selected model's numbers (test mAP and, for students, pseudo-label quality)."""
    mlflow.log_metrics({key: float(value) for key, value in metrics.items() if value is not None})
