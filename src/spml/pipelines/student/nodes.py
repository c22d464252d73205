"""Students: trained on pseudo labels as if they were the full labels."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

import numpy as np
import pandas as pd
import torch

from spml.data import LabelledImages
from spml.pipelines.common import train_tracked, validation_and_test
from spml.study import ModelSpec, category_columns, label_matrix, rows_of_split


def train_student(
    tau: float,
    pseudo_labels: pd.DataFrame,
    pseudo_label_quality: dict[str, Any],
    student: dict[str, Any],
    full_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    train_images: np.ndarray,
    test_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    checkpoints: str | None,
    data_root: str,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train on the pseudo labels of the training split; select and test on clean labels."""
    rows = rows_of_split(full_labels, "train")
    if list(full_labels["image_id"].iloc[rows]) != list(pseudo_labels["image_id"]) or (
        category_columns(pseudo_labels) != category_columns(full_labels)
    ):
        raise ValueError(
            f"pseudo labels at tau={tau} do not match full_labels' training split "
            "(rows or categories differ): rerun the teacher on this data set"
        )
    spec = ModelSpec(
        f"student tau={tau:g}",
        "student",
        student["loss"],
        dict(student.get("loss_options") or {}),
        tau,
    )
    train = LabelledImages.from_arrays(train_images, label_matrix(pseudo_labels), rows)
    evaluation = validation_and_test(full_labels, test_labels, train_images, test_images)
    quality = {
        f"pseudo_{key}": float(pseudo_label_quality[key])
        for key in ("pos_per_image", "precision", "recall", "f1")
    }
    return train_tracked(spec, train, evaluation, model, training, checkpoints, data_root, quality)


def student_trainer(tau: float) -> Callable[..., tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """A node function bound to one threshold, still named like the function it wraps."""
    return update_wrapper(partial(train_student, tau), train_student)
