"""Images are read as RGB whatever their mode; every unreadable file is named at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spml.data import BadImagesError, ImageFolder, decode_images, normalise, random_flip


def _write(folder: Path, name: str, mode: str, fmt: str) -> None:
    colour = {"L": 128, "CMYK": (0, 255, 255, 0), "RGBA": (255, 0, 0, 128), "RGB": (0, 0, 255)}[mode]
    Image.new(mode, (40, 30), colour).save(folder / name, format=fmt)


def test_grayscale_cmyk_and_rgba_files_are_read_as_rgb(tmp_path: Path) -> None:
    cases = [("gray.jpg", "L", "JPEG"), ("cmyk.jpg", "CMYK", "JPEG"), ("rgba.png", "RGBA", "PNG"),
             ("rgb.jpg", "RGB", "JPEG")]
    for name, mode, fmt in cases:
        _write(tmp_path, name, mode, fmt)
    images = decode_images(ImageFolder(tmp_path), [name for name, _, _ in cases], size=16)
    assert images.shape == (4, 3, 16, 16) and images.dtype == np.uint8
    gray, cmyk = images[0], images[1]
    assert np.all(np.abs(gray.astype(int) - 128) <= 2)  # three equal channels
    assert cmyk[0].mean() > 200 and cmyk[1].mean() < 30 and cmyk[2].mean() < 30  # C=0,M=Y=255 -> red


def test_every_missing_or_broken_image_is_listed(tmp_path: Path) -> None:
    _write(tmp_path, "good.jpg", "RGB", "JPEG")
    whole = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(BadImagesError) as caught:
        decode_images(ImageFolder(tmp_path), ["good.jpg", "truncated.jpg", "text.jpg", "gone.jpg"], 16)
    message = str(caught.value)
    assert "3 image(s)" in message
    for name in ("truncated.jpg", "text.jpg", "gone.jpg"):
        assert name in message
    assert "good.jpg" not in message


def test_flip_is_seeded_and_normalise_centres_imagenet_mean() -> None:
    batch = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).reshape(2, 3, 2, 2)
    first = random_flip(batch, torch.Generator().manual_seed(1))
    again = random_flip(batch, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    mean_pixel = torch.tensor([0.485, 0.456, 0.406]).mul(255).round().to(torch.uint8).view(1, 3, 1, 1)
    assert normalise(mean_pixel.expand(1, 3, 2, 2)).abs().max() < 0.01
