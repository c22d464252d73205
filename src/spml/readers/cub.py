"""CUB-200-2011 -> every image of a split, labelled by its attributes, as format_cub.py does.

The labels are the attributes (312 in CUB): `attributes/image_attribute_labels.txt` has one
line `image_id attribute_id is_present certainty_id time` per image and attribute, and
`is_present` is the label whatever the annotator's certainty (the reference ignores it).
Rows follow `images.txt`, split by `train_test_split.txt` (1 = train, 0 = test); columns
follow `attributes.txt`. An image's id is CUB's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spml.readers import RawLabels, integer_field, two_column_lines

SPLITS = {"train": 1, "test": 0}
FOLDER = Path("CUB_200_2011")
IMAGES = FOLDER / "images"
ATTRIBUTE_NAMES = Path("attributes.txt")  # beside CUB_200_2011/, as CUB_200_2011.tgz unpacks


def cub_files(root: Path) -> dict[str, Path]:
    """The four files a CUB reading needs, by role."""
    return {
        "images": root / FOLDER / "images.txt",
        "split": root / FOLDER / "train_test_split.txt",
        "attribute_names": root / ATTRIBUTE_NAMES,
        "attribute_labels": root / FOLDER / "attributes" / "image_attribute_labels.txt",
    }


def cub_labels(root: Path, split: str) -> RawLabels:
    """Every image of the split, one 0/1 column per attribute (is_present)."""
    if split not in SPLITS:
        raise ValueError(f"CUB split must be one of {tuple(SPLITS)}, got {split!r}")
    files = cub_files(root)
    images = _numbered(files["images"], "the image id")
    in_split = _numbered(files["split"], "the image id")
    names = _numbered(files["attribute_names"], "the attribute id")
    missing = sorted(set(images) - set(in_split))
    if missing:
        raise ValueError(f"{files['split']}: image id {missing[0]} of images.txt is not listed")
    wanted = [image for image in images if in_split[image] == str(SPLITS[split])]
    matrix = _attribute_matrix(files["attribute_labels"], list(images), list(names))
    row_of = {image: row for row, image in enumerate(images)}
    return RawLabels(
        source=f"CUB-200-2011 {split}",
        image_ids=np.asarray(wanted, dtype=np.int64),
        file_names=tuple(images[image] for image in wanted),
        categories=tuple(names.values()),
        matrix=matrix[[row_of[image] for image in wanted]],
    )


def _numbered(path: Path, what: str) -> dict[int, str]:
    """A CUB `id value` file as {id: value}, in file order; a repeated id is an error."""
    result: dict[int, str] = {}
    for number, key, value in two_column_lines(path):
        identifier = integer_field(path, number, key, what)
        if identifier in result:
            raise ValueError(f"{path}, line {number}: {what} {identifier} is listed twice")
        result[identifier] = value
    return result


def _attribute_matrix(path: Path, image_ids: list[int], attribute_ids: list[int]) -> np.ndarray:
    """is_present of every (image, attribute), rows in `image_ids` order, columns in
    `attribute_ids` order; each pair must appear exactly once."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (check data_root)")
    # Only the first four fields: a few lines of the official file carry extra ones.
    table = pd.read_csv(path, sep=r"\s+", header=None, usecols=[0, 1, 2, 3], dtype=str)
    values = table.apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1) | (values[[0, 1]] % 1 != 0).any(axis=1)
    bad |= ~values[2].isin([0, 1])
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, line {first + 1}: expected 'image_id attribute_id is_present(0/1) "
            f"certainty_id time', got {' '.join(str(v) for v in table.iloc[first])!r}"
        )
    image, attribute, present = (values[column].to_numpy(np.int64) for column in (0, 1, 2))
    rows, columns = _positions(image, image_ids), _positions(attribute, attribute_ids)
    for found, ids, what in ((rows, image, "image id"), (columns, attribute, "attribute id")):
        if (found < 0).any():
            line = int(np.flatnonzero(found < 0)[0])
            raise ValueError(f"{path}, line {line + 1}: {what} {ids[line]} is not listed")
    count = np.zeros((len(image_ids), len(attribute_ids)), dtype=np.int64)
    np.add.at(count, (rows, columns), 1)
    if (count != 1).any():
        row, column = np.argwhere(count != 1)[0]
        raise ValueError(
            f"{path}: image {image_ids[row]}, attribute {attribute_ids[column]} appears "
            f"{count[row, column]} times; every pair must appear once "
            f"({int((count != 1).sum())} pair(s) do not)"
        )
    matrix = np.zeros(count.shape, dtype=np.uint8)
    matrix[rows, columns] = present
    return matrix


def _positions(values: np.ndarray, listed: list[int]) -> np.ndarray:
    """Where each value sits in `listed` (-1 where it is not listed)."""
    if not listed:  # e.g. an empty attributes.txt: nothing is listed
        return np.full(len(values), -1, dtype=np.int64)
    order = np.argsort(listed)
    ordered = np.asarray(listed, dtype=np.int64)[order]
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.where(ordered[at] == values, order[at], -1)
