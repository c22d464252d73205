"""The data protocol of Cole et al. (CVPR 2021), reproduced exactly, for every data set.

A reader (`spml.readers`) gives every image of the official train and test splits with its
full labels; here the images without a positive are dropped and counted, one positive per
image is observed, and the official train split is cut 80/20 into train and val. Every
choice that changes which rows or labels come out (the order in which the random generator
is consumed, the split's permutation) follows the public reference implementation
(`generate_observed_labels.py`, `datasets.py`), which applies it to all four data sets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spml.readers import RawLabels
from spml.tables import label_table

REFERENCE_SEED = 1200
"""Seed of the reference code for both the observation process and the split."""


def _binary_matrix(Y: object, name: str = "Y") -> np.ndarray:
    """Refuse anything but a 2-D 0/1 matrix, which the protocol functions assume."""
    array = np.asarray(Y)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D label matrix, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return array


def observe_single_positive(Y: np.ndarray, seed: int = REFERENCE_SEED) -> np.ndarray:
    """One observed positive per row, drawing the generator exactly as the reference does."""
    labels = _binary_matrix(Y)
    rng = np.random.RandomState(seed)
    observed = np.zeros(labels.shape, dtype=np.uint8)
    positive = labels == 1
    for row in range(labels.shape[0]):
        positives = np.flatnonzero(positive[row])
        if positives.size == 0:
            raise ValueError(f"row {row} of Y has no positive label to observe")
        rng.shuffle(positives)
        observed[row, positives[0]] = 1
        # The reference also shuffles the negatives (keeping none); the draw must happen.
        rng.shuffle(np.flatnonzero(~positive[row]))
    return observed


def split_train_val(
    n: int, val_frac: float = 0.2, seed: int = REFERENCE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train/val row indices of the reference split of train2014."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if isinstance(val_frac, bool) or not isinstance(val_frac, int | float | np.floating):
        raise ValueError(f"val_frac must be a number in (0, 1), got {val_frac!r}")
    if not 0.0 < float(val_frac) < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac!r}")
    n_val = int(np.round(float(val_frac) * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(
            f"val_frac={val_frac!r} gives {n_val} validation rows out of n={n}; "
            "both parts need at least one row"
        )
    permutation = np.random.RandomState(seed).permutation(n)
    return np.sort(permutation[: n - n_val]), np.sort(permutation[-n_val:])


def positives_per_image(Y: np.ndarray) -> float:
    """Average label cardinality, the quantity the paper compares pseudo labels on."""
    labels = _binary_matrix(Y)
    if labels.shape[0] == 0:
        raise ValueError("Y has no rows")
    return float(labels.sum() / labels.shape[0])  # numpy sums uint8 in 64 bits


def labelled_rows(labels: RawLabels) -> np.ndarray:
    """Rows with at least one positive: only these can give a single observed positive."""
    return np.flatnonzero(labels.matrix.any(axis=1))


def check_same_categories(train: RawLabels, test: RawLabels) -> None:
    """Columns mean the same class in train and test only if the category lists agree."""
    for position, (left, right) in enumerate(zip(train.categories, test.categories)):
        if left != right:
            raise ValueError(
                f"category lists differ between {train.source} and {test.source}: entry "
                f"{position} is {left!r} in the first and {right!r} in the second"
            )
    if len(train.categories) != len(test.categories):
        raise ValueError(
            f"category lists differ between {train.source} and {test.source}: "
            f"{len(train.categories)} categories in the first, {len(test.categories)} in the second"
        )


def reference_tables(
    train: RawLabels, test: RawLabels, seed: int = REFERENCE_SEED, val_fraction: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Full, observed (one positive) and test label tables, and the stats of what was kept."""
    check_same_categories(train, test)
    kept_train, kept_test = labelled_rows(train), labelled_rows(test)
    if kept_train.size == 0 or kept_test.size == 0:
        empty = train if kept_train.size == 0 else test
        raise ValueError(f"{empty.source}: no image has a positive label")
    matrix = train.matrix[kept_train]
    train_idx, val_idx = split_train_val(len(kept_train), val_fraction, seed)
    split = np.full(len(kept_train), "train", dtype=object)
    split[val_idx] = "val"
    tables = [
        label_table(
            train.image_ids[kept_train],
            [train.file_names[row] for row in kept_train],
            train.categories,
            labels,
            split,
        )
        for labels in (matrix, observe_single_positive(matrix, seed))
    ]
    test_table = label_table(
        test.image_ids[kept_test],
        [test.file_names[row] for row in kept_test],
        test.categories,
        test.matrix[kept_test],
    )
    stats = pd.DataFrame(
        [
            _split_stats("train", train, kept_train, len(train_idx), len(val_idx)),
            _split_stats("test", test, kept_test, 0, 0),
        ]
    )
    return tables[0], tables[1], test_table, stats


def _split_stats(
    role: str, labels: RawLabels, kept: np.ndarray, n_train: int, n_val: int
) -> dict[str, object]:
    """What the protocol kept and dropped of one official split."""
    return {
        "split": role,
        "source": labels.source,
        "images": len(labels.image_ids),
        "images_without_positives": len(labels.image_ids) - len(kept),
        "images_kept": len(kept),
        "categories": len(labels.categories),
        "positives_per_image": positives_per_image(labels.matrix[kept]),
        "train_split": n_train,
        "val_split": n_val,
    }
