"""A synthetic data set in real COCO 2014 format, so the whole study runs without COCO.

`generate_demo_coco(root)` writes what the real data set looks like on disk::

    root/annotations/instances_train2014.json
    root/annotations/instances_val2014.json
    root/train2014/COCO_train2014_000000123456.jpg ...
    root/val2014/COCO_val2014_000000654321.jpg ...

so the code that reads COCO reads the demo unchanged. The JSON keeps the traits of COCO
that the data protocol depends on: category ids reused from COCO (1..77 with gaps, so
column j is not id j), image ids whose string order differs from their numeric order,
a few images without any annotation (the protocol drops them), a few grayscale JPEGs.

Each category is a visual concept: one shape in one colour, the full grid of 3 shapes
(ring, bar, cross) x 8 colours. Every shape belongs to 8 categories and every colour to 3,
and distractor objects show the same colours on other shapes (filled circle, square, star,
hexagon) or category shapes in neutral colours, so only the conjunction identifies a
category. Objects vary in size, position (some cut by the border), rotation and colour,
occlude one another, and sit on textured, noisy backgrounds with clutter lines. Which categories
appear together follows scene templates (street, dining, living room, park) and companion
rules (a fork usually comes with a knife and a dining table), giving a long-tailed,
correlated label distribution with about 2.9 categories per annotated image, as in COCO.
The task is hard enough that training with one observed positive per image loses clearly
against full labels (see `bench/demo_gap.py`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

TRAIN_JSON = Path("annotations") / "instances_train2014.json"
VAL_JSON = Path("annotations") / "instances_val2014.json"

_SUPERSAMPLE = 2
"""Shapes are drawn at this multiple of the image size and downsampled (anti-aliasing)."""

_LICENSE_URL = "https://creativecommons.org/publicdomain/zero/1.0/"
_JPEG_QUALITY = 88
_GRAYSCALE_RATE = 0.01
"""Share of images saved as single-channel JPEGs, as COCO has a few; readers convert to RGB."""

_EMPTY_RATE = 0.02
"""Share of images with no category at all (background and distractors only)."""

_STRAY_RATE = 0.015
"""Chance that any category appears outside its usual scenes."""

# ---------------------------------------------------------------------------------------------
# Categories: real COCO ids, names and supercategories; each one a (shape, colour) concept.
# ---------------------------------------------------------------------------------------------

CATEGORY_SHAPES = ("ring", "bar", "cross")
DISTRACTOR_SHAPES = ("circle", "square", "star", "hexagon")
"""Shapes that never make a category (a filled circle is not a ring)."""
COLOURS = {
    "red": (214, 48, 40),
    "green": (46, 164, 60),
    "blue": (48, 84, 214),
    "yellow": (226, 204, 44),
    "magenta": (196, 54, 190),
    "cyan": (44, 192, 204),
    "orange": (242, 138, 28),
    "white": (238, 238, 238),
}


@dataclass(frozen=True)
class DemoCategory:
    """One category of the demo: its COCO identity and the visual concept that shows it."""

    id: int
    name: str
    supercategory: str
    shape: str
    colour: str


# The full 3 x 8 grid of category shapes and colours: every shape and every colour belongs
# to 8 and 3 categories, so neither alone identifies one (fork and knife share a colour).
CATEGORIES: tuple[DemoCategory, ...] = (
    DemoCategory(1, "person", "person", "ring", "red"),
    DemoCategory(2, "bicycle", "vehicle", "bar", "green"),
    DemoCategory(3, "car", "vehicle", "cross", "blue"),
    DemoCategory(4, "motorcycle", "vehicle", "ring", "yellow"),
    DemoCategory(6, "bus", "vehicle", "bar", "magenta"),
    DemoCategory(10, "traffic light", "outdoor", "cross", "cyan"),
    DemoCategory(13, "stop sign", "outdoor", "bar", "red"),
    DemoCategory(15, "bench", "outdoor", "ring", "orange"),
    DemoCategory(16, "bird", "animal", "cross", "white"),
    DemoCategory(17, "cat", "animal", "bar", "yellow"),
    DemoCategory(18, "dog", "animal", "ring", "magenta"),
    DemoCategory(27, "backpack", "accessory", "cross", "orange"),
    DemoCategory(31, "handbag", "accessory", "bar", "white"),
    DemoCategory(44, "bottle", "kitchen", "ring", "cyan"),
    DemoCategory(47, "cup", "kitchen", "cross", "green"),
    DemoCategory(48, "fork", "kitchen", "ring", "blue"),
    DemoCategory(49, "knife", "kitchen", "bar", "blue"),
    DemoCategory(51, "bowl", "kitchen", "cross", "magenta"),
    DemoCategory(53, "apple", "food", "cross", "red"),
    DemoCategory(59, "pizza", "food", "bar", "orange"),
    DemoCategory(62, "chair", "furniture", "ring", "green"),
    DemoCategory(67, "dining table", "furniture", "bar", "cyan"),
    DemoCategory(72, "tv", "electronic", "ring", "white"),
    DemoCategory(77, "cell phone", "electronic", "cross", "yellow"),
)

SHAPES = CATEGORY_SHAPES + DISTRACTOR_SHAPES
DISTRACTORS: tuple[tuple[str, str], ...] = tuple(
    (shape, colour) for shape in DISTRACTOR_SHAPES for colour in COLOURS
)
"""Shape-colour pairs that are no category: every category colour on a non-category shape."""

_NEUTRAL_COLOURS = ((120, 120, 120), (90, 62, 40), (30, 30, 30))
"""Colours of no category: clutter lines and neutral distractors of any shape."""

# Difficulty knobs, tuned with bench/demo_gap.py (lengths in pixels of a 48-px image).
_RADIUS = (7.0, 13.0)
"""Object radius range, drawn log-uniformly."""
_EXTRA_COPY = (0.3, 0.1)
"""Chances of a second and of a third instance of a present category."""
_DISTRACTORS = (1, 4)
"""Distractor objects per image, drawn uniformly from [low, high)."""
_LINES = (1, 4)
"""Clutter lines per image, drawn uniformly from [low, high)."""
_COLOUR_SCALE = (0.85, 1.10)
_COLOUR_SPREAD = 6.0
"""Object colour jitter: brightness factor range and per-channel standard deviation."""
_BACKGROUND_TINT = 6.0
"""Spread of the background's mean colour around a grey level (0: grey backgrounds)."""
_BACKGROUND_SPREAD = 12.0
"""Standard deviation of the background's low-frequency colour variation."""
_PIXEL_NOISE = 4.0
"""Standard deviation of the per-pixel noise added to the finished image."""
_RING_HOLE = 0.5
"""Inner radius of a ring as a share of its outer radius."""
_MIN_VISIBLE = 0.2
"""An instance is annotated only if this share of its area is still visible."""

