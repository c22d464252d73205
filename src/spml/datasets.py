"""Kedro datasets for the study's files, on any fsspec path (local, NFS, s3://, gs://, ...).

Tables, JSON, text and figures are kedro-datasets' own datasets, given the project's atomic
local writes; weights, arrays, image caches and the raw COCO files are the project's own:
never pickled, models versioned, errors that name the file. The VOC, CUB and formatted-file
readers read local (or NFS) folders only. Every dataset accepts kedro-viz's `metadata`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path
from kedro_datasets.json import JSONDataset as _KedroJSON
from kedro_datasets.matplotlib import MatplotlibDataset as _KedroFigure
from kedro_datasets.pandas import CSVDataset as _KedroCSV
from kedro_datasets.pandas import ParquetDataset as _KedroParquet
from kedro_datasets.text import TextDataset as _KedroText

from spml.atomic import atomic_path
from spml.data import DecodeJob, ImageFolder, cache_changes, cache_key_path, write_image_cache
from spml.readers import RawLabels
from spml.readers.coco import coco_labels
from spml.readers.cub import cub_files, cub_labels
from spml.readers.formatted import PreExtractedFeatures, formatted_labels, pre_extracted_features
from spml.readers.voc import class_list_files, voc_labels
from spml.storage import filesystem

# Where a worker keeps its memory-mapped copy of an image cache that lives on an object store.
LOCAL_CACHE_ENV = "SPML_CACHE_DIR"


class _AtomicLocalSaves:
    """For a kedro-datasets dataset: on a local disk, a save replaces the file atomically."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self._protocol == "file":
            self._fs = filesystem("file")


class ParquetDataset(_AtomicLocalSaves, _KedroParquet):
    """A pandas table as Parquet, without the index column."""

    DEFAULT_SAVE_ARGS = {"index": False}


class CSVDataset(_AtomicLocalSaves, _KedroCSV):
    """A pandas table as CSV, without the index column."""


class JSONDataset(_AtomicLocalSaves, _KedroJSON):
    """Small JSON documents such as metrics, with sorted keys so versions compare line by line."""

    DEFAULT_SAVE_ARGS = {"indent": 2, "sort_keys": True}


class TextDataset(_AtomicLocalSaves, _KedroText):
    """A text report such as a Markdown table."""


class FigureDataset(_AtomicLocalSaves, _KedroFigure):
    """A matplotlib figure as an image, trimmed to its contents."""

    DEFAULT_SAVE_ARGS = {"bbox_inches": "tight"}


class _File(AbstractVersionedDataset):
    """A file on any fsspec filesystem, optionally versioned; local saves are atomic."""

    MISSING = "run the pipeline that produces it first"

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        self._protocol, path = get_protocol_and_path(filepath, version)
        self._fs = filesystem(self._protocol, {**(credentials or {}), **(fs_args or {})})
        super().__init__(
            PurePosixPath(path),
            version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._url(str(self._filepath)), "version": self._version}

    def _url(self, path: str) -> str:
        """The path as the user wrote it, protocol included, for messages."""
        return path if self._protocol == "file" else f"{self._protocol}://{path}"

    def _exists(self) -> bool:
        try:
            return self._fs.isfile(get_filepath_str(self._get_load_path(), self._protocol))
        except DatasetError:
            return False

    def _load_path(self) -> str:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if not self._fs.isfile(path):
            raise DatasetError(f"{self._url(path)} does not exist; {self.MISSING}")
        return path

    def _save_path(self) -> str:
        return get_filepath_str(self._get_save_path(), self._protocol)

    def _read(self) -> bytes:
        """The file's bytes."""
        with self._fs.open(self._load_path(), "rb") as handle:
            return handle.read()

    def _write(self, data: bytes) -> None:
        """Replace the file with `data` in one piece."""
        with self._fs.open(self._save_path(), "wb") as handle:
            handle.write(data)


