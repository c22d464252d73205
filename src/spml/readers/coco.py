"""COCO instances JSON -> every image of the split, as the reference's format_coco.py reads it.

Rows are image ids sorted **as strings**, columns the JSON `categories` list in its order
(COCO category ids are not contiguous); an image without annotation is an all-zero row,
which the protocol drops and counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spml.readers import RawLabels

_REQUIRED_KEYS = ("images", "annotations", "categories")
_INT64 = np.iinfo(np.int64)


def _problem(source: str, message: str) -> ValueError:
    """Build one error format so every message names the file or dataset at fault."""
    return ValueError(f"{source}: not usable COCO instances data: {message}")


def _is_int64(value: object) -> bool:
    """An id as JSON gives it: an integer (not a bool) that fits in 64 bits."""
    integer = isinstance(value, int | np.integer) and not isinstance(value, bool)
    return integer and _INT64.min <= value <= _INT64.max  # type: ignore[operator]


def _id_array(values: list[object], what: str, source: str) -> np.ndarray:
    """Turn ids into an int64 array, refusing floats/strings that would sort differently."""
    try:
        array = np.asarray(values)
    except (ValueError, OverflowError):  # lists among the ids
        array = np.asarray(values, dtype=object)
    if array.ndim == 1 and (array.size == 0 or array.dtype.kind == "i"):
        return array.astype(np.int64)
    bad = next(value for value in values if not _is_int64(value))
    raise _problem(source, f"{what} must be 64-bit integers, found {bad!r}")


def _field_list(items: list[object], key: str, what: str, source: str) -> list[object]:
    """Collect one field of every entry, naming the first entry that lacks it."""
    try:
        return [item[key] for item in items]  # type: ignore[index]
    except (KeyError, TypeError):
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise _problem(source, f"{what} entry {position} is not an object") from None
            if key not in item:
                name = f"{what} id {item['id']!r}" if "id" in item else f"{what} entry {position}"
                raise _problem(source, f"{name} has no '{key}'") from None
        raise


def _parse(instances: object, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate once and return (image ids, annotation image ids, annotation column indices)."""
    if not isinstance(instances, dict):
        raise _problem(source, f"expected a JSON object, got {type(instances).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in instances]
    if missing:
        raise _problem(source, f"missing key(s) {missing}")
    for key in _REQUIRED_KEYS:
        if not isinstance(instances[key], list):
            raise _problem(source, f"'{key}' must be a list, got {type(instances[key]).__name__}")
    images, annotations, categories = (instances[key] for key in _REQUIRED_KEYS)

    image_ids = _id_array(_field_list(images, "id", "image", source), "image ids", source)
    unique_images, counts = np.unique(image_ids, return_counts=True)
    if np.any(counts > 1):
        raise _problem(source, f"duplicate image id {int(unique_images[counts > 1][0])}")

    category_ids = _id_array(
        _field_list(categories, "id", "category", source), "category ids", source
    )
    names = _field_list(categories, "name", "category", source)
    seen: dict[object, int] = {}
    for position, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise _problem(source, f"category entry {position} has name {name!r}, not a string")
        if name in seen:
            raise _problem(
                source, f"duplicate category name {name!r} (entries {seen[name]} and {position})"
            )
        seen[name] = position
    unique_categories, counts = np.unique(category_ids, return_counts=True)
    if np.any(counts > 1):
        raise _problem(source, f"duplicate category id {int(unique_categories[counts > 1][0])}")

    if not annotations:
        raise _problem(source, "no usable image: no image has an annotation")
    ann_images = _id_array(
        _field_list(annotations, "image_id", "annotation", source), "annotation image_id", source
    )
    ann_categories = _id_array(
        _field_list(annotations, "category_id", "annotation", source),
        "annotation category_id",
        source,
    )
    for values, known, field, pool in (
        (ann_images, image_ids, "image_id", "images"),
        (ann_categories, category_ids, "category_id", "categories"),
    ):
        unknown = np.flatnonzero(~np.isin(values, known))
        if unknown.size:
            first = int(unknown[0])
            ann_id = annotations[first].get("id", f"at position {first}")
            raise _problem(
                source,
                f"annotation {ann_id} has {field} {int(values[first])}, "
                f"which is not among the {pool} ({unknown.size} such annotation(s))",
            )

    order = np.argsort(category_ids)  # ids are unique: no tie to order
    columns = order[np.searchsorted(category_ids[order], ann_categories)]
    return image_ids, ann_images, columns


def coco_labels(instances: object, source: str) -> RawLabels:
    """Every image of an instances JSON (named `source` in errors), rows sorted as strings."""
    image_ids, ann_images, columns = _parse(instances, source)
    by_string = np.argsort(image_ids.astype(str))  # unique ids: no tie to order
    row_of_image = np.empty(image_ids.size, dtype=np.int64)
    row_of_image[by_string] = np.arange(image_ids.size)
    by_id = np.argsort(image_ids)
    rows = row_of_image[by_id[np.searchsorted(image_ids[by_id], ann_images)]]
    matrix = np.zeros((image_ids.size, len(instances["categories"])), dtype=np.uint8)
    matrix[rows, columns] = 1
    files = _field_list(instances["images"], "file_name", "image", source)
    for image_id, name in zip(image_ids, files, strict=True):
        if not isinstance(name, str) or not name:
            raise _problem(source, f"image id {int(image_id)} has file_name {name!r}")
    return RawLabels(
        source=f"COCO {Path(source).stem.removeprefix('instances_')}",
        image_ids=image_ids[by_string],
        file_names=tuple(files[row] for row in by_string),
        categories=tuple(str(category["name"]) for category in instances["categories"]),
        matrix=matrix,
    )
