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
        assert labels.matrix.dtype == np.uint8 and labels.image_ids.dtype == np.int64
        assert labels.source == f"CUB-200-2011 {split}"
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
    with pytest.raises(ValueError) as error:
        cub_labels(tmp_path, "test")
    assert str(error.value) == (
        f"{path}: image 6, attribute 12 appears 0 times; every pair must appear once "
        "(1 pair(s) do not)"
    )
    for extra, problem in (
        ("99 1 0 3 1.0", "image id 99 is not listed"),
        ("99.0 1 0 3 1.0", "image id 99 is not listed"),  # an integer, written as a float
        ("1 13 0 3 1.0", "attribute id 13 is not listed"),
    ):
        path.write_text("\n".join([*lines, extra]) + "\n")
        with pytest.raises(ValueError) as error:
            cub_labels(tmp_path, "test")
        assert str(error.value) == f"{path}, line 73: {problem}"
    path.unlink()
    with pytest.raises(FileNotFoundError) as error:
        cub_labels(tmp_path, "test")
    assert str(error.value) == f"{path} does not exist (check data_root)"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("1 5 2 03 1.0", "1 5 2 03"),  # is_present 2; the fields quoted as written
        ("1.5 5 1 3 1.0", "1.5 5 1 3"),  # an image id that is not an integer
        ("1 5.5 1 3 1.0", "1 5.5 1 3"),  # an attribute id that is not an integer
        ("1 five 1 3 1.0", "1 five 1 3"),  # not a number
    ],
)
def test_cub_names_a_broken_label_line_and_quotes_it(tmp_path: Path, line: str, shown: str) -> None:
    write_cub(tmp_path, 6)
    path = tmp_path / LABELS
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:4], line, *lines[5:]]) + "\n")
    with pytest.raises(ValueError) as error:
        cub_labels(tmp_path, "test")
    assert str(error.value) == (
        f"{path}, line 5: expected 'image_id attribute_id is_present(0/1) certainty_id time', "
        f"got {shown!r}"
    )


def test_cub_label_fields_may_be_written_as_integral_floats_and_split_by_any_whitespace(
    tmp_path: Path,
) -> None:
    truth = write_cub(tmp_path, 6)
    path = tmp_path / LABELS
    lines = path.read_text().splitlines()
    image, attribute, present, *rest = lines[4].split()
    lines[4] = " ".join([f"{image}.0", f"{attribute}.0", f"{present}.0", *rest])
    lines[7] = "\t".join(lines[7].split())
    lines[9] = "  ".join(lines[9].split())
    path.write_text("\n".join(lines) + "\n")
    labels = cub_labels(tmp_path, "train")
    expected = [
        [int(a in positives) for a in CUB_ATTRIBUTES] for _, positives in truth["train"].values()
    ]
    np.testing.assert_array_equal(labels.matrix, expected)


@pytest.mark.parametrize(
    ("listing", "what"),
    [
        (Path("CUB_200_2011", "images.txt"), "the image id"),
        (Path("CUB_200_2011", "train_test_split.txt"), "the image id"),
        (Path("attributes.txt"), "the attribute id"),
    ],
)
def test_cub_names_an_id_that_is_not_an_integer_or_is_listed_twice(
    tmp_path: Path, listing: Path, what: str
) -> None:
    write_cub(tmp_path, 6)
    path = tmp_path / listing
    lines = path.read_text().splitlines()
    value = lines[1].split(maxsplit=1)[1]
    for key, problem in (
        ("x", f"{what} must be an integer, got 'x'"),
        ("1", f"{what} 1 is listed twice"),
    ):
        path.write_text("\n".join([lines[0], f"{key} {value}", *lines[2:]]) + "\n")
        with pytest.raises(ValueError) as error:
            cub_labels(tmp_path, "train")
        assert str(error.value) == f"{path}, line 2: {problem}"


def test_cub_refuses_an_unknown_split_and_an_image_the_split_file_does_not_list(
    tmp_path: Path,
) -> None:
    write_cub(tmp_path, 6)
    with pytest.raises(ValueError) as error:
        cub_labels(tmp_path, "val")
    assert str(error.value) == "CUB split must be one of ('train', 'test'), got 'val'"
    path = tmp_path / "CUB_200_2011" / "train_test_split.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if line.split()[0] not in ("3", "5")) + "\n")
    with pytest.raises(ValueError) as error:
        cub_labels(tmp_path, "train")
    assert str(error.value) == f"{path}: image id 3 of images.txt is not listed"


def test_cub_with_nothing_listed_names_the_first_label_line_an_empty_split_has_no_row(
    tmp_path: Path,
) -> None:
    write_cub(tmp_path, 6)
    split = tmp_path / "CUB_200_2011" / "train_test_split.txt"
    split.write_text("".join(f"{image} 1\n" for image in range(1, 7)))  # every image in train
    empty = cub_labels(tmp_path, "test")
    assert empty.matrix.shape == (0, len(CUB_ATTRIBUTES)) and empty.matrix.dtype == np.uint8
    assert empty.image_ids.dtype == np.int64 and empty.file_names == ()
    (tmp_path / "attributes.txt").write_text("")  # e.g. cut short
    with pytest.raises(ValueError) as error:
        cub_labels(tmp_path, "train")
    assert str(error.value) == f"{tmp_path / LABELS}, line 1: attribute id 1 is not listed"
