"""The one training loop behind the teacher, the baselines and every student."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from spml.atomic import atomic_path
from spml.data import (
    LabelledImages,
    apply_flip,
    flip_mask,
    normalise,
    ordered_batches,
    prefetch,
    shuffled_batches,
)
from spml.metrics import mean_average_precision

log = logging.getLogger(__name__)

# Batch losses are read back (and checked for NaN) every this many steps, not every step:
# each read waits for the GPU, and the loader can only run ahead while it does not.
LOSS_CHECK_EVERY = 32

# torch.compile's modes, for training.compile.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by every model of a study."""

    epochs: int
    lr: float
    batch_size: int
    seed: int
    eval_batch_size: int = 256
    device: str = "auto"
    mixed_precision: bool = True  # bf16 autocast, on CUDA only: CPU numbers stay exact
    channels_last: bool = True  # NHWC tensors for convolutions, on CUDA only
    compile: bool | str = False  # torch.compile for training: true, or a mode (COMPILE_MODES)
    devices: int = 1  # > 1: DDP over that many processes (GPUs, or gloo on the CPU)

    @property
    def target(self) -> torch.device:
        """The device this run uses."""
        return resolve_device(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where it pays (CUDA and asked for), a no-op elsewhere."""
        cuda = self.target.type == "cuda"
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and self.mixed_precision)

    @property
    def cuda_graphs(self) -> bool:
        """Whether the compile mode replays CUDA graphs, which cut the per-kernel launch cost
        that bounds small batches (ResNet-50 at batch 16: 2.5x on an H100)."""
        return self.compile in ("reduce-overhead", "max-autotune")

    def network_inputs(
        self, batch: torch.Tensor, flips: torch.Tensor | None = None
    ) -> torch.Tensor:
        """A CPU batch on the device as the model takes it: uint8 images flipped (where `flips`
        says) and normalised there, on the GPU when there is one; features as they are."""
        if batch.dtype != torch.uint8:
            return to_device(batch.float(), self.target)
        images = to_device(batch, self.target)
        if flips is not None:
            images = apply_flip(images, to_device(flips, images.device))
        inputs = normalise(images)
        if self.target.type == "cuda" and self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "devices"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Parameter training.{name} must be a positive integer, got {value!r}"
                )
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise ValueError(
                f"Parameter training.compile must be true, false or one of {COMPILE_MODES}, "
                f"got {self.compile!r}"
            )
        if self.devices > 1 and self.cuda_graphs:
            raise ValueError(
                f"Parameter training.compile={self.compile!r} records CUDA graphs, which DDP "
                f"(training.devices={self.devices}) cannot replay; use compile: true"
            )
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, int | float)
            or not np.isfinite(self.lr)
            or self.lr <= 0
        ):
            raise ValueError(f"Parameter training.lr must be a positive number, got {self.lr!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainSettings:
        """Build from the `training` parameters, naming any key that is not a setting."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown training parameter(s) {unknown}; valid: {sorted(known)}")
        required = {f.name for f in fields(cls) if f.default is MISSING}
        if required - set(config):
            raise ValueError(f"Missing training parameter(s) {sorted(required - set(config))}")
        return cls(**config)


@dataclass
class EpochReport:
    """What one epoch taught us, logged and tracked as it happens."""

    epoch: int
    train_loss: float
    val_map: float
    seconds: float


@dataclass
class FitResult:
    """The selected model and the history that selected it."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_val_map: float
    history: list[EpochReport] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """Plain tensors and numbers, loadable with weights_only=True (checkpoints, DDP)."""
        return {
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "best_val_map": self.best_val_map,
            "history": [asdict(report) for report in self.history],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FitResult:
        """The inverse of to_state."""
        return cls(
            best_state=dict(state["best_state"]),
            best_epoch=int(state["best_epoch"]),
            best_val_map=float(state["best_val_map"]),
            history=[EpochReport(**report) for report in state["history"]],
        )


def resolve_device(name: str) -> torch.device:
    """Use the GPU when one is there and the configuration says auto."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def staged(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch ready to copy: pinned for CUDA, where a copy from pageable memory would
    wait for the GPU to finish everything queued before it."""
    return batch.pin_memory() if device.type == "cuda" else batch


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU batch to the device, through pinned memory and asynchronously on CUDA."""
    if device.type == "cuda":
        return staged(batch, device).to(device, non_blocking=True)
    return batch.to(device)


