"""Catalog datasets: atomic writes, no pickles, versioned models, errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError, Version

from spml.datasets import (
    CocoInstancesDataset,
    ImageCacheDataset,
    ImageFolderDataset,
    StateDictDataset,
    TableDataset,
)


def test_a_failed_save_leaves_the_previous_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    dataset = TableDataset(str(path))
    dataset.save(pd.DataFrame({"a": [1, 2]}))
    before = path.read_bytes()
    with pytest.raises(Exception):
        dataset.save(pd.DataFrame({"a": [object()]}))  # parquet cannot write this
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_the_image_cache_is_memory_mapped_and_named_when_missing(tmp_path: Path) -> None:
    from PIL import Image

    from spml.data import DecodeJob, ImageFolder

    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "a.jpg")
    dataset = ImageCacheDataset(str(tmp_path / "cache" / "images.npy"))
    with pytest.raises(DatasetError, match="images.npy"):
        dataset.load()
    dataset.save(DecodeJob(ImageFolder(tmp_path), ("a.jpg", "a.jpg"), 16))
    images = dataset.load()
    assert isinstance(images, np.memmap) and images.shape == (2, 3, 16, 16)
    assert images[0, 0].mean() > 240


def test_versioned_weights_keep_every_version_and_load_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pt"
    for value, version in ((1.0, "2026-01-01T00.00.00.000Z"), (2.0, "2026-01-02T00.00.00.000Z")):
        StateDictDataset(str(path), version=Version(None, version)).save(
            {"w": torch.tensor([value])}
        )
    assert len(list(path.iterdir())) == 2
    latest = StateDictDataset(str(path), version=Version(None, None)).load()
    assert latest["w"].item() == 2.0
    torch.save({"w": torch.tensor([0.0]), "code": object()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="weights_only|Unsupported|WeightsUnpickler"):
        StateDictDataset(str(tmp_path / "evil.pt")).load()


def test_coco_files_are_checked_on_load_and_named(tmp_path: Path) -> None:
    missing = tmp_path / "instances_train2014.json"
    with pytest.raises(DatasetError, match="instances_train2014.json"):
        CocoInstancesDataset(str(missing)).load()
    missing.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        CocoInstancesDataset(str(missing)).load()
    missing.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(Exception, match="categories"):
        CocoInstancesDataset(str(missing)).load()
    with pytest.raises(DatasetError, match="train2014"):
        ImageFolderDataset(str(tmp_path / "train2014")).load()
