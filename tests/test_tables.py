"""Label tables: their columns, their order, and the checks that pair them."""

from __future__ import annotations

import numpy as np
import pytest

from spml.tables import (
    check_aligned,
    label_matrix,
    label_table,
    rows_of_split,
    training_rows,
    training_split,
)


def test_label_tables_refuse_reserved_names_and_misaligned_partners() -> None:
    with pytest.raises(ValueError, match="split"):
        label_table([1], ["a.jpg"], ["split"], np.ones((1, 1)))
    table = label_table([3, 1], ["c.jpg", "a.jpg"], ["cat", "dog"], np.array([[1, 0], [0, 1]]))
    assert label_matrix(table).tolist() == [[1, 0], [0, 1]]
    reordered = table.iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="same images"):
        check_aligned(reordered, table, "teacher_probabilities", "full_labels")
    renamed = table.rename(columns={"dog": "wolf"})
    with pytest.raises(ValueError, match="category columns"):
        check_aligned(renamed, table, "teacher_probabilities", "full_labels")
    assert list(table.columns) == ["image_id", "file_name", "cat", "dog"]
    assert table["image_id"].tolist() == [3, 1]  # rows stay in the order given


CATEGORIES = ["person", "car", "dog", "cat", "bus", "boat", "kite"]


def _train2014() -> object:
    """Five images of seven categories, three in the training split."""
    matrix = np.arange(35).reshape(5, 7) % 2
    split = np.array(["train", "val", "train", "val", "train"])
    ids, files = [11, 12, 13, 14, 15], [f"{i}.jpg" for i in range(11, 16)]
    return label_table(ids, files, CATEGORIES, matrix, split)


def test_a_table_of_train2014_splits_into_renumbered_training_rows() -> None:
    table = _train2014()
    assert list(table.columns) == ["image_id", "file_name", "split", *CATEGORIES]
    assert table["image_id"].dtype == np.int64
    assert rows_of_split(table, "train").tolist() == [0, 2, 4]
    assert rows_of_split(table, "val").tolist() == [1, 3]
    train = training_split(table)
    assert list(train.columns) == list(table.columns)
    assert train.index.tolist() == [0, 1, 2]
    assert train["image_id"].tolist() == [11, 13, 15]
    matrix = label_matrix(train)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, label_matrix(table)[[0, 2, 4]])


def test_training_rows_pair_a_table_with_the_training_split_or_say_why_not() -> None:
    table = _train2014()
    np.testing.assert_array_equal(training_rows(training_split(table), table, "pseudo"), [0, 2, 4])
    with pytest.raises(ValueError) as error:
        training_rows(table, table, "pseudo")  # every row, not only the training split
    assert str(error.value) == (
        "pseudo (5 rows) and full_labels' training split (3 rows) "
        "do not list the same images in the same order"
    )
    renamed = training_split(table).rename(columns={"person": "human"})
    with pytest.raises(ValueError) as error:
        training_rows(renamed, table, "pseudo")
    assert str(error.value) == (
        "pseudo and full_labels' training split have different category columns: "
        "['human', 'car', 'dog', 'cat', 'bus']... vs ['person', 'car', 'dog', 'cat', 'bus']..."
    )


def test_category_names_that_clash_with_the_table_columns_are_named() -> None:
    with pytest.raises(ValueError) as error:
        label_table([1], ["a.jpg"], ["split", "dog", "file_name"], np.ones((1, 3)))
    assert str(error.value) == (
        "Category names ['file_name', 'split'] clash with the label table's own columns"
    )
