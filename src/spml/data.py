"""Images and label matrices as tensors: decoded once, normalised and flipped on the device."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from spml.atomic import atomic_path

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BadImagesError(ValueError):
    """Raised with every unreadable image listed, so the user fixes them all at once."""


@dataclass(frozen=True)
class ImageFolder:
    """A folder of image files, handed to nodes by the catalog instead of opened by them: on
    a local disk, or at `root` on an fsspec filesystem `fs` (s3://, gs://, ...)."""

    root: Path | str
    fs: Any = None  # an fsspec filesystem; None: the local disk

    def location(self, file_name: str) -> str:
        """Where a file is, for messages and keys."""
        if self.fs is None:
            return str(Path(self.root) / file_name)
        return str(self.fs.unstrip_protocol(f"{self.root}/{file_name}"))

    def identity(self) -> str:
        """The folder, fully qualified (resolved on a local disk)."""
        if self.fs is None:
            return str(Path(self.root).resolve())
        return str(self.fs.unstrip_protocol(str(self.root)))

    def read_bytes(self, file_name: str) -> bytes:
        """A file's encoded bytes."""
        if self.fs is None:
            return (Path(self.root) / file_name).read_bytes()
        return self.fs.cat_file(f"{self.root}/{file_name}")

    def stat(self, file_name: str) -> tuple[int, int] | None:
        """A file's byte size and modification time in ns, or None when it is not there."""
        if self.fs is None:
            return _file_stat(Path(self.root) / file_name)
        try:
            info = self.fs.info(f"{self.root}/{file_name}")
        except FileNotFoundError:
            return None
        modified = self.fs.modified(f"{self.root}/{file_name}")
        return int(info["size"]), int(modified.timestamp() * 1e9)

    def read(self, file_name: str, size: int) -> np.ndarray:
        """Decode one image as RGB uint8 (3 x size x size), whatever its mode on disk."""
        source = (
            Path(self.root) / file_name
            if self.fs is None
            else io.BytesIO(self.read_bytes(file_name))
        )
        with Image.open(source) as image:
            image.draft("RGB", (size, size))  # JPEG decodes at reduced scale when it can
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def decode_images(
    folder: ImageFolder,
    file_names: Sequence[str],
    size: int,
    workers: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode and resize every image once (into `out` if given), failing with every bad file."""
    images = np.empty((len(file_names), 3, size, size), dtype=np.uint8) if out is None else out
    failures: list[str] = []

    def decode(row: int) -> None:
        try:
            images[row] = folder.read(file_names[row], size)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            failures.append(f"{folder.location(file_names[row])}: {error}")

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        list(pool.map(decode, range(len(file_names))))
    if failures:
        listing = "\n  ".join(sorted(failures))
        raise BadImagesError(f"{len(failures)} image(s) could not be read:\n  {listing}")
    return images


def decode_jpegs_on(
    device: str,
    folder: ImageFolder,
    file_names: Sequence[str],
    size: int,
    out: np.ndarray,
    batch: int = 64,
) -> None:
    """Decode with torchvision's JPEG decoder (nvJPEG on CUDA) and resize on the device.

    Files it cannot decode (PNGs, broken files) go through the PIL path, which names them.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    leftovers: list[int] = []
    for start in range(0, len(file_names), batch):
        rows = list(range(start, min(start + batch, len(file_names))))
        encoded, decodable = [], []
        for row in rows:
            try:
                data = folder.read_bytes(file_names[row])
            except OSError:
                leftovers.append(row)
                continue
            if data[:2] == b"\xff\xd8":  # JPEG magic; anything else is PIL's
                encoded.append(torch.frombuffer(bytearray(data), dtype=torch.uint8))
                decodable.append(row)
            else:
                leftovers.append(row)
        try:
            decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device) if encoded else []
        except RuntimeError:
            leftovers.extend(decodable)
            continue
        resized = [
            torch.nn.functional.interpolate(
                image[None].float(), size=(size, size), mode="bilinear", antialias=True
            )
            for image in decoded
        ]
        if resized:  # one copy back per batch, not one per image
            out[decodable] = torch.cat(resized).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    if leftovers:
        names = [file_names[row] for row in leftovers]
        out[leftovers] = decode_images(folder, names, size)


@dataclass(frozen=True)
class CacheKey:
    """What an image cache was decoded from: the folder, the size, the decoder, and each file's
    name, byte size and modification time (read with stat, never decoded again)."""

    root: str
    size: int
    device: str
    files: tuple[tuple[str, int, int], ...]

    def to_json(self) -> str:
        """The key as stored beside its cache."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CacheKey | None:
        """The stored key, or None when it is unreadable or from an older version."""
        try:
            data = json.loads(text)
            files = tuple((str(name), int(size), int(mtime)) for name, size, mtime in data["files"])
            return cls(str(data["root"]), int(data["size"]), str(data["device"]), files)
        except (ValueError, KeyError, TypeError):
            return None

    def changed_files(self) -> list[str]:
        """The files, as named in the key, that are now missing or have another size or mtime."""
        changed = []
        for name, size, mtime in self.files:
            now = _file_stat(os.path.join(self.root, name))
            if now != (size, mtime):
                changed.append(f"{name} ({'missing' if now is None else 'modified'})")
        return changed


def _file_stat(path: str | Path) -> tuple[int, int] | None:
    """A file's byte size and modification time in ns, or None when it is not there."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class DecodeJob:
    """Which images to decode at which size, and where: the identity of an image cache."""

    folder: ImageFolder
    file_names: tuple[str, ...]
    size: int
    device: str = "pil"  # "pil": PIL on CPU threads; "cpu"/"cuda": torchvision's decoder

    def key(self) -> CacheKey:
        """Changes when the folder, the file list, the size or any file's bytes on disk change."""
        files = tuple((name, *(self.folder.stat(name) or (-1, -1))) for name in self.file_names)
        return CacheKey(self.folder.identity(), self.size, self.device, files)


def cache_key_path(cache: PurePath) -> PurePath:
    """Where a cache's key is stored: beside it, as `<cache>.key`."""
    return cache.with_name(cache.name + ".key")


def read_cache_key(cache: Path) -> CacheKey | None:
    """The key a cache was written with, or None when there is none that can be read."""
    path = cache_key_path(cache)
    return CacheKey.from_json(path.read_text()) if path.is_file() else None


def cache_changes(cache: Path, folder: Path, size: int) -> list[str]:
    """Why the cache no longer holds `folder`'s images at `size`: empty when it still does."""
    key = read_cache_key(cache)
    if key is None:
        return ["there is no readable record of the files it was decoded from"]
    if Path(key.root) != folder.resolve():
        return [f"it was decoded from {key.root}, but this run reads {folder.resolve()}"]
    problems = [] if key.size == size else [f"it holds {key.size}-px images; image_size is {size}"]
    changed = key.changed_files()
    if changed:
        shown = ", ".join(changed[:10]) + (
            f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        )
        problems.append(f"{len(changed)} file(s) of {key.root} changed since it was made: {shown}")
    return problems


def write_image_cache(job: DecodeJob, path: Path) -> bool:
    """Decode a job into a memory-mappable .npy at `path`, unless the cache there is current.

    Returns whether it decoded. The array is written in place of a temporary sibling and
    renamed, so a killed decode never leaves a cache that looks complete.
    """
    key = job.key()
    if path.is_file() and read_cache_key(path) == key:
        log.info(
            "Reusing the decoded images in %s (%d images at %d px)",
            path,
            len(job.file_names),
            job.size,
        )
        return False
    shape = (len(job.file_names), 3, job.size, job.size)
    with atomic_path(path) as temporary:
        out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=shape)
        if job.device == "pil":
            decode_images(job.folder, job.file_names, job.size, out=out)
        else:
            decode_jpegs_on(job.device, job.folder, job.file_names, job.size, out)
        out.flush()
        del out
    with atomic_path(cache_key_path(path)) as temporary:
        temporary.write_text(key.to_json())
    log.info(
        "Decoded %d images from %s at %d px into %s", shape[0], job.folder.root, job.size, path
    )
    return True


