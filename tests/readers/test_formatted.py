"""The reference's formatted files and pre-extracted features, checked row for row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from spml.datasets import FormattedLabelsDataset, PreExtractedFeaturesDataset
from tests.layouts import write_formatted


def _dataset(kind: type, root: Path, split: str, stem: str) -> object:
    return kind(str(root / stem), str(root / f"formatted_{split}_images.npy"))


def test_formatted_rows_stay_in_file_order_with_numbered_columns(tmp_path: Path) -> None:
    written = write_formatted(tmp_path, {"train": 12, "val": 8}, classes=11, images=False)
    labels = _dataset(FormattedLabelsDataset, tmp_path, "val", "formatted_val_labels.npy").load()
    names, matrix = written["val"]
    assert labels.file_names == tuple(names)
    np.testing.assert_array_equal(labels.matrix, matrix)
    assert labels.matrix.dtype == np.uint8
    assert labels.categories == tuple(f"class_{j:02d}" for j in range(11))
    assert labels.image_ids.tolist() == list(range(8))
    assert not labels.matrix[3].any()  # kept here, dropped and counted by the protocol


def test_pre_extracted_features_follow_the_image_list_or_are_refused(tmp_path: Path) -> None:
    written = write_formatted(tmp_path, {"train": 12}, classes=5, feature_dim=6, images=False)
    stem = "train_features_imagenet_resnet50.npy"
    features = _dataset(PreExtractedFeaturesDataset, tmp_path, "train", stem).load()
    names = written["train"][0]
    wanted = [names[7], names[2], names[11]]
    on_disk = np.load(tmp_path / stem)
    np.testing.assert_array_equal(features.rows_for(wanted), on_disk[[7, 2, 11]])
    with pytest.raises(ValueError, match="no features for 1 image"):
        features.rows_for(["not/listed.jpg"])

    np.save(tmp_path / stem, on_disk[:-1])  # one row short: from another image list
    with pytest.raises(
        DatasetError, match=r"has 11 rows but .*formatted_train_images.npy lists 12"
    ):
        _dataset(PreExtractedFeaturesDataset, tmp_path, "train", stem).load()


def test_formatted_files_that_disagree_or_need_pickle_are_refused(tmp_path: Path) -> None:
    write_formatted(tmp_path, {"train": 6}, classes=3, images=False)
    labels = np.load(tmp_path / "formatted_train_labels.npy")
    dataset = _dataset(FormattedLabelsDataset, tmp_path, "train", "formatted_train_labels.npy")
    np.save(tmp_path / "formatted_train_labels.npy", labels[:5])
    with pytest.raises(DatasetError, match="has 5 rows but .* lists 6 images"):
        dataset.load()
    np.save(tmp_path / "formatted_train_labels.npy", labels * 2)
    with pytest.raises(DatasetError, match="labels must be 0 or 1"):
        dataset.load()
    np.save(tmp_path / "formatted_train_images.npy", np.array([None] * 6, dtype=object))
    with pytest.raises(DatasetError, match="formatted_train_images.npy: not a plain .npy"):
        dataset.load()
    (tmp_path / "formatted_train_images.npy").unlink()
    with pytest.raises(DatasetError, match="formatted_train_images.npy does not exist"):
        dataset.load()
