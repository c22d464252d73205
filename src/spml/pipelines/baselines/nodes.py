"""Reference models trained once per study on the same data as the teacher."""

from __future__ import annotations

from typing import Any

import pandas as pd

from spml import losses
from spml.pipelines.common import Trained, epochs_suffix, seed_suffix, train_model
from spml.study import ModelSpec
from spml.tables import training_split


def train_baseline(
    loss: str,
    seed: int | None,
    observed_labels: pd.DataFrame,
    baselines: dict[str, Any],
    epochs: int | None = None,
    **study: Any,
) -> Trained:
    """Train one baseline: full-label losses see the full labels, the others single positives;
    with `epochs`, its equal-compute control."""
    full = loss in losses.FULL_LABEL_LOSSES
    labels, name = (
        (study["full_labels"], "full_labels") if full else (observed_labels, "observed_labels")
    )
    options = dict((baselines.get("options") or {}).get(loss) or {})
    name = f"baseline {loss}{epochs_suffix(epochs)}{seed_suffix(seed)}"
    spec = ModelSpec(name, "baseline", loss, options, seed=seed, epochs=epochs)
    return train_model(spec, training_split(labels), name, **study)
