"""Catalog datasets: atomic writes, no pickles, versioned models, errors naming the file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError, Version
from matplotlib.figure import Figure

from spml import data
from spml.datasets import (
    ArrayDataset,
    CocoInstancesDataset,
    CSVDataset,
    FigureDataset,
    ImageCacheDataset,
    ImageFolderDataset,
    JSONDataset,
    ParquetDataset,
    StateDictDataset,
    TextDataset,
)
from spml.storage import _SiblingFile


def _half_written(self: _SiblingFile, data: bytes) -> int:
    """A write that gets part of the bytes to disk and fails (a full disk, a kill)."""
    io.FileIO.write(self, bytes(data)[:4])
    raise OSError("disk full")


def _figure() -> Figure:
    figure = Figure()
    figure.add_subplot().plot([1, 2])
    return figure


@pytest.mark.parametrize(
    "name, dataset_type, value",
    [
        ("table.parquet", ParquetDataset, pd.DataFrame({"a": [1]})),
        ("table.csv", CSVDataset, pd.DataFrame({"a": [1]})),
        ("array.npy", ArrayDataset, np.arange(3)),
        ("model.pt", StateDictDataset, {"w": torch.ones(2)}),
        ("metrics.json", JSONDataset, {"test_map": 50.0}),
        ("results.md", TextDataset, "| model |"),
        ("figure.png", FigureDataset, _figure()),
    ],
)
def test_a_save_that_fails_after_opening_its_file_leaves_the_old_one_and_no_stray_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name, dataset_type, value
) -> None:
    path = tmp_path / name
    dataset = dataset_type(filepath=str(path))
    dataset.save(value)
    before = path.read_bytes()
    monkeypatch.setattr(_SiblingFile, "write", _half_written)
    with pytest.raises(DatasetError, match="disk full"):  # kedro wraps the OSError
        dataset.save(value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_an_image_cache_that_fails_while_decoding_leaves_the_old_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "a.jpg")
    cache = tmp_path / "cache"
    dataset = ImageCacheDataset(str(cache / "images.npy"))
    dataset.save(data.DecodeJob(data.ImageFolder(tmp_path), ("a.jpg",), 16))
    before = {p.name: p.read_bytes() for p in cache.iterdir()}

    def decode_half(folder, names, size, out):
        out[0] = 7  # written into the new file, then the decoder dies
        raise OSError("disk full")

    monkeypatch.setattr(data, "decode_images", decode_half)
    with pytest.raises(DatasetError, match="disk full"):  # kedro wraps the OSError
        dataset.save(data.DecodeJob(data.ImageFolder(tmp_path), ("a.jpg",), 8))
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before


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
    missing.write_text(
        json.dumps(
            {
                "images": [{"id": 3, "file_name": "a.jpg"}, {"id": 20, "file_name": "b.jpg"}],
                "annotations": [{"id": 1, "image_id": 3, "category_id": 7}],
                "categories": [{"id": 7, "name": "cat"}],
            }
        )
    )
    labels = CocoInstancesDataset(str(missing)).load()
    assert (labels.file_names, labels.matrix.tolist()) == (("b.jpg", "a.jpg"), [[0], [1]])
    with pytest.raises(DatasetError, match="train2014"):
        ImageFolderDataset(str(tmp_path / "train2014")).load()
