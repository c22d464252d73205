"""ResNet-50 at 448 px on one GPU: training images/s of the project's loop and a bare loop.

    python bench/gpu_throughput.py [--batch 64] [--steps 30] [--smoke]

For a borrowed accelerator (one short run, well under 10 minutes). Synthetic uint8
images stand in for the decoded COCO cache. Four figures each for the bare loop and
spml.training.fit: bf16 autocast + channels_last, with and without torch.compile.
The issue's target is >= 1,000 images/s on one H100. `--smoke` runs a tiny CPU
version to check the script itself.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spml import losses, models
from spml.data import LabelledImages, flip_mask, shuffled_batches
from spml.training import TrainSettings, fit


def synthetic(n: int, size: int) -> LabelledImages:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(n, 3, size, size), dtype=np.uint8)
    return LabelledImages.from_arrays(images, (rng.random((n, 80)) < 0.04).astype(np.float32))


def bare(model_name: str, data: LabelledImages, settings: TrainSettings, steps: int) -> float:
    """Images/s of a minimal bf16/channels_last loop over the same batches."""
    model = models.build_model(model_name, 80, random_init=True).to(settings.target)
    if settings.target.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    network = torch.compile(model) if settings.compile else model
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(0)
    batches = list(shuffled_batches(len(data), settings.batch_size, generator))
    done, started = 0, None
    for step in range(steps):
        if step == 3:  # after warm-up (and compilation)
            torch.cuda.synchronize() if settings.target.type == "cuda" else None
            done, started = 0, time.perf_counter()
        index = batches[step % len(batches)]
        inputs = settings.network_inputs(data.batch(index), flip_mask(len(index), generator))
        with settings.autocast():
            logits = network(inputs)
        loss = criterion(logits.float(), data.targets[index].to(settings.target))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done += len(index)
    torch.cuda.synchronize() if settings.target.type == "cuda" else None
    return done / (time.perf_counter() - started)


def project(model_name: str, data: LabelledImages, settings: TrainSettings) -> float:
    """Images/s of spml.training.fit over whole epochs (validation on a tiny set)."""
    model = models.build_model(model_name, 80, random_init=True)
    val = synthetic(settings.batch_size, data.images.shape[-1])
    warm = TrainSettings(**{**settings.__dict__, "epochs": 1})
    fit(model, losses.build("bce"), data, val, warm, label="warm-up")
    started = time.perf_counter()
    fit(model, losses.build("bce"), data, val, settings, label="bench")
    return settings.epochs * len(data) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    model_name, size, images = ("resnet18", 64, 64) if args.smoke else ("resnet50", 448, 1024)
    data = synthetic(images, size)
    print(
        f"{model_name} at {size} px, batch {args.batch}, device "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}"
    )
    for compiled in (False, True):
        settings = TrainSettings(
            epochs=1 if args.smoke else 2,
            lr=1e-5,
            batch_size=args.batch,
            seed=0,
            compile=compiled,
            eval_batch_size=args.batch,
        )
        label = "bf16 + channels_last" + (" + compile" if compiled else "")
        bare_rate = bare(model_name, data, settings, args.steps)
        print(f"  bare loop    {label:<32} {bare_rate:8.0f} images/s")
        print(f"  project fit  {label:<32} {project(model_name, data, settings):8.0f} images/s")


if __name__ == "__main__":
    main()