class ArrayDataset(_File):
    """A numpy array as .npy, never pickled, memory-mapped on load from a local disk."""

    def load(self) -> np.ndarray:
        if self._protocol == "file":
            return np.load(self._load_path(), mmap_mode="r", allow_pickle=False)
        return np.load(io.BytesIO(self._read()), allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(data), allow_pickle=False)
        self._write(buffer.getvalue())


class StateDictDataset(_File):
    """Model weights as a torch state dict, loaded with weights_only=True so no code runs."""

    def load(self) -> dict[str, torch.Tensor]:
        return torch.load(io.BytesIO(self._read()), map_location="cpu", weights_only=True)

    def save(self, data: dict[str, torch.Tensor]) -> None:
        buffer = io.BytesIO()
        torch.save(data, buffer)
        self._write(buffer.getvalue())


class ImageCacheDataset(_File):
    """Decoded images as a memory-mapped .npy, rebuilt only when the images or size change;
    `source` is the raw folder it is checked against before a pipeline reads it.

    A memory map needs a local file: a cache on an object store (s3://...) is decoded into,
    and read from, a copy in this machine's cache folder ($SPML_CACHE_DIR, else
    ~/.cache/spml), which is refreshed whenever the stored cache's key changes.
    """

    MISSING = "run the data_engineering pipeline first"

    def __init__(
        self,
        filepath: str,
        source: str | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, credentials=credentials, fs_args=fs_args, metadata=metadata)
        self._source = source

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "source": str(self._source)}

    def changes(self, image_size: int) -> list[str]:
        """Why the cache no longer matches its raw folder at `image_size` (empty: it does);
        checked where both are on local disks."""
        if self._source is None or self._protocol != "file" or "://" in self._source:
            return []
        return cache_changes(Path(self._filepath), Path(self._source), image_size)

    def _local_copy(self) -> Path:
        """Where this machine memory-maps the cache from."""
        if self._protocol == "file":
            return Path(self._filepath)
        root = os.environ.get(LOCAL_CACHE_ENV) or Path.home() / ".cache" / "spml"
        return Path(root) / self._protocol / self._filepath

    def load(self) -> np.ndarray:
        local = self._local_copy()
        if self._protocol != "file":
            self._refresh(local)
        elif not local.is_file():
            raise DatasetError(f"{local} does not exist; {self.MISSING}")
        return np.load(local, mmap_mode="r", allow_pickle=False)

    def _refresh(self, local: Path) -> None:
        """Download the stored cache unless the local copy has its key already."""
        stored = self._load_path()
        stored_key = self._fs.cat_file(str(cache_key_path(PurePosixPath(stored))))
        local_key = cache_key_path(local)
        if local.is_file() and local_key.is_file() and local_key.read_bytes() == stored_key:
            return
        with atomic_path(local) as temporary:
            self._fs.get_file(stored, str(temporary))
        with atomic_path(local_key) as temporary:
            temporary.write_bytes(stored_key)

    def save(self, data: DecodeJob) -> None:
        local = self._local_copy()
        write_image_cache(data, local)
        if self._protocol != "file":  # object stores replace an object in one piece
            stored = self._save_path()
            self._fs.put_file(str(local), stored)
            self._fs.put_file(
                str(cache_key_path(local)), str(cache_key_path(PurePosixPath(stored)))
            )


class CocoInstancesDataset(_File):
    """A COCO `instances_*.json`, read into every image's labels (any COCO-format data set)."""

    MISSING = "check data_root"
    layout = "annotations/instances_{train,val}2014.json, train2014/ and val2014/"
    readme = "Real MS-COCO 2014"

    def load(self) -> RawLabels:
        where = self._url(str(self._filepath))
        try:
            instances = json.loads(self._read())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetError(
                f"COCO annotation file {where} is not valid JSON: {error}"
            ) from error
        return coco_labels(instances, source=where)

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(f"{self._filepath} is raw input; the project never writes it")


