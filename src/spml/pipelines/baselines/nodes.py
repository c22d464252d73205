"""Reference models trained once per study on the same data as the teacher."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import losses
from spml.data import LabelledImages
from spml.pipelines.common import train_tracked, validation_and_test
from spml.study import ModelSpec, check_aligned, label_matrix, rows_of_split


def train_baseline(
    loss: str,
    observed_labels: pd.DataFrame,
    baselines: dict[str, Any],
    full_labels: pd.DataFrame,
    test_labels: pd.DataFrame,
    train_images: np.ndarray,
    test_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    checkpoints: str | None,
    data_root: str,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train one baseline: full-label losses see the full labels, the others single positives."""
    check_aligned(observed_labels, full_labels, "observed_labels", "full_labels")
    labels = full_labels if loss in losses.FULL_LABEL_LOSSES else observed_labels
    options = dict((baselines.get("options") or {}).get(loss) or {})
    spec = ModelSpec(f"baseline {loss}", "baseline", loss, options)
    rows = rows_of_split(labels, "train")
    train = LabelledImages.from_arrays(train_images, label_matrix(labels)[rows], rows)
    evaluation = validation_and_test(full_labels, test_labels, train_images, test_images)
    return train_tracked(spec, train, evaluation, model, training, checkpoints, data_root)


def baseline_trainer(loss: str) -> Callable[..., tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """A node function bound to one baseline loss, still named like the function it wraps."""
    return update_wrapper(partial(train_baseline, loss), train_baseline)
