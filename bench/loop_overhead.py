"""Images/s of the project's training loop against a bare PyTorch loop (same model, batches).

    .venv/bin/python bench/loop_overhead.py [--images 2048] [--size 48] [--epochs 3]

Both train small_cnn with Adam on the same in-memory uint8 images, the same batch
order and flips, normalising on the device. The project's loop adds what the study
needs: the loss call with index/epoch, the finite-loss check, the progress bar, the
per-epoch validation on a small set and model selection. The two loops take turns
`--repeats` times and each keeps its best time, so a busy moment of the machine does
not decide the ratio. Target: at least 95%.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spml import losses, models
from spml.data import LabelledImages, random_flip, shuffled_batches
from spml.train_settings import TrainSettings
from spml.training import fit


def data(n: int, size: int, seed: int) -> LabelledImages:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, size=(n, 3, size, size), dtype=np.uint8)
    return LabelledImages.from_arrays(images, (rng.random((n, 20)) < 0.15).astype(np.float32))


def bare_loop(train: LabelledImages, settings: TrainSettings) -> float:
    """The minimal loop: seconds for all epochs."""
    torch.manual_seed(settings.seed)
    model = models.build_model("small_cnn", train.num_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(settings.seed)
    model.train()
    started = time.perf_counter()
    for _ in range(settings.epochs):
        for index in shuffled_batches(len(train), settings.batch_size, generator):
            inputs = settings.placement.network_inputs(random_flip(train.batch(index), generator))
            loss = criterion(model(inputs), train.targets[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return time.perf_counter() - started


def project_loop(train: LabelledImages, val: LabelledImages, settings: TrainSettings) -> float:
    """spml.training.fit with the same model and settings: seconds for all epochs."""
    torch.manual_seed(settings.seed)
    model = models.build_model("small_cnn", train.num_classes)
    started = time.perf_counter()
    fit(model, losses.build("bce"), train, val, settings, label="bench")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    train, val = data(args.images, args.size, 0), data(128, args.size, 1)
    settings = TrainSettings(epochs=args.epochs, lr=1e-3, batch_size=args.batch, seed=0)
    bare_loop(train, TrainSettings(epochs=1, lr=1e-3, batch_size=args.batch, seed=0))  # warm-up
    bare_seconds, project_seconds = [], []
    for _ in range(args.repeats):
        bare_seconds.append(bare_loop(train, settings))
        project_seconds.append(project_loop(train, val, settings))
    bare = args.images * args.epochs / min(bare_seconds)
    project = args.images * args.epochs / min(project_seconds)
    print(
        f"{args.images} images at {args.size} px, {args.epochs} epochs, batch {args.batch}, "
        f"device {settings.placement.target}, best of {args.repeats}"
    )
    print(f"  bare PyTorch loop : {bare:8.0f} images/s")
    print(f"  project loop (fit): {project:8.0f} images/s = {100 * project / bare:.1f}% of bare")


if __name__ == "__main__":
    main()