@torch.no_grad()
def forward_all(
    model: nn.Module, data: LabelledImages, settings: TrainSettings | None = None
) -> torch.Tensor:
    """The model's outputs for every row under the evaluation transform (no flip), in order."""
    settings = settings or TrainSettings(epochs=1, lr=1.0, batch_size=1, seed=0)
    device = settings.target
    model.to(device).eval()
    outputs = []
    batches = ordered_batches(len(data), settings.eval_batch_size)
    for images in prefetch(batches, lambda index: staged(data.batch(index), device)):
        with settings.autocast():
            outputs.append(model(settings.network_inputs(images)).float())
    return torch.cat(outputs).cpu()  # one copy back, so the GPU never waits for the host


def predict(
    model: nn.Module, data: LabelledImages, settings: TrainSettings | None = None
) -> np.ndarray:
    """Class probabilities under the evaluation transform (no flip), in data order."""
    return torch.sigmoid(forward_all(model, data, settings)).numpy()


def evaluate(model: nn.Module, data: LabelledImages, settings: TrainSettings) -> float:
    """mAP on fully labelled data, the model-selection and test criterion."""
    return mean_average_precision(predict(model, data, settings), data.targets.numpy())


def _optimiser(model: nn.Module, loss: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam over the model, plus the loss's own parameters at their own learning rate."""
    groups = [{"params": list(model.parameters()), "lr": lr}]
    loss_params = [p for p in loss.parameters() if p.requires_grad]
    if loss_params:
        groups.append({"params": loss_params, "lr": lr * getattr(loss, "lr_multiplier", 1.0)})
    # One fused kernel per step on CUDA instead of one per tensor; the CPU keeps the default.
    fused = all(p.is_cuda for group in groups for p in group["params"]) or None
    return torch.optim.Adam(groups, fused=fused)


def _train_epoch(
    model: nn.Module,
    network: nn.Module,
    loss: nn.Module,
    optimiser: torch.optim.Optimizer,
    train: LabelledImages,
    settings: TrainSettings,
    generator: torch.Generator,
    epoch: int,
    label: str,
    rank: int = 0,
    world_size: int = 1,
) -> float:
    """One pass over the training data; returns the mean batch loss (of this rank's shards)."""
    device = settings.target
    model.train()
    loss.train()
    batches = list(shuffled_batches(len(train), settings.batch_size, generator))
    if len(batches) > 1 and len(batches[-1]) < world_size:  # a rank would get no images
        batches[-2:] = [torch.cat(batches[-2:])]
    # Flips are drawn for whole batches, identically on every rank, before any loading starts.
    flips = [flip_mask(len(batch), generator) for batch in batches]

    def load(step: int) -> tuple[torch.Tensor, ...]:
        """This rank's share of a batch, read and pinned while the device trains on the last."""
        index = batches[step][rank::world_size]
        shares = (index, flips[step][rank::world_size], train.batch(index), train.targets[index])
        return tuple(staged(share, device) for share in shares)

    bar = tqdm(
        total=len(batches),
        desc=f"{label} epoch {epoch}/{settings.epochs}",
        leave=False,
        mininterval=1.0,
        disable=None,  # a bar on a terminal; none in CI logs and files
    )
    values: list[torch.Tensor] = []  # losses of the steps since the last check
    total = 0.0
    with bar:
        for step, (index, flip, images, targets) in enumerate(
            prefetch(range(len(batches)), load), start=1
        ):
            inputs = settings.network_inputs(images, flip)
            if settings.cuda_graphs:  # a new step: its graphs may reuse the last step's memory
                torch.compiler.cudagraph_mark_step_begin()
            logits = _forward(network, inputs, settings, label)
            value = loss(
                logits.float(),
                to_device(targets, device),
                index=to_device(index, device),
                epoch=epoch,
            )
            optimiser.zero_grad(set_to_none=True)
            value.backward()
            optimiser.step()
            values.append(value.detach())
            if step % LOSS_CHECK_EVERY == 0 or step == len(batches):
                total += _checked_sum(values, step - len(values), label, epoch)
                bar.update(len(values))
                bar.set_postfix(loss=f"{total / step:.4f}", refresh=False)
                values.clear()
    return total / max(len(batches), 1)


def _forward(
    network: nn.Module, inputs: torch.Tensor, settings: TrainSettings, label: str
) -> torch.Tensor:
    """The training forward pass; a failing torch.compile says which parameter turns it off."""
    try:
        with settings.autocast():
            return network(inputs)
    except torch._dynamo.exc.TorchDynamoException as error:  # raised only when compiling
        raise RuntimeError(
            f"{label}: torch.compile failed (parameter training.compile={settings.compile!r}); "
            "--params training.compile=false trains without it"
        ) from error


def _checked_sum(values: list[torch.Tensor], offset: int, label: str, epoch: int) -> float:
    """The sum of the batch losses of steps offset+1.., read from the device in one copy;
    names the first step whose loss was not finite (the last good checkpoint is kept)."""
    losses = torch.stack(values).double().cpu()
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        first = int(bad[0, 0])
        raise FloatingPointError(
            f"{label}: loss became {losses[first].item()} at epoch {epoch}, "
            f"step {offset + first + 1}; the last good checkpoint is kept"
        )
    return float(losses.sum())


def fit(
    model: nn.Module,
    loss: nn.Module,
    train: LabelledImages,
    val: LabelledImages,
    settings: TrainSettings,
    *,
    label: str = "model",
    on_epoch_end: Callable[[EpochReport], None] | None = None,
    checkpoint_path: str | Path | None = None,
    fingerprint: str = "",
    rank: int = 0,
    world_size: int = 1,
) -> FitResult:
    """Train, keep the epoch with the best clean validation mAP, checkpoint after every epoch.

    With `world_size` > 1 this is one rank of a DDP run (see spml.distributed): every rank
    draws the same batches and takes its share of each, gradients are averaged, and only
    rank 0 writes checkpoints and reports epochs.
    """
    if settings.batch_size > len(train):
        raise ValueError(
            f"Parameter training.batch_size={settings.batch_size} is larger than the "
            f"{len(train)} training images"
        )
    device = settings.target
    model.to(device)
    if device.type == "cuda" and settings.channels_last:
        model.to(memory_format=torch.channels_last)
    loss.to(device)
    network = model  # the wrappers below share the model's parameters and buffers
    if world_size > 1 and device.type == "cuda":  # batch statistics over the global batch
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    if world_size > 1:
        network = nn.parallel.DistributedDataParallel(network)
    if settings.compile:
        network = torch.compile(
            network, mode=None if settings.compile is True else settings.compile
        )
    optimiser = _optimiser(model, loss, settings.lr)
    generator = torch.Generator().manual_seed(settings.seed)
    result = FitResult(best_state={}, best_epoch=0, best_val_map=float("-inf"))
    first_epoch = 1
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        first_epoch = _resume(
            Path(checkpoint_path), fingerprint, model, loss, optimiser, generator, result, label
        )
    for epoch in range(first_epoch, settings.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(
            model,
            network,
            loss,
            optimiser,
            train,
            settings,
            generator,
            epoch,
            label,
            rank,
            world_size,
        )
        val_map = evaluate(model, val, settings)
        report = EpochReport(epoch, train_loss, val_map, time.perf_counter() - started)
        result.history.append(report)
        if val_map > result.best_val_map:
            result.best_epoch, result.best_val_map = epoch, val_map
            result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if rank != 0:
            continue
        log.info(
            "%s epoch %d/%d: train_loss %.4f, val mAP %.2f (best %.2f at epoch %d), %.1fs",
            label,
            epoch,
            settings.epochs,
            train_loss,
            val_map,
            result.best_val_map,
            result.best_epoch,
            report.seconds,
        )
        if checkpoint_path is not None:
            _save_checkpoint(
                Path(checkpoint_path), fingerprint, model, loss, optimiser, generator, result, epoch
            )
        if on_epoch_end is not None:
            on_epoch_end(report)
    model.load_state_dict(result.best_state)
    return result


def _save_checkpoint(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    loss: nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    result: FitResult,
    epoch: int,
) -> None:
    """Everything needed to continue after a kill, written so a kill never truncates it."""
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model.state_dict(),
        "loss": loss.state_dict(),
        "optimiser": optimiser.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        **result.to_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def _resume(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    loss: nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    result: FitResult,
    label: str,
) -> int:
    """Restore a checkpoint of the same inputs and return the first epoch still to train."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != fingerprint:
        log.info("%s: %s was made from other inputs or parameters; training afresh", label, path)
        return 1
    model.load_state_dict(state["model"])
    loss.load_state_dict(state["loss"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    restored = FitResult.from_state(state)
    result.best_state, result.best_epoch = restored.best_state, restored.best_epoch
    result.best_val_map, result.history = restored.best_val_map, restored.history
    log.info("%s: resuming from %s after epoch %d", label, path, state["epoch"])
    return int(state["epoch"]) + 1
