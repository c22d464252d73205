"""DDP with gloo on two CPU processes takes the same step as one process with the whole batch."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn

from spml import losses
from spml.data import LabelledImages
from spml.distributed import fit_data_parallel
from spml.train_settings import TrainSettings
from spml.training import fit

SETTINGS = TrainSettings(epochs=1, lr=1e-2, batch_size=32, seed=5, device="cpu")


class RecordingBCE(nn.Module):
    """BCE that writes down which samples each process saw."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder, self.bce = folder, losses.build("bce")

    def forward(self, logits, targets, *, index, **_):
        rank = dist.get_rank() if dist.is_initialized() else 0
        with open(os.path.join(self.folder, f"rank{rank}.txt"), "a") as seen:
            seen.write(" ".join(map(str, index.tolist())) + "\n")
        return self.bce(logits, targets)


def build(folder: str) -> tuple[nn.Module, nn.Module]:
    """A model without batch norm, whose statistics would differ per process by design."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    return model, RecordingBCE(folder)


def _data(n: int, seed: int) -> LabelledImages:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, size=(n, 3, 8, 8), dtype=np.uint8)
    return LabelledImages.from_arrays(images, (rng.random((n, 3)) < 0.5).astype(np.float32))


def test_two_gloo_processes_match_one_process_with_the_doubled_batch(tmp_path: Path) -> None:
    train, val = _data(32, 0), _data(16, 1)  # one step of 32: each process takes 16
    (tmp_path / "single").mkdir()
    (tmp_path / "ddp").mkdir()
    model, loss = build(str(tmp_path / "single"))
    single = fit(model, loss, train, val, SETTINGS)
    parallel = fit_data_parallel(partial(build, str(tmp_path / "ddp")), train, val, SETTINGS, 2)

    for name, value in single.best_state.items():
        torch.testing.assert_close(parallel.best_state[name], value, rtol=1e-5, atol=1e-6)
    assert parallel.history[0].val_map == pytest.approx(single.history[0].val_map, abs=1e-6)
    seen = [set(map(int, (tmp_path / "ddp" / f"rank{r}.txt").read_text().split())) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 16 and not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(32))


def test_a_last_batch_too_small_to_share_joins_the_one_before(tmp_path: Path) -> None:
    # COCO's 65,665 training images leave a last batch of 1 at batch 16: with two
    # processes one would average the loss over no images at all.
    train, val = _data(33, 0), _data(16, 1)
    settings = TrainSettings(**{**SETTINGS.__dict__, "batch_size": 16})
    parallel = fit_data_parallel(partial(build, str(tmp_path)), train, val, settings, 2)
    assert all(torch.isfinite(value).all() for value in parallel.best_state.values())
    steps = [(tmp_path / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]
    assert [len(step.split()) for step in steps[0]] == [8, 9]
    assert [len(step.split()) for step in steps[1]] == [8, 8]
    seen = [int(i) for rank in steps for step in rank for i in step.split()]
    assert sorted(seen) == list(range(33))


def test_fewer_than_two_processes_is_not_data_parallel() -> None:
    with pytest.raises(ValueError, match="training.devices"):
        fit_data_parallel(partial(build, "."), _data(8, 0), _data(8, 1), SETTINGS, 1)


def test_a_study_model_trains_on_two_processes_and_reports_every_epoch(tmp_path: Path) -> None:
    from spml.study import ModelSpec, model_checkpoint, train_and_test

    reported = []
    spec, train, val = ModelSpec("baseline an", "baseline", "an"), _data(32, 0), _data(16, 1)
    model = {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}}
    settings = TrainSettings(epochs=2, lr=1e-2, batch_size=16, seed=0, device="cpu", devices=2)
    checkpoint = model_checkpoint(spec, train, val, model, settings, tmp_path)
    trained = train_and_test(
        spec,
        train,
        val,
        _data(16, 2),
        model,
        settings,
        checkpoint=checkpoint,
        on_epoch_end=reported.append,
    )
    assert [r.epoch for r in reported] == [1, 2]
    assert 0 <= trained.metrics["test_map"] <= 100
    assert checkpoint.path.is_file() and checkpoint.path.parent == tmp_path / "baseline_an"
    assert torch.load(checkpoint.path, weights_only=True)["epoch"] == 2  # written by rank 0
