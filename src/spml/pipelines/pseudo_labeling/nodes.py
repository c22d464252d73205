"""Pseudo multi-labels from the teacher's probabilities, and how good they are."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

import pandas as pd

from spml.metrics import pseudo_label_quality
from spml.pseudo import pseudo_labels_at
from spml.study import category_columns, label_matrix, rows_of_split


def make_pseudo_labels(tau: float, teacher_probabilities: pd.DataFrame) -> pd.DataFrame:
    """1 where the teacher's probability is strictly above tau."""
    table = teacher_probabilities[["image_id", "file_name"]].copy()
    labels = pseudo_labels_at(label_matrix(teacher_probabilities), tau)
    return pd.concat(
        [table, pd.DataFrame(labels, columns=category_columns(teacher_probabilities))], axis=1
    )


def assess_pseudo_labels(
    tau: float, pseudo_labels: pd.DataFrame, full_labels: pd.DataFrame
) -> dict[str, Any]:
    """Compare with the hidden full labels: for analysis only, never fed to training."""
    truth = full_labels.iloc[rows_of_split(full_labels, "train")].reset_index(drop=True)
    if list(truth["image_id"]) != list(pseudo_labels["image_id"]):
        raise ValueError(
            "pseudo labels and full_labels list different training images; "
            "the teacher probabilities come from another data set or split"
        )
    quality = pseudo_label_quality(label_matrix(pseudo_labels), label_matrix(truth))
    return {"tau": tau, **quality}


def _bound(function: Callable[..., Any], tau: float) -> Callable[..., Any]:
    """A node function for one threshold that still reads as the function it wraps."""
    return update_wrapper(partial(function, tau), function)


def pseudo_labeler(tau: float) -> Callable[..., pd.DataFrame]:
    return _bound(make_pseudo_labels, tau)


def pseudo_label_assessor(tau: float) -> Callable[..., dict[str, Any]]:
    return _bound(assess_pseudo_labels, tau)
