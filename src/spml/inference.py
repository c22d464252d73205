"""Predictions under the evaluation transform (no flip): teacher scores, validation, test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spml.data import LabelledImages, ordered_batches, prefetch
from spml.device import Placement, staged
from spml.metrics import mean_average_precision


@dataclass(frozen=True)
class InferenceSettings(Placement):
    """Where predictions run and how many images go through the model at once."""

    batch_size: int = 256


@torch.no_grad()
def forward_all(
    model: nn.Module,
    data: LabelledImages,
    settings: InferenceSettings = InferenceSettings(),
    mirrored: bool = False,
) -> torch.Tensor:
    """The model's outputs for every row under the evaluation transform (no flip; every image
    mirrored left to right when `mirrored`), in order."""
    device = settings.target
    settings.place(model).eval()
    outputs = []
    batches = ordered_batches(len(data), settings.batch_size)
    for images in prefetch(batches, lambda index: staged(data.batch(index), device)):
        flips = torch.ones(len(images), dtype=torch.bool) if mirrored else None
        with settings.autocast():
            outputs.append(model(settings.network_inputs(images, flips)).float())
    return torch.cat(outputs).cpu()  # one copy back, so the GPU never waits for the host


def predict(
    model: nn.Module,
    data: LabelledImages,
    settings: InferenceSettings = InferenceSettings(),
    mirrored: bool = False,
) -> np.ndarray:
    """Class probabilities under the evaluation transform (no flip; the mirror images when
    `mirrored`), in data order."""
    return torch.sigmoid(forward_all(model, data, settings, mirrored)).numpy()


def evaluate(model: nn.Module, data: LabelledImages, settings: InferenceSettings) -> float:
    """mAP on fully labelled data, the model-selection and test criterion."""
    return mean_average_precision(predict(model, data, settings), data.targets.numpy())
