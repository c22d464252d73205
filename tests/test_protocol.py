"""The Cole et al. data protocol: label matrix, single positive observation, split."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from spml.protocol import (
    check_same_categories,
    coco_label_matrix,
    file_names,
    observe_single_positive,
    positives_per_image,
    split_train_val,
    validate_instances,
)


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


def test_label_matrix_rows_sorted_as_strings_columns_in_json_order():
    image_ids, names, matrix = coco_label_matrix(_instances())
    assert image_ids == [10, 100, 9] and all(type(i) is int for i in image_ids)
    assert names == ["person", "toothbrush", "car"]
    assert matrix.dtype == np.uint8
    np.testing.assert_array_equal(matrix, [[1, 0, 1], [0, 0, 1], [0, 1, 0]])
    assert file_names(_instances(), image_ids) == ["img_10.jpg", "img_100.jpg", "img_9.jpg"]


def test_label_matrix_equals_reference_style_loop_on_random_data():
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
    got_ids, _, got = coco_label_matrix(data)
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
def test_validate_instances_names_source_and_problem(change, problem):
    with pytest.raises(ValueError) as error:
        validate_instances(_broken(change), SOURCE)
    assert str(error.value) == f"{SOURCE}: not usable COCO instances data: {problem}"


def test_validate_instances_refuses_what_is_not_a_json_object():
    with pytest.raises(ValueError, match=r"^x\.json: .*expected a JSON object, got list$"):
        validate_instances([1, 2], "x.json")


def test_label_matrix_validates_first_and_names_its_source():
    broken = _broken(lambda d: d["annotations"].clear())
    with pytest.raises(ValueError, match="^instances: not usable COCO instances data: no usable"):
        coco_label_matrix(broken)
    with pytest.raises(ValueError, match=r"^train\.json: not usable"):
        coco_label_matrix(broken, "train.json")


def test_file_names_name_the_image_at_fault():
    with pytest.raises(ValueError, match="^image id 5 is not among the images$"):
        file_names(_instances(), [9, 5])
    for missing in ({"id": 9}, {"id": 9, "file_name": ""}):
        instances = _broken(lambda d, image=missing: d["images"].__setitem__(0, image))
        with pytest.raises(ValueError, match="^image id 9 has no 'file_name'$"):
            file_names(instances, [10, 9])


def test_check_same_categories():
    train, test = _instances(), _instances()
    check_same_categories(train, test, "train.json", "val.json")
    swapped = copy.deepcopy(test)
    swapped["categories"][1], swapped["categories"][2] = (
        swapped["categories"][2],
        swapped["categories"][1],
    )
    with pytest.raises(ValueError, match=r"train\.json.*val\.json.*entry 1"):
        check_same_categories(train, swapped, "train.json", "val.json")
    shorter = copy.deepcopy(test)
    shorter["categories"].pop()
    with pytest.raises(ValueError, match="3 categories in the first, 2 in the second"):
        check_same_categories(train, shorter, "train.json", "val.json")


def _reference_observe(label_matrix: np.ndarray, seed: int, shuffle_negatives: bool = True):
    """The reference loop, written out: -1/+1 labels, shuffle positives then negatives."""
    signed = np.where(label_matrix == 1, 1.0, -1.0)
    rng = np.random.RandomState(seed)
    observed = np.zeros_like(signed)
    for i in range(signed.shape[0]):
        idx_pos = np.nonzero(signed[i, :] == 1.0)[0]
        rng.shuffle(idx_pos)
        observed[i, idx_pos[:1]] = 1.0
        if shuffle_negatives:
            idx_neg = np.nonzero(signed[i, :] == -1.0)[0]
            rng.shuffle(idx_neg)
            observed[i, idx_neg[:0]] = -1.0
    return (observed == 1).astype(np.uint8)


def _random_labels(seed: int, n: int = 400, c: int = 20, p: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < p).astype(np.uint8)
    labels[labels.sum(axis=1) == 0, rng.integers(c)] = 1
    return labels


def test_observe_single_positive_matches_reference_loop():
    labels = _random_labels(0)
    observed = observe_single_positive(labels)
    np.testing.assert_array_equal(observed, _reference_observe(labels, 1200))
    assert observed.dtype == np.uint8 and observed.shape == labels.shape
    assert (observed.sum(axis=1) == 1).all()
    assert (observed <= labels).all()
    np.testing.assert_array_equal(observed, observe_single_positive(labels, seed=1200))
    assert not np.array_equal(observed, observe_single_positive(labels, seed=1201))


def test_negative_shuffle_advances_the_generator():
    labels = _random_labels(1)
    without = _reference_observe(labels, 1200, shuffle_negatives=False)
    assert not np.array_equal(observe_single_positive(labels), without)


def test_observe_single_positive_rejects_row_without_positive():
    labels = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    with pytest.raises(ValueError, match="row 1"):
        observe_single_positive(labels)
    with pytest.raises(ValueError, match="^Y must contain only 0 and 1$"):
        observe_single_positive(np.array([[2, 0]]))
    with pytest.raises(ValueError, match=r"^Y must be a 2-D label matrix, got shape \(2,\)$"):
        observe_single_positive(np.array([1, 0]))


def test_split_train_val_coco_sizes_and_reference_permutation():
    train, val = split_train_val(82081)
    assert (len(train), len(val)) == (65665, 16416)
    assert np.intersect1d(train, val).size == 0
    assert (np.diff(train) > 0).all() and (np.diff(val) > 0).all()
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(82081))
    permutation = np.random.RandomState(1200).permutation(82081)
    np.testing.assert_array_equal(train, np.sort(permutation[:65665]))
    np.testing.assert_array_equal(val, np.sort(permutation[-16416:]))


@pytest.mark.parametrize(
    ("n", "val_frac", "sizes"), [(10, 0.1, (9, 1)), (10, 0.9, (1, 9)), (2, 0.5, (1, 1))]
)
def test_split_train_val_one_row_is_enough_on_either_side(n, val_frac, sizes):
    train, val = split_train_val(n, val_frac)
    assert (len(train), len(val)) == sizes


@pytest.mark.parametrize(
    ("n", "val_frac", "message"),
    [
        (10, 0.0, "val_frac must be in (0, 1), got 0.0"),
        (10, 1.0, "val_frac must be in (0, 1), got 1.0"),
        (10, 1.5, "val_frac must be in (0, 1), got 1.5"),
        (10, -0.2, "val_frac must be in (0, 1), got -0.2"),
        (10, "0.2", "val_frac must be a number in (0, 1), got '0.2'"),
        (10, True, "val_frac must be a number in (0, 1), got True"),
        (
            10,
            0.04,
            "val_frac=0.04 gives 0 validation rows out of n=10; both parts need at least one row",
        ),
        (
            3,
            0.9,
            "val_frac=0.9 gives 3 validation rows out of n=3; both parts need at least one row",
        ),
        (1, 0.5, "n must be an integer >= 2, got 1"),
        ("10", 0.2, "n must be an integer >= 2, got '10'"),
        (True, 0.2, "n must be an integer >= 2, got True"),
    ],
)
def test_split_train_val_rejects_bad_arguments_by_name(n, val_frac, message):
    with pytest.raises(ValueError) as error:
        split_train_val(n, val_frac)
    assert str(error.value) == message


def test_positives_per_image():
    assert positives_per_image(np.array([[1, 1, 0], [0, 0, 1]])) == 1.5
    assert positives_per_image(np.array([[1, 1, 1]])) == 3.0
    with pytest.raises(ValueError, match="^Y has no rows$"):
        positives_per_image(np.zeros((0, 3)))
