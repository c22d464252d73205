"""Where tensors run and in what form: device choice, pinned copies, bf16, channels_last."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from spml.data import apply_flip, normalise


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


@dataclass(frozen=True)
class Placement:
    """The device a model runs on and the CUDA-only speed-ups it uses there."""

    device: str = "auto"
    mixed_precision: bool = True  # bf16 autocast, on CUDA only: CPU numbers stay exact
    channels_last: bool = True  # NHWC tensors for convolutions (oneDNN on a CPU: 1.5x too)

    @property
    def target(self) -> torch.device:
        """The device this run uses."""
        return resolve_device(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast where it pays (CUDA and asked for), a no-op elsewhere."""
        cuda = self.target.type == "cuda"
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and self.mixed_precision)

    def network_inputs(
        self,
        batch: torch.Tensor,
        flips: torch.Tensor | None = None,
        noise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """A CPU batch on the device as the model takes it: uint8 images flipped (where `flips`
        says), given `noise` (a noisy student's crops and colours) and normalised there, on the
        GPU when there is one; features as they are."""
        if batch.dtype != torch.uint8:
            if noise is not None:
                raise ValueError(
                    "student.augment needs images, but the model trains on features "
                    "(model.frozen_backbone: true)"
                )
            return to_device(batch.float(), self.target)
        images = to_device(batch, self.target)
        if flips is not None:
            images = apply_flip(images, to_device(flips, images.device))
        if noise is not None:
            images = noise(images)
        inputs = normalise(images)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move a model to the device, in the memory format its inputs will have."""
        model.to(self.target)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model
