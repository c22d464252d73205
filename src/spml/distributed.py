"""Data-parallel training (DDP) started from inside one node, so the Kedro graph runs once."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from spml.data import LabelledImages
from spml.train_settings import TrainSettings
from spml.training import FitResult, fit

Builder = Callable[[], tuple[nn.Module, nn.Module]]


def _free_port() -> int:
    """A loopback port for the process group's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(
    rank: int,
    world_size: int,
    port: int,
    build: Builder,
    train: LabelledImages,
    val: LabelledImages,
    settings: TrainSettings,
    fit_options: dict[str, Any],
    out: str,
) -> None:
    """One rank: join the group, train its share of every batch, rank 0 writes the result."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cuda = settings.placement.target.type == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world_size)
    try:
        model, loss = build()
        result = fit(
            model, loss, train, val, settings, rank=rank, world_size=world_size, **fit_options
        )
        if rank == 0:
            torch.save(result.to_state(), Path(out))
    finally:
        dist.destroy_process_group()


def fit_data_parallel(
    build: Builder,
    train: LabelledImages,
    val: LabelledImages,
    settings: TrainSettings,
    world_size: int,
    **fit_options: Any,
) -> FitResult:
    """Train on `world_size` processes (one per GPU, or gloo on the CPU) and return rank 0's fit.

    `build` must be picklable (a module-level function or a partial of one): each process
    builds its own model and loss. Epochs are reported when training ends, not as it goes.
    """
    if world_size < 2:
        raise ValueError(f"Parameter training.devices must be at least 2 for DDP, got {world_size}")
    if settings.placement.target.type == "cuda" and torch.cuda.device_count() < world_size:
        raise ValueError(
            f"Parameter training.devices={world_size} but only {torch.cuda.device_count()} GPU(s)"
        )
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "result.pt")
        mp.spawn(
            _worker,
            args=(world_size, _free_port(), build, train, val, settings, fit_options, out),
            nprocs=world_size,
            join=True,
        )
        return FitResult.from_state(torch.load(out, weights_only=True))
