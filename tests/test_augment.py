"""Noisy students: crops and colour jitter on the device, dropout before the classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spml import models
from spml.augment import DRAWS_PER_IMAGE, Augment
from spml.device import Placement

NOISE = Augment(min_area=0.35, max_aspect=1.333, brightness=0.4, contrast=0.4, saturation=0.4)
SETTINGS = {
    "min_area": 0.35,
    "max_aspect": 1.333,
    "brightness": 0.4,
    "contrast": 0.4,
    "saturation": 0.4,
}
NO_NOISE = Augment(min_area=1.0, max_aspect=1.0, brightness=0.0, contrast=0.0, saturation=0.0)


def images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size))).to(
        torch.uint8
    )


def test_without_noise_the_images_come_back_unchanged() -> None:
    batch = images()
    out = NO_NOISE.apply(batch, NO_NOISE.draw(len(batch), torch.Generator().manual_seed(0)))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, batch.float(), atol=1e-3, rtol=0)


def test_a_crop_of_the_left_half_magnifies_it() -> None:
    # A horizontal ramp: column x holds 16 * x. The left half, full height, stretched back.
    ramp = (torch.arange(16) * 16).view(1, 1, 1, 16).expand(1, 3, 16, 16).to(torch.uint8)
    half = Augment(min_area=0.5, max_aspect=2.0, brightness=0.0, contrast=0.0, saturation=0.0)
    # area 0.5 (draw 0), aspect 0.5 = width 0.5 x height 1 (draw 0), at the left (draw 0)
    draws = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5]])
    out = half.apply(ramp, draws)[0, 0, 0]
    # output pixel k samples the input at column k / 2 - 0.25 (pixel centres), border-clamped
    expected = [16 * min(max(k / 2 - 0.25, 0.0), 15.0) for k in range(16)]
    assert out.tolist() == pytest.approx(expected, abs=1e-3)


def test_brightness_scales_and_is_clamped_to_the_uint8_range() -> None:
    bright = Augment(min_area=1.0, max_aspect=1.0, brightness=0.5, contrast=0.0, saturation=0.0)
    batch = torch.tensor([100, 200], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 2, 2)
    draws = torch.tensor([[0.5, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5]])  # brightness factor 1.5
    out = bright.apply(batch.contiguous(), draws)
    assert out[0, 0, 0].tolist() == pytest.approx([150.0, 255.0], abs=1e-3)


def test_the_same_generator_state_gives_the_same_noise_and_another_seed_differs() -> None:
    batch, noise = images(), NOISE
    first = noise.apply(batch, noise.draw(len(batch), torch.Generator().manual_seed(3)))
    again = noise.apply(batch, noise.draw(len(batch), torch.Generator().manual_seed(3)))
    other = noise.apply(batch, noise.draw(len(batch), torch.Generator().manual_seed(4)))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() >= 0 and first.max() <= 255
    assert noise.draw(5, torch.Generator()).shape == (5, DRAWS_PER_IMAGE)


def test_network_inputs_apply_the_noise_before_normalising() -> None:
    batch = images()
    placement = Placement("cpu")
    plain = placement.network_inputs(batch)
    noisy = placement.network_inputs(batch, noise=lambda device_batch: device_batch.float() * 0.0)
    assert not torch.equal(plain, noisy)
    assert torch.allclose(noisy[:, 0], torch.full_like(noisy[:, 0], -0.485 / 0.229))
    with pytest.raises(ValueError, match="frozen_backbone"):
        placement.network_inputs(torch.zeros(2, 8), noise=lambda x: x)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"min_area": 0}, "student.augmentation.min_area"),
        ({"brightness": 1.5}, "student.augmentation.brightness"),
        ({"hue": 0.1}, "hue"),
    ],
)
def test_bad_settings_name_the_parameter(change: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Augment.from_config(True, {**SETTINGS, **change})


def test_configuration_switches_noise_on_and_off() -> None:
    assert Augment.from_config(False, SETTINGS) is None
    assert Augment.from_config(True, SETTINGS) == NOISE
    with pytest.raises(ValueError, match="student.augment "):
        Augment.from_config("strong", SETTINGS)
    with pytest.raises(ValueError, match="missing: .'saturation'"):
        Augment.from_config(True, {k: v for k, v in SETTINGS.items() if k != "saturation"})


@pytest.mark.parametrize("head", ["linear", "boostlu"])
def test_dropout_acts_only_while_training_and_keeps_the_weight_names(head: str) -> None:
    config = {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}, "head": head}
    torch.manual_seed(0)
    plain = models.build_from_config(config, 3)
    noisy = models.with_dropout(models.build_from_config(config, 3), 0.5, "small_cnn")
    assert list(noisy.state_dict()) == list(plain.state_dict())
    noisy.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 16, 16)
    plain.eval(), noisy.eval()
    assert torch.equal(noisy(x), plain(x))
    noisy.train()
    torch.manual_seed(1)
    first = noisy(x)
    assert not torch.equal(first, noisy(x))


def test_dropout_reaches_the_classifier_of_every_model_kind() -> None:
    head = models.with_dropout(models.build_model("linear_head", 2, in_features=64), 0.5)
    head.train()
    torch.manual_seed(0)
    features = torch.ones(1, 64)
    assert not torch.equal(head(features), head(features))
    with pytest.raises(ValueError, match="student.dropout"):
        models.with_dropout(head, 1.0)