# Scene templates: (weight, {category name: chance of appearing}).
_SCENES: tuple[tuple[float, dict[str, float]], ...] = (
    (
        0.32,
        {
            "person": 0.58,
            "car": 0.50,
            "bicycle": 0.22,
            "motorcycle": 0.18,
            "bus": 0.18,
            "traffic light": 0.26,
            "stop sign": 0.14,
            "bench": 0.12,
            "backpack": 0.16,
            "handbag": 0.16,
        },
    ),
    (
        0.28,
        {
            "dining table": 0.50,
            "cup": 0.36,
            "fork": 0.24,
            "knife": 0.16,
            "bowl": 0.30,
            "bottle": 0.28,
            "pizza": 0.22,
            "apple": 0.16,
            "chair": 0.34,
            "person": 0.40,
        },
    ),
    (
        0.22,
        {
            "chair": 0.44,
            "tv": 0.40,
            "cell phone": 0.22,
            "cat": 0.24,
            "dog": 0.20,
            "person": 0.45,
            "cup": 0.18,
            "bottle": 0.14,
        },
    ),
    (
        0.18,
        {
            "bird": 0.38,
            "dog": 0.34,
            "bench": 0.35,
            "person": 0.50,
            "cat": 0.12,
            "backpack": 0.14,
            "bicycle": 0.14,
            "handbag": 0.08,
        },
    ),
)

# Companion rules: if the first is present, add the second with this chance.
_COMPANIONS: tuple[tuple[str, str, float], ...] = (
    ("fork", "knife", 0.65),
    ("knife", "fork", 0.45),
    ("fork", "dining table", 0.70),
    ("pizza", "dining table", 0.60),
    ("traffic light", "car", 0.60),
    ("bus", "person", 0.55),
    ("tv", "chair", 0.45),
    ("handbag", "person", 0.70),
    ("backpack", "person", 0.70),
    ("cell phone", "person", 0.50),
)

