"""mAP as sklearn computes it per class, and pseudo-label quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from spml.metrics import mean_average_precision, pseudo_label_quality


def test_map_equals_sklearn_mean_over_classes():
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 7)) < 0.3).astype(np.uint8)
    scores = rng.random((200, 7))
    expected = 100 * np.mean(
        [average_precision_score(targets[:, c], scores[:, c]) for c in range(7)]
    )
    assert mean_average_precision(scores, targets) == pytest.approx(expected)
    tensor_result = mean_average_precision(torch.tensor(scores), torch.tensor(targets))
    assert tensor_result == pytest.approx(expected)


def test_class_without_positives_is_excluded():
    rng = np.random.default_rng(1)
    targets = (rng.random((50, 4)) < 0.4).astype(np.uint8)
    targets[:, 2] = 0
    scores = rng.random((50, 4))
    expected = 100 * np.mean(
        [average_precision_score(targets[:, c], scores[:, c]) for c in (0, 1, 3)]
    )
    assert mean_average_precision(scores, targets) == pytest.approx(expected)


def test_perfect_ranking_gives_100():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    scores = np.where(targets == 1, 0.9, 0.1) + np.arange(4)[:, None] * 0.01
    assert mean_average_precision(scores, targets) == pytest.approx(100.0)


def test_map_errors():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        mean_average_precision(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(np.zeros((3, 2)), np.zeros((3, 2)))


def test_pseudo_label_quality_hand_computed():
    pseudo = np.array([[1, 1, 0], [0, 1, 1]])
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    quality = pseudo_label_quality(pseudo, truth)
    # 4 predicted, 2 true, 2 correct: precision 0.5, recall 1, F1 2/3.
    assert quality == pytest.approx(
        {"pos_per_image": 2.0, "precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    )


def test_pseudo_label_quality_all_zero_and_shapes():
    quality = pseudo_label_quality(np.zeros((2, 3)), np.eye(2, 3))
    assert quality == {"pos_per_image": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        pseudo_label_quality(np.zeros((2, 3)), np.zeros((3, 2)))
