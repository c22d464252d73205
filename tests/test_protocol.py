"""The Cole et al. data protocol: drop and count, single positive observation, split."""

from __future__ import annotations

import numpy as np
import pytest

from spml.protocol import (
    observe_single_positive,
    positives_per_image,
    reference_tables,
    split_train_val,
)
from spml.readers import RawLabels
from tests.reference_protocol import assert_reference_tables, reference_observe


def _random_labels(seed: int, n: int = 400, c: int = 20, p: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < p).astype(np.uint8)
    labels[labels.sum(axis=1) == 0, rng.integers(c)] = 1
    return labels


def test_observe_single_positive_matches_reference_loop():
    labels = _random_labels(0)
    observed = observe_single_positive(labels)
    np.testing.assert_array_equal(observed, reference_observe(labels, 1200))
    assert observed.dtype == np.uint8 and observed.shape == labels.shape
    assert (observed.sum(axis=1) == 1).all()
    assert (observed <= labels).all()
    np.testing.assert_array_equal(observed, observe_single_positive(labels, seed=1200))
    assert not np.array_equal(observed, observe_single_positive(labels, seed=1201))


def test_negative_shuffle_advances_the_generator():
    labels = _random_labels(1)
    without = reference_observe(labels, 1200, shuffle_negatives=False)
    assert not np.array_equal(observe_single_positive(labels), without)


def test_observe_single_positive_rejects_row_without_positive():
    labels = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    with pytest.raises(ValueError, match="row 1"):
        observe_single_positive(labels)
    with pytest.raises(ValueError, match="^Y must contain only 0 and 1$"):
        observe_single_positive(np.array([[2, 0]]))
    with pytest.raises(ValueError, match=r"^Y must be a 2-D label matrix, got shape \(2,\)$"):
        observe_single_positive(np.array([1, 0]))


def test_split_train_val_coco_sizes_and_reference_permutation():
    train, val = split_train_val(82081)
    assert (len(train), len(val)) == (65665, 16416)
    assert np.intersect1d(train, val).size == 0
    assert (np.diff(train) > 0).all() and (np.diff(val) > 0).all()
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(82081))
    permutation = np.random.RandomState(1200).permutation(82081)
    np.testing.assert_array_equal(train, np.sort(permutation[:65665]))
    np.testing.assert_array_equal(val, np.sort(permutation[-16416:]))


@pytest.mark.parametrize(
    ("n", "val_frac", "sizes"), [(10, 0.1, (9, 1)), (10, 0.9, (1, 9)), (2, 0.5, (1, 1))]
)
def test_split_train_val_one_row_is_enough_on_either_side(n, val_frac, sizes):
    train, val = split_train_val(n, val_frac)
    assert (len(train), len(val)) == sizes


@pytest.mark.parametrize(
    ("n", "val_frac", "message"),
    [
        (10, 0.0, "val_frac must be in (0, 1), got 0.0"),
        (10, 1.0, "val_frac must be in (0, 1), got 1.0"),
        (10, 1.5, "val_frac must be in (0, 1), got 1.5"),
        (10, -0.2, "val_frac must be in (0, 1), got -0.2"),
        (10, "0.2", "val_frac must be a number in (0, 1), got '0.2'"),
        (10, True, "val_frac must be a number in (0, 1), got True"),
        (
            10,
            0.04,
            "val_frac=0.04 gives 0 validation rows out of n=10; both parts need at least one row",
        ),
        (
            3,
            0.9,
            "val_frac=0.9 gives 3 validation rows out of n=3; both parts need at least one row",
        ),
        (1, 0.5, "n must be an integer >= 2, got 1"),
        ("10", 0.2, "n must be an integer >= 2, got '10'"),
        (True, 0.2, "n must be an integer >= 2, got True"),
    ],
)
def test_split_train_val_rejects_bad_arguments_by_name(n, val_frac, message):
    with pytest.raises(ValueError) as error:
        split_train_val(n, val_frac)
    assert str(error.value) == message


def test_positives_per_image():
    assert positives_per_image(np.array([[1, 1, 0], [0, 0, 1]])) == 1.5
    assert positives_per_image(np.array([[1, 1, 1]])) == 3.0
    with pytest.raises(ValueError, match="^Y has no rows$"):
        positives_per_image(np.zeros((0, 3)))


