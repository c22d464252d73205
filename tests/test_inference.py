"""Predictions and mAP under the evaluation transform: never a flip, rows in data order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from spml.data import LabelledImages, normalise
from spml.inference import InferenceSettings, evaluate, forward_all, predict
from spml.metrics import mean_average_precision

SETTINGS = InferenceSettings(device="cpu", batch_size=4)  # several batches, a short last one


class LeftMinusRight(nn.Module):
    """Not mirror-symmetric: the left half's mean minus the right half's, one scale per class.
    A horizontal flip negates every output."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.0, -2.0]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        half = images.shape[-1] // 2
        left, right = images[..., :half].mean((1, 2, 3)), images[..., half:].mean((1, 2, 3))
        return (left - right)[:, None] * self.scale


def _lopsided_images(n: int = 10) -> LabelledImages:
    """Images brighter on one side; class 0 marks the bright-left ones, class 1 the others."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 100, size=(n, 3, 8, 8), dtype=np.uint8)
    bright_left = np.arange(n) % 3 == 0
    images[bright_left, :, :, :4] += 120
    images[~bright_left, :, :, 4:] += 120
    targets = np.stack([bright_left, ~bright_left], axis=1).astype(np.uint8)
    return LabelledImages.from_arrays(images, targets)


def _unflipped_forward(model: nn.Module, data: LabelledImages) -> torch.Tensor:
    """The model on the normalised images as they are, computed by hand."""
    with torch.no_grad():
        return model(normalise(data.batch(torch.arange(len(data)))))


def test_predictions_are_the_unflipped_forward_pass_in_data_order() -> None:
    model, data = nn.Sequential(LeftMinusRight(), nn.BatchNorm1d(2)), _lopsided_images()
    model[1].running_mean.fill_(0.5)  # evaluation mode uses these, not the batch's statistics
    expected = torch.sigmoid(_unflipped_forward(model.eval(), data)).numpy()
    model.train()
    np.testing.assert_allclose(predict(model, data, SETTINGS), expected, rtol=1e-6)
    np.testing.assert_allclose(  # channels-last sums in another order: equal to float rounding
        forward_all(model, data, SETTINGS).numpy(),
        _unflipped_forward(model, data).numpy(),
        rtol=1e-6,
    )


def test_mirrored_predictions_are_those_of_every_image_flipped_left_to_right() -> None:
    model, data = LeftMinusRight(), _lopsided_images()
    mirrored = forward_all(model, data, SETTINGS, mirrored=True)
    np.testing.assert_allclose(
        mirrored.numpy(), -_unflipped_forward(model, data).numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(
        predict(model, data, SETTINGS, mirrored=True), torch.sigmoid(mirrored).numpy()
    )


def test_evaluation_map_is_that_of_the_unflipped_predictions() -> None:
    model, data = LeftMinusRight(), _lopsided_images()
    assert evaluate(model, data, SETTINGS) == pytest.approx(100.0)
    flipped = -_unflipped_forward(model, data)  # what a flip at evaluation would score
    assert mean_average_precision(flipped, data.targets) < 50.0


def test_frozen_features_go_through_the_model_as_they_are() -> None:
    features = np.arange(12, dtype=np.float32).reshape(6, 2)
    data = LabelledImages.from_arrays(features, np.eye(6, 2))
    head = nn.Linear(2, 2)
    with torch.no_grad():
        expected = head(torch.from_numpy(features))
    np.testing.assert_allclose(forward_all(head, data, SETTINGS).numpy(), expected.numpy())


class BatchSizes(nn.Module):
    """Mirror-symmetric scores that remember how many images each forward pass took."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(len(images))
        return images.mean((2, 3))[:, :2]


@pytest.mark.parametrize("run", [forward_all, predict, evaluate])
def test_inference_batch_size_bounds_every_forward_pass(run) -> None:
    model, data = BatchSizes(), _lopsided_images()  # 10 images, 4 at a time: memory stays bounded
    run(model, data, SETTINGS)
    assert model.sizes == [4, 4, 2]
