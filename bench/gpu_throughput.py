"""ResNet-50 at 448 px on one GPU: training images/s of the project's loop and a bare loop.

    python bench/gpu_throughput.py [--batch 64] [--steps 30] [--launch-overhead] [--smoke]

For a borrowed accelerator (one short run, a few minutes). Synthetic uint8 images stand
in for the decoded COCO cache. Figures for a bare loop (fused Adam) and for
spml.training.fit, both bf16 autocast + channels_last: eager, torch.compile, and
torch.compile(mode="reduce-overhead"), which replays CUDA graphs. `--launch-overhead`
instead prints bare-loop variants that show what small batches are bound by. The
issue's target is >= 1,000 images/s on one H100. `--smoke` runs a tiny CPU version to
check the script itself.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from spml import losses, models
from spml.data import LabelledImages, flip_mask, shuffled_batches
from spml.train_settings import TrainSettings
from spml.training import fit


def synthetic(n: int, size: int) -> LabelledImages:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(n, 3, size, size), dtype=np.uint8)
    return LabelledImages.from_arrays(images, (rng.random((n, 80)) < 0.04).astype(np.float32))


def bare(
    model_name: str,
    data: LabelledImages,
    settings: TrainSettings,
    steps: int,
    fused: bool = True,
) -> float:
    """Images/s of a minimal bf16/channels_last loop over the same batches."""
    model = models.build_model(model_name, 80, random_init=True).to(settings.placement.target)
    if settings.placement.target.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    mode = None if settings.compile is True else settings.compile
    network = torch.compile(model, mode=mode) if settings.compile else model
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr, fused=fused or None)
    criterion = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(0)
    batches = list(shuffled_batches(len(data), settings.batch_size, generator))
    done, started = 0, None
    for step in range(steps):
        if step == 5:  # after warm-up (compilation, CUDA graph recording)
            torch.cuda.synchronize() if settings.placement.target.type == "cuda" else None
            done, started = 0, time.perf_counter()
        index = batches[step % len(batches)]
        if settings.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        inputs = settings.placement.network_inputs(
            data.batch(index), flip_mask(len(index), generator)
        )
        with settings.placement.autocast():
            logits = network(inputs)
        loss = criterion(logits.float(), data.targets[index].to(settings.placement.target))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        done += len(index)
    torch.cuda.synchronize() if settings.placement.target.type == "cuda" else None
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
    parser.add_argument(
        "--launch-overhead",
        action="store_true",
        help="bare-loop variants that cut kernel launches: fused Adam, CUDA graphs",
    )
    args = parser.parse_args()
    model_name, size, images = ("resnet18", 64, 64) if args.smoke else ("resnet50", 448, 2048)
    data = synthetic(images, size)
    print(
        f"{model_name} at {size} px, batch {args.batch}, device "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}"
    )
    base = TrainSettings(
        epochs=1 if args.smoke else 2,
        lr=1e-5,
        batch_size=args.batch,
        seed=0,
        eval_batch_size=args.batch,
    )
    graphs = TrainSettings(**{**base.__dict__, "compile": "reduce-overhead"})
    if args.launch_overhead:
        for label, settings, fused in (
            ("bf16 + channels_last", base, False),
            ("+ fused Adam", base, True),
            ("+ fused Adam + compile(reduce-overhead)", graphs, True),
        ):
            rate = bare(model_name, data, settings, args.steps, fused)
            print(f"  bare loop    {label:<48} {rate:8.0f} images/s")
        return
    for compiled in (False, True, "reduce-overhead"):
        settings = TrainSettings(**{**base.__dict__, "compile": compiled})
        label = (
            "bf16 + channels_last"
            + {
                False: "",
                True: " + compile",
                "reduce-overhead": " + compile(reduce-overhead)",
            }[compiled]
        )
        bare_rate = bare(model_name, data, settings, args.steps)
        print(f"  bare loop    {label:<48} {bare_rate:8.0f} images/s")
        print(f"  project fit  {label:<48} {project(model_name, data, settings):8.0f} images/s")


if __name__ == "__main__":
    main()
