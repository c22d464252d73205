"""PASCAL VOC 2012 class lists -> every image of a split; only label 1 is a positive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from spml.datasets import VocLabelsDataset
from spml.protocol import reference_tables
from spml.readers.voc import voc_labels
from tests.layouts import VOC_CLASSES, write_voc
from tests.reference_protocol import assert_reference_tables


def test_voc_reads_every_listed_image_with_label_1_as_the_only_positive(tmp_path: Path) -> None:
    truth = write_voc(tmp_path, {"train": 40, "val": 25})
    labels = voc_labels(tmp_path, "train")
    names = sorted(truth["train"])  # the reference sorts the file names as strings
    assert labels.file_names == tuple(names)
    assert labels.categories == tuple(VOC_CLASSES)
    expected = [[int(c in truth["train"][name]) for c in VOC_CLASSES] for name in names]
    np.testing.assert_array_equal(labels.matrix, expected)
    assert labels.matrix.dtype == np.uint8  # 0/1 as the protocol and the label tables take them
    assert labels.image_ids.tolist() == list(range(len(names)))
    assert labels.source == "VOC2012 train"


def test_voc_tables_follow_the_reference_and_count_images_without_positive(
    tmp_path: Path,
) -> None:
    truth = write_voc(tmp_path, {"train": 40, "val": 25})
    full, observed, test, stats = reference_tables(
        VocLabelsDataset(str(tmp_path), "train").load(),
        VocLabelsDataset(str(tmp_path), "val").load(),
    )
    rows = {split: sorted(truth[split].items()) for split in truth}
    assert_reference_tables((full, observed, test), rows["train"], rows["val"], VOC_CLASSES)
    dropped = stats.set_index("split")["images_without_positives"]
    # The only-difficult image and the one listed for no class are dropped, and counted.
    assert dropped["train"] == sum(not positives for positives in truth["train"].values()) >= 2
    assert dropped["test"] >= 2


def test_voc_names_the_missing_file_and_the_bad_line(tmp_path: Path) -> None:
    write_voc(tmp_path, {"train": 8, "val": 6})
    main = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    (main / "cow_val.txt").unlink()
    with pytest.raises(DatasetError, match="cow_val.txt does not exist"):
        VocLabelsDataset(str(tmp_path), "val").load()
    assert not VocLabelsDataset(str(tmp_path), "val").exists()
    with (main / "dog_train.txt").open("a") as handle:
        handle.write("2011_000001  2\n")
    with pytest.raises(ValueError, match=r"dog_train.txt, line \d+: label must be -1, 0 or 1"):
        voc_labels(tmp_path, "train")
    (main / "dog_train.txt").write_text("2011_000001 1 extra\n")
    with pytest.raises(ValueError, match=r"dog_train.txt, line 1: expected two fields"):
        voc_labels(tmp_path, "train")
    with pytest.raises(DatasetError, match="raw input"):
        VocLabelsDataset(str(tmp_path), "train").save(object())


def test_voc_refuses_a_split_it_has_not_and_names_a_label_that_is_not_an_integer(
    tmp_path: Path,
) -> None:
    write_voc(tmp_path, {"train": 8})
    with pytest.raises(ValueError) as error:
        voc_labels(tmp_path, "test")  # VOC's test set is its val split
    assert str(error.value) == "VOC split must be one of ('train', 'val'), got 'test'"
    path = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main" / "cat_train.txt"
    path.write_text("2011_000001  1\n2011_000002 yes\n")
    with pytest.raises(ValueError) as error:
        voc_labels(tmp_path, "train")
    assert str(error.value) == f"{path}, line 2: the label must be an integer, got 'yes'"
