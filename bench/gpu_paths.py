"""The CUDA paths the CPU tests cannot reach, checked and timed on one GPU.

    python bench/gpu_paths.py [--images 512] [--smoke]

1. Building the image cache from COCO-sized JPEGs (every 7th grayscale): PIL on all CPU
   threads (decode_on: pil) against torchvision's nvJPEG (decode_on: cuda), in images/s,
   and how far their pixels differ.
2. The training loader: uint8 batches gathered from the memory-mapped cache, pinned,
   copied, flipped and normalised on the device, with and without the background prefetch.
3. Prediction, the pass that scores every image for pseudo labels and features:
   ResNet-50 at 448, bf16, images/s.

For a borrowed accelerator (about a minute). `--smoke` runs a tiny CPU version.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from loader_throughput import write_jpegs
from PIL import Image

from spml import models
from spml.data import (
    DecodeJob,
    ImageFolder,
    LabelledImages,
    flip_mask,
    prefetch,
    shuffled_batches,
    write_image_cache,
)
from spml.device import staged
from spml.inference import forward_all
from spml.train_settings import TrainSettings


def synchronise(device: torch.device) -> None:
    """Wait for the device, so a timer measures finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_cache(job: DecodeJob, path: Path) -> tuple[np.ndarray, float]:
    """Build one cache and return it with its images/s."""
    started = time.perf_counter()
    write_image_cache(job, path)
    seconds = time.perf_counter() - started
    return np.load(path, mmap_mode="r"), len(job.file_names) / seconds


def decoding(root: Path, names: list[str], size: int, device: str) -> Path:
    """Section 1; returns the PIL-built cache for the sections after it."""
    folder = ImageFolder(root)
    warm = DecodeJob(folder, tuple(names[:8]), size, device)
    write_image_cache(warm, root / "warm.npy")  # the decoder's one-time start-up
    by_pil, pil_rate = timed_cache(DecodeJob(folder, tuple(names), size), root / "pil.npy")
    by_device, rate = timed_cache(DecodeJob(folder, tuple(names), size, device), root / "dev.npy")
    difference = np.abs(by_pil.astype(np.int16) - by_device.astype(np.int16))
    grey = by_device[::7]
    print(f"1. image cache from {len(names)} JPEGs at {size} px")
    print(f"   PIL on {os.cpu_count():>2} threads  : {pil_rate:8.0f} images/s")
    print(f"   torchvision on {device:<4} : {rate:8.0f} images/s ({rate / pil_rate:.1f}x)")
    print(
        f"   pixel difference: mean {difference.mean():.2f}, 99th percentile "
        f"{np.percentile(difference, 99):.0f} levels; grayscale rows have equal channels: "
        f"{bool((grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all())}"
    )
    return root / "pil.npy"


def loading(cache: Path, settings: TrainSettings, epochs: int) -> None:
    """Section 2: images/s from the cache to normalised device tensors, no model."""
    data = LabelledImages.from_arrays(
        np.load(cache, mmap_mode="r"), np.zeros((len(np.load(cache, mmap_mode="r")), 1))
    )
    device = settings.placement.target
    generator = torch.Generator().manual_seed(0)
    print(f"2. loader, batch {settings.batch_size}, {epochs} epochs of {len(data)} images")
    for ahead in (False, True):
        synchronise(device)
        started = time.perf_counter()
        for _ in range(epochs):
            batches = list(shuffled_batches(len(data), settings.batch_size, generator))
            load = lambda index: staged(data.batch(index), device)  # noqa: E731
            loaded = prefetch(batches, load) if ahead else map(load, batches)
            for index, images in zip(batches, loaded, strict=True):
                settings.placement.network_inputs(images, flip_mask(len(index), generator))
        synchronise(device)
        rate = epochs * len(data) / (time.perf_counter() - started)
        print(f"   {'with' if ahead else 'without':<7} prefetch : {rate:8.0f} images/s")


def predicting(model_name: str, cache: Path, settings: TrainSettings) -> None:
    """Section 3: forward_all's images/s, the pseudo-labelling and feature pass."""
    images = np.load(cache, mmap_mode="r")
    data = LabelledImages.from_arrays(images, np.zeros((len(images), 80)))
    model = models.build_model(model_name, 80, random_init=True).to(settings.placement.target)
    if settings.placement.target.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    warm = min(settings.eval_batch_size, len(images))  # cuDNN picks its algorithms here
    forward_all(
        model, LabelledImages.from_arrays(images[:warm], np.zeros((warm, 80))), settings.inference
    )
    synchronise(settings.placement.target)
    started = time.perf_counter()
    forward_all(model, data, settings.inference)
    rate = len(data) / (time.perf_counter() - started)
    print(f"3. predict {model_name}, eval batch {settings.eval_batch_size}: {rate:8.0f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    device = "cpu" if args.smoke else "cuda"
    count, size, model_name = (24, 64, "resnet18") if args.smoke else (args.images, 448, "resnet50")
    if not args.smoke:
        print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        names = write_jpegs(root, count)
        for name in names[::7]:
            with Image.open(root / name) as image:
                grey = image.convert("L")
            grey.save(root / name, quality=90)
        cache = decoding(root, names, size, device)
        settings = TrainSettings(epochs=1, lr=1.0, batch_size=16, seed=0, device=device)
        loading(cache, settings, epochs=3)
        predicting(
            model_name, cache, TrainSettings(**{**settings.__dict__, "eval_batch_size": 128})
        )


if __name__ == "__main__":
    main()
