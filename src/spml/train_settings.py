"""The `training` parameters as one validated object shared by every model of a study."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

import numpy as np

from spml.augment import Augment
from spml.device import Placement
from spml.inference import InferenceSettings

# torch.compile's modes, for training.compile.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# How the learning rate moves over a training (spml.training.learning_rate_factor).
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by every model of a study, checked when built."""

    epochs: int
    lr: float
    batch_size: int
    seed: int
    eval_batch_size: int = 256
    device: str = "auto"
    mixed_precision: bool = True  # bf16 autocast, on CUDA only: CPU numbers stay exact
    channels_last: bool = True  # NHWC tensors for convolutions (CUDA and oneDNN CPUs)
    compile: bool | str = False  # torch.compile for training: true, or a mode (COMPILE_MODES)
    devices: int = 1  # > 1: DDP over that many processes (GPUs, or gloo on the CPU)
    schedule: str = "constant"  # the learning rate over the training: SCHEDULES
    warmup_epochs: float = 0.0  # linear warm-up to lr over these epochs (at most the training)
    weight_decay: float = 0.0  # decoupled (AdamW), on weights only: not on biases or norms
    augment: Augment | None = None  # a noisy student's input noise (student.augment), not config

    @property
    def placement(self) -> Placement:
        """Where training runs and in what form."""
        return Placement(self.device, self.mixed_precision, self.channels_last)

    @property
    def inference(self) -> InferenceSettings:
        """How validation, test and predictions run: same device, the evaluation batch."""
        return InferenceSettings(
            self.device, self.mixed_precision, self.channels_last, self.eval_batch_size
        )

    @property
    def cuda_graphs(self) -> bool:
        """Whether the compile mode replays CUDA graphs, which cut the per-kernel launch cost
        that bounds small batches (ResNet-50 at batch 16: 2.5x on an H100)."""
        return self.compile in ("reduce-overhead", "max-autotune")

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
        if not _number(self.lr) or self.lr <= 0:
            raise ValueError(f"Parameter training.lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"Parameter training.schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        for name in ("warmup_epochs", "weight_decay"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise ValueError(f"Parameter training.{name} must be a number >= 0, got {value!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainSettings:
        """Build from the `training` parameters, naming any key that is not a setting."""
        known = {f.name for f in fields(cls)} - {"augment"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Unknown training parameter(s) {unknown}; valid: {sorted(known)}")
        required = {f.name for f in fields(cls) if f.default is MISSING}
        if required - set(config):
            raise ValueError(f"Missing training parameter(s) {sorted(required - set(config))}")
        return cls(**config)


def _number(value: Any) -> bool:
    """A finite int or float (a bool is neither, whatever Python says)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and np.isfinite(value)
