"""What every training node shares: build the splits, track the run, train, test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import tracking
from spml.data import LabelledImages
from spml.study import ModelSpec, label_matrix, rows_of_split, train_and_test
from spml.training import TrainSettings


def validation_and_test(
    full_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    train_images: np.ndarray,
    test_images: np.ndarray,
) -> tuple[LabelledImages, LabelledImages]:
    """Clean validation data (for model selection) and the fully labelled test set."""
    val_rows = rows_of_split(full_labels, "val")
    val = LabelledImages.from_arrays(train_images, label_matrix(full_labels)[val_rows], val_rows)
    test = LabelledImages.from_arrays(test_images, label_matrix(test_labels))
    return val, test


def train_tracked(
    spec: ModelSpec,
    train: LabelledImages,
    evaluation: tuple[LabelledImages, LabelledImages],
    model_config: Mapping[str, Any],
    training: Mapping[str, Any],
    checkpoint_dir: str | None,
    dataset: str,
    extra_metrics: Mapping[str, float] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train one model inside its own MLflow run and return its weights and metrics."""
    settings = TrainSettings.from_config(training)
    params = tracking.run_params(
        spec.role, spec.loss, spec.tau, training, model_config, dataset, spec.loss_options
    )
    val, test = evaluation
    with tracking.model_run(spec.name, params):
        if extra_metrics:
            tracking.log_final(extra_metrics)
        trained = train_and_test(
            spec,
            train,
            val,
            test,
            model_config,
            settings,
            checkpoint_dir=checkpoint_dir,
            on_epoch_end=tracking.log_epoch,
        )
        tracking.log_final(
            {key: trained.metrics[key] for key in ("test_map", "best_val_map", "best_epoch")}
        )
    return trained.state, {**trained.metrics, **(extra_metrics or {})}
