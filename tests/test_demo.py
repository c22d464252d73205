"""The synthetic demo data set is real COCO 2014 format, deterministic and written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from spml import demo
from spml.demo import ensure_demo_coco, generate_demo_coco

SMALL = {"n_train": 200, "n_test": 80}
SPLITS = ("train2014", "val2014")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo_coco(tmp_path_factory.mktemp("demo") / "coco", seed=0, **SMALL)


def _instances(root: Path, split: str) -> dict:
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def _positives_per_image(instances: dict) -> np.ndarray:
    per_image: dict[int, set[int]] = {}
    for ann in instances["annotations"]:
        per_image.setdefault(ann["image_id"], set()).add(ann["category_id"])
    return np.array([len(cats) for cats in per_image.values()])


@pytest.mark.parametrize("split", SPLITS)
def test_pycocotools_loads_the_layout(small: Path, split: str) -> None:
    coco = COCO(str(small / "annotations" / f"instances_{split}.json"))
    n_images = SMALL["n_train"] if split == "train2014" else SMALL["n_test"]
    assert len(coco.getImgIds()) == n_images
    assert len(coco.getAnnIds()) > n_images
    for image in coco.loadImgs(coco.getImgIds()):
        assert image["file_name"] == f"COCO_{split}_{image['id']:012d}.jpg"
        assert (small / split / image["file_name"]).is_file()
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert ann["iscrowd"] == 0 and len(ann["bbox"]) == 4 and ann["area"] > 0
    mask = coco.annToMask(ann)  # polygon segmentation decodes
    assert mask.shape == (48, 48) and mask.sum() > 0


def test_files_are_jpegs_some_grayscale_all_readable_as_rgb(tmp_path: Path) -> None:
    root = generate_demo_coco(tmp_path / "coco", seed=3, n_train=400, n_test=20)
    modes = set()
    for path in sorted((root / "train2014").iterdir()):
        with Image.open(path) as picture:
            assert picture.format == "JPEG" and picture.size == (48, 48)
            modes.add(picture.mode)
            assert np.asarray(picture.convert("RGB")).shape == (48, 48, 3)
    assert modes == {"RGB", "L"}


def test_categories_are_cocolike(small: Path) -> None:
    categories = _instances(small, "train2014")["categories"]
    ids = [c["id"] for c in categories]
    names = [c["name"] for c in categories]
    assert len(categories) >= 20
    assert len(set(names)) == len(names) and len(set(ids)) == len(ids)
    assert ids != list(range(1, len(ids) + 1))  # non-contiguous, as in COCO
    assert max(ids) > len(ids)
    assert len({c["supercategory"] for c in categories}) >= 3
    assert categories == _instances(small, "val2014")["categories"]


def test_image_ids_sort_differently_as_strings(small: Path) -> None:
    ids = [image["id"] for image in _instances(small, "train2014")["images"]]
    assert len(set(ids)) == len(ids)
    assert [str(i) for i in sorted(ids)] != sorted(str(i) for i in ids)


@pytest.mark.parametrize("split", SPLITS)
def test_some_images_have_no_annotation(small: Path, split: str) -> None:
    instances = _instances(small, split)
    annotated = {ann["image_id"] for ann in instances["annotations"]}
    empty = [image for image in instances["images"] if image["id"] not in annotated]
    assert 0 < len(empty) < 0.1 * len(instances["images"])


def test_positives_per_image_near_coco(tmp_path: Path) -> None:
    root = generate_demo_coco(tmp_path / "coco", seed=1, n_train=800, n_test=20)
    per_image = _positives_per_image(_instances(root, "train2014"))
    assert 2.6 <= per_image.mean() <= 3.2
    assert per_image.min() == 1 and per_image.max() >= 6
    counts: dict[int, int] = {}
    for ann in _instances(root, "train2014")["annotations"]:
        counts[ann["category_id"]] = counts.get(ann["category_id"], 0) + 1
    frequency = sorted(counts.values())
    assert len(frequency) == 24 and frequency[-1] > 5 * frequency[0]  # a long tail


def test_same_seed_same_bytes_other_seed_differs(small: Path, tmp_path: Path) -> None:
    again = generate_demo_coco(tmp_path / "again", seed=0, **SMALL)
    other = generate_demo_coco(tmp_path / "other", seed=1, **SMALL)
    for split in SPLITS:
        relative = Path("annotations") / f"instances_{split}.json"
        assert (again / relative).read_bytes() == (small / relative).read_bytes()
        assert (other / relative).read_bytes() != (small / relative).read_bytes()
    names = sorted(p.name for p in (small / "train2014").iterdir())
    assert names == sorted(p.name for p in (again / "train2014").iterdir())
    for name in names[:20]:
        image = Path("train2014") / name
        assert (again / image).read_bytes() == (small / image).read_bytes()


def test_ensure_generates_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "raw" / "coco"
    with caplog.at_level(logging.INFO, logger="spml.demo"):
        assert ensure_demo_coco(root, n_train=20, n_test=10) == root
    assert [r.name for r in caplog.records] == ["spml.demo"] and str(root) in caplog.text
    train_json = root / "annotations" / "instances_train2014.json"
    stamp = train_json.stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spml.demo"):
        ensure_demo_coco(root, n_train=20, n_test=10)
    assert train_json.stat().st_mtime_ns == stamp
    assert not caplog.records


def test_interrupted_generation_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    save = demo._save_jpeg

    def fail_midway(picture: Image.Image, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        save(picture, path)

    monkeypatch.setattr(demo, "_save_jpeg", fail_midway)
    root = tmp_path / "coco"
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_coco(root, n_train=20, n_test=20)
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind either
    monkeypatch.setattr(demo, "_save_jpeg", save)
    ensure_demo_coco(root, n_train=20, n_test=20)
    assert (root / "annotations" / "instances_val2014.json").is_file()


def test_existing_folders(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    (keep / ".gitkeep").write_text("")
    generate_demo_coco(keep, n_train=5, n_test=5)  # an empty placeholder folder is fine
    assert (keep / ".gitkeep").is_file() and (keep / "train2014").is_dir()

    with pytest.raises(FileExistsError, match="overwrite"):
        generate_demo_coco(keep, seed=1, n_train=5, n_test=5)
    generate_demo_coco(keep, seed=1, n_train=7, n_test=5, overwrite=True)
    assert len(list((keep / "train2014").iterdir())) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
