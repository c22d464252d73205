"""Evaluation numbers: mAP as the field reports it, and the quality of pseudo labels."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score


def to_numpy(values: object) -> np.ndarray:
    """Accept numpy arrays, torch tensors (any device, with grad) and nested lists alike."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _matching_matrices(
    first: object, second: object, first_name: str, second_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D arrays of one shape, or a ValueError naming both shapes."""
    a, b = to_numpy(first), to_numpy(second)
    if a.shape != b.shape:
        raise ValueError(
            f"{first_name} shape {a.shape} does not match {second_name} shape {b.shape}"
        )
    if a.ndim != 2:
        raise ValueError(
            f"{first_name} and {second_name} must be 2-D (images x classes), got shape {a.shape}"
        )
    return a, b


def _check_binary(values: np.ndarray, name: str) -> None:
    """Labels must be 0/1; anything else is a caller mistake, not a metric value."""
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")


def mean_average_precision(scores: object, targets: object) -> float:
    """mAP in percent: 100 x mean over classes of sklearn's per-class average precision.

    A class with no positive target has no defined AP; it is left out of the mean. The
    reference code (Cole et al.) counts such a class as AP 0 instead; on COCO test every
    class has positives, so the two rules only differ on small data (subsets, smoke runs).
    Raises ValueError when shapes differ, targets are not 0/1, scores are not finite, or
    no class has a positive.
    """
    score_matrix, target_matrix = _matching_matrices(scores, targets, "scores", "targets")
    _check_binary(target_matrix, "targets")
    if not np.isfinite(score_matrix).all():
        raise ValueError("scores contain NaN or infinite values")
    has_positive = np.flatnonzero(target_matrix.sum(axis=0) > 0)
    if has_positive.size == 0:
        raise ValueError("no class has a positive target; mAP is undefined")
    precisions = [
        average_precision_score(target_matrix[:, c], score_matrix[:, c]) for c in has_positive
    ]
    return float(100.0 * np.mean(precisions))


def pseudo_label_quality(pseudo: object, truth: object) -> dict[str, float]:
    """How close pseudo labels are to the truth: cardinality and micro precision/recall/F1.

    Targets may be soft (in [0, 1]: a target t counts as t of a positive) and unknown (NaN:
    counts as no positive); on hard 0/1 labels these are the usual counts.
    """
    pseudo_matrix, truth_matrix = _matching_matrices(pseudo, truth, "pseudo", "truth")
    _check_binary(truth_matrix, "truth")
    if pseudo_matrix.shape[0] == 0:
        raise ValueError("pseudo has no rows")
    targets = _soft_targets(pseudo_matrix)
    actual = truth_matrix.astype(np.float64)
    true_positives = float((targets * actual).sum())
    n_predicted = float(targets.sum())
    n_actual = float(actual.sum())
    precision = true_positives / n_predicted if n_predicted else 0.0
    recall = true_positives / n_actual if n_actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pos_per_image": n_predicted / pseudo_matrix.shape[0],
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def per_class_precision_recall(pseudo: object, truth: object) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of pseudo labels for each class (soft targets count as fractions,
    unknown ones as nothing; NaN where a class has no pseudo or no true positive), to see which
    classes a policy serves and which it starves."""
    pseudo_matrix, truth_matrix = _matching_matrices(pseudo, truth, "pseudo", "truth")
    _check_binary(truth_matrix, "truth")
    targets, actual = _soft_targets(pseudo_matrix), truth_matrix.astype(np.float64)
    hits = (targets * actual).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / targets.sum(axis=0), hits / actual.sum(axis=0)


def per_class_quality(pseudo: object, truth: object) -> dict[str, list[float]]:
    """Per-class precision and recall for a JSON file: a class with no pseudo positive has
    precision 0, one with no true positive recall 0."""
    precision, recall = per_class_precision_recall(pseudo, truth)
    return {
        "precision": np.nan_to_num(precision).round(6).tolist(),
        "recall": np.nan_to_num(recall).round(6).tolist(),
    }


def _soft_targets(pseudo: np.ndarray) -> np.ndarray:
    """Targets in [0, 1] as float64, unknown (NaN) entries set to 0."""
    values = np.nan_to_num(pseudo.astype(np.float64), nan=0.0)
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError("pseudo must contain targets in [0, 1] (or NaN for unknown)")
    return values


def scores_by_label_kind(scores: object, observed: object, truth: object) -> dict[str, np.ndarray]:
    """A model's scores split into observed positives, hidden positives (true but unobserved)
    and true negatives: their overlap is what a pseudo-label threshold must cut through."""
    score_matrix, truth_matrix = _matching_matrices(scores, truth, "scores", "truth")
    observed_matrix, _ = _matching_matrices(observed, truth, "observed", "truth")
    _check_binary(observed_matrix, "observed")
    _check_binary(truth_matrix, "truth")
    seen, positive = observed_matrix.astype(bool), truth_matrix.astype(bool)
    if (seen & ~positive).any():
        raise ValueError("observed has a positive that truth lacks: not labels of one data set")
    return {
        "observed positives": score_matrix[seen],
        "hidden positives": score_matrix[positive & ~seen],
        "true negatives": score_matrix[~positive],
    }
