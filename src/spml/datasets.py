"""Kedro datasets for the study's files: atomic writes, no pickles, errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from matplotlib.figure import Figure

from spml.atomic import atomic_path
from spml.data import DecodeJob, ImageFolder, cache_changes, write_image_cache
from spml.protocol import validate_instances


class _LocalFile(AbstractVersionedDataset):
    """A local file, optionally versioned, whose saves replace it atomically."""

    def __init__(self, filepath: str, version: Version | None = None) -> None:
        super().__init__(PurePosixPath(filepath), version)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).is_file()
        except DatasetError:
            return False

    def _load_path(self) -> Path:
        path = Path(str(self._get_load_path()))
        if not path.is_file():
            raise DatasetError(f"{path} does not exist; run the pipeline that produces it first")
        return path

    def _save_path(self) -> Path:
        return Path(str(self._get_save_path()))


class TableDataset(_LocalFile):
    """A pandas table in Parquet (or CSV, by suffix)."""

    def load(self) -> pd.DataFrame:
        path = self._load_path()
        return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)

    def save(self, data: pd.DataFrame) -> None:
        path = self._save_path()
        with atomic_path(path) as temporary:
            if path.suffix == ".csv":
                data.to_csv(temporary, index=False)
            else:
                data.to_parquet(temporary, index=False)


class _OneFile(AbstractDataset):
    """An unversioned file whose format the subclass owns."""

    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.is_file()


class ImageCacheDataset(_OneFile):
    """Decoded images as a memory-mapped .npy, rebuilt only when the images or size change;
    `source` is the raw folder it is checked against before a pipeline reads it."""

    def __init__(self, filepath: str, source: str | None = None) -> None:
        super().__init__(filepath)
        self._source = Path(source) if source else None

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "source": str(self._source)}

    def changes(self, image_size: int) -> list[str]:
        """Why the cache no longer matches its raw folder at `image_size` (empty: it does)."""
        if self._source is None:
            return []
        return cache_changes(self._filepath, self._source, image_size)

    def load(self) -> np.ndarray:
        if not self._filepath.is_file():
            raise DatasetError(
                f"{self._filepath} does not exist; run the data_engineering pipeline first"
            )
        return np.load(self._filepath, mmap_mode="r", allow_pickle=False)

    def save(self, data: DecodeJob) -> None:
        write_image_cache(data, self._filepath)


class ArrayDataset(_LocalFile):
    """A numpy array as .npy, never pickled, memory-mapped on load (e.g. frozen features)."""

    def load(self) -> np.ndarray:
        return np.load(self._load_path(), mmap_mode="r", allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        with atomic_path(self._save_path()) as temporary, temporary.open("wb") as handle:
            np.save(handle, np.asarray(data), allow_pickle=False)


class StateDictDataset(_LocalFile):
    """Model weights as a torch state dict, loaded with weights_only=True so no code runs."""

    def load(self) -> dict[str, torch.Tensor]:
        return torch.load(self._load_path(), map_location="cpu", weights_only=True)

    def save(self, data: dict[str, torch.Tensor]) -> None:
        with atomic_path(self._save_path()) as temporary:
            torch.save(data, temporary)


class JSONDataset(_LocalFile):
    """Small JSON documents such as metrics."""

    def load(self) -> Any:
        return json.loads(self._load_path().read_text())

    def save(self, data: Any) -> None:
        with atomic_path(self._save_path()) as temporary:
            temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class TextDataset(_LocalFile):
    """A text report such as a Markdown table."""

    def load(self) -> str:
        return self._load_path().read_text()

    def save(self, data: str) -> None:
        with atomic_path(self._save_path()) as temporary:
            temporary.write_text(data)


class FigureDataset(_LocalFile):
    """A matplotlib figure saved as an image (format from the suffix)."""

    def load(self) -> bytes:
        return self._load_path().read_bytes()

    def save(self, data: Figure) -> None:
        path = self._save_path()
        with atomic_path(path) as temporary:
            data.savefig(temporary, format=path.suffix.lstrip("."), bbox_inches="tight")


class CocoInstancesDataset(_OneFile):
    """A COCO `instances_*.json`, checked on load so a bad file is named before any work."""

    def load(self) -> dict[str, Any]:
        if not self._filepath.is_file():
            raise DatasetError(
                f"COCO annotation file {self._filepath} does not exist (check data_root)"
            )
        try:
            instances = json.loads(self._filepath.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetError(
                f"COCO annotation file {self._filepath} is not valid JSON: {error}"
            ) from error
        validate_instances(instances, source=str(self._filepath))
        return instances

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(f"{self._filepath} is raw input; the project never writes it")


class ImageFolderDataset(AbstractDataset):
    """A folder of images handed to a node as a reader, so decoding happens once, in the node."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return self._path.is_dir()

    def load(self) -> ImageFolder:
        if not self._path.is_dir():
            raise DatasetError(f"Image folder {self._path} does not exist (check data_root)")
        return ImageFolder(self._path)

    def save(self, data: ImageFolder) -> None:
        raise DatasetError(f"{self._path} is raw input; the project never writes it")
