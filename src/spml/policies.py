"""Pseudo-label policies: a teacher's probabilities (and the observed positives) -> targets.

Each policy is a small pure function `policy(p, observed, value) -> Targets`: a target in [0, 1]
for every image x class, and a mask of unknown entries that the student's loss ignores. `p` is
the N x C probability matrix, `observed` the N x C single-positive matrix (1 = observed
positive), `value` the policy's swept parameter. `keep_observed` is applied after any policy.
Nothing here assumes a number of classes, images or class frequencies: every quantity that
depends on the data set is estimated from `p` and `observed`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from spml.pseudo import pseudo_labels_at, validate_tau
from spml.registry import Registry


@dataclass(frozen=True)
class Targets:
    """What a student learns from: targets in [0, 1], and the entries it must ignore."""

    values: np.ndarray  # float32, N x C, in [0, 1]; 0 where unknown
    unknown: np.ndarray  # bool, N x C: True where the student's loss must ignore the entry

    def __post_init__(self) -> None:
        if self.values.shape != self.unknown.shape or self.values.ndim != 2:
            raise ValueError(
                f"targets {self.values.shape} and unknown mask {self.unknown.shape} must be "
                "the same N x C shape"
            )
        if self.values.size and not (0 <= self.values.min() and self.values.max() <= 1):
            raise ValueError("targets must lie in [0, 1]")

    def matrix(self) -> np.ndarray:
        """One matrix for a label table: the targets, NaN where unknown; uint8 when hard."""
        if not self.unknown.any() and np.isin(self.values, (0, 1)).all():
            return self.values.astype(np.uint8)
        return np.where(self.unknown, np.nan, self.values).astype(np.float32)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Targets:
        """The inverse of `matrix`: NaN entries are unknown."""
        values = np.asarray(matrix, dtype=np.float32)
        unknown = np.isnan(values)
        return cls(np.where(unknown, 0.0, values).astype(np.float32), unknown)


def hard(labels: np.ndarray) -> Targets:
    """0/1 labels with nothing unknown."""
    return Targets(np.asarray(labels, dtype=np.float32), np.zeros(labels.shape, dtype=bool))


@dataclass(frozen=True)
class Policy:
    """A policy and what its swept value means: its symbol and the rule it must satisfy."""

    apply: Callable[..., Targets]
    symbol: str  # how names and tracking show the swept value ("tau", "k", "T")
    # (value, number of classes or None when not yet known) -> the value, or a ValueError
    check: Callable[[Any, int | None], float]


POLICIES: Registry[Policy] = Registry("pseudo-label policy", parameter="pseudo_labeling.policy")


def _number(value: Any, name: str, rule: str, ok: Callable[[float], bool]) -> float:
    """A finite real number satisfying `ok`, or a ValueError naming the parameter and rule."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if not real or not math.isfinite(float(value)) or not ok(float(value)):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return float(value)


def _positive(name: str, value: Any, num_classes: int | None) -> float:
    """A value that must be a positive number (bound to its name with functools.partial)."""
    return _number(value, name, "a number > 0", lambda v: v > 0)


def _class_count(name: str, value: Any, num_classes: int | None) -> float:
    """A whole number of classes between 1 and the data set's class count (any when unknown)."""
    most = math.inf if num_classes is None else num_classes
    rule = f"a whole number from 1 to the {num_classes or 'number of'} classes"
    whole = _number(value, name, rule, lambda v: v == int(v) and 1 <= v <= most)
    return float(int(whole))


def register(name: str, symbol: str, check: Callable[[Any, int | None], float]) -> Callable:
    """Make a policy function reachable from configuration as `name`."""

    def decorator(function: Callable[..., Targets]) -> Callable[..., Targets]:
        POLICIES.register(name)(Policy(function, symbol, check))
        return function

    return decorator


@register("threshold", "tau", lambda value, _: validate_tau(value, "threshold tau"))
def threshold(p: np.ndarray, observed: np.ndarray, tau: float) -> Targets:
    """The paper: 1 where p > tau strictly, 0 elsewhere (Arroyo, 2023)."""
    return hard(pseudo_labels_at(p, tau))


def class_frequencies(observed: np.ndarray, k: float) -> np.ndarray:
    """Each class's estimated frequency: its share of the observed positives times k, the
    expected positives per image (capped at 1), as EPR and ROLE assume k known."""
    share = observed.sum(0) / max(len(observed), 1)
    return np.minimum(1.0, k * share)


