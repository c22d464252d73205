"""Small data sets in the official file layouts, quirks included, and their true labels.

Each writer returns what it wrote as plain Python (file names and their positive classes),
so a test can build the expected label tables without the project's readers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VOC_CLASSES = (  # the reference's format_pascal.py order, written out again on purpose
    "aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
    "motorbike person pottedplant sheep sofa train tvmonitor"
).split()

CUB_ATTRIBUTES = (
    "has_bill_shape::curved_(up_or_down)",
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_wing_color::brown",
    "has_upperparts_color::blue",
    "has_upperparts_color::brown",
    "has_breast_pattern::solid",
    "has_breast_pattern::spotted",
    "has_size::small_(5_-_9_in)",
    "has_size::large_(16_-_32_in)",
    "has_eye_color::black",
    "has_crown_color::red",
)


def write_jpeg(path: Path, rng: np.random.Generator) -> None:
    """A small noisy JPEG of a random size (a few grayscale), like real files vary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = (int(v) for v in rng.integers(12, 28, size=2))
    pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    mode = "L" if rng.random() < 0.2 else "RGB"
    Image.fromarray(pixels).convert(mode).save(path, quality=80)


def write_voc(root: Path, counts: dict[str, int], seed: int = 0) -> dict[str, dict[str, set]]:
    """VOCdevkit/VOC2012 with class lists per split: label 1, 0 (difficult) and -1, right-
    aligned as in the official files; one image of each split only difficult, one only
    absent (listed for no class). Returns {split: {file name: positive classes}}."""
    rng = np.random.default_rng(seed)
    main = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    main.mkdir(parents=True)
    truth: dict[str, dict[str, set]] = {}
    for split, count in counts.items():
        years = rng.choice([2007, 2008, 2010, 2012], size=count)
        ids = sorted({f"{year}_{int(rng.integers(0, 3000)):06d}" for year in years})
        labels = rng.choice([1, 0, -1], p=[0.12, 0.04, 0.84], size=(len(ids), len(VOC_CLASSES)))
        labels[0] = np.where(rng.random(len(VOC_CLASSES)) < 0.3, 0, -1)  # only difficult
        labels[0, 0] = 0
        labels[1] = -1  # listed for no class
        for name, column in zip(VOC_CLASSES, labels.T, strict=True):
            order = rng.permutation(len(ids))  # the official lists are not sorted either
            lines = [f"{ids[row]} {int(column[row]):>2}\n" for row in order]
            (main / f"{name}_{split}.txt").write_text("".join(lines))
        truth[split] = {
            f"{image_id}.jpg": {VOC_CLASSES[c] for c in np.flatnonzero(row == 1)}
            for image_id, row in zip(ids, labels, strict=True)
        }
        for image_id in ids:
            write_jpeg(root / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{image_id}.jpg", rng)
    return truth


def write_cub(root: Path, count: int, seed: int = 0) -> dict[str, dict[int, tuple[str, set]]]:
    """CUB_200_2011/ and attributes.txt as the official archive unpacks: image ids in a
    different order than their paths, certainty values 1-4 (a positive marked "not
    visible" among them), a few label lines with extra fields, and one image with no
    attribute present. Returns {split: {image id: (file name, positive attributes)}}."""
    rng = np.random.default_rng(seed)
    base = root / "CUB_200_2011"
    (base / "attributes").mkdir(parents=True)
    (root / "attributes.txt").write_text(
        "".join(f"{k + 1} {name}\n" for k, name in enumerate(CUB_ATTRIBUTES))
    )
    species = ["001.Black_footed_Albatross", "017.Cardinal", "200.Common_Yellowthroat"]
    files = {}
    for image_id in range(1, count + 1):
        folder = species[int(rng.integers(len(species)))]
        files[image_id] = f"{folder}/{folder[4:]}_{int(rng.integers(1, 9999)):04d}_{image_id}.jpg"
    is_train = rng.integers(0, 2, size=count)
    is_train[:2] = (1, 0)
    present = (rng.random((count, len(CUB_ATTRIBUTES))) < 0.3).astype(int)
    present[5] = 0  # no attribute present: dropped
    certainty = rng.integers(1, 5, size=present.shape)
    certainty[0, np.flatnonzero(present[0])[:1]] = 1  # present, but "not visible"
    (base / "images.txt").write_text("".join(f"{i} {name}\n" for i, name in files.items()))
    (base / "train_test_split.txt").write_text(
        "".join(f"{i} {int(is_train[i - 1])}\n" for i in files)
    )
    lines = []
    for image_id in files:
        for k in range(len(CUB_ATTRIBUTES)):
            row, time = image_id - 1, float(rng.uniform(1, 40))
            extra = " 0 7.155" if (image_id, k) in ((3, 4), (4, 0)) else ""
            lines.append(f"{image_id} {k + 1} {present[row, k]} {certainty[row, k]} {time:.3f}")
            lines[-1] += extra + "\n"
    (base / "attributes" / "image_attribute_labels.txt").write_text("".join(lines))
    for name in files.values():
        write_jpeg(base / "images" / name, rng)
    return {
        split: {
            i: (files[i], {CUB_ATTRIBUTES[k] for k in np.flatnonzero(present[i - 1])})
            for i in files
            if is_train[i - 1] == flag
        }
        for split, flag in (("train", 1), ("test", 0))
    }


def write_formatted(
    root: Path,
    counts: dict[str, int],
    classes: int,
    image_folder: str = "Flickr",
    feature_dim: int | None = None,
    images: bool = True,
    seed: int = 0,
) -> dict[str, tuple[list[str], np.ndarray]]:
    """The reference's formatted files (float 0/1 labels, file names in row order, one
    all-zero row per split), the images under `image_folder` unless `images` is false, and,
    given a `feature_dim`, features that carry the labels. Returns {split: (names, labels)}."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, count in counts.items():
        labels = (rng.random((count, classes)) < 0.25).astype(np.float64)
        labels[labels.sum(axis=1) == 0, 0] = 1.0
        labels[3] = 0.0  # no positive: dropped
        concepts = ["actor", "animal", "beach"]
        names = [
            f"{concepts[int(rng.integers(3))]}/{row:04d}_{int(rng.integers(10**9))}.jpg"
            for row in range(count)
        ]
        np.save(root / f"formatted_{split}_labels.npy", labels)
        np.save(root / f"formatted_{split}_images.npy", np.array(names))
        if feature_dim:
            mixing = np.random.default_rng(seed + 1).normal(size=(classes, feature_dim))
            features = labels @ mixing + rng.normal(scale=0.5, size=(count, feature_dim))
            np.save(root / f"{split}_features_imagenet_resnet50.npy", features.astype(np.float32))
        for name in names if images else ():
            write_jpeg(root / image_folder / name, rng)
        written[split] = (names, labels)
    return written
