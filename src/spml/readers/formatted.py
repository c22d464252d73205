"""The reference's formatted files -> every image of a split; and its pre-extracted features.

The reference's preprocessing (`format_coco.py`, `format_pascal.py`, `format_cub.py`, and the
files it publishes for NUS-WIDE) writes `formatted_<split>_labels.npy` (images x classes,
0/1) and `formatted_<split>_images.npy` (the image files, row by row); `train` is the
official training split, `val` the test set. Rows stay in file order and an image's id is
its row. The files carry no class names, so columns are named `class_00`, `class_01`, ...
Beside them, `<split>_features_imagenet_resnet50.npy` holds one ImageNet ResNet-50 feature
vector per row of the image list (the reference's linear setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spml.readers import RawLabels

SPLITS = ("train", "val")


def formatted_labels(labels_path: Path, images_path: Path) -> RawLabels:
    """Every row of a formatted label matrix, with the image its row names."""
    names = image_list(images_path)
    matrix = _load(labels_path)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"{labels_path}: expected a 2-D label matrix, got shape {matrix.shape}")
    if matrix.size and not np.isin(matrix, (0, 1)).all():
        raise ValueError(f"{labels_path}: labels must be 0 or 1 (the full labels, not *_obs)")
    if len(matrix) != len(names):
        raise ValueError(
            f"{labels_path} has {len(matrix)} rows but {images_path} lists {len(names)} images"
        )
    width = len(str(matrix.shape[1] - 1))
    return RawLabels(
        source=labels_path.stem,
        image_ids=np.arange(len(names), dtype=np.int64),
        file_names=names,
        categories=tuple(f"class_{column:0{width}d}" for column in range(matrix.shape[1])),
        matrix=matrix.astype(np.uint8),
    )


def image_list(path: Path) -> tuple[str, ...]:
    """The image files of a formatted split, one per row."""
    names = _load(path)
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise ValueError(
            f"{path}: expected a 1-D array of file names, got {names.dtype} of shape {names.shape}"
        )
    result = tuple(str(name.decode() if isinstance(name, bytes) else name) for name in names)
    if any(not name for name in result):
        raise ValueError(f"{path}: row {result.index('')} has an empty file name")
    return result


@dataclass(frozen=True)
class PreExtractedFeatures:
    """A features file whose rows follow an image list, checked to match it."""

    source: str
    features: np.ndarray  # images x dimensions, memory-mapped
    file_names: tuple[str, ...]

    def rows_for(self, file_names: list[str] | tuple[str, ...]) -> np.ndarray:
        """The feature vectors of these images (e.g. a label table's rows), as float32."""
        row_of = {name: row for row, name in enumerate(self.file_names)}
        if len(row_of) != len(self.file_names):
            raise ValueError(f"{self.source}: its image list names a file twice")
        unknown = [name for name in file_names if name not in row_of]
        if unknown:
            raise ValueError(
                f"{self.source}: no features for {len(unknown)} image(s) of the label table, "
                f"e.g. {unknown[0]!r}"
            )
        rows = np.fromiter((row_of[name] for name in file_names), np.int64, len(file_names))
        return np.ascontiguousarray(self.features[rows], dtype=np.float32)


def pre_extracted_features(features_path: Path, images_path: Path) -> PreExtractedFeatures:
    """The features file, refused unless it has one 1-D vector per image of the list."""
    names = image_list(images_path)
    features = _load(features_path, mmap=True)
    if features.ndim != 2 or features.dtype.kind != "f":
        raise ValueError(
            f"{features_path}: expected a 2-D float array (images x dimensions), "
            f"got {features.dtype} of shape {features.shape}"
        )
    if len(features) != len(names):
        raise ValueError(
            f"{features_path} has {len(features)} rows but {images_path} lists {len(names)} "
            "images: the features do not belong to this image list"
        )
    return PreExtractedFeatures(str(features_path), features, names)


def _load(path: Path, mmap: bool = False) -> np.ndarray:
    """A .npy file without pickle, with errors that name it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (check data_root)")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as error:  # object arrays need pickle, which is refused
        raise ValueError(f"{path}: not a plain .npy array ({error})") from error
