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
    ArrayDataset,
    CocoInstancesDataset,
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


def test_arrays_round_trip_without_pickle(tmp_path: Path) -> None:
    dataset = ArrayDataset(str(tmp_path / "images.npy"), mmap=True)
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 2, 2)
    dataset.save(images)
    np.testing.assert_array_equal(dataset.load(), images)
    with pytest.raises(DatasetError, match="allow_pickle=False"):
        dataset.save(np.array([{"x": 1}], dtype=object))
    np.testing.assert_array_equal(dataset.load(), images)


def test_versioned_weights_keep_every_version_and_load_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pt"
    for value, version in ((1.0, "2026-01-01T00.00.00.000Z"), (2.0, "2026-01-02T00.00.00.000Z")):
        StateDictDataset(str(path), version=Version(None, version)).save({"w": torch.tensor([value])})
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
