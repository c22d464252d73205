"""The reference's formatted files and pre-extracted features, checked row for row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from spml.datasets import FormattedLabelsDataset, PreExtractedFeaturesDataset
from spml.readers.formatted import formatted_labels, image_list, pre_extracted_features
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
    assert labels.source == "formatted_val_labels"
    assert not labels.matrix[3].any()  # kept here, dropped and counted by the protocol


def test_pre_extracted_features_follow_the_image_list_or_are_refused(tmp_path: Path) -> None:
    written = write_formatted(tmp_path, {"train": 12}, classes=5, feature_dim=6, images=False)
    stem = "train_features_imagenet_resnet50.npy"
    features = _dataset(PreExtractedFeaturesDataset, tmp_path, "train", stem).load()
    names = written["train"][0]
    wanted = [names[7], names[2], names[11]]
    on_disk = np.load(tmp_path / stem)
    np.testing.assert_array_equal(features.rows_for(wanted), on_disk[[7, 2, 11]])
    assert isinstance(features.features, np.memmap)  # read row by row, never whole
    with pytest.raises(ValueError) as error:
        features.rows_for(["not/listed.jpg"])
    assert str(error.value) == (
        f"{tmp_path / stem}: no features for 1 image(s) of the label table, e.g. 'not/listed.jpg'"
    )

    np.save(tmp_path / stem, on_disk[:-1])  # one row short: from another image list
    with pytest.raises(DatasetError, match="has 11 rows"):
        _dataset(PreExtractedFeaturesDataset, tmp_path, "train", stem).load()
    images = tmp_path / "formatted_train_images.npy"
    with pytest.raises(ValueError) as error:
        pre_extracted_features(tmp_path / stem, images)
    assert str(error.value) == (
        f"{tmp_path / stem} has 11 rows but {images} lists 12 images: the features do not "
        "belong to this image list"
    )


def test_pre_extracted_features_come_as_float32_and_must_be_a_float_matrix(tmp_path: Path) -> None:
    write_formatted(tmp_path, {"train": 4}, classes=2, images=False)
    path, images = tmp_path / "features.npy", tmp_path / "formatted_train_images.npy"
    names = image_list(images)
    values = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    np.save(path, values)
    rows = pre_extracted_features(path, images).rows_for([names[3], names[0]])
    assert rows.dtype == np.float32 and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows, values[[3, 0]].astype(np.float32))
    for wrong in (np.arange(12).reshape(4, 3), values.ravel()):
        np.save(path, wrong)
        with pytest.raises(ValueError) as error:
            pre_extracted_features(path, images)
        assert str(error.value) == (
            f"{path}: expected a 2-D float array (images x dimensions), "
            f"got {wrong.dtype} of shape {wrong.shape}"
        )
    np.save(path, values)
    np.save(images, np.array([names[0], names[1], names[0], names[3]]))
    with pytest.raises(ValueError) as error:
        pre_extracted_features(path, images).rows_for([names[0]])
    assert str(error.value) == f"{path}: its image list names a file twice"


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


def test_formatted_labels_of_one_class_are_read_other_shapes_are_refused(tmp_path: Path) -> None:
    write_formatted(tmp_path, {"train": 6}, classes=3, images=False)
    path, images = tmp_path / "formatted_train_labels.npy", tmp_path / "formatted_train_images.npy"
    column = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [1.0]])
    np.save(path, column)
    one = formatted_labels(path, images)
    assert one.categories == ("class_0",)
    np.testing.assert_array_equal(one.matrix, column)
    for wrong in (np.ones(6), np.ones((6, 0))):
        np.save(path, wrong)
        with pytest.raises(ValueError) as error:
            formatted_labels(path, images)
        assert str(error.value) == f"{path}: expected a 2-D label matrix, got shape {wrong.shape}"
    with pytest.raises(FileNotFoundError) as error:
        formatted_labels(tmp_path / "missing.npy", images)
    assert str(error.value) == f"{tmp_path / 'missing.npy'} does not exist (check data_root)"


def test_an_image_list_is_decoded_from_bytes_and_refused_unless_1d_names(tmp_path: Path) -> None:
    path = tmp_path / "images.npy"
    np.save(path, np.array([b"actor/0001.jpg", b"beach/0002.jpg"]))  # dtype S, as Python 2 saved
    assert image_list(path) == ("actor/0001.jpg", "beach/0002.jpg")
    for wrong in (np.arange(3), np.array([["a.jpg", "b.jpg"]])):
        np.save(path, wrong)
        with pytest.raises(ValueError) as error:
            image_list(path)
        assert str(error.value) == (
            f"{path}: expected a 1-D array of file names, got {wrong.dtype} of shape {wrong.shape}"
        )
    np.save(path, np.array(["a.jpg", "b.jpg", "", "d.jpg", ""]))
    with pytest.raises(ValueError) as error:
        image_list(path)
    assert str(error.value) == f"{path}: row 2 has an empty file name"
