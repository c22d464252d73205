"""Noisy Student's input noise: random resized crops and colour jitter, applied on the device.

The random numbers of a batch are drawn on the CPU from the run's own generator (as the flips
are), so a run repeats exactly and resumes from a checkpoint; the images themselves stay uint8
until they reach the device, where the crops and colours are computed batch-wide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch.nn import functional

DRAWS_PER_IMAGE = 7  # crop area, crop aspect, crop x, crop y, brightness, contrast, saturation
_GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


@dataclass(frozen=True)
class Augment:
    """How strong the noise is: crop area and aspect ranges, colour jitter strengths (defaults:
    `student.augmentation` in conf/base/parameters_student.yml)."""

    min_area: float  # a crop keeps between min_area and all of the image's area
    max_aspect: float  # crop width / height within [1 / max_aspect, max_aspect]
    brightness: float  # each factor drawn from [1 - strength, 1 + strength]
    contrast: float
    saturation: float

    def __post_init__(self) -> None:
        rules = {
            "min_area": (lambda v: 0 < v <= 1, "in (0, 1]"),
            "max_aspect": (lambda v: v >= 1, ">= 1"),
            "brightness": (lambda v: 0 <= v < 1, "in [0, 1)"),
            "contrast": (lambda v: 0 <= v < 1, "in [0, 1)"),
            "saturation": (lambda v: 0 <= v < 1, "in [0, 1)"),
        }
        for name, (ok, rule) in rules.items():
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not ok(value):
                raise ValueError(
                    f"Parameter student.augmentation.{name} must be {rule}, got {value!r}"
                )

    @classmethod
    def from_config(cls, enabled: Any, settings: Any) -> Augment | None:
        """`student.augment` (true/false) with the strengths of `student.augmentation`."""
        if not isinstance(enabled, bool):
            raise ValueError(f"Parameter student.augment must be true or false, got {enabled!r}")
        if not enabled:
            return None
        if not isinstance(settings, Mapping):
            raise ValueError(
                f"Parameter student.augmentation must be a mapping of settings, got {settings!r}"
            )
        known = {field.name for field in fields(cls)}
        if set(settings) != known:
            raise ValueError(
                f"Parameter student.augmentation must set exactly {sorted(known)}; unknown: "
                f"{sorted(set(settings) - known)}, missing: {sorted(known - set(settings))}"
            )
        return cls(**settings)

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The n x 7 random numbers in [0, 1) of one batch, from the run's generator."""
        return torch.rand(n, DRAWS_PER_IMAGE, generator=generator)

    def apply(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Crop-and-resize then jitter a uint8 batch (N x 3 x H x W) on its device; returns
        floats in [0, 255] that `spml.data.normalise` takes like uint8 images."""
        draws = draws.to(images.device)
        return self._jitter(self._crop(images.float(), draws[:, :4]), draws[:, 4:])

    def _crop(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """A random box per image (area share and aspect from the ranges), resized back to the
        full size by bilinear sampling (torchvision's RandomResizedCrop, batch-wide)."""
        area = self.min_area + (1.0 - self.min_area) * draws[:, 0]
        aspect = torch.exp(math.log(self.max_aspect) * (2.0 * draws[:, 1] - 1.0))
        width = torch.sqrt(area * aspect).clamp(max=1.0)
        height = torch.sqrt(area / aspect).clamp(max=1.0)
        centre_x = (1.0 - width) * (2.0 * draws[:, 2] - 1.0)  # in [-1, 1] grid coordinates
        centre_y = (1.0 - height) * (2.0 * draws[:, 3] - 1.0)
        zero = torch.zeros_like(width)
        theta = torch.stack(
            [torch.stack([width, zero, centre_x], 1), torch.stack([zero, height, centre_y], 1)], 1
        )
        grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
        return functional.grid_sample(
            images, grid, mode="bilinear", padding_mode="border", align_corners=False
        )

    def _jitter(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Brightness, contrast and saturation factors per image, as torchvision's ColorJitter
        (in that order), clamped to the uint8 range."""

        def factor(column: int, strength: float) -> torch.Tensor:
            return (1.0 + strength * (2.0 * draws[:, column] - 1.0)).view(-1, 1, 1, 1)

        grey_weights = torch.tensor(_GREY, device=images.device).view(1, 3, 1, 1)
        images = (images * factor(0, self.brightness)).clamp(0, 255)
        mean = (images * grey_weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        images = (mean + factor(1, self.contrast) * (images - mean)).clamp(0, 255)
        grey = (images * grey_weights).sum(1, keepdim=True)
        return (grey + factor(2, self.saturation) * (images - grey)).clamp(0, 255)
