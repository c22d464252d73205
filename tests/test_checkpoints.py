"""Checkpoints kept per fingerprint, pruned by rule, and unreadable files set aside, not fatal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from spml import losses, models
from spml.checkpoints import KEPT_SETTINGS, Checkpoint, TrainingState
from spml.train_settings import TrainSettings
from spml.training import FitResult, fit
from tests.images import colour_coded_images

SETTINGS = TrainSettings(epochs=2, lr=1e-2, batch_size=16, seed=7, device="cpu")


def _fit(checkpoint: Checkpoint | None, epochs_seen: list[int] | None = None) -> FitResult:
    torch.manual_seed(7)
    return fit(
        models.build_model("small_cnn", 3, width=4),
        losses.build("bce"),
        colour_coded_images(64, 0),
        colour_coded_images(32, 1),
        SETTINGS,
        checkpoint=checkpoint,
        on_epoch_end=None if epochs_seen is None else (lambda r: epochs_seen.append(r.epoch)),
    )


def test_an_experiment_keeps_the_default_training_and_returning_reuses_it(tmp_path: Path) -> None:
    default = _fit(Checkpoint(tmp_path, "default-settings"))
    _fit(Checkpoint(tmp_path, "experiment-settings"))
    trained_again: list[int] = []
    returned = _fit(Checkpoint(tmp_path, "default-settings"), trained_again)
    assert trained_again == []  # nothing retrained
    assert returned.history == default.history and returned.best_epoch == default.best_epoch
    assert len(list(tmp_path.glob("*.ckpt"))) == 4  # last and previous epoch of each setting


def test_only_the_most_recent_settings_keep_their_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "0123456789abcdef.ckpt.unreadable-20260101-000000").write_bytes(b"kept")
    for index in range(KEPT_SETTINGS + 1):
        Checkpoint(tmp_path, f"setting-{index}").save(_state(), 1, {})
    kept = sorted(path.name.split(".")[0] for path in tmp_path.glob("*.ckpt"))
    assert kept == [f"setting-{index}"[:16] for index in range(1, KEPT_SETTINGS + 1)]
    assert (tmp_path / "0123456789abcdef.ckpt.unreadable-20260101-000000").exists()


@pytest.fixture(scope="module")
def straight() -> FitResult:
    """The same training without a checkpoint, for the resumed ones to match."""
    return _fit(None)


def test_a_torn_last_epoch_is_set_aside_and_training_resumes_from_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, straight: FitResult
) -> None:
    checkpoint = Checkpoint(tmp_path, "inputs")
    _fit(checkpoint)
    torn = checkpoint.path.read_bytes()[:1000]
    checkpoint.path.write_bytes(torn)
    retrained: list[int] = []
    with caplog.at_level(logging.WARNING):
        resumed = _fit(Checkpoint(tmp_path, "inputs"), retrained)
    assert retrained == [2]  # epoch 1 came from the previous file
    assert [r.val_map for r in resumed.history] == [r.val_map for r in straight.history]
    (aside,) = tmp_path.glob("*.ckpt.unreadable-*")
    assert aside.read_bytes() == torn
    assert str(checkpoint.path) in caplog.text and str(aside) in caplog.text


def test_when_no_state_can_be_read_the_model_trains_from_scratch(
    tmp_path: Path, straight: FitResult
) -> None:
    checkpoint = Checkpoint(tmp_path, "inputs")
    _fit(checkpoint)
    checkpoint.path.write_bytes(b"")
    checkpoint.previous.write_bytes(b"not a checkpoint")
    retrained: list[int] = []
    again = _fit(Checkpoint(tmp_path, "inputs"), retrained)
    assert retrained == [1, 2]
    assert [r.val_map for r in again.history] == [r.val_map for r in straight.history]
    assert len(list(tmp_path.glob("*.unreadable-*"))) == 2


def test_a_checkpoint_names_the_run_it_recorded_for_its_inputs_only(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path, "inputs", run_id="run-1")
    checkpoint.save(_state(), 1, {})
    assert Checkpoint(tmp_path, "inputs").recorded_run("model") == "run-1"
    assert Checkpoint(tmp_path, "other inputs").recorded_run("model") is None


def _state() -> TrainingState:
    model = models.build_model("small_cnn", 3, width=4)
    return TrainingState(
        model, losses.build("bce"), torch.optim.Adam(model.parameters()), torch.Generator()
    )
