"""The teacher: learn from single positives, then score every training image."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import models
from spml.data import LabelledImages
from spml.pipelines.common import train_tracked, validation_and_test
from spml.study import (
    ModelSpec,
    category_columns,
    check_aligned,
    label_matrix,
    rows_of_split,
)
from spml.training import TrainSettings, predict


def teacher_spec(teacher: dict[str, Any]) -> ModelSpec:
    """The teacher's identity in the study (its loss was checked when the session started)."""
    loss = teacher["loss"]
    return ModelSpec(f"teacher ({loss})", "teacher", loss, dict(teacher.get("loss_options") or {}))


def train_teacher(
    observed_labels: pd.DataFrame,
    teacher: dict[str, Any],
    full_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    train_images: np.ndarray,
    test_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    checkpoints: str | None,
    data_root: str,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train the teacher on observed labels, selecting on clean validation mAP."""
    spec = teacher_spec(teacher)
    check_aligned(observed_labels, full_labels, "observed_labels", "full_labels")
    rows = rows_of_split(observed_labels, "train")
    train = LabelledImages.from_arrays(train_images, label_matrix(observed_labels)[rows], rows)
    evaluation = validation_and_test(full_labels, test_labels, train_images, test_images)
    return train_tracked(spec, train, evaluation, model, training, checkpoints, data_root)


def predict_teacher(
    teacher_model: dict[str, torch.Tensor],
    full_labels: pd.DataFrame,
    train_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
) -> pd.DataFrame:
    """Teacher probabilities for every training-split image, under the evaluation transform."""
    categories = category_columns(full_labels)
    rows = rows_of_split(full_labels, "train")
    images = LabelledImages.from_arrays(train_images, label_matrix(full_labels)[rows], rows)
    config = model if images.is_image else models.head_config(int(train_images.shape[1]))
    network = models.build_from_config(config, len(categories))
    models.load_weights(network, teacher_model, "teacher_model")
    probabilities = predict(network, images, TrainSettings.from_config(training))
    table = full_labels.loc[rows, ["image_id", "file_name"]].reset_index(drop=True)
    return pd.concat([table, pd.DataFrame(probabilities, columns=categories)], axis=1)
