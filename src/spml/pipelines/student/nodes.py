"""Students: trained on pseudo labels as if they were the full labels."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spml.pipelines.common import Trained, train_model
from spml.study import ModelSpec


def train_student(
    tau: float,
    pseudo_labels: pd.DataFrame,
    pseudo_label_quality: dict[str, Any],
    student: dict[str, Any],
    **study: Any,
) -> Trained:
    """Train on the pseudo labels of the training split; select and test on clean labels."""
    loss_options = dict(student.get("loss_options") or {})
    spec = ModelSpec(f"student tau={tau:g}", "student", student["loss"], loss_options, tau)
    quality = {
        f"pseudo_{key}": float(pseudo_label_quality[key])
        for key in ("pos_per_image", "precision", "recall", "f1")
    }
    name = f"pseudo_labels at tau={tau:g}"
    return train_model(spec, pseudo_labels, name, **study, extra_metrics=quality)
