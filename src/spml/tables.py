"""Label tables: one row per image (id, file, split) and one 0/1 column per category."""

from __future__ import annotations

import numpy as np
import pandas as pd

META_COLUMNS = ("image_id", "file_name", "split")


def label_table(
    image_ids: list[int],
    file_names: list[str],
    category_names: list[str],
    matrix: np.ndarray,
    split: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per image: its id, file, split and one column per category."""
    clashes = sorted(set(category_names) & set(META_COLUMNS))
    if clashes:
        raise ValueError(f"Category names {clashes} clash with the label table's own columns")
    table = pd.DataFrame(
        {"image_id": np.asarray(image_ids, dtype=np.int64), "file_name": file_names}
    )
    if split is not None:
        table["split"] = split
    values = pd.DataFrame(np.asarray(matrix), columns=list(category_names))
    return pd.concat([table, values], axis=1)


def category_columns(table: pd.DataFrame) -> list[str]:
    """The category columns, in the data set's category order."""
    return [column for column in table.columns if column not in META_COLUMNS]


def label_matrix(table: pd.DataFrame, dtype: type = np.float32) -> np.ndarray:
    """The N x C matrix behind a label table."""
    return table[category_columns(table)].to_numpy(dtype=dtype)


def check_aligned(
    table: pd.DataFrame, reference: pd.DataFrame, name: str, reference_name: str
) -> None:
    """Refuse to pair tables whose rows or categories differ (e.g. from another data set)."""
    if category_columns(table) != category_columns(reference):
        raise ValueError(
            f"{name} and {reference_name} have different category columns: "
            f"{category_columns(table)[:5]}... vs {category_columns(reference)[:5]}..."
        )
    if not np.array_equal(table["image_id"].to_numpy(), reference["image_id"].to_numpy()):
        raise ValueError(
            f"{name} ({len(table)} rows) and {reference_name} ({len(reference)} rows) "
            "do not list the same images in the same order"
        )


def rows_of_split(table: pd.DataFrame, split: str) -> np.ndarray:
    """Row positions of one split (train or val) in a table of train2014."""
    return np.flatnonzero(table["split"].to_numpy() == split)


def training_split(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a train2014 table that models train on, renumbered from 0."""
    return table.iloc[rows_of_split(table, "train")].reset_index(drop=True)


def training_rows(table: pd.DataFrame, full_labels: pd.DataFrame, name: str) -> np.ndarray:
    """Rows of full_labels' training split, after checking `table` lists exactly those images
    with the same categories (e.g. teacher probabilities or pseudo labels of this data set)."""
    rows = rows_of_split(full_labels, "train")
    check_aligned(table, full_labels.iloc[rows], name, "full_labels' training split")
    return rows