class _RawInput(AbstractDataset):
    """Files the user provides under data_root: each missing one named, never written."""

    layout = ""  # what data_root must hold, for the missing-input message
    readme = ""  # the README section that tells where to get it

    def _files(self) -> list[Path]:
        """Every file the load reads."""
        raise NotImplementedError

    def _read(self) -> Any:
        """Read the files, which exist."""
        raise NotImplementedError

    def _exists(self) -> bool:
        return all(path.is_file() for path in self._files())

    def load(self) -> Any:
        """Name the missing files before a reader trips over the first one, then read."""
        missing = [path for path in self._files() if not path.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DatasetError(f"{missing[0]}{more} does not exist (check data_root)")
        return self._read()

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._describe()} is raw input; the project never writes it")


class _SplitOfFolder(_RawInput):
    """One split of a data set whose official files sit in one folder (VOC, CUB)."""

    def __init__(self, path: str, split: str, metadata: dict[str, Any] | None = None) -> None:
        self._path, self._split = Path(path), split
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "split": self._split}


class VocLabelsDataset(_SplitOfFolder):
    """PASCAL VOC 2012's class lists of one split (train, or val = the test set)."""

    layout = "VOCdevkit/VOC2012/ImageSets/Main/<class>_{train,val}.txt and JPEGImages/"
    readme = "PASCAL VOC 2012"

    def _files(self) -> list[Path]:
        return class_list_files(self._path, self._split)

    def _read(self) -> RawLabels:
        return voc_labels(self._path, self._split)


class CubLabelsDataset(_SplitOfFolder):
    """CUB-200-2011's attribute labels of one split (train or test)."""

    layout = "CUB_200_2011/ and attributes.txt, as CUB_200_2011.tgz unpacks"
    readme = "CUB-200-2011"

    def _files(self) -> list[Path]:
        return list(cub_files(self._path).values())

    def _read(self) -> RawLabels:
        return cub_labels(self._path, self._split)


class _FormattedFiles(_RawInput):
    """A file of the reference's formatted set, read with the image list of its rows."""

    layout = "formatted_{train,val}_{labels,images}.npy (and the images under image_folder)"
    readme = "NUS-WIDE and the reference's formatted files"

    def __init__(
        self, filepath: str, images_filepath: str, metadata: dict[str, Any] | None = None
    ) -> None:
        self._filepath, self._images = Path(filepath), Path(images_filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "images_filepath": str(self._images)}

    def _files(self) -> list[Path]:
        return [self._filepath, self._images]


class FormattedLabelsDataset(_FormattedFiles):
    """`formatted_<split>_labels.npy` with `formatted_<split>_images.npy`."""

    def _read(self) -> RawLabels:
        return formatted_labels(self._filepath, self._images)


class PreExtractedFeaturesDataset(_FormattedFiles):
    """`<split>_features_imagenet_resnet50.npy`, checked row for row against its image list."""

    def _read(self) -> PreExtractedFeatures:
        return pre_extracted_features(self._filepath, self._images)


class ImageFolderDataset(AbstractDataset):
    """A folder of images handed to a node as a reader, so decoding happens once, in the node."""

    def __init__(
        self,
        path: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        self._protocol, self._path = get_protocol_and_path(path)
        self._fs = filesystem(self._protocol, {**(credentials or {}), **(fs_args or {})})
        self._where = path

    def _describe(self) -> dict[str, Any]:
        return {"path": self._where}

    def _exists(self) -> bool:
        return self._fs.isdir(self._path)

    def load(self) -> ImageFolder:
        if not self._fs.isdir(self._path):
            raise DatasetError(f"Image folder {self._where} does not exist (check data_root)")
        if self._protocol == "file":
            return ImageFolder(Path(self._path))
        return ImageFolder(self._path, self._fs)

    def save(self, data: ImageFolder) -> None:
        raise DatasetError(f"{self._where} is raw input; the project never writes it")
