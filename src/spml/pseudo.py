"""Pseudo multi-labels: thresholding a teacher's probabilities at tau (Arroyo, 2023)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from spml.metrics import to_numpy

_SLUG_DECIMALS = 4


def validate_tau(tau: object, name: str = "tau") -> float:
    """A threshold from configuration as a float in [0, 1), or a ValueError naming it."""
    if isinstance(tau, bool | np.bool_):
        raise ValueError(f"{name} must be a number in [0, 1), got the boolean {tau!r}")
    if isinstance(tau, str):
        try:
            value = float(tau.strip())
        except ValueError:
            raise ValueError(f"{name} must be a number in [0, 1), got {tau!r}") from None
    elif isinstance(tau, numbers.Real):
        value = float(tau)
    else:
        raise ValueError(f"{name} must be a number in [0, 1), got {tau!r} ({type(tau).__name__})")
    if math.isnan(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {tau!r}")
    return value


def pseudo_labels_at(probabilities: object, tau: object) -> np.ndarray:
    """uint8 labels, 1 where probability > tau strictly (a probability equal to tau gives 0).

    The comparison happens in the probabilities' own floating dtype (tau is cast to it), as
    a torch `p > tau` on float32 sigmoid outputs does, so a float32 probability that equals
    float32(tau) counts as equal, not as a float64 rounding artefact above or below it.
    """
    threshold = validate_tau(tau)
    array = to_numpy(probabilities)
    if array.dtype.kind not in ("f", "i", "u", "b"):
        raise ValueError(f"probabilities must be numeric, got dtype {array.dtype}")
    array = array.astype(np.result_type(array.dtype, np.float32))  # floats keep their own
    if not np.isfinite(array).all():
        raise ValueError("probabilities contain NaN or infinite values")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"probabilities must lie in [0, 1], found values in [{array.min()}, {array.max()}]"
        )
    return (array > array.dtype.type(threshold)).astype(np.uint8)


def tau_slug(tau: float) -> str:
    """A stable file/namespace name for tau, free of float artefacts (0.65 -> 'tau_0_65').

    tau is rounded to 4 decimals and written with at least 2, so thresholds that agree to
    4 decimals share a name.
    """
    whole, fraction = str(round(validate_tau(tau), _SLUG_DECIMALS)).split(".")
    return f"tau_{whole}_{fraction.ljust(2, '0')}"
