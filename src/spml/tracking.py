"""One MLflow run per trained model, with the same names everywhere so runs line up."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import mlflow

from spml.study import ModelSpec
from spml.training import EpochReport

# Where a model's metrics record the MLflow run that trained it.
RUN_ID_KEY = "mlflow_run_id"


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
    params = {
        "role": spec.role,
        "loss": spec.loss,
        "tau": "" if spec.tau is None else spec.tau,
        "seed": training["seed"],
        "lr": training["lr"],
        "batch_size": training["batch_size"],
        "epochs": training["epochs"],
        "model": model["name"],
        "frozen_backbone": bool(model.get("frozen_backbone", False)),
        "dataset": dataset,
    }
    params.update({f"loss.{key}": value for key, value in spec.loss_options.items()})
    return params


@contextlib.contextmanager
def model_run(name: str, params: Mapping[str, Any]) -> Iterator[str]:
    """A run for one model, nested under the study's run when kedro-mlflow opened one;
    yields its run id."""
    with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as run:
        mlflow.log_params(dict(params))
        yield run.info.run_id


def tag_model_version(outputs: Mapping[str, Any], version: str) -> None:
    """Tag each model run among a node's outputs with the version its weights are saved as."""
    for value in outputs.values():
        if isinstance(value, Mapping) and value.get(RUN_ID_KEY):
            mlflow.tracking.MlflowClient().set_tag(value[RUN_ID_KEY], "model_version", version)


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


def log_final(metrics: Mapping[str, Any]) -> None:
    """Record the selected model's numbers (test mAP and, for students, pseudo-label quality)."""
    mlflow.log_metrics({key: float(value) for key, value in metrics.items() if value is not None})
