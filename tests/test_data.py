"""Images are read as RGB whatever their mode; every unreadable file is named at once."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spml.data import (
    BadImagesError,
    DecodeJob,
    ImageFolder,
    LabelledImages,
    apply_flip,
    cache_changes,
    cache_key_path,
    decode_images,
    normalise,
    prefetch,
    random_flip,
    write_image_cache,
)


def _write(folder: Path, name: str, mode: str, fmt: str) -> None:
    colour = {"L": 128, "CMYK": (0, 255, 255, 0), "RGBA": (255, 0, 0, 128), "RGB": (0, 0, 255)}[
        mode
    ]
    Image.new(mode, (40, 30), colour).save(folder / name, format=fmt)


def test_grayscale_cmyk_and_rgba_files_are_read_as_rgb(tmp_path: Path) -> None:
    cases = [
        ("gray.jpg", "L", "JPEG"),
        ("cmyk.jpg", "CMYK", "JPEG"),
        ("rgba.png", "RGBA", "PNG"),
        ("rgb.jpg", "RGB", "JPEG"),
    ]
    for name, mode, fmt in cases:
        _write(tmp_path, name, mode, fmt)
    images = decode_images(ImageFolder(tmp_path), [name for name, _, _ in cases], size=16)
    assert images.shape == (4, 3, 16, 16) and images.dtype == np.uint8
    gray, cmyk = images[0], images[1]
    assert np.all(np.abs(gray.astype(int) - 128) <= 2)  # three equal channels
    assert (
        cmyk[0].mean() > 200 and cmyk[1].mean() < 30 and cmyk[2].mean() < 30
    )  # C=0,M=Y=255 -> red


def test_every_missing_or_broken_image_is_listed(tmp_path: Path) -> None:
    _write(tmp_path, "good.jpg", "RGB", "JPEG")
    whole = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(BadImagesError) as caught:
        decode_images(
            ImageFolder(tmp_path), ["good.jpg", "truncated.jpg", "text.jpg", "gone.jpg"], 16
        )
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
    mean_pixel = (
        torch.tensor([0.485, 0.456, 0.406]).mul(255).round().to(torch.uint8).view(1, 3, 1, 1)
    )
    assert normalise(mean_pixel.expand(1, 3, 2, 2)).abs().max() < 0.01


def test_flip_mirrors_exactly_the_masked_images() -> None:
    batch = torch.arange(3 * 1 * 2 * 3, dtype=torch.uint8).reshape(3, 1, 2, 3)
    flipped = apply_flip(batch, torch.tensor([True, False, True]))
    assert torch.equal(flipped[0], batch[0].flip(-1))
    assert torch.equal(flipped[1], batch[1])
    assert torch.equal(flipped[2], batch[2].flip(-1))


def test_prefetch_keeps_order_and_raises_the_loaders_error() -> None:
    assert list(prefetch(range(7), lambda item: item * item, depth=3)) == [
        item * item for item in range(7)
    ]

    def load(item: int) -> int:
        if item == 4:
            raise OSError(f"cannot read item {item}")
        return item

    seen = []
    with pytest.raises(OSError, match="cannot read item 4"):
        for item in prefetch(range(7), load):
            seen.append(item)
    assert seen == [0, 1, 2, 3]


def test_the_cache_decodes_once_and_again_only_when_something_changed(
    tmp_path: Path, monkeypatch
) -> None:
    for index in range(3):
        _write(tmp_path, f"{index}.jpg", "RGB", "JPEG")
    cache = tmp_path / "cache" / "images.npy"
    job = DecodeJob(ImageFolder(tmp_path), ("0.jpg", "1.jpg", "2.jpg"), 16)
    assert write_image_cache(job, cache) is True
    decoded_at = cache.stat().st_mtime_ns
    assert write_image_cache(job, cache) is False  # the second run does not decode again
    assert cache.stat().st_mtime_ns == decoded_at
    assert write_image_cache(DecodeJob(job.folder, job.file_names, 24), cache) is True  # new size
    _write(tmp_path, "1.jpg", "L", "JPEG")  # a file changed on disk
    assert write_image_cache(DecodeJob(job.folder, job.file_names, 24), cache) is True


def test_a_failed_decode_keeps_the_previous_cache(tmp_path: Path) -> None:
    _write(tmp_path, "0.jpg", "RGB", "JPEG")
    cache = tmp_path / "images.npy"
    write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg",), 16), cache)
    before = cache.read_bytes()
    with pytest.raises(BadImagesError, match="gone.jpg"):
        write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg", "gone.jpg"), 16), cache)
    assert cache.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "images.npy", "images.npy.key"]


def test_batches_read_only_their_rows_of_a_memory_mapped_array(tmp_path: Path) -> None:
    array = np.lib.format.open_memmap(
        tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(5, 3, 2, 2)
    )
    array[:] = np.arange(5, dtype=np.uint8)[:, None, None, None]
    array.flush()
    data = LabelledImages.from_arrays(
        np.load(tmp_path / "x.npy", mmap_mode="r"), np.eye(3), rows=[4, 0, 2]
    )
    assert data.batch(torch.tensor([0, 2]))[:, 0, 0, 0].tolist() == [4, 2]
    assert len(data) == 3 and data.num_classes == 3


def test_a_memory_mapped_split_travels_to_other_processes_by_path(tmp_path: Path) -> None:
    import pickle

    array = np.lib.format.open_memmap(
        tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(64, 3, 64, 64)
    )
    array[:] = 7
    array.flush()
    data = LabelledImages.from_arrays(np.load(tmp_path / "x.npy", mmap_mode="r"), np.eye(64))
    payload = pickle.dumps(data)
    assert len(payload) < array.nbytes // 10
    copy = pickle.loads(payload)
    assert isinstance(copy.images, np.memmap)
    assert torch.equal(copy.batch(torch.tensor([3])), data.batch(torch.tensor([3])))


def test_the_torchvision_decoder_matches_pil_and_hands_it_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    from spml.data import decode_jpegs_on

    cases = [("gray.jpg", "L", "JPEG"), ("cmyk.jpg", "CMYK", "JPEG"), ("rgba.png", "RGBA", "PNG")]
    for name, mode, fmt in cases:
        _write(tmp_path, name, mode, fmt)
    names = [name for name, _, _ in cases]
    out = np.zeros((3, 3, 16, 16), dtype=np.uint8)
    decode_jpegs_on("cpu", ImageFolder(tmp_path), names, 16, out)  # the same code runs on "cuda"
    reference = decode_images(ImageFolder(tmp_path), names, 16)
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 3

    whole = (tmp_path / "gray.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(BadImagesError, match="cut.jpg"):
        decode_jpegs_on("cpu", ImageFolder(tmp_path), ["gray.jpg", "cut.jpg"], 16, out[:2])


def test_a_cache_made_by_another_decoder_is_rebuilt(tmp_path: Path) -> None:
    _write(tmp_path, "0.jpg", "RGB", "JPEG")
    cache = tmp_path / "cache" / "images.npy"
    assert write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg",), 16, "pil"), cache)
    assert write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg",), 16, "cpu"), cache)
    assert not write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg",), 16, "cpu"), cache)


def test_a_cache_names_the_files_that_changed_since_it_was_decoded(tmp_path: Path) -> None:
    for index in range(3):
        _write(tmp_path, f"{index}.jpg", "RGB", "JPEG")
    cache = tmp_path / "cache" / "images.npy"
    write_image_cache(DecodeJob(ImageFolder(tmp_path), ("0.jpg", "1.jpg", "2.jpg"), 16), cache)
    assert cache_changes(cache, tmp_path, 16) == []
    assert cache_changes(cache, tmp_path, 32) == ["it holds 16-px images; image_size is 32"]
    (tmp_path / "0.jpg").unlink()
    stat = (tmp_path / "2.jpg").stat()
    os.utime(tmp_path / "2.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # touched only
    (problem,) = cache_changes(cache, tmp_path, 16)
    assert "2 file(s)" in problem and "0.jpg (missing)" in problem and "2.jpg (modified)" in problem
    assert "1.jpg" not in problem
    assert "decoded from" in cache_changes(cache, tmp_path / "cache", 16)[0]  # another folder
    cache_key_path(cache).write_text("0123abcd")  # a key from before names were recorded
    assert "no readable record" in cache_changes(cache, tmp_path, 16)[0]
