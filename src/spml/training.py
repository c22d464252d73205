"""The one training loop behind the teacher, the baselines and every student."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from spml.checkpoints import Checkpoint, TrainingState
from spml.data import LabelledImages, flip_mask, prefetch, shuffled_batches
from spml.device import staged, to_device
from spml.inference import evaluate
from spml.train_settings import TrainSettings

log = logging.getLogger(__name__)

# Batch losses are read back (and checked for NaN) every this many steps, not every step:
# each read waits for the GPU, and the loader can only run ahead while it does not.
LOSS_CHECK_EVERY = 32


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

    def record(self, report: EpochReport, model: nn.Module) -> None:
        """Add an epoch; keep its weights if its clean validation mAP is the best so far."""
        self.history.append(report)
        if report.val_map > self.best_val_map:
            self.best_epoch, self.best_val_map = report.epoch, report.val_map
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

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


def _optimiser(
    model: nn.Module, loss: nn.Module, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam over the model (decoupled weight decay on its weights, none on biases and norms),
    plus the loss's own parameters at their own learning rate. Each group keeps its peak rate
    as `base_lr`, which the schedule scales step by step."""
    weights = [p for p in model.parameters() if p.ndim > 1]
    others = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": weights, "lr": lr, "weight_decay": weight_decay},
        {"params": others, "lr": lr, "weight_decay": 0.0},
    ]
    loss_params = [p for p in loss.parameters() if p.requires_grad]
    if loss_params:
        multiplier = getattr(loss, "lr_multiplier", 1.0)
        groups.append({"params": loss_params, "lr": lr * multiplier, "weight_decay": 0.0})
    groups = [{**group, "base_lr": group["lr"]} for group in groups if group["params"]]
    # One fused kernel per step on CUDA instead of one per tensor; the CPU keeps the default.
    fused = all(p.is_cuda for group in groups for p in group["params"]) or None
    return torch.optim.Adam(groups, fused=fused, decoupled_weight_decay=True)


def learning_rate_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """The share of the peak learning rate at optimiser step `step` (0-based) of `total`:
    a linear warm-up over the first `warmup` steps, then constant or a half cosine to zero."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


def _schedule_step(
    optimiser: torch.optim.Optimizer, settings: TrainSettings, step: int, steps_per_epoch: int
) -> None:
    """Set every group's learning rate for global step `step` (restarts resume it exactly)."""
    total = settings.epochs * steps_per_epoch
    warmup = min(round(settings.warmup_epochs * steps_per_epoch), total)  # a short run: all warm-up
    factor = learning_rate_factor(settings.schedule, step, total, warmup)
    for group in optimiser.param_groups:
        group["lr"] = group["base_lr"] * factor


def _train_epoch(
    state: TrainingState,
    network: nn.Module,
    train: LabelledImages,
    settings: TrainSettings,
    epoch: int,
    label: str,
    rank: int,
    world_size: int,
) -> float:
    """One pass over the training data; returns the mean batch loss (of this rank's shards)."""
    placement = settings.placement
    device = placement.target
    state.model.train()
    state.loss.train()
    batches = list(shuffled_batches(len(train), settings.batch_size, state.generator))
    if len(batches) > 1 and len(batches[-1]) < world_size:  # a rank would get no images
        batches[-2:] = [torch.cat(batches[-2:])]
    # Flips (and a noisy student's crops and colours) are drawn for whole batches, identically
    # on every rank, before any loading starts.
    flips = [flip_mask(len(batch), state.generator) for batch in batches]
    augment = settings.augment
    draws = [augment.draw(len(batch), state.generator) for batch in batches] if augment else []
    masked = bool(torch.isnan(train.targets).any())  # unknown targets: the loss ignores them

    def load(step: int) -> tuple[torch.Tensor, ...]:
        """This rank's share of a batch, read and pinned while the device trains on the last."""
        index = batches[step][rank::world_size]
        shares = (index, flips[step][rank::world_size], train.batch(index), train.targets[index])
        return tuple(staged(share, device) for share in shares)

    def noise(step: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """This rank's share of a batch's crops and colours, applied on the device."""
        return partial(augment.apply, draws=draws[step][rank::world_size]) if augment else None

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
            inputs = placement.network_inputs(images, flip, noise(step - 1))
            if settings.cuda_graphs:  # a new step: its graphs may reuse the last step's memory
                torch.compiler.cudagraph_mark_step_begin()
            logits = _forward(network, inputs, settings, label)
            targets = to_device(targets, device)
            value = state.loss(
                logits.float(),
                targets,
                index=to_device(index, device),
                epoch=epoch,
                mask=torch.isnan(targets) if masked else None,
            )
            state.optimiser.zero_grad(set_to_none=True)
            value.backward()
            _schedule_step(
                state.optimiser, settings, (epoch - 1) * len(batches) + step - 1, len(batches)
            )
            state.optimiser.step()
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
        with settings.placement.autocast():
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


def _network(model: nn.Module, settings: TrainSettings, world_size: int) -> nn.Module:
    """What the forward pass runs: the model, wrapped for DDP and torch.compile as asked.
    The wrappers share the model's parameters and buffers."""
    network = model
    if world_size > 1 and settings.placement.target.type == "cuda":  # stats over the global batch
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    if world_size > 1:
        network = nn.parallel.DistributedDataParallel(network)
    if settings.compile:
        network = torch.compile(
            network, mode=None if settings.compile is True else settings.compile
        )
    return network


def fit(
    model: nn.Module,
    loss: nn.Module,
    train: LabelledImages,
    val: LabelledImages,
    settings: TrainSettings,
    *,
    label: str = "model",
    on_epoch_end: Callable[[EpochReport], None] | None = None,
    checkpoint: Checkpoint | None = None,
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
    settings.placement.place(model)
    loss.to(settings.placement.target)
    network = _network(model, settings, world_size)
    state = TrainingState(
        model,
        loss,
        _optimiser(model, loss, settings.lr, settings.weight_decay),
        torch.Generator().manual_seed(settings.seed),
    )
    result = FitResult(best_state={}, best_epoch=0, best_val_map=float("-inf"))
    first_epoch = 1
    restored = checkpoint.restore(state, label) if checkpoint is not None else None
    if restored is not None:
        last_epoch, progress = restored
        result, first_epoch = FitResult.from_state(progress), last_epoch + 1
    for epoch in range(first_epoch, settings.epochs + 1):
        started = time.perf_counter()
        train_loss = _train_epoch(state, network, train, settings, epoch, label, rank, world_size)
        val_map = evaluate(model, val, settings.inference)
        report = EpochReport(epoch, train_loss, val_map, time.perf_counter() - started)
        result.record(report, model)
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
        if checkpoint is not None:
            checkpoint.save(state, epoch, result.to_state())
        if on_epoch_end is not None:
            on_epoch_end(report)
    model.load_state_dict(result.best_state)
    return result
