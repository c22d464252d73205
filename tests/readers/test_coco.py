"""COCO instances -> every image of the split: rows sorted as strings, JSON category order."""

from __future__ import annotations

import numpy as np
import pytest

from spml.readers.coco import coco_labels


def _instances() -> dict:
    """Ids 9, 10, 100 sort as '10', '100', '9'; id 7 has no annotation; cat ids 1, 90, 3."""
    return {
        "images": [
            {"id": 9, "file_name": "img_9.jpg"},
            {"id": 100, "file_name": "img_100.jpg"},
            {"id": 7, "file_name": "img_7.jpg"},
            {"id": 10, "file_name": "img_10.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 9, "category_id": 90},
            {"id": 2, "image_id": 9, "category_id": 90},
            {"id": 3, "image_id": 10, "category_id": 1},
            {"id": 4, "image_id": 10, "category_id": 3},
            {"id": 5, "image_id": 100, "category_id": 3},
            {"id": 6, "image_id": 100, "category_id": 3},
            {"id": 7, "image_id": 100, "category_id": 3},
        ],
        "categories": [
            {"id": 1, "name": "person"},
            {"id": 90, "name": "toothbrush"},
            {"id": 3, "name": "car"},
        ],
    }


def test_rows_sorted_as_strings_columns_in_json_order_unannotated_rows_empty():
    labels = coco_labels(_instances(), "annotations/instances_train2014.json")
    assert labels.source == "COCO train2014"
    assert labels.image_ids.tolist() == [10, 100, 7, 9] and labels.image_ids.dtype == np.int64
    assert labels.categories == ("person", "toothbrush", "car")
    assert labels.matrix.dtype == np.uint8
    np.testing.assert_array_equal(labels.matrix, [[1, 0, 1], [0, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert labels.file_names == ("img_10.jpg", "img_100.jpg", "img_7.jpg", "img_9.jpg")


def test_annotated_rows_equal_the_reference_style_loop_on_random_data():
    rng = np.random.default_rng(3)
    category_ids = [int(c) for c in rng.permutation(np.arange(1, 40))[:12]]
    image_ids = [int(i) for i in rng.choice(5000, 300, replace=False)]
    annotations = [
        {
            "id": k,
            "image_id": int(rng.choice(image_ids[:250])),
            "category_id": int(rng.choice(category_ids)),
        }
        for k in range(1500)
    ]
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in image_ids],
        "annotations": annotations,
        "categories": [{"id": c, "name": f"c{c}"} for c in category_ids],
    }
    labels = coco_labels(data, "instances.json")
    annotated = np.flatnonzero(labels.matrix.any(axis=1))
    got_ids, got = labels.image_ids[annotated].tolist(), labels.matrix[annotated]
    expected_ids = [int(s) for s in sorted({str(a["image_id"]) for a in annotations})]
    row = {image_id: i for i, image_id in enumerate(expected_ids)}
    column = {c: j for j, c in enumerate(category_ids)}
    expected = np.zeros((len(expected_ids), len(category_ids)), dtype=np.uint8)
    for annotation in annotations:
        expected[row[annotation["image_id"]], column[annotation["category_id"]]] = 1
    assert got_ids == expected_ids
    np.testing.assert_array_equal(got, expected)


def _broken(mutate) -> dict:
    data = _instances()
    mutate(data)
    return data


SOURCE = "annotations/instances_train2014.json"


def _add(key: str, entry: object):
    return lambda d: d[key].append(entry)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("annotations"), "missing key(s) ['annotations']"),
        (lambda d: d.pop("categories"), "missing key(s) ['categories']"),
        (lambda d: d.update(images={}), "'images' must be a list, got dict"),
        (_add("images", {"id": 9, "file_name": "again.jpg"}), "duplicate image id 9"),
        (_add("images", {"id": "11"}), "image ids must be 64-bit integers, found '11'"),
        (_add("images", {"id": [11, 12]}), "image ids must be 64-bit integers, found [11, 12]"),
        (
            lambda d: d["images"].extend({"id": i} for i in (-(2**63), 2**63 - 1, 2**63)),
            f"image ids must be 64-bit integers, found {2**63}",  # the int64 extremes are fine
        ),
        (lambda d: d.update(images=[{"id": 1.5}]), "image ids must be 64-bit integers, found 1.5"),
        (_add("images", {"file_name": "x.jpg"}), "image entry 4 has no 'id'"),
        (_add("images", {"id": 12}), "image id 12 has no 'file_name'"),
        (_add("images", {"id": 13, "file_name": ""}), "image id 13 has file_name ''"),
        (_add("categories", 5), "category entry 3 is not an object"),
        (_add("categories", {"name": "bus"}), "category entry 3 has no 'id'"),
        (_add("categories", {"id": 4}), "category id 4 has no 'name'"),
        (
            _add("categories", {"id": "4", "name": "bus"}),
            "category ids must be 64-bit integers, found '4'",
        ),
        (_add("categories", {"id": 4, "name": 4}), "category entry 3 has name 4, not a string"),
        (_add("categories", {"id": 4, "name": ""}), "category entry 3 has name '', not a string"),
        (
            _add("categories", {"id": 5, "name": "car"}),
            "duplicate category name 'car' (entries 2 and 3)",
        ),
        (_add("categories", {"id": 90, "name": "bus"}), "duplicate category id 90"),
        (lambda d: d["annotations"].clear(), "no usable image: no image has an annotation"),
        (_add("annotations", {"id": 44, "image_id": 9}), "annotation id 44 has no 'category_id'"),
        (_add("annotations", {"category_id": 1}), "annotation entry 7 has no 'image_id'"),
        (
            _add("annotations", {"id": 45, "image_id": "9", "category_id": 1}),
            "annotation image_id must be 64-bit integers, found '9'",
        ),
        (
            _add("annotations", {"id": 46, "image_id": 9, "category_id": 1.0}),
            "annotation category_id must be 64-bit integers, found 1.0",
        ),
        (
            _add("annotations", {"id": 42, "image_id": 555, "category_id": 1}),
            "annotation 42 has image_id 555, which is not among the images (1 such annotation(s))",
        ),
        (
            _add("annotations", {"image_id": 9, "category_id": 2}),
            "annotation at position 7 has category_id 2, which is not among the categories "
            "(1 such annotation(s))",
        ),
    ],
)
def test_bad_instances_are_refused_naming_source_and_problem(change, problem):
    with pytest.raises(ValueError) as error:
        coco_labels(_broken(change), SOURCE)
    assert str(error.value) == f"{SOURCE}: not usable COCO instances data: {problem}"


def test_what_is_not_a_json_object_is_refused():
    with pytest.raises(ValueError, match=r"^x\.json: .*expected a JSON object, got list$"):
        coco_labels([1, 2], "x.json")
