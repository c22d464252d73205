"""Pseudo multi-labels from the teacher's probabilities, and how good they are."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spml.metrics import pseudo_label_quality
from spml.pseudo import pseudo_labels_at
from spml.tables import category_columns, label_matrix, training_rows


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
    rows = training_rows(pseudo_labels, full_labels, f"pseudo_labels at tau={tau:g}")
    quality = pseudo_label_quality(label_matrix(pseudo_labels), label_matrix(full_labels)[rows])
    return {"tau": tau, **quality}
