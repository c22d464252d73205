"""The reference's protocol written out as its scripts do it, to check the project against.

`generate_observed_labels.py`: -1/+1 labels, per row shuffle the positives' indices and keep
the first, then shuffle the negatives' (keeping none). `datasets.py`: the split of the
official train set from RandomState(1200).permutation. Rows without a positive are dropped
first, as the issue asks of every data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal


def reference_observe(labels: np.ndarray, seed: int, shuffle_negatives: bool = True) -> np.ndarray:
    """The reference's single-positive loop, as 0/1."""
    signed = np.where(labels == 1, 1.0, -1.0)
    rng = np.random.RandomState(seed)
    observed = np.zeros_like(signed)
    for i in range(signed.shape[0]):
        idx_pos = np.nonzero(signed[i, :] == 1.0)[0]
        rng.shuffle(idx_pos)
        observed[i, idx_pos[:1]] = 1.0
        if shuffle_negatives:
            idx_neg = np.nonzero(signed[i, :] == -1.0)[0]
            rng.shuffle(idx_neg)
            observed[i, idx_neg[:0]] = -1.0
    return (observed == 1).astype(np.uint8)


def reference_split(n: int, frac: float = 0.2, seed: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """datasets.generate_split: sorted train and val indices."""
    n_val = int(np.round(frac * n))
    permutation = np.random.RandomState(seed).permutation(n)
    return np.sort(permutation[: n - n_val]), np.sort(permutation[-n_val:])


def expected_tables(
    train: list[tuple[str, set]], test: list[tuple[str, set]], categories: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Full, observed and test tables (file_name, split, categories) from (file, positives)
    rows in the reference's order; rows without a positive are dropped."""

    def matrix(rows: list[tuple[str, set]]) -> tuple[list[str], np.ndarray]:
        kept = [(name, positives) for name, positives in rows if positives]
        labels = np.array([[int(c in positives) for c in categories] for _, positives in kept])
        return [name for name, _ in kept], labels.astype(np.uint8)

    train_files, train_labels = matrix(train)
    _, val = reference_split(len(train_files))
    split = np.full(len(train_files), "train", dtype=object)
    split[val] = "val"
    full, observed = (
        pd.concat(
            [
                pd.DataFrame({"file_name": train_files, "split": split}),
                pd.DataFrame(labels, columns=categories),
            ],
            axis=1,
        )
        for labels in (train_labels, reference_observe(train_labels, 1200))
    )
    test_files, test_labels = matrix(test)
    test_table = pd.concat(
        [pd.DataFrame({"file_name": test_files}), pd.DataFrame(test_labels, columns=categories)],
        axis=1,
    )
    return full, observed, test_table


def assert_reference_tables(
    tables: tuple[pd.DataFrame, ...],
    train: list[tuple[str, set]],
    test: list[tuple[str, set]],
    categories: list[str],
) -> None:
    """The project's full, observed and test tables equal `expected_tables` (ids aside)."""
    for got, want in zip(tables, expected_tables(train, test, categories), strict=True):
        assert_frame_equal(got.drop(columns="image_id"), want, check_dtype=False)