_INDEX = {c.name: j for j, c in enumerate(CATEGORIES)}


# ---------------------------------------------------------------------------------------------
# Label sampling
# ---------------------------------------------------------------------------------------------


def _scene_tables() -> tuple[np.ndarray, np.ndarray]:
    """Scene weights and a scenes x categories matrix of appearance chances."""
    weights = np.array([w for w, _ in _SCENES], dtype=np.float64)
    chances = np.zeros((len(_SCENES), len(CATEGORIES)))
    for s, (_, table) in enumerate(_SCENES):
        for name, chance in table.items():
            chances[s, _INDEX[name]] = chance
    return weights / weights.sum(), chances


def _sample_present(
    rng: np.random.Generator, weights: np.ndarray, chances: np.ndarray
) -> np.ndarray:
    """Indices of the categories present in one image (empty for a background image)."""
    if rng.random() < _EMPTY_RATE:
        return np.zeros(0, dtype=np.int64)
    scene = rng.choice(len(weights), p=weights)
    present = rng.random(len(CATEGORIES)) < np.maximum(chances[scene], _STRAY_RATE)
    for first, second, chance in _COMPANIONS:
        draw = rng.random()
        if present[_INDEX[first]] and draw < chance:
            present[_INDEX[second]] = True
    if not present.any():
        table = chances[scene]
        present[rng.choice(len(table), p=table / table.sum())] = True
    return np.flatnonzero(present)


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Outline of a shape as an (n, 2) array of points, centred at (cx, cy) with radius r."""
    if shape == "circle":
        t = np.linspace(0.0, 2 * np.pi, 20, endpoint=False)
        radii = np.full_like(t, r)
    elif shape == "ring":  # keyhole polygon: outer circle, then the hole the other way round
        t = np.linspace(0.0, 2 * np.pi, 21)
        outer = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
        inner = np.column_stack([cx + _RING_HOLE * r * np.cos(t), cy + _RING_HOLE * r * np.sin(t)])
        return np.concatenate([outer, inner[::-1]])
    elif shape == "bar":
        t = np.array([0.35, np.pi - 0.35, np.pi + 0.35, -0.35])
        radii = np.full_like(t, r)
    elif shape == "square":
        t = np.pi / 4 + np.arange(4) * np.pi / 2
        radii = np.full_like(t, r)
    elif shape == "diamond":
        t = np.arange(4) * np.pi / 2
        radii = np.array([r, 0.7 * r, r, 0.7 * r])
    elif shape == "triangle":
        t = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        radii = np.full_like(t, r)
    elif shape == "hexagon":
        t = np.arange(6) * np.pi / 3
        radii = np.full_like(t, r)
    elif shape == "star":
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
    elif shape == "cross":
        a, b = r, 0.36 * r
        pts = np.array(
            [
                (b, -a),
                (b, -b),
                (a, -b),
                (a, b),
                (b, b),
                (b, a),
                (-b, a),
                (-b, b),
                (-a, b),
                (-a, -b),
                (-b, -b),
                (-b, -a),
            ]
        )
        c, s = np.cos(angle), np.sin(angle)
        x, y = pts[:, 0], pts[:, 1]
        return np.column_stack([cx + c * x - s * y, cy + s * x + c * y])
    else:
        raise ValueError(f"unknown shape {shape!r}")
    t = t + angle
    return np.column_stack([cx + radii * np.cos(t), cy + radii * np.sin(t)])


def _jitter_colour(rng: np.random.Generator, rgb: Sequence[int], spread: float) -> tuple[int, ...]:
    """A colour varied in brightness and per channel, as lighting varies in photographs."""
    scale = rng.uniform(*_COLOUR_SCALE)
    noisy = np.asarray(rgb, dtype=np.float64) * scale + rng.normal(0.0, spread, 3)
    return tuple(int(v) for v in np.clip(noisy, 0, 255))


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A smooth random colour field with texture, at the supersampled size."""
    big = size * _SUPERSAMPLE
    base = rng.uniform(70, 190) + rng.normal(0.0, _BACKGROUND_TINT, 3)
    coarse = base + rng.normal(0.0, _BACKGROUND_SPREAD, (4, 4, 3))
    field = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
    field = field.resize((big, big), Image.BILINEAR)
    fine = np.asarray(field, dtype=np.float64) + rng.normal(0.0, 9.0, (big, big, 1))
    return Image.fromarray(np.clip(fine, 0, 255).astype(np.uint8))


