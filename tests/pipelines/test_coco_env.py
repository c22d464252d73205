"""The coco environment end to end on a tiny COCO-format fixture of real-looking JPEGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tests.conftest import kedro

CATEGORIES = [(1, "person"), (3, "car"), (18, "dog"), (44, "bottle"), (90, "toothbrush")]


def _coco_split(
    root: Path, split: str, count: int, first_id: int, rng: np.random.Generator
) -> None:
    """JPEGs of several sizes (a few grayscale) and instances JSON with COCO's id gaps."""
    (root / split).mkdir(parents=True)
    images, annotations = [], []
    for offset in range(count):
        image_id = first_id + offset * 7
        width, height = [(64, 48), (48, 64), (80, 60), (40, 40)][offset % 4]
        mode = "L" if offset % 5 == 0 else "RGB"
        pixels = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        picture = Image.fromarray(pixels).convert(mode)
        name = f"COCO_{split}_{image_id:012d}.jpg"
        picture.save(root / split / name, quality=85)
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        if offset % 9 == 8:
            continue  # an image without annotations: the protocol drops it
        for category in rng.choice(
            [c for c, _ in CATEGORIES], size=rng.integers(1, 4), replace=False
        ):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(category),
                    "bbox": [1, 1, 10, 10],
                    "area": 100,
                    "iscrowd": 0,
                }
            )
    instances = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": "thing"} for i, n in CATEGORIES],
    }
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(instances))


def test_coco_env_runs_the_study_and_decodes_images_once(
    tiny_project: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    coco = tmp_path / "coco2014"
    _coco_split(coco, "train2014", 60, 9, rng)
    _coco_split(coco, "val2014", 24, 100000, rng)
    params = ",".join(
        [
            f"data_root={coco}",
            "image_size=32",
            "model.options.resnet50.random_init=true",
            "training.epochs=1",
            "training.batch_size=8",
            "training.eval_batch_size=32",
            "taus=[0.5]",
            "baselines.losses=[an]",
            "reporting.reference_losses=[an]",
        ]
    )
    first = kedro(tiny_project, "run", "--env", "coco", "--params", params)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Decoded 54 images" in first.stdout + first.stderr  # 60 minus the 6 unannotated

    results = pd.read_csv(tiny_project / "data/08_reporting/results.csv")
    assert list(results["name"]) == ["teacher (em)", "baseline an", "student tau=0.5"]
    stats = pd.read_csv(tiny_project / "data/08_reporting/dataset_stats.csv").set_index("split")
    assert stats.loc["train", "images_without_positives"] == 6
    assert not (tiny_project / "data/01_raw/coco_demo").exists()

    again = kedro(
        tiny_project, "run", "--env", "coco", "--params", params, "--pipeline", "data_engineering"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Reusing the decoded images" in again.stdout + again.stderr
    assert "Decoded" not in again.stdout + again.stderr
