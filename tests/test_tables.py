"""Label tables: their columns, their order, and the checks that pair them."""

from __future__ import annotations

import numpy as np
import pytest

from spml.tables import check_aligned, label_matrix, label_table


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