def _raw(source: str, matrix: np.ndarray, categories: tuple[str, ...]) -> RawLabels:
    return RawLabels(
        source,
        np.arange(100, 100 + len(matrix)),
        tuple(f"{source}_{row}.jpg" for row in range(len(matrix))),
        categories,
        matrix.astype(np.uint8),
    )


def test_reference_tables_drop_and_count_rows_without_positive_then_follow_the_reference():
    categories = tuple(f"c{j}" for j in range(20))
    train, test = _random_labels(4, n=60), _random_labels(5, n=30)
    train[[0, 7, 8, 41]] = 0
    test[[2]] = 0
    full, observed, test_table, stats = reference_tables(
        _raw("train", train, categories), _raw("test", test, categories)
    )

    def rows(source: str, matrix: np.ndarray) -> list[tuple[str, set]]:
        return [
            (f"{source}_{row}.jpg", {categories[j] for j in np.flatnonzero(matrix[row])})
            for row in range(len(matrix))
        ]

    tables = (full, observed, test_table)
    assert_reference_tables(tables, rows("train", train), rows("test", test), list(categories))
    assert full["image_id"].iloc[0] == 101  # ids follow their rows; row 0 was dropped
    assert stats.set_index("split")["images_without_positives"].to_dict() == {"train": 4, "test": 1}
    assert stats.set_index("split").loc["train", ["train_split", "val_split"]].tolist() == [45, 11]
    # The dropped rows are all zero, so the kept rows hold every positive of the split.
    assert stats.to_dict("records") == [
        {
            "split": "train",
            "source": "train",
            "images": 60,
            "images_without_positives": 4,
            "images_kept": 56,
            "categories": 20,
            "positives_per_image": pytest.approx(train.sum() / 56, rel=1e-12),
            "train_split": 45,
            "val_split": 11,
        },
        {
            "split": "test",
            "source": "test",
            "images": 30,
            "images_without_positives": 1,
            "images_kept": 29,
            "categories": 20,
            "positives_per_image": pytest.approx(test.sum() / 29, rel=1e-12),
            "train_split": 0,
            "val_split": 0,
        },
    ]


def test_reference_tables_draw_the_observed_positives_and_the_split_from_the_given_seed():
    categories = tuple(f"c{j}" for j in range(20))
    train, test = _random_labels(4, n=60), _random_labels(5, n=30)
    for seed in (7, 1200):
        full, observed, _, _ = reference_tables(
            _raw("train", train, categories), _raw("test", test, categories), seed=seed
        )
        np.testing.assert_array_equal(
            observed[list(categories)].to_numpy(), observe_single_positive(train, seed)
        )
        _, val = split_train_val(60, 0.2, seed)
        assert np.flatnonzero(full["split"].to_numpy() == "val").tolist() == val.tolist()
    other = reference_tables(
        _raw("train", train, categories), _raw("test", test, categories), seed=7
    )
    default = reference_tables(_raw("train", train, categories), _raw("test", test, categories))
    assert not other[1].equals(default[1]) and not other[0]["split"].equals(default[0]["split"])


def test_reference_tables_refuse_different_categories():
    labels = _random_labels(6, n=10, c=3)
    with pytest.raises(ValueError, match=r"train.*test.*entry 1 is 'b'.*'c'"):
        reference_tables(
            _raw("train", labels, ("a", "b", "c")), _raw("test", labels, ("a", "c", "b"))
        )
    with pytest.raises(ValueError, match="3 categories in the first, 2 in the second"):
        reference_tables(
            _raw("train", labels, ("a", "b", "c")), _raw("test", labels[:, :2], ("a", "b"))
        )
    for train, test, empty in ((labels, 0 * labels, "test"), (0 * labels, labels, "train")):
        with pytest.raises(ValueError) as error:
            reference_tables(
                _raw("train", train, ("a", "b", "c")), _raw("test", test, ("a", "b", "c"))
            )
        assert str(error.value) == f"{empty}: no image has a positive label"
    one = 0 * labels
    one[4, 1] = 1  # a single labelled training image: there is something, but not to split
    with pytest.raises(ValueError, match=r"^n must be an integer >= 2, got 1$"):
        reference_tables(_raw("train", one, ("a", "b", "c")), _raw("test", labels, ("a", "b", "c")))
