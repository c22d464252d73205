"""What every training node shares: one binder, and the body that trains a model of the study."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial, update_wrapper
from typing import Any

import numpy as np
import pandas as pd
import torch
from kedro.pipeline import Node, node

from spml import models, tracking
from spml.data import LabelledImages
from spml.inference import predict
from spml.search import best_candidate, candidate_suffix, candidates
from spml.study import (
    ModelSpec,
    checkpoint_history,
    model_checkpoint,
    model_description,
    train_and_test,
)
from spml.tables import category_columns, label_matrix, rows_of_split, training_rows
from spml.train_settings import TrainSettings

Trained = tuple[dict[str, torch.Tensor], dict[str, Any]]


def bind(function: Callable[..., Any], **fixed: Any) -> Callable[..., Any]:
    """A node function with some arguments fixed (a tau, a loss), still named and documented
    like `function`, so node names and kedro-viz's code view read as the function."""
    return update_wrapper(partial(function, **fixed), function)


def seed_suffix(seed: int | None) -> str:
    """What a model's name adds when the study trains it once per seed."""
    return "" if seed is None else f" seed {seed}"


def epochs_suffix(epochs: int | None) -> str:
    """What a model's name adds when it trains for its own number of epochs (a control)."""
    return "" if epochs is None else f" {epochs} epochs"


def own_training(spec: ModelSpec, training: Mapping[str, Any]) -> dict[str, Any]:
    """The study's `training` parameters with what this model sets itself: its seed (one of
    several seeds of a study) and its epochs (an equal-compute control, a longer student)."""
    own = {"seed": spec.seed, "epochs": spec.epochs}
    return {**training, **{key: value for key, value in own.items() if value is not None}}


def train_model(
    spec: ModelSpec,
    labels: pd.DataFrame,
    labels_name: str,
    *,
    search: Mapping[str, Any] | None,
    training: Mapping[str, Any],
    **study: Any,
) -> Trained:
    """Train one model, or with a `search` one candidate per learning rate x batch size, each in
    its own MLflow run and checkpoint; keep the candidate with the best validation mAP, tag its
    run selected, and list every candidate in the metrics."""
    grid = candidates(search)
    if grid == [{}]:
        return _train_once(spec, labels, labels_name, training=training, **study)
    trained = [
        _train_once(
            replace(spec, name=spec.name + candidate_suffix(overrides)),
            labels,
            labels_name,
            training={**training, **overrides},
            **study,
        )
        for overrides in grid
    ]
    chosen = best_candidate([metrics["best_val_map"] for _, metrics in trained])
    tracking.tag_search([metrics[tracking.RUN_ID_KEY] for _, metrics in trained], chosen)
    state, metrics = trained[chosen]
    listing = [
        {
            **overrides,
            "best_val_map": candidate["best_val_map"],
            "selected": number == chosen,
            tracking.RUN_ID_KEY: candidate[tracking.RUN_ID_KEY],
        }
        for number, (overrides, (_, candidate)) in enumerate(zip(grid, trained))
    ]
    return state, {**metrics, "name": spec.name, **grid[chosen], "search": listing}


def _train_once(
    spec: ModelSpec,
    labels: pd.DataFrame,
    labels_name: str,
    *,
    full_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    train_images: np.ndarray,
    test_images: np.ndarray,
    model: Mapping[str, Any],
    training: Mapping[str, Any],
    checkpoints: str | None,
    data_root: str,
    extra_metrics: Mapping[str, float] | None = None,
) -> Trained:
    """Train one model on `labels` (one row per training-split image) inside its own MLflow
    run; select on clean validation mAP, test on the test set; return weights and metrics."""
    rows = training_rows(labels, full_labels, labels_name)
    train = LabelledImages.from_arrays(train_images, label_matrix(labels), rows)
    val_rows = rows_of_split(full_labels, "val")
    val = LabelledImages.from_arrays(train_images, label_matrix(full_labels)[val_rows], val_rows)
    test = LabelledImages.from_arrays(test_images, label_matrix(test_labels))
    training = own_training(spec, training)
    settings = TrainSettings.from_config(training)
    params = tracking.run_params(spec, training, model, data_root)
    checkpoint = (
        model_checkpoint(spec, train, val, model, settings, checkpoints) if checkpoints else None
    )
    with checkpoint.locked(spec.name) if checkpoint else contextlib.nullcontext():
        recorded = checkpoint.recorded_run(spec.name) if checkpoint else None
        with tracking.model_run(spec.name, params, recorded) as run:
            if checkpoint:
                checkpoint.run_id = run.run_id
                tracking.log_missing_epochs(run.run_id, checkpoint_history(checkpoint, spec.name))
            if extra_metrics and not run.finished:
                tracking.log_final(extra_metrics)
            trained = train_and_test(
                spec,
                train,
                val,
                test,
                model,
                settings,
                checkpoint=checkpoint,
                on_epoch_end=tracking.log_epoch,
            )
            if not run.finished:  # a reused run holds these numbers and weights already
                selected = ("test_map", "best_val_map", "best_epoch")
                tracking.log_final({key: trained.metrics[key] for key in selected})
                description = model_description(spec, train, model, category_columns(labels))
                tracking.log_model(trained.state, description)
    metrics = {**trained.metrics, **(extra_metrics or {}), tracking.RUN_ID_KEY: run.run_id}
    return trained.state, metrics


def predict_training_split(
    weights: dict[str, torch.Tensor],
    full_labels: pd.DataFrame,
    train_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    mirrored: bool = False,
) -> pd.DataFrame:
    """A trained model's probabilities for every training-split image, under the evaluation
    transform (of the mirror images when `mirrored`): the teacher's scores, or a student's when
    it teaches the next round."""
    categories = category_columns(full_labels)
    rows = rows_of_split(full_labels, "train")
    images = LabelledImages.from_arrays(train_images, label_matrix(full_labels)[rows], rows)
    config = model if images.is_image else models.head_config(int(train_images.shape[1]))
    network = models.build_from_config(config, len(categories))
    models.load_weights(network, weights, "the model's weights")
    settings = TrainSettings.from_config(training).inference
    probabilities = predict(network, images, settings, mirrored)
    table = full_labels.loc[rows, ["image_id", "file_name"]].reset_index(drop=True)
    return pd.concat([table, pd.DataFrame(probabilities, columns=categories)], axis=1)


def prediction_node(
    weights: str, output: str, name: str, namespace: str | None, train: str, mirrored: bool = False
) -> Node:
    """The node that scores the training split (images or features `train`) with `weights`,
    or its mirror images."""
    return node(
        bind(predict_training_split, mirrored=True) if mirrored else predict_training_split,
        inputs={
            "weights": weights,
            "full_labels": "full_labels",
            "train_images": train,
            "model": "params:model",
            "training": "params:training",
        },
        outputs=output,
        name=name,
        namespace=namespace,
    )
