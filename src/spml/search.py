"""Each model at its own best learning rate and batch size: the seed's and Cole et al.'s model
selection (train.py tries batch {8, 16} x lr {1e-2, 1e-3, 1e-4, 1e-5} and keeps the run with
the best validation score), as the `search` parameters."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

SEARCHED = ("lr", "batch_size")  # the training parameters a search may vary


def candidates(search: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every combination of the searched values, as `training` overrides; [{}] when nothing is
    searched (the model trains once, at training.lr and training.batch_size)."""
    search = dict(search or {})
    unknown = sorted(set(search) - set(SEARCHED))
    if unknown:
        raise ValueError(f"Unknown search parameter(s) {unknown}; valid: {list(SEARCHED)}")
    grids = {key: _grid(key, search.get(key)) for key in SEARCHED}
    chosen = {key: values for key, values in grids.items() if values}
    return [dict(zip(chosen, values)) for values in itertools.product(*chosen.values())]


def _grid(key: str, values: Any) -> list[Any]:
    """One searched parameter's values: an empty list, or distinct valid settings."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ValueError(f"Parameter search.{key} must be a list, got {values!r}")
    for value in values:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        valid = number and math.isfinite(value) and value > 0
        if key == "batch_size":
            valid = valid and isinstance(value, int)
        if not valid:
            kind = "positive integers" if key == "batch_size" else "positive numbers"
            raise ValueError(f"Parameter search.{key} must list {kind}, got {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"Parameter search.{key} lists a value twice: {list(values)}")
    return list(values)


def candidate_suffix(overrides: Mapping[str, Any]) -> str:
    """What a candidate's name adds to its model's: ' lr=0.001 batch=16'."""
    parts = {"lr": "lr", "batch_size": "batch"}
    return "".join(f" {parts[key]}={value:g}" for key, value in overrides.items())


def best_candidate(validation_maps: Sequence[float]) -> int:
    """The candidate with the best validation mAP; the first of equals (the grid's order)."""
    if not validation_maps:
        raise ValueError("No candidate to choose from")
    return max(range(len(validation_maps)), key=lambda index: (validation_maps[index], -index))
