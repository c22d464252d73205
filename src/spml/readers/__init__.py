"""Raw-layer readers: each official file layout read into one shape, `RawLabels`.

These modules are the only code that knows which data set it reads (COCO instances, PASCAL
VOC class lists, CUB attribute files, the reference's formatted .npy files). Each returns
every image a split lists, in the reference's row order, with its 0/1 labels; the protocol
(`spml.protocol.reference_tables`) then drops the images without a positive, counts them,
and applies the single-positive draw and the split, the same way for every data set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RawLabels:
    """Every image one split of a data set lists, in the reference's row order, labelled 0/1."""

    source: str  # a short name for reports and errors, e.g. "train2014" or "VOC2012 val"
    image_ids: np.ndarray  # int64, unique: the data set's own id, or the image's row in its list
    file_names: tuple[str, ...]  # relative to the data set's image folder
    categories: tuple[str, ...]  # one per column, in the reference's column order
    matrix: np.ndarray  # uint8, images x categories; a row may have no positive

    def __post_init__(self) -> None:
        """Refuse a reading whose parts disagree, naming the source."""
        rows, columns = self.matrix.shape if self.matrix.ndim == 2 else (-1, -1)
        if rows != len(self.image_ids) or rows != len(self.file_names):
            raise ValueError(
                f"{self.source}: {len(self.image_ids)} image ids, {len(self.file_names)} file "
                f"names and a label matrix of shape {self.matrix.shape} do not match"
            )
        if columns != len(self.categories) or columns == 0:
            raise ValueError(
                f"{self.source}: {len(self.categories)} category names for a label matrix "
                f"of shape {self.matrix.shape}"
            )
        repeated = _first_repeated(self.categories)
        if repeated is not None:
            raise ValueError(f"{self.source}: category {repeated!r} is listed twice")
        repeated = _first_repeated(self.image_ids.tolist())
        if repeated is not None:
            raise ValueError(f"{self.source}: image id {repeated} is listed twice")


def _first_repeated(values: list | tuple) -> object | None:
    """The first value that occurs a second time, or None."""
    seen: set[object] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def two_column_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, first field, second field) of every non-blank line of a 2-field text
    file such as VOC's `<class>_train.txt` or CUB's `images.txt`; names the bad line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (check data_root)")
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected two fields, got {line!r}")
        lines.append((number, fields[0], fields[1]))
    return lines


def integer_field(path: Path, number: int, value: str, what: str) -> int:
    """One integer field of a text file, or an error naming the file, line and field."""
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{path}, line {number}: {what} must be an integer, got {value!r}"
        ) from None
