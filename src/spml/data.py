"""Images and label matrices as tensors: decoded once, normalised and flipped on the device."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BadImagesError(ValueError):
    """Raised with every unreadable image listed, so the user fixes them all at once."""


@dataclass(frozen=True)
class ImageFolder:
    """A folder of image files, handed to nodes by the catalog instead of opened by them."""

    root: Path

    def read(self, file_name: str, size: int) -> np.ndarray:
        """Decode one image as RGB uint8 (3 x size x size), whatever its mode on disk."""
        with Image.open(self.root / file_name) as image:
            image.draft("RGB", (size, size))  # JPEG decodes at reduced scale when it can
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def decode_images(
    folder: ImageFolder, file_names: Sequence[str], size: int, workers: int | None = None
) -> np.ndarray:
    """Decode and resize every image once, failing with the full list of bad files."""
    images = np.empty((len(file_names), 3, size, size), dtype=np.uint8)
    failures: list[str] = []

    def decode(row: int) -> None:
        try:
            images[row] = folder.read(file_names[row], size)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            failures.append(f"{folder.root / file_names[row]}: {error}")

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        list(pool.map(decode, range(len(file_names))))
    if failures:
        listing = "\n  ".join(sorted(failures))
        raise BadImagesError(f"{len(failures)} image(s) could not be read:\n  {listing}")
    return images


@dataclass(frozen=True)
class LabelledImages:
    """uint8 images beside their float targets, the unit every training and evaluation takes."""

    images: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.images) != len(self.targets):
            raise ValueError(
                f"{len(self.images)} images but {len(self.targets)} label rows: they must match"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return int(self.targets.shape[1])

    @classmethod
    def from_arrays(cls, images: np.ndarray, targets: np.ndarray) -> LabelledImages:
        """Wrap numpy arrays without copying the images."""
        writable = np.require(images, dtype=np.uint8, requirements=["C_CONTIGUOUS", "WRITEABLE"])
        return cls(torch.from_numpy(writable), torch.tensor(np.asarray(targets), dtype=torch.float32))


def normalise(batch: torch.Tensor) -> torch.Tensor:
    """Turn a uint8 batch into the ImageNet-normalised floats the backbones expect."""
    mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


def random_flip(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip a random half of the batch horizontally, drawing from the run's own generator."""
    flip = torch.rand(len(batch), generator=generator) < 0.5
    flipped = batch.clone()
    flipped[flip] = batch[flip].flip(-1)
    return flipped


def shuffled_batches(
    n: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Yield index batches of one epoch in an order fixed by the generator."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def ordered_batches(n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield index batches in data order, for evaluation."""
    yield from torch.arange(n).split(batch_size)
