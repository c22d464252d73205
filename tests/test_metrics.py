"""mAP as sklearn computes it per class, and pseudo-label quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from spml.metrics import (
    mean_average_precision,
    per_class_precision_recall,
    per_class_quality,
    pseudo_label_quality,
    scores_by_label_kind,
)


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
    targets[:, 3] = np.eye(50, dtype=np.uint8)[7]  # a single positive still counts
    scores = rng.random((50, 4))
    expected = 100 * np.mean(
        [average_precision_score(targets[:, c], scores[:, c]) for c in (0, 1, 3)]
    )
    assert mean_average_precision(scores, targets) == pytest.approx(expected)


def test_perfect_ranking_gives_100():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    scores = np.where(targets == 1, 0.9, 0.1) + np.arange(4)[:, None] * 0.01
    assert mean_average_precision(scores, targets) == pytest.approx(100.0)


def test_map_of_tensors_that_carry_gradients():
    scores = torch.tensor([[0.9, 0.2], [0.1, 0.8]], requires_grad=True)
    assert mean_average_precision(scores * 1, torch.eye(2)) == pytest.approx(100.0)


@pytest.mark.parametrize(
    "scores, targets, message",
    [
        (
            np.zeros((3, 2)),
            np.zeros((2, 3)),
            r"^scores shape \(3, 2\) does not match targets shape",
        ),
        (np.zeros((3, 2)), np.zeros((3, 2)), "^no class has a positive target; mAP is undefined$"),
        (np.zeros((3,)), np.ones((3,)), r"^scores and targets must be 2-D \(images x classes\)"),
        (np.zeros((2, 2)), np.full((2, 2), 2), "^targets must contain only 0 and 1$"),
        (np.full((2, 2), np.nan), np.eye(2), "^scores contain NaN or infinite values$"),
    ],
)
def test_map_errors_name_the_problem(scores, targets, message):
    with pytest.raises(ValueError, match=message):
        mean_average_precision(scores, targets)


def test_pseudo_label_quality_hand_computed():
    pseudo = np.array([[1, 1, 0], [0, 1, 1]])
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    quality = pseudo_label_quality(pseudo, truth)
    # 4 predicted, 2 true, 2 correct: precision 0.5, recall 1, F1 2/3.
    assert quality == pytest.approx(
        {"pos_per_image": 2.0, "precision": 0.5, "recall": 1.0, "f1": 2 / 3}
    )


def test_pseudo_label_quality_with_equal_precision_and_recall():
    quality = pseudo_label_quality(np.array([[1, 0], [0, 1]]), np.array([[1, 0], [1, 0]]))
    assert quality == pytest.approx(
        {"pos_per_image": 1.0, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    )


def test_pseudo_label_quality_all_zero_and_shapes():
    quality = pseudo_label_quality(np.zeros((2, 3)), np.eye(2, 3))
    assert quality == {"pos_per_image": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    no_truth = pseudo_label_quality(np.eye(2, 3), np.zeros((2, 3)))
    assert no_truth == {"pos_per_image": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


@pytest.mark.parametrize(
    "pseudo, truth, message",
    [
        (np.zeros((2, 3)), np.zeros((3, 2)), r"^pseudo shape \(2, 3\) does not match truth shape"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "^pseudo has no rows$"),
        (np.full((1, 2), 1.5), np.zeros((1, 2)), r"^pseudo must contain targets in \[0, 1\]"),
        (np.full((1, 2), -0.5), np.zeros((1, 2)), r"^pseudo must contain targets in \[0, 1\]"),
        (np.zeros((1, 2)), np.full((1, 2), 3), "^truth must contain only 0 and 1$"),
    ],
)
def test_pseudo_label_quality_errors_name_the_problem(pseudo, truth, message):
    with pytest.raises(ValueError, match=message):
        pseudo_label_quality(pseudo, truth)


def test_soft_and_unknown_targets_count_as_fractions_and_nothing():
    pseudo = np.array([[0.5, np.nan, 1.0], [0.25, 0.0, np.nan]])
    truth = np.array([[1, 1, 0], [0, 0, 1]])
    # predicted mass 0.5 + 1 + 0.25 = 1.75; hit mass 0.5; 3 true positives
    quality = pseudo_label_quality(pseudo, truth)
    precision, recall = 0.5 / 1.75, 0.5 / 3
    assert quality == pytest.approx(
        {
            "pos_per_image": 0.875,
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall),
        }
    )


def test_per_class_quality_hand_computed():
    pseudo = np.array([[1, 0.5, 0, np.nan], [1, 0, 0, 1], [0, 1, 0, np.nan]])
    truth = np.array([[1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]])
    quality = per_class_quality(pseudo, truth)
    assert quality["precision"] == pytest.approx([0.5, 0.5 / 1.5, 0.0, 0.0])
    assert quality["recall"] == pytest.approx([1.0, 0.25, 0.0, 0.0])


def test_per_class_precision_recall_hand_computed():
    pseudo = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]])
    truth = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    precision, recall = per_class_precision_recall(pseudo, truth)
    np.testing.assert_allclose(precision, [2 / 3, 1 / 2, np.nan])  # class 2: nothing predicted
    np.testing.assert_allclose(recall, [1.0, 1 / 2, 0.0])
    _, recall_without_positives = per_class_precision_recall(pseudo[:, :1], np.zeros((4, 1)))
    assert np.isnan(recall_without_positives).all()


def test_per_class_precision_recall_checks_its_inputs():
    with pytest.raises(ValueError, match="shape"):
        per_class_precision_recall(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"pseudo must contain targets in \[0, 1\]"):
        per_class_precision_recall(np.full((2, 2), 1.5), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="truth must contain only 0 and 1"):
        per_class_precision_recall(np.zeros((2, 2)), np.full((2, 2), 2))


def test_scores_by_label_kind_splits_every_entry_once():
    scores = np.array([[0.9, 0.6, 0.1], [0.2, 0.8, 0.7]])
    observed = np.array([[1, 0, 0], [0, 1, 0]])
    truth = np.array([[1, 1, 0], [0, 1, 1]])
    groups = scores_by_label_kind(scores, observed, truth)
    assert list(groups) == ["observed positives", "hidden positives", "true negatives"]
    np.testing.assert_array_equal(groups["observed positives"], [0.9, 0.8])
    np.testing.assert_array_equal(groups["hidden positives"], [0.6, 0.7])
    np.testing.assert_array_equal(groups["true negatives"], [0.1, 0.2])


@pytest.mark.parametrize(
    "observed, truth, message",
    [
        ([[1, 0]], [[0, 1]], "observed has a positive that truth lacks"),
        ([[1, 0, 0]], [[1, 0]], "observed shape"),
        ([[0.5, 0]], [[1, 0]], "observed must contain only 0 and 1"),
        ([[1, 0]], [[1, 2]], "truth must contain only 0 and 1"),
    ],
)
def test_scores_by_label_kind_names_inconsistent_labels(observed, truth, message):
    with pytest.raises(ValueError, match=message):
        scores_by_label_kind(np.array([[0.5, 0.5]]), np.array(observed), np.array(truth))