def top_of_each_column(scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """1 for the counts[c] highest scores of each column c (ties broken by row order)."""
    order = np.argsort(-scores, axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(scores))[:, None], axis=0)
    return (rank < counts[None, :]).astype(np.float32)


@register("class_prior", "k", partial(_positive, "class_prior k"))
def class_prior(p: np.ndarray, observed: np.ndarray, k: float) -> Targets:
    """Per class c, its round(N * f_c) most probable images, f_c = class_frequencies: a
    per-class threshold that matches each class's estimated frequency, whatever the
    teacher's calibration (CAP, Xie et al. 2023)."""
    counts = np.round(class_frequencies(observed, k) * len(p)).astype(np.int64)
    return hard(top_of_each_column(p, counts))


@register("top_k", "k", partial(_class_count, "top_k k"))
def top_k(p: np.ndarray, observed: np.ndarray, k: float) -> Targets:
    """Each image's k most probable classes (ties broken by class order)."""
    counts = np.full(len(p), int(k))
    return hard(top_of_each_column(p.T, counts).T)


@register("band", "tau", lambda value, _: validate_tau(value, "band tau"))
def band(p: np.ndarray, observed: np.ndarray, tau: float, low: float = 0.5) -> Targets:
    """1 where p > tau, 0 where p < low, unknown in between (ignoring beats flipping: LL-R)."""
    if not low <= tau:
        raise ValueError(f"band: pseudo_labeling.band_low={low} must not exceed tau={tau}")
    values = (p > tau).astype(np.float32)
    return Targets(values, (p >= low) & (p <= tau))


@register("soft", "T", partial(_positive, "soft temperature T"))
def soft(p: np.ndarray, observed: np.ndarray, temperature: float) -> Targets:
    """The teacher's probabilities themselves, sharpened (T < 1) or softened (T > 1):
    sigmoid(logit(p) / T), exact at p = 0 and 1 (Born-Again Networks, Noisy Student)."""
    p64 = p.astype(np.float64)
    with np.errstate(divide="ignore", over="ignore"):  # logit(0) = -inf gives target 0 exactly
        values = 1.0 / (1.0 + np.exp(-(np.log(p64) - np.log1p(-p64)) / temperature))
    return Targets(values.astype(np.float32), np.zeros(p.shape, dtype=bool))


@register("aligned", "k", partial(_positive, "aligned k"))
def aligned(p: np.ndarray, observed: np.ndarray, k: float) -> Targets:
    """The teacher's probabilities, each class scaled so its mean over the images is its
    estimated frequency (class_frequencies, k expected positives per image), capped at 1:
    distribution alignment (ReMixMatch, Berthelot et al. 2020), per class. It corrects a
    teacher that is over- or under-confident on a class without changing its ranking."""
    mean = p.astype(np.float64).mean(0)
    scale = np.divide(class_frequencies(observed, k), mean, out=np.ones_like(mean), where=mean > 0)
    values = np.minimum(1.0, p * scale[None, :]).astype(np.float32)
    return Targets(values, np.zeros(p.shape, dtype=bool))


def keep_observed(targets: Targets, observed: np.ndarray) -> Targets:
    """The observed positive stays a known positive, whatever the policy made of it."""
    positive = observed > 0.5
    return Targets(
        np.where(positive, 1.0, targets.values).astype(np.float32), targets.unknown & ~positive
    )


def available_policies() -> list[str]:
    """The names configuration may use."""
    return POLICIES.names()


def make_targets(
    policy: str,
    value: float,
    probabilities: np.ndarray,
    observed: np.ndarray,
    keep: bool = False,
    band_low: float = 0.5,
) -> Targets:
    """A policy's targets from a teacher's N x C probabilities, keeping the observed positives
    when `keep` is true."""
    entry = POLICIES[policy]
    p = np.asarray(probabilities)
    if p.shape != observed.shape:
        raise ValueError(
            f"probabilities {p.shape} and observed labels {observed.shape} differ in shape"
        )
    options = {"low": band_low} if policy == "band" else {}
    targets = entry.apply(p, observed, entry.check(value, p.shape[1]), **options)
    return keep_observed(targets, observed) if keep else targets
