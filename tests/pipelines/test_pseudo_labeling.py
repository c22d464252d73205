"""Pseudo labels from the teacher's probabilities, scored against the hidden full labels."""

from __future__ import annotations

import numpy as np
import pytest

from spml.pipelines.design import StudyDesign
from spml.pipelines.pseudo_labeling.nodes import make_pseudo_labels
from spml.pipelines.pseudo_labeling.pipeline import create_pipeline
from spml.variants import Variant
from tests.pipelines.memory_study import run, table

# train2014: four training-split images, then two validation images.
FULL = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 0]])
OBSERVED = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
SPLIT = ["train", "train", "train", "train", "val", "val"]
PROBABILITIES = np.array(
    [[0.9, 0.6, 0.1], [0.2, 0.5, 0.3], [0.7, 0.4, 0.0], [0.1, 0.2, 0.5]], dtype=np.float32
)


def test_quality_is_scored_against_the_full_labels_of_the_training_split() -> None:
    outputs = run(
        create_pipeline(StudyDesign(taus=(0.5,))),
        teacher_probabilities=table(PROBABILITIES),
        full_labels=table(FULL, SPLIT),
        observed_labels=table(OBSERVED, SPLIT),
    )
    pseudo = outputs["pseudo_labels_tau_0_50"]
    # p > 0.5 strictly: 0.5 in row 2 is not a positive.
    assert pseudo[["cat", "dog", "bird"]].to_numpy().tolist() == [
        [1, 1, 0],
        [0, 0, 0],
        [1, 0, 0],
        [0, 0, 0],
    ]
    assert pseudo["image_id"].tolist() == [1, 2, 3, 4]
    # Against the four training rows of FULL: 3 pseudo positives, 2 of them true, 6 true
    # positives in all. (The observed labels would give precision 1/3, recall 1/4.)
    # Per class: cat 2 pseudo positives, both true (2 true); dog 1, false (2 true); bird none.
    quality = outputs["pseudo_label_quality_tau_0_50"]
    assert quality.pop("per_class") == {
        "precision": {"cat": 1.0, "dog": 0.0, "bird": 0.0},
        "recall": {"cat": 1.0, "dog": 0.0, "bird": 0.0},
    }
    assert quality == pytest.approx(
        {
            "tau": 0.5,
            "policy": "threshold",
            "value": 0.5,
            "keep_observed": False,
            "pos_per_image": 3 / 4,
            "precision": 2 / 3,
            "recall": 2 / 6,
            "f1": 2 * (2 / 3) * (2 / 6) / (2 / 3 + 2 / 6),
            "unknown_per_image": 0.0,
        }
    )


def test_pseudo_labels_of_another_data_set_are_refused() -> None:
    shifted = table(
        PROBABILITIES, ids=[2, 3, 4, 5]
    )  # not the images of full_labels' training split
    with pytest.raises(ValueError, match="same images"):
        run(
            create_pipeline(StudyDesign(taus=(0.5,))),
            teacher_probabilities=shifted,
            full_labels=table(FULL, SPLIT),
            observed_labels=table(OBSERVED, SPLIT),
        )


def test_a_soft_temperature_tempers_the_first_teacher_only() -> None:
    probabilities, observed = table(PROBABILITIES), table(OBSERVED, SPLIT)
    p = PROBABILITIES.astype(np.float64)
    kept = OBSERVED[:4] == 1

    def targets(variant: Variant) -> np.ndarray:
        labels = make_pseudo_labels(variant, 0.5, probabilities, observed)
        return labels[["cat", "dog", "bird"]].to_numpy()

    tempered = 1 / (1 + np.exp(-np.log(p / (1 - p)) / 2.0))
    first = targets(Variant("soft", 2.0, keep_observed=True))
    np.testing.assert_allclose(first, np.where(kept, 1.0, tempered), atol=1e-6)
    # A round-2 student learns its teacher's (a round-1 student's) probabilities as they are:
    # that teacher already predicts at T = 2.
    later = targets(Variant("soft", 2.0, keep_observed=True, round=2))
    np.testing.assert_allclose(later, np.where(kept, 1.0, p), atol=1e-6)
    # Other policies keep their value in every round.
    threshold = targets(Variant("threshold", 0.45, round=2))
    np.testing.assert_array_equal(threshold, (PROBABILITIES > 0.45).astype(np.uint8))
