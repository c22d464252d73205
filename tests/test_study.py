"""The train-select-test recipe, for every loss of the library."""

from __future__ import annotations

import numpy as np
import pytest

from spml import losses
from spml.data import LabelledImages
from spml.protocol import observe_single_positive
from spml.study import ModelSpec, train_and_test
from spml.train_settings import TrainSettings


def _split(n: int, seed: int, observed: bool = False) -> LabelledImages:
    rng = np.random.default_rng(seed)
    full = (rng.random((n, 4)) < 0.4).astype(np.uint8)
    full[full.sum(1) == 0, 0] = 1
    targets = observe_single_positive(full) if observed else full
    images = rng.integers(0, 255, size=(n, 3, 16, 16), dtype=np.uint8)
    return LabelledImages.from_arrays(images, targets)


@pytest.mark.parametrize("loss", losses.available_losses())
def test_every_loss_trains_the_demo_model_through_the_real_loop(loss: str) -> None:
    full_labels = loss in losses.FULL_LABEL_LOSSES
    options = {"warmup_epochs": 1} if loss == "em_apl" else {}  # so its relabelling runs too
    trained = train_and_test(
        ModelSpec(f"baseline {loss}", "baseline", loss, options),
        _split(48, 0, observed=not full_labels),
        _split(24, 1),
        _split(24, 2),
        {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}},
        TrainSettings(epochs=2, lr=1e-3, batch_size=16, seed=0, device="cpu"),
    )
    assert 0 <= trained.metrics["test_map"] <= 100
    assert trained.metrics["best_epoch"] in (1, 2)
    assert len(trained.metrics["history"]) == 2
    assert all(np.isfinite(r["train_loss"]) for r in trained.metrics["history"])
