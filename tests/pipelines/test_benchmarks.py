"""The whole study on PASCAL VOC, CUB and the reference's formatted files (NUS-WIDE's
layout), each a tiny fixture in the official layout under its own environment."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import kedro
from tests.layouts import CUB_ATTRIBUTES, VOC_CLASSES, write_cub, write_formatted, write_voc
from tests.reference_protocol import assert_reference_tables

TINY = ",".join(
    [
        "image_size=16",
        "model.name=small_cnn",
        "model.frozen_backbone=false",
        "training.epochs=1",
        "training.batch_size=8",
        "training.eval_batch_size=64",
        "training.compile=false",
        "taus=[0.5]",
        "baselines.losses=[an]",
        "reporting.reference_losses=[an]",
    ]
)
MODELS = ["teacher (em)", "baseline an", "student tau=0.5"]
TABLES = ("full_labels", "observed_labels", "test_labels")


def _run_study(project: Path, env: str, params: str) -> str:
    """`kedro run --env ENV` on the fixture; its log."""
    result = kedro(project, "run", "--env", env, "--params", params)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = pd.read_csv(project / "data/08_reporting/results.csv")
    assert list(results["name"]) == MODELS
    assert results["test_map"].between(0, 100).all()
    return result.stdout + result.stderr


def _assert_tables(project: Path, train: list, test: list, categories: list[str]) -> None:
    """The run's label tables equal the reference's protocol applied to the written truth."""
    primary = project / "data" / "03_primary"
    tables = (pd.read_parquet(primary / f"{name}.parquet") for name in TABLES)
    assert_reference_tables(tuple(tables), train, test, categories)


def _dropped(project: Path) -> dict[str, int]:
    stats = pd.read_csv(project / "data/08_reporting/dataset_stats.csv").set_index("split")
    return stats["images_without_positives"].to_dict()


def test_voc_env_runs_the_study_on_the_official_layout(tiny_project: Path, tmp_path: Path) -> None:
    truth = write_voc(tmp_path / "voc", {"train": 40, "val": 24})
    log = _run_study(tiny_project, "voc", f"data_root={tmp_path / 'voc'},{TINY}")
    rows = {split: sorted(truth[split].items()) for split in truth}
    _assert_tables(tiny_project, rows["train"], rows["val"], VOC_CLASSES)
    without = {split: sum(not positives for _, positives in rows[split]) for split in rows}
    assert _dropped(tiny_project) == {"train": without["train"], "test": without["val"]}
    assert f"Decoded {len(rows['train']) - without['train']} images" in log


def test_cub_env_runs_the_study_on_the_official_layout(tiny_project: Path, tmp_path: Path) -> None:
    truth = write_cub(tmp_path / "cub", 40)
    _run_study(tiny_project, "cub", f"data_root={tmp_path / 'cub'},{TINY}")
    rows = {split: list(truth[split].values()) for split in truth}
    _assert_tables(tiny_project, rows["train"], rows["test"], list(CUB_ATTRIBUTES))
    assert sum(_dropped(tiny_project).values()) >= 1  # image 6 has no attribute present


def test_formatted_env_trains_on_pre_extracted_features_without_images(
    tiny_project: Path, tmp_path: Path
) -> None:
    root = tmp_path / "nuswide"
    root.mkdir()
    written = write_formatted(root, {"train": 40, "val": 24}, 6, feature_dim=16, images=False)
    params = f"data_root={root},training.epochs=2,taus=[0.5],baselines.losses=[an]"
    log = _run_study(tiny_project, "formatted", f"{params},reporting.reference_losses=[an]")
    assert "Decoded" not in log  # no image exists: the features are all it read

    categories = [f"class_{j}" for j in range(6)]
    rows = {
        split: [(n, {categories[j] for j in np.flatnonzero(y)}) for n, y in zip(*written[split])]
        for split in written
    }
    _assert_tables(tiny_project, rows["train"], rows["val"], categories)
    assert _dropped(tiny_project) == {"train": 1, "test": 1}
    full = pd.read_parquet(tiny_project / "data/03_primary/full_labels.parquet")
    on_disk = np.load(root / "train_features_imagenet_resnet50.npy")
    rows_of = {name: row for row, name in enumerate(written["train"][0])}
    np.testing.assert_array_equal(
        np.load(tiny_project / "data/05_model_input/train_features.npy"),
        on_disk[[rows_of[name] for name in full["file_name"]]],
    )

    # Features from another image list: named, the run stops, earlier outputs stay.
    results = (tiny_project / "data/08_reporting/results.csv").read_bytes()
    np.save(root / "val_features_imagenet_resnet50.npy", np.zeros((23, 16), np.float32))
    broken = kedro(tiny_project, "run", "--env", "formatted", "--params", params)
    assert broken.returncode != 0
    assert "val_features_imagenet_resnet50.npy has 23 rows" in broken.stderr
    assert "formatted_val_images.npy lists 24 images" in broken.stderr
    assert (tiny_project / "data/08_reporting/results.csv").read_bytes() == results


def test_formatted_env_reads_its_globals_and_the_images_under_image_folder(
    tiny_project: Path, tmp_path: Path
) -> None:
    root = tmp_path / "voc_formatted"
    root.mkdir()
    write_formatted(root, {"train": 20, "val": 10}, 20, image_folder="JPEGImages")
    (tiny_project / "conf/formatted/globals.yml").write_text(
        f"data_root: {root}\nimage_folder: Flickr\n"
    )
    command = ("run", "--env", "formatted", "--pipeline", "data_engineering", "--params")
    wrong_folder = kedro(tiny_project, *command, TINY)
    assert wrong_folder.returncode != 0
    assert f"raw_train_images: {root / 'Flickr'}" in wrong_folder.stderr  # the env's globals
    assert "formatted_{train,val}_{labels,images}.npy" in wrong_folder.stderr
    assert "README, 'NUS-WIDE and the reference's formatted files'" in wrong_folder.stderr
    assert "Running node" not in wrong_folder.stdout + wrong_folder.stderr

    right_folder = kedro(tiny_project, *command, f"image_folder=JPEGImages,{TINY}")
    assert right_folder.returncode == 0, right_folder.stderr[-3000:]
    assert "Decoded 19 images" in right_folder.stdout + right_folder.stderr  # one has no positive


def test_a_stale_image_cache_does_not_stop_training_on_pre_extracted_features(
    tiny_project: Path, tmp_path: Path
) -> None:
    root = tmp_path / "nuswide"
    root.mkdir()
    written = write_formatted(root, {"train": 20, "val": 10}, 6, feature_dim=8)
    end_to_end = f"data_root={root},{TINY}"
    on_features = end_to_end.replace("frozen_backbone=false", "frozen_backbone=true")
    for params in (end_to_end, on_features):  # the image cache, then the features
        made = kedro(
            tiny_project,
            "run",
            "--env",
            "formatted",
            "--pipeline",
            "data_engineering",
            "--params",
            params,
        )
        assert made.returncode == 0, made.stderr[-3000:]
    os.utime(root / "Flickr" / written["train"][0][0])  # the cache is now out of date

    on_images = kedro(
        tiny_project, "run", "--env", "formatted", "--pipeline", "teacher", "--params", end_to_end
    )
    assert on_images.returncode != 0
    assert "out of date with the raw images" in on_images.stderr
    teacher = kedro(
        tiny_project, "run", "--env", "formatted", "--pipeline", "teacher", "--params", on_features
    )
    assert teacher.returncode == 0, teacher.stderr[-3000:]  # features come from their files
