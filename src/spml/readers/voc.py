"""PASCAL VOC 2012 -> every image of a split, as the reference's format_pascal.py reads it.

`VOCdevkit/VOC2012/ImageSets/Main/<class>_<split>.txt` lists each image of the split with
1 (present), 0 ("difficult": present but hard) or -1 (absent). As in the reference only 1
is positive. Rows are the file names `<id>.jpg` sorted as strings; VOC's `val` is the test
set. An image's id is its row in that sorted list of the split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spml.readers import RawLabels, integer_field, two_column_lines

CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
"""The reference's column order."""

SPLITS = ("train", "val")
MAIN = Path("VOCdevkit", "VOC2012", "ImageSets", "Main")
IMAGES = Path("VOCdevkit", "VOC2012", "JPEGImages")


def class_list_files(root: Path, split: str) -> list[Path]:
    """The 20 `<class>_<split>.txt` files a split is read from, in column order."""
    if split not in SPLITS:
        raise ValueError(f"VOC split must be one of {SPLITS}, got {split!r}")
    return [root / MAIN / f"{name}_{split}.txt" for name in CLASSES]


def voc_labels(root: Path, split: str) -> RawLabels:
    """Every image listed in the split's class files; label 1 is the only positive."""
    positives: dict[str, set[int]] = {}
    for column, path in enumerate(class_list_files(root, split)):
        for number, image_id, value in two_column_lines(path):
            label = integer_field(path, number, value, "the label")
            if label not in (-1, 0, 1):
                raise ValueError(f"{path}, line {number}: label must be -1, 0 or 1, got {label}")
            listed = positives.setdefault(f"{image_id}.jpg", set())
            if label == 1:
                listed.add(column)
    file_names = sorted(positives)
    matrix = np.zeros((len(file_names), len(CLASSES)), dtype=np.uint8)
    for row, name in enumerate(file_names):
        matrix[row, sorted(positives[name])] = 1
    return RawLabels(
        source=f"VOC2012 {split}",
        image_ids=np.arange(len(file_names), dtype=np.int64),
        file_names=tuple(file_names),
        categories=CLASSES,
        matrix=matrix,
    )