def _render(
    rng: np.random.Generator, size: int, present: np.ndarray
) -> tuple[Image.Image, list[tuple[int, np.ndarray]]]:
    """Draw one image; return it and (category index, polygon in image pixels) per instance."""
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    big = size * _SUPERSAMPLE
    scale = big / 48.0

    for _ in range(rng.integers(*_LINES)):  # clutter lines
        x0, y0, x1, y1 = rng.uniform(0, big, 4)
        colour = _jitter_colour(rng, _NEUTRAL_COLOURS[rng.integers(len(_NEUTRAL_COLOURS))], 25)
        draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))

    objects: list[tuple[int, str, tuple[int, int, int]]] = []  # (category or -1, shape, rgb)
    for j in present:
        copies = 1 + int(rng.random() < _EXTRA_COPY[0]) + int(rng.random() < _EXTRA_COPY[1])
        objects += [(int(j), CATEGORIES[j].shape, COLOURS[CATEGORIES[j].colour])] * copies
    for _ in range(rng.integers(*_DISTRACTORS)):
        if rng.random() < 0.75:  # a category colour on a non-category shape
            shape, colour = DISTRACTORS[rng.integers(len(DISTRACTORS))]
            objects.append((-1, shape, COLOURS[colour]))
        else:
            rgb = _NEUTRAL_COLOURS[rng.integers(len(_NEUTRAL_COLOURS))]  # any shape, no colour
            objects.append((-1, SHAPES[rng.integers(len(SHAPES))], rgb))
    order = rng.permutation(len(objects))

    owner = Image.new("L", image.size, 0)  # which object shows at each pixel (drawing order)
    owner_draw = ImageDraw.Draw(owner)
    drawn: list[tuple[int, np.ndarray]] = []  # (category or -1, polygon) in drawing order
    for step, k in enumerate(order, start=1):
        category, shape, rgb = objects[k]
        r = float(np.exp(rng.uniform(*np.log(_RADIUS)))) * scale
        cx, cy = rng.uniform(0.05 * big, 0.95 * big, 2)
        points = _polygon(shape, cx, cy, r, float(rng.uniform(-0.3, 0.3)))
        fill = _jitter_colour(rng, rgb, _COLOUR_SPREAD)
        for canvas, colour in ((draw, fill), (owner_draw, step)):
            if shape == "ring":
                box = [cx - r, cy - r, cx + r, cy + r]
                canvas.ellipse(box, outline=colour, width=max(2, round((1 - _RING_HOLE) * r)))
            else:
                canvas.polygon([tuple(p) for p in points], fill=colour)
        drawn.append((category, points))
    # As in COCO, an object hidden almost entirely (by later objects or the frame) is not
    # annotated: compare the pixels it still shows with its full area.
    visible = np.bincount(np.asarray(owner).ravel(), minlength=len(drawn) + 1)
    instances = [
        (category, points / _SUPERSAMPLE)
        for step, (category, points) in enumerate(drawn, start=1)
        if category >= 0 and visible[step] >= _MIN_VISIBLE * _polygon_area(points)
    ]

    small = image.resize((size, size), Image.BOX)
    noisy = np.asarray(small, dtype=np.float64) + rng.normal(0.0, _PIXEL_NOISE, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), instances


# ---------------------------------------------------------------------------------------------
# COCO records
# ---------------------------------------------------------------------------------------------


def _polygon_area(points: np.ndarray) -> float:
    """Shoelace area; a keyhole polygon (ring) gives the area between its two circles."""
    x, y = points[:, 0], points[:, 1]
    twice = np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1]
    return 0.5 * abs(float(twice))


def _annotation(ann_id: int, image_id: int, category: int, points: np.ndarray, size: int) -> dict:
    """A COCO instance annotation: polygon clipped to the image, its bbox and area."""
    clipped = np.clip(points, 0.0, float(size))
    x0, y0 = clipped.min(axis=0)
    x1, y1 = clipped.max(axis=0)
    area = _polygon_area(clipped)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": CATEGORIES[category].id,
        "segmentation": [[round(float(v), 2) for v in clipped.reshape(-1)]],
        "area": round(area, 2),
        "bbox": [
            round(float(x0), 2),
            round(float(y0), 2),
            round(float(x1 - x0), 2),
            round(float(y1 - y0), 2),
        ],
        "iscrowd": 0,
    }


