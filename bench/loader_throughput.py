"""Images/s of the project's data path against a reference-style PIL + fp32 loader (CPU).

    .venv/bin/python bench/loader_throughput.py [--images 400] [--size 448] [--workers 2]

Both read the same COCO-sized JPEGs with the same worker count. The reference decodes,
resizes, flips and normalises every image in fp32 on CPU workers, every epoch (as the
SPML reference code does). The project decodes once into a memory-mapped uint8 cache;
each epoch its loader only gathers uint8 batches, which the training loop flips and
normalises on the GPU. Printed: the one-time cache build, one epoch of each loader,
and the project's figure if the flip and normalisation also had to run on this CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from spml.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DecodeJob,
    ImageFolder,
    LabelledImages,
    random_flip,
    shuffled_batches,
    write_image_cache,
)
from spml.train_settings import TrainSettings


class ReferenceStyle(Dataset):
    """PIL decode, resize, flip, fp32 ToTensor and Normalize per image, per epoch."""

    def __init__(self, root: Path, names: list[str], size: int) -> None:
        self.root, self.names, self.size = root, names, size
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.root / self.names[i]) as image:
            rgb = image.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
        if torch.rand(1).item() < 0.5:
            rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        tensor = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (tensor - self.mean) / self.std


def write_jpegs(root: Path, count: int) -> list[str]:
    """COCO-like photos: 640 x 480 or 480 x 640, smooth noise, quality 90."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        h, w = (480, 640) if i % 3 else (640, 480)
        small = rng.integers(0, 255, size=(h // 16, w // 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        names.append(f"{i:06d}.jpg")
        image.save(root / names[-1], quality=90)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.workers)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        names = write_jpegs(root, args.images)

        loader = DataLoader(
            ReferenceStyle(root, names, args.size),
            batch_size=args.batch,
            shuffle=True,
            num_workers=args.workers,
        )
        started = time.perf_counter()
        for _ in loader:
            pass
        reference = args.images / (time.perf_counter() - started)

        started = time.perf_counter()
        job = DecodeJob(ImageFolder(root), tuple(names), args.size)
        write_image_cache(job, root / "cache.npy")
        build = args.images / (time.perf_counter() - started)

        data = LabelledImages.from_arrays(
            np.load(root / "cache.npy", mmap_mode="r"), np.zeros((args.images, 1))
        )
        generator = torch.Generator().manual_seed(0)
        started = time.perf_counter()
        for index in shuffled_batches(len(data), args.batch, generator):
            data.batch(index)
        project = args.images / (time.perf_counter() - started)

        settings = TrainSettings(epochs=1, lr=1.0, batch_size=args.batch, seed=0, device="cpu")
        started = time.perf_counter()
        for index in shuffled_batches(len(data), args.batch, generator):
            settings.placement.network_inputs(random_flip(data.batch(index), generator))
        on_cpu = args.images / (time.perf_counter() - started)

    print(f"{args.images} JPEGs at {args.size} px, {args.workers} workers, batch {args.batch}")
    print(f"  reference-style PIL + fp32 loader, per epoch : {reference:8.0f} images/s")
    print(f"  project: cache build (once per data set)     : {build:8.0f} images/s")
    print(
        f"  project: uint8 batches for the GPU, per epoch: {project:8.0f} images/s "
        f"({project / reference:.1f}x the reference)"
    )
    print(
        f"  project: + flip and fp32 normalise on the CPU: {on_cpu:8.0f} images/s "
        f"({on_cpu / reference:.1f}x; only without a GPU, which does this part)"
    )


if __name__ == "__main__":
    main()
