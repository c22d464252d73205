"""The teacher: learn from single positives; its scores on the training split come from
`spml.pipelines.common.predict_training_split`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spml.pipelines.common import Trained, epochs_suffix, seed_suffix, train_model
from spml.study import ModelSpec
from spml.tables import training_split


def train_teacher(
    seed: int | None,
    observed_labels: pd.DataFrame,
    teacher: dict[str, Any],
    epochs: int | None = None,
    **study: Any,
) -> Trained:
    """Train the teacher on the observed single positives, selecting on clean validation mAP;
    with `epochs`, its equal-compute control."""
    loss = teacher["loss"]  # checked when the session started
    spec = ModelSpec(
        f"teacher ({loss}){epochs_suffix(epochs)}{seed_suffix(seed)}",
        "teacher",
        loss,
        dict(teacher.get("loss_options") or {}),
        seed=seed,
        epochs=epochs,
    )
    return train_model(spec, training_split(observed_labels), "observed_labels", **study)
