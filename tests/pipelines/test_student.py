"""Students learn from the pseudo labels, never from the full labels, and select on clean ones."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from torch import nn

from spml import losses, tracking, training
from spml.pipelines.design import StudyDesign
from spml.pipelines.student.pipeline import create_pipeline
from tests.pipelines.memory_study import MODEL, TRAINING, run, table


class Recording(nn.Module):
    """A loss that remembers the targets it was given for each training sample."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss
        self.targets: dict[int, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, **context) -> torch.Tensor:
        self.targets.update(zip(context["index"].tolist(), targets.clone(), strict=True))
        return self.loss(logits, targets, **context)


def test_the_student_trains_on_the_pseudo_labels_and_selects_on_clean_validation_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tracking is not under test here (tests/pipelines/test_study.py checks it on a real
    # store); a fresh MLflow database alone would take most of this test's time.
    monkeypatch.setattr(
        tracking,
        "model_run",
        lambda name, params, recorded_run_id=None: nullcontext(tracking.ModelRun("run", False)),
    )
    monkeypatch.setattr(tracking, "log_model", lambda state, description: None)
    monkeypatch.setattr(tracking, "log_final", lambda metrics: None)
    monkeypatch.setattr(tracking, "log_epoch", lambda report: None)
    rng = np.random.default_rng(0)
    split = np.array(["train", "val"] * 12)  # train2014 rows alternate between the splits
    full = (rng.random((24, 3)) < 0.5).astype(np.uint8)
    full[full.sum(1) == 0, 0] = 1
    train_rows = np.flatnonzero(split == "train")
    wrong = rng.random((len(train_rows), 3)) < 0.5  # pseudo labels differ from the truth here
    pseudo = np.where(wrong, 1 - full[train_rows], full[train_rows])
    probabilities = np.where(pseudo == 1, 0.9, 0.1).astype(np.float32)

    recorded: list[Recording] = []
    build_loss = losses.build

    def recording_build(*args, **kwargs) -> Recording:
        recorded.append(Recording(build_loss(*args, **kwargs)))
        return recorded[-1]

    validated: list[tuple[np.ndarray, torch.Tensor]] = []
    evaluate = training.evaluate

    def recording_evaluate(model, data, settings):
        validated.append((data.rows, data.targets))
        return evaluate(model, data, settings)

    monkeypatch.setattr(losses, "build", recording_build)
    monkeypatch.setattr(training, "evaluate", recording_evaluate)
    outputs = run(
        create_pipeline(StudyDesign(taus=(0.5,))),
        teacher_probabilities=table(probabilities, ids=train_rows + 1),
        full_labels=table(full, split),
        observed_labels=table(np.eye(3, dtype=np.uint8)[full.argmax(1)], split),  # p > tau: unused
        test_labels=table(full[:8]),
        train_images=rng.integers(0, 255, size=(24, 3, 16, 16), dtype=np.uint8),
        test_images=rng.integers(0, 255, size=(8, 3, 16, 16), dtype=np.uint8),
        **{
            "params:student": {"loss": "bce_ls", "loss_options": {"eps": 0.1}},
            "params:model": MODEL,
            "params:training": TRAINING,
            "params:search": None,
            "params:checkpoints": None,
            "params:data_root": "memory",
        },
    )
    assert outputs["student_metrics_tau_0_50"]["role"] == "student"
    (loss,) = recorded
    seen = torch.stack([loss.targets[i] for i in range(len(train_rows))]).numpy()
    assert sorted(loss.targets) == list(range(len(train_rows)))
    np.testing.assert_array_equal(seen, pseudo)
    assert (seen != full[train_rows]).sum() > 5
    for rows, targets in validated:
        np.testing.assert_array_equal(rows, np.flatnonzero(split == "val"))
        np.testing.assert_array_equal(targets.numpy(), full[split == "val"])