def _image_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct ids of 1 to 6 digits, like COCO's, so string order differs from numeric order."""
    digits = rng.integers(1, 7, size=4 * n + 64)
    candidates = np.floor(10.0 ** (digits - 1 + rng.random(digits.size))).astype(np.int64)
    _, first = np.unique(candidates, return_index=True)
    unique = candidates[np.sort(first)]
    if unique.size < n:  # pragma: no cover - needs millions of images
        raise ValueError(f"cannot draw {n} distinct image ids")
    return unique[:n]


def _write_split(
    rng: np.random.Generator, folder: Path, split: str, n_images: int, size: int, ann_start: int
) -> dict:
    """Render and save one split's images; return its COCO instances dictionary."""
    weights, chances = _scene_tables()
    (folder / split).mkdir(parents=True)
    images, annotations = [], []
    for image_id in _image_ids(rng, n_images):
        image_id = int(image_id)
        present = _sample_present(rng, weights, chances)
        picture, instances = _render(rng, size, present)
        if rng.random() < _GRAYSCALE_RATE:
            picture = picture.convert("L")
        file_name = f"COCO_{split}_{image_id:012d}.jpg"
        _save_jpeg(picture, folder / split / file_name)
        images.append(
            {"id": image_id, "file_name": file_name, "width": size, "height": size, "license": 1}
        )
        for category, points in instances:
            annotations.append(
                _annotation(ann_start + len(annotations), image_id, category, points, size)
            )
    return {
        "info": {
            "description": "spml synthetic demo data set in COCO 2014 format",
            "version": "1.0",
            "year": 2014,
            "contributor": "spml.demo",
            "date_created": "2014-01-01",
        },
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": _LICENSE_URL}],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"supercategory": c.supercategory, "id": c.id, "name": c.name} for c in CATEGORIES
        ],
    }


def _save_jpeg(picture: Image.Image, path: Path) -> None:
    """Encode in memory, then write once (keeps the file complete or absent)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    path.write_bytes(buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_demo_coco(
    root: str | Path,
    *,
    seed: int = 0,
    n_train: int = 4000,
    n_test: int = 1500,
    image_size: int = 48,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic COCO 2014 data set under `root` and return `root`.

    `n_train` images go to train2014 and `n_test` to val2014 (the protocol's test set),
    including the ~2% without annotations that the protocol drops. The same seed gives
    byte-identical files. The data set is built in a temporary sibling folder and renamed
    into place, so an interrupted run leaves nothing at `root`. An existing non-empty
    `root` is replaced only with `overwrite=True`.
    """
    root = Path(root)
    if n_train < 1 or n_test < 1 or image_size < 16:
        raise ValueError("need n_train >= 1, n_test >= 1 and image_size >= 16")
    keep = [".gitkeep"]
    existing = [p.name for p in root.iterdir()] if root.is_dir() else []
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder")
    if any(name not in keep for name in existing) and not overwrite:
        raise FileExistsError(f"{root} is not empty; pass overwrite=True to replace it")

    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        rng = np.random.default_rng(seed)
        train = _write_split(rng, staging, "train2014", n_train, image_size, ann_start=1)
        val = _write_split(
            rng, staging, "val2014", n_test, image_size, ann_start=1 + len(train["annotations"])
        )
        (staging / "annotations").mkdir()
        for relative, content in ((TRAIN_JSON, train), (VAL_JSON, val)):
            (staging / relative).write_text(json.dumps(content, separators=(",", ":")))
        for name in existing:
            if name in keep:
                shutil.copy2(root / name, staging / name)
        _swap_into_place(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def _swap_into_place(staging: Path, root: Path) -> None:
    """Rename the finished folder to `root`, moving any old `root` aside first."""
    if not root.exists():
        os.replace(staging, root)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
    old.rmdir()
    os.replace(root, old)
    try:
        os.replace(staging, root)
    except BaseException:
        os.replace(old, root)
        raise
    shutil.rmtree(old, ignore_errors=True)


def ensure_demo_coco(root: str | Path, **kwargs: object) -> Path:
    """Generate the demo under `root` unless its train annotations already exist."""
    root = Path(root)
    if (root / TRAIN_JSON).is_file():
        return root
    logger.info("Generating the synthetic COCO-format demo data set at %s", root)
    return generate_demo_coco(root, **kwargs)  # type: ignore[arg-type]
