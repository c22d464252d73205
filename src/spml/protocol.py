"""The data protocol of Cole et al. (CVPR 2021), reproduced exactly.

COCO instances JSON -> full label matrix -> one observed positive per image, and the
seeded train/val split of train2014. Every choice that changes which rows, columns or
labels come out (string-sorted image ids, JSON order of categories, the order in which
the random generator is consumed) follows the public reference implementation, so that
results are comparable with the published numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REFERENCE_SEED = 1200
"""Seed of the reference code for both the observation process and the split."""

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


def validate_instances(instances: object, source: str) -> None:
    """Fail early, naming the file and the problem, before a bad JSON becomes a bad matrix."""
    _parse(instances, source)


def coco_label_matrix(
    instances: dict, source: str = "instances"
) -> tuple[list[int], list[str], np.ndarray]:
    """Full label matrix exactly as the reference builds it (rows: ids sorted as strings)."""
    _, ann_images, columns = _parse(instances, source)
    labelled = np.unique(ann_images)
    by_string = np.argsort(labelled.astype(str))  # unique ids: no tie to order
    image_ids = labelled[by_string]
    row_of_labelled = np.empty(labelled.size, dtype=np.int64)
    row_of_labelled[by_string] = np.arange(labelled.size)
    rows = row_of_labelled[np.searchsorted(labelled, ann_images)]

    names = [str(category["name"]) for category in instances["categories"]]
    matrix = np.zeros((image_ids.size, len(names)), dtype=np.uint8)
    matrix[rows, columns] = 1
    return image_ids.tolist(), names, matrix


def file_names(instances: dict, image_ids: Sequence[int]) -> list[str]:
    """Image files in label-matrix row order, so loaders read the right picture per row."""
    by_id = {int(image["id"]): image.get("file_name") for image in instances["images"]}
    result = []
    for image_id in image_ids:
        if int(image_id) not in by_id:
            raise ValueError(f"image id {image_id} is not among the images")
        name = by_id[int(image_id)]
        if not isinstance(name, str) or not name:
            raise ValueError(f"image id {image_id} has no 'file_name'")
        result.append(name)
    return result


def check_same_categories(
    train_instances: dict, test_instances: dict, train_source: str, test_source: str
) -> None:
    """Columns mean the same class in train and test only if the category lists agree."""
    train = [(c.get("id"), c.get("name")) for c in train_instances["categories"]]
    test = [(c.get("id"), c.get("name")) for c in test_instances["categories"]]
    for position, (left, right) in enumerate(zip(train, test)):
        if left != right:
            raise ValueError(
                f"category lists differ between {train_source} and {test_source}: entry "
                f"{position} is (id, name) {left} in the first and {right} in the second"
            )
    if len(train) != len(test):
        raise ValueError(
            f"category lists differ between {train_source} and {test_source}: "
            f"{len(train)} categories in the first, {len(test)} in the second"
        )


def _binary_matrix(Y: object, name: str = "Y") -> np.ndarray:
    """Refuse anything but a 2-D 0/1 matrix, which the protocol functions assume."""
    array = np.asarray(Y)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D label matrix, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return array


def observe_single_positive(Y: np.ndarray, seed: int = REFERENCE_SEED) -> np.ndarray:
    """One observed positive per row, drawing the generator exactly as the reference does."""
    labels = _binary_matrix(Y)
    rng = np.random.RandomState(seed)
    observed = np.zeros(labels.shape, dtype=np.uint8)
    positive = labels == 1
    for row in range(labels.shape[0]):
        positives = np.flatnonzero(positive[row])
        if positives.size == 0:
            raise ValueError(f"row {row} of Y has no positive label to observe")
        rng.shuffle(positives)
        observed[row, positives[0]] = 1
        # The reference also shuffles the negatives (keeping none); the draw must happen.
        rng.shuffle(np.flatnonzero(~positive[row]))
    return observed


def split_train_val(
    n: int, val_frac: float = 0.2, seed: int = REFERENCE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train/val row indices of the reference split of train2014."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if isinstance(val_frac, bool) or not isinstance(val_frac, int | float | np.floating):
        raise ValueError(f"val_frac must be a number in (0, 1), got {val_frac!r}")
    if not 0.0 < float(val_frac) < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac!r}")
    n_val = int(np.round(float(val_frac) * n))
    if n_val < 1 or n_val > n - 1:
        raise ValueError(
            f"val_frac={val_frac!r} gives {n_val} validation rows out of n={n}; "
            "both parts need at least one row"
        )
    permutation = np.random.RandomState(seed).permutation(n)
    return np.sort(permutation[: n - n_val]), np.sort(permutation[-n_val:])


def positives_per_image(Y: np.ndarray) -> float:
    """Average label cardinality, the quantity the paper compares pseudo labels on."""
    labels = _binary_matrix(Y)
    if labels.shape[0] == 0:
        raise ValueError("Y has no rows")
    return float(labels.sum() / labels.shape[0])  # numpy sums uint8 in 64 bits
