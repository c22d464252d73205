"""Students: trained on pseudo labels as if they were the full labels."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spml.pipelines.common import Trained, seed_suffix, train_model
from spml.study import ModelSpec
from spml.variants import Variant

QUALITY_KEYS = ("pos_per_image", "precision", "recall", "f1", "unknown_per_image")


def train_student(
    variant: Variant,
    seed: int | None,
    pseudo_labels: pd.DataFrame,
    pseudo_label_quality: dict[str, Any],
    student: dict[str, Any],
    **study: Any,
) -> Trained:
    """Train on the pseudo labels of the training split; select and test on clean labels."""
    spec = ModelSpec(
        f"student {variant.label}{seed_suffix(seed)}",
        "student",
        student["loss"],
        dict(student.get("loss_options") or {}),
        variant.value if variant.policy == "threshold" else None,
        variant,
        seed,
        variant.epochs,
    )
    quality = {
        f"pseudo_{key}": float(pseudo_label_quality[key])
        for key in QUALITY_KEYS
        if key in pseudo_label_quality
    }
    name = f"pseudo_labels of {variant.label}"
    return train_model(spec, pseudo_labels, name, **study, extra_metrics=quality)