@dataclass(frozen=True)
class LabelledImages:
    """Rows of a (possibly memory-mapped) uint8 image array beside their float targets."""

    images: np.ndarray
    rows: np.ndarray
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.targets):
            raise ValueError(
                f"{len(self.rows)} images but {len(self.targets)} label rows: they must match"
            )

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def num_classes(self) -> int:
        return int(self.targets.shape[1])

    @classmethod
    def from_arrays(
        cls, images: np.ndarray, targets: np.ndarray, rows: np.ndarray | None = None
    ) -> LabelledImages:
        """Select `rows` of `images` (all by default) without copying the image array."""
        selected = np.arange(len(images)) if rows is None else np.asarray(rows, dtype=np.int64)
        return cls(images, selected, torch.tensor(np.asarray(targets), dtype=torch.float32))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Send a memory-mapped cache to another process by its path, not by its bytes."""
        if isinstance(self.images, np.memmap) and self.images.filename:
            return _reopen, (str(self.images.filename), self.rows, self.targets)
        return LabelledImages, (self.images, self.rows, self.targets)

    @property
    def is_image(self) -> bool:
        """Images (N x 3 x H x W, flipped and normalised) rather than frozen features (N x D)."""
        return self.images.ndim == 4

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """The uint8 images of a batch; only these are read from a memory-mapped cache."""
        return torch.from_numpy(np.ascontiguousarray(self.images[self.rows[index.numpy()]]))


def _reopen(path: str, rows: np.ndarray, targets: torch.Tensor) -> LabelledImages:
    """Map the same cache file again in the receiving process."""
    return LabelledImages(np.load(path, mmap_mode="r", allow_pickle=False), rows, targets)


@functools.cache
def _imagenet_statistics(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std on the device, copied there once rather than with every batch."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return mean, std


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """Turn a uint8 batch into the ImageNet-normalised floats the backbones expect."""
    mean, std = _imagenet_statistics(batch.device)
    return (batch.float() / 255.0 - mean) / std


def flip_mask(n: int, generator: torch.Generator) -> torch.Tensor:
    """Which images of a batch to flip, drawn from the run's own generator."""
    return torch.rand(n, generator=generator) < 0.5


def apply_flip(batch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Flip the masked images horizontally, without a boolean index that would sync a GPU."""
    return torch.where(mask.view(-1, 1, 1, 1), batch.flip(-1), batch)


def random_flip(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip a random half of the batch horizontally."""
    return apply_flip(batch, flip_mask(len(batch), generator))


def prefetch(
    items: Iterable[Item], load: Callable[[Item], Loaded], depth: int = 2
) -> Iterator[Loaded]:
    """Load the next `depth` items on a background thread while the caller computes on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[Future[Loaded]] = deque()
        for item in items:
            pending.append(pool.submit(load, item))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Yield index batches of one epoch in an order fixed by the generator."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def ordered_batches(n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield index batches in data order, for evaluation."""
    yield from torch.arange(n).split(batch_size)
