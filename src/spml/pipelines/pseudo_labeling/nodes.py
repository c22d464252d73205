"""Pseudo labels from a teacher's probabilities by a variant's policy, and how good they are."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spml.metrics import per_class_quality, pseudo_label_quality
from spml.policies import make_targets
from spml.tables import category_columns, check_aligned, label_matrix, training_rows, training_split
from spml.variants import Variant


def make_pseudo_labels(
    variant: Variant,
    band_low: float,
    teacher_probabilities: pd.DataFrame,
    observed_labels: pd.DataFrame,
    mirrored_probabilities: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The variant's targets for every training-split image: 0/1 (the paper: p > tau), soft,
    or NaN where the student must not learn (spml.policies); from the mean of the teacher's
    probabilities on each image and its mirror image when `mirrored_probabilities` are given."""
    observed = training_split(observed_labels)
    check_aligned(
        teacher_probabilities, observed, "teacher probabilities", "observed_labels' training split"
    )
    probabilities = label_matrix(teacher_probabilities)
    if mirrored_probabilities is not None:
        check_aligned(
            mirrored_probabilities, observed, "mirrored probabilities", "observed_labels' training"
        )
        probabilities = (probabilities + label_matrix(mirrored_probabilities)) / 2
    targets = make_targets(
        variant.policy,
        variant.targets_value,
        probabilities,
        label_matrix(observed),
        variant.keep_observed,
        band_low,
    )
    table = teacher_probabilities[["image_id", "file_name"]].copy()
    columns = category_columns(teacher_probabilities)
    return pd.concat([table, pd.DataFrame(targets.matrix(), columns=columns)], axis=1)


def assess_pseudo_labels(
    variant: Variant, pseudo_labels: pd.DataFrame, full_labels: pd.DataFrame
) -> dict[str, Any]:
    """Compare with the hidden full labels: for analysis only, never fed to training."""
    rows = training_rows(pseudo_labels, full_labels, f"pseudo_labels of {variant.label}")
    pseudo, truth = label_matrix(pseudo_labels), label_matrix(full_labels)[rows]
    per_class = per_class_quality(pseudo, truth)
    categories = category_columns(pseudo_labels)
    return {
        "tau": variant.value if variant.policy == "threshold" else None,
        "policy": variant.policy,
        "value": variant.value,
        "keep_observed": variant.keep_observed,
        **pseudo_label_quality(pseudo, truth),
        "unknown_per_image": float(np.isnan(pseudo).sum() / len(pseudo)),
        "per_class": {
            measure: dict(zip(categories, values)) for measure, values in per_class.items()
        },
    }
