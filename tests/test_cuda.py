"""The CUDA paths: skipped without a GPU (as in CI), run by bench/gpu_check.sh on one."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spml import losses, models
from spml.data import DecodeJob, ImageFolder, write_image_cache
from spml.distributed import fit_data_parallel
from spml.inference import predict
from spml.train_settings import TrainSettings
from spml.training import fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _settings(**changes: object) -> TrainSettings:
    base = TrainSettings(epochs=3, lr=1e-2, batch_size=16, seed=3, device="cuda")
    return TrainSettings(**{**base.__dict__, **changes})


def test_nvjpeg_cache_matches_pil_and_handles_grayscale_and_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = []
    for index, (mode, fmt) in enumerate([("RGB", "JPEG"), ("L", "JPEG"), ("RGB", "PNG")] * 3):
        small = rng.integers(0, 255, size=(12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((160 + 8 * index, 120), Image.Resampling.BICUBIC)
        names.append(f"{index}.{fmt.lower()}")
        image.convert(mode).save(tmp_path / names[-1], format=fmt)
    folder = ImageFolder(tmp_path)
    write_image_cache(DecodeJob(folder, tuple(names), 64, "pil"), tmp_path / "pil.npy")
    assert write_image_cache(DecodeJob(folder, tuple(names), 64, "cuda"), tmp_path / "gpu.npy")
    by_pil = np.load(tmp_path / "pil.npy").astype(np.int16)
    by_gpu = np.load(tmp_path / "gpu.npy").astype(np.int16)
    assert np.abs(by_pil - by_gpu).mean() < 4
    grey = by_gpu[1::3]
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    assert not write_image_cache(DecodeJob(folder, tuple(names), 64, "cuda"), tmp_path / "gpu.npy")


def test_bf16_channels_last_training_learns_and_returns_cpu_weights(colour_coded) -> None:
    torch.manual_seed(0)
    model = models.build_model("small_cnn", 3, width=8)
    result = fit(
        model,
        losses.build("bce"),
        colour_coded(256, 0, size=32),
        colour_coded(64, 1, size=32),
        _settings(),
    )
    assert result.best_val_map > 90
    assert all(value.device.type == "cpu" for value in result.best_state.values())
    scores = predict(model, colour_coded(64, 1, size=32), _settings().inference)
    assert scores.shape == (64, 3) and np.isfinite(scores).all()


def test_gpu_and_cpu_predictions_agree_in_fp32(colour_coded) -> None:
    torch.manual_seed(0)
    model = models.build_model("small_cnn", 3, width=8)
    data = colour_coded(64, 1, size=32)
    on_gpu = predict(model, data, _settings(mixed_precision=False).inference)
    on_cpu = predict(model.cpu(), data, _settings(device="cpu").inference)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-4)


@pytest.mark.parametrize("mode", [True, "reduce-overhead"])
def test_compiled_training_matches_eager_closely(colour_coded, mode: bool | str) -> None:
    results = []
    for compiled in (False, mode):
        torch.manual_seed(0)
        model = models.build_model("small_cnn", 3, width=8)
        settings = _settings(epochs=1, mixed_precision=False, compile=compiled)
        results.append(
            fit(
                model,
                losses.build("bce"),
                colour_coded(128, 0, size=32),
                colour_coded(64, 1, size=32),
                settings,
            )
        )
    eager, compiled = results
    assert compiled.history[0].val_map == pytest.approx(eager.history[0].val_map, abs=1.0)


def _build() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return models.build_model("small_cnn", 3, width=8), losses.build("bce")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpus_match_one_gpu_with_the_doubled_batch(colour_coded) -> None:
    settings = _settings(epochs=1, batch_size=32, mixed_precision=False)
    train, val = colour_coded(64, 0, size=32), colour_coded(32, 1, size=32)
    model, loss = _build()
    single = fit(model, loss, train, val, settings)
    parallel = fit_data_parallel(partial(_build), train, val, settings, 2)
    for name, value in single.best_state.items():
        torch.testing.assert_close(parallel.best_state[name], value, rtol=1e-3, atol=1e-4)


def test_noise_on_the_gpu_matches_the_cpu_and_a_noisy_soft_student_trains(colour_coded) -> None:
    from spml.augment import Augment
    from spml.data import LabelledImages

    noise = Augment(min_area=0.35, max_aspect=1.333, brightness=0.4, contrast=0.4, saturation=0.4)
    batch = colour_coded(8, 0).batch(torch.arange(8))
    draws = noise.draw(8, torch.Generator().manual_seed(0))
    on_gpu = noise.apply(batch.cuda(), draws).cpu()
    torch.testing.assert_close(on_gpu, noise.apply(batch, draws), atol=0.05, rtol=0)
    data = colour_coded(96, 0)
    soft = data.targets * 0.8 + 0.1
    soft[::4, 2] = float("nan")  # unknown entries, ignored by the loss
    train = LabelledImages(data.images, data.rows, soft)
    torch.manual_seed(3)
    model = models.with_dropout(models.build_model("small_cnn", 3, width=8), 0.2)
    result = fit(
        model, losses.build("bce_ls"), train, colour_coded(48, 1), _settings(augment=noise)
    )
    assert all(np.isfinite(report.train_loss) for report in result.history)
    assert result.best_val_map > 60
