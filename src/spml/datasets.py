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
from spml.readers import RawLabels
from spml.readers.coco import coco_labels
from spml.readers.cub import cub_files, cub_labels
from spml.readers.formatted import PreExtractedFeatures, formatted_labels, pre_extracted_features
from spml.readers.voc import class_list_files, voc_labels


class _LocalFile(AbstractVersionedDataset):
    """A local file, optionally versioned, whose saves replace it atomically."""

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

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

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.is_file()


class ImageCacheDataset(_OneFile):
    """Decoded images as a memory-mapped .npy, rebuilt only when the images or size change;
    `source` is the raw folder it is checked against before a pipeline reads it."""

    def __init__(
        self, filepath: str, source: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(filepath, metadata)
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


class CocoInstancesDataset(_RawInput):
    """A COCO `instances_*.json`, read into every image's labels (any COCO-format data set)."""

    layout = "annotations/instances_{train,val}2014.json, train2014/ and val2014/"
    readme = "Real MS-COCO 2014"

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _files(self) -> list[Path]:
        return [self._filepath]

    def _read(self) -> RawLabels:
        try:
            instances = json.loads(self._filepath.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetError(
                f"COCO annotation file {self._filepath} is not valid JSON: {error}"
            ) from error
        return coco_labels(instances, source=str(self._filepath))


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

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

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
