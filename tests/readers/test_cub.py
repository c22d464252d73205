"""CUB-200-2011 attribute files -> every image of a split, its attributes as labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from spml.datasets import CubLabelsDataset
from spml.protocol import reference_tables
from spml.readers.cub import cub_labels
from tests.layouts import CUB_ATTRIBUTES, write_cub
from tests.reference_protocol import assert_reference_tables

LABELS = Path("CUB_200_2011", "attributes", "image_attribute_labels.txt")


def test_cub_labels_are_is_present_whatever_the_certainty(tmp_path: Path) -> None:
    truth = write_cub(tmp_path, 30)
    for split in ("train", "test"):
        labels = cub_labels(tmp_path, split)
        ids = list(truth[split])  # images.txt order, not the paths' order
        assert labels.image_ids.tolist() == ids
        assert labels.file_names == tuple(truth[split][i][0] for i in ids)
        assert labels.categories == CUB_ATTRIBUTES
        expected = [[int(a in truth[split][i][1]) for a in CUB_ATTRIBUTES] for i in ids]
        np.testing.assert_array_equal(labels.matrix, expected)
    # Image 1 has a positive its annotator marked "not visible" (certainty 1): still positive.
    line = next(
        fields
        for fields in (row.split() for row in (tmp_path / LABELS).read_text().splitlines())
        if fields[0] == "1" and fields[2] == "1" and fields[3] == "1"
    )
    assert CUB_ATTRIBUTES[int(line[1]) - 1] in truth["train"][1][1]


def test_cub_tables_follow_the_reference_and_count_images_without_positive(
    tmp_path: Path,
) -> None:
    truth = write_cub(tmp_path, 30)
    full, observed, test, stats = reference_tables(
        CubLabelsDataset(str(tmp_path), "train").load(),
        CubLabelsDataset(str(tmp_path), "test").load(),
    )
    rows = {split: list(truth[split].values()) for split in truth}
    assert_reference_tables(
        (full, observed, test), rows["train"], rows["test"], list(CUB_ATTRIBUTES)
    )
    assert 6 not in set(full["image_id"]) | set(test["image_id"])  # image 6 has no attribute
    without = {split: sum(not row[1] for row in rows[split]) for split in rows}
    assert stats.set_index("split")["images_without_positives"].to_dict() == without


def test_cub_names_missing_files_and_broken_label_lines(tmp_path: Path) -> None:
    write_cub(tmp_path, 6)
    (tmp_path / "attributes.txt").rename(tmp_path / "elsewhere.txt")
    with pytest.raises(DatasetError, match="attributes.txt does not exist"):
        CubLabelsDataset(str(tmp_path), "train").load()
    (tmp_path / "elsewhere.txt").rename(tmp_path / "attributes.txt")
    path = tmp_path / LABELS
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"image 6, attribute 12 appears 0 times"):
        cub_labels(tmp_path, "test")
    path.write_text("\n".join([*lines[:4], "1 5 2 3 1.0", *lines[5:]]) + "\n")
    with pytest.raises(ValueError, match=r"line 5: expected 'image_id attribute_id is_present"):
        cub_labels(tmp_path, "test")
    path.write_text("\n".join([*lines, "99 1 0 3 1.0"]) + "\n")
    with pytest.raises(ValueError, match=r"line 73: image id 99 is not listed"):
        cub_labels(tmp_path, "test")
