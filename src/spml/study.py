"""The train-select-test recipe every model of the study follows, and its identity (spec)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spml import losses, models
from spml.checkpoints import Checkpoint
from spml.data import LabelledImages
from spml.distributed import fit_data_parallel
from spml.inference import evaluate
from spml.train_settings import TrainSettings
from spml.training import EpochReport, FitResult, fit
from spml.variants import Variant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Who a model is in the study: what it learns from and how it is named and tracked."""

    name: str
    role: str
    loss: str
    loss_options: Mapping[str, Any] = field(default_factory=dict)
    tau: float | None = None
    variant: Variant | None = None  # a student's policy, noise and round
    seed: int | None = None  # its training seed, when a study trains several (else training's)
    epochs: int | None = None  # its own training length (an equal-compute control), else training's

    @property
    def round(self) -> int | None:
        """Its self-training round: 0 for the teacher, 1 for the paper's students."""
        if self.variant is not None:
            return self.variant.round
        return 0 if self.role == "teacher" else None

    @property
    def slug(self) -> str:
        """A file-safe version of the name."""
        return "".join(c if c.isalnum() else "_" for c in self.name).strip("_")


@dataclass(frozen=True)
class TrainedModel:
    """What training hands back to the catalog."""

    state: dict[str, torch.Tensor]
    metrics: dict[str, Any]


def variant_record(spec: ModelSpec) -> dict[str, Any]:
    """What a model's metrics say about its variant, for the variants report."""
    variant = spec.variant
    return {
        "policy": variant.policy if variant else None,
        "policy_value": variant.value if variant else None,
        "keep_observed": variant.keep_observed if variant else None,
        "noisy": variant.noisy if variant else None,
        "round": spec.round,
        "variant": variant.chain.label if variant else None,
    }


def _fingerprint(*parts: object, arrays: tuple[np.ndarray | torch.Tensor, ...] = ()) -> str:
    """A digest of everything a checkpoint depends on, so stale ones are never resumed."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for array in arrays:
        values = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        digest.update(str(values.shape).encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _image_sample(data: LabelledImages) -> torch.Tensor:
    """A strided sample of a split's images: enough to tell data sets apart, cheap on COCO."""
    return data.batch(torch.arange(0, len(data), max(1, len(data) // 256)))


def build_model_and_loss(
    spec: ModelSpec,
    options: Mapping[str, Any],
    model_config: Mapping[str, Any],
    num_samples: int,
    num_classes: int,
    seed: int,
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A freshly seeded model and its loss; module-level so DDP processes can build their own."""
    loss_fn = losses.build(
        spec.loss, num_samples=num_samples, num_classes=num_classes, **dict(options)
    )
    torch.manual_seed(seed)
    model = models.build_from_config(model_config, num_classes)
    dropout = spec.variant.dropout if spec.variant else 0.0
    return models.with_dropout(model, dropout, model_config.get("name")), loss_fn


def _model_config(train: LabelledImages, model_config: Mapping[str, Any]) -> dict[str, Any]:
    """The configured model, or in frozen-backbone mode a linear head over the cached features."""
    if train.is_image:
        return dict(model_config)
    return models.head_config(int(train.images.shape[1]))


def model_description(
    spec: ModelSpec, train: LabelledImages, model_config: Mapping[str, Any], categories: list[str]
) -> dict[str, Any]:
    """Who a trained model is and how to rebuild it for its weights:
    `models.build_from_config(description["model"], len(description["categories"]))`."""
    return {**asdict(spec), "model": _model_config(train, model_config), "categories": categories}


def model_checkpoint(
    spec: ModelSpec,
    train: LabelledImages,
    val: LabelledImages,
    model_config: Mapping[str, Any],
    settings: TrainSettings,
    folder: str | Path,
) -> Checkpoint:
    """This model's checkpoint for exactly these inputs and parameters, under `folder`."""
    fingerprint = _fingerprint(
        asdict(spec),
        _model_config(train, model_config),
        asdict(settings),
        arrays=(train.targets, val.targets, _image_sample(train), _image_sample(val)),
    )
    return Checkpoint(Path(folder) / spec.slug, fingerprint)


def checkpoint_history(checkpoint: Checkpoint, label: str) -> list[EpochReport]:
    """The epochs a checkpoint has already trained (none when there is no readable one)."""
    payload = checkpoint.load(label)
    return [] if payload is None else FitResult.from_state(payload["progress"]).history


def train_and_test(
    spec: ModelSpec,
    train: LabelledImages,
    val: LabelledImages,
    test: LabelledImages,
    model_config: Mapping[str, Any],
    settings: TrainSettings,
    *,
    checkpoint: Checkpoint | None = None,
    on_epoch_end: Callable[[EpochReport], None] | None = None,
) -> TrainedModel:
    """Train one model, select its epoch on clean validation mAP and measure test mAP."""
    if spec.variant is not None:
        settings = replace(settings, augment=spec.variant.augment)
    options = dict(spec.loss_options)
    if "num_epochs" in losses.default_hparams(spec.loss):  # schedules span the actual training
        options.setdefault("num_epochs", settings.epochs)
    build = partial(
        build_model_and_loss,
        spec,
        options,
        _model_config(train, model_config),
        len(train),
        train.num_classes,
        settings.seed,
    )
    if settings.devices > 1:
        # Read here first, so an unreadable file is set aside once, not by every process.
        done = len(checkpoint_history(checkpoint, spec.name)) if checkpoint else 0
        result = fit_data_parallel(
            build, train, val, settings, settings.devices, label=spec.name, checkpoint=checkpoint
        )
        for report in result.history[done:] if on_epoch_end else ():
            on_epoch_end(report)  # DDP processes cannot reach the tracking run: report afterwards
        model, _ = build()
        model.load_state_dict(result.best_state)
    else:
        model, loss_fn = build()
        result = fit(
            model,
            loss_fn,
            train,
            val,
            settings,
            label=spec.name,
            on_epoch_end=on_epoch_end,
            checkpoint=checkpoint,
        )
    test_map = evaluate(model, test, settings.inference)
    log.info("%s: test mAP %.2f (epoch %d selected)", spec.name, test_map, result.best_epoch)
    metrics = {
        "name": spec.name,
        "role": spec.role,
        "loss": spec.loss,
        "tau": spec.tau,
        **variant_record(spec),
        "seed": settings.seed,
        "epochs": settings.epochs,
        "control": spec.role != "student" and spec.epochs is not None,  # an equal-compute one
        "test_map": test_map,
        "best_val_map": result.best_val_map,
        "best_epoch": result.best_epoch,
        "history": [asdict(report) for report in result.history],
    }
    return TrainedModel(state=result.best_state, metrics=metrics)
