"""Students' losses on soft targets in [0, 1] and with masked (unknown) entries."""

from __future__ import annotations

import math

import pytest
import torch

from spml import models
from spml.augment import Augment
from spml.data import LabelledImages
from spml.losses import build
from spml.train_settings import TrainSettings
from spml.training import fit
from tests.images import colour_coded_images

NOISE = Augment(min_area=0.35, max_aspect=1.333, brightness=0.4, contrast=0.4, saturation=0.4)

LOGITS = [[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]]
SOFT = [[0.9, 0.2, 0.5], [0.0, 0.7, 0.35]]
MASK = [[False, True, False], [True, False, False]]


def nl(x: float) -> float:
    return -math.log(x + 1e-5)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def bce(p: float, t: float) -> float:
    return t * nl(p) + (1 - t) * nl(1 - p)


def loss_and_grad(name: str, targets, mask=None, **options) -> tuple[float, torch.Tensor]:
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    mask_tensor = None if mask is None else torch.tensor(mask)
    value = build(name, **options)(
        logits, torch.tensor(targets, dtype=torch.float64), mask=mask_tensor
    )
    value.backward()
    return value.item(), logits.grad


def test_bce_ls_on_soft_targets_equals_its_formula() -> None:
    eps = 0.1
    expected = (
        sum(
            (1 - eps) * bce(sig(LOGITS[i][j]), SOFT[i][j])
            + eps * bce(sig(LOGITS[i][j]), 1 - SOFT[i][j])
            for i in range(2)
            for j in range(3)
        )
        / 6
    )
    value, _ = loss_and_grad("bce_ls", SOFT, eps=eps)
    assert value == pytest.approx(expected, rel=1e-12)


def test_bce_on_soft_targets_equals_its_formula() -> None:
    expected = sum(bce(sig(LOGITS[i][j]), SOFT[i][j]) for i in range(2) for j in range(3)) / 6
    assert loss_and_grad("bce", SOFT)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["bce_ls", "bce", "an", "an_ls", "wan", "em"])
def test_masked_entries_get_exactly_zero_gradient_and_count_as_zero(name: str) -> None:
    targets = [[1.0, float("nan"), 0.0], [float("nan"), 1.0, 0.0]]  # NaN where masked
    value, grad = loss_and_grad(name, targets, MASK)
    mask = torch.tensor(MASK)
    assert math.isfinite(value)
    assert (grad[mask] == 0).all()  # exactly zero, not merely small
    assert (grad[~mask] != 0).all()
    # The unmasked entries are those of the unmasked loss; masked ones add nothing (B*C stays 6).
    filled = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    reference = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    matrix_loss = build(name)
    p = torch.sigmoid(reference)
    matrix = matrix_loss.loss_matrix(p, torch.tensor(filled, dtype=torch.float64), None, 1)
    assert value == pytest.approx((matrix * ~mask).sum().item() / 6, rel=1e-12)


def test_a_mask_of_nothing_changes_nothing() -> None:
    plain, plain_grad = loss_and_grad("bce_ls", SOFT)
    masked, masked_grad = loss_and_grad("bce_ls", SOFT, [[False] * 3, [False] * 3])
    assert plain == masked
    assert torch.equal(plain_grad, masked_grad)


def test_a_loss_with_a_batch_regulariser_refuses_a_mask() -> None:
    with pytest.raises(ValueError, match="regulariser"):
        loss_and_grad("epr", [[1.0, 0, 0], [0, 1.0, 0]], MASK)


@pytest.mark.parametrize("mask", [[[1, 0, 0], [0, 0, 0]], [[True, False], [False, True]]])
def test_a_mask_of_the_wrong_shape_or_type_is_refused(mask) -> None:
    with pytest.raises(ValueError, match="boolean mask"):
        loss_and_grad("bce_ls", SOFT, mask)


# ---- the training loop: unknown targets and noisy students -------------------------------


class Recording(torch.nn.Module):
    """A loss that remembers the targets and mask it was given for each training sample."""

    def __init__(self, loss: torch.nn.Module) -> None:
        super().__init__()
        self.loss = loss
        self.seen: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def forward(self, logits, targets, *, index, epoch, mask=None):
        for row, sample in enumerate(index.tolist()):
            self.seen[sample] = (targets[row].clone(), None if mask is None else mask[row].clone())
        return self.loss(logits, targets, index=index, epoch=epoch, mask=mask)


def _fit(data, loss, augment=None, seed=5):
    torch.manual_seed(seed)
    model = models.build_model("small_cnn", 3, width=4)
    settings = TrainSettings(
        epochs=2, lr=1e-2, batch_size=16, seed=seed, device="cpu", augment=augment
    )
    result = fit(model, loss, data, colour_coded_images(32, 1), settings)
    return model, result


def test_unknown_targets_reach_the_loss_as_its_mask(colour_coded) -> None:
    data = colour_coded(48, 0)
    targets = data.targets.clone()
    targets[::3, 1] = float("nan")  # unknown: the student must not learn these entries
    data = LabelledImages(data.images, data.rows, targets)
    recording = Recording(build("bce_ls"))
    _, result = _fit(data, recording)
    assert all(math.isfinite(report.train_loss) for report in result.history)
    for sample, (seen, mask) in recording.seen.items():
        assert torch.equal(mask, torch.isnan(targets[sample]))
        assert torch.equal(torch.isnan(seen), torch.isnan(targets[sample]))


def test_hard_targets_come_without_a_mask(colour_coded) -> None:
    recording = Recording(build("bce"))
    _fit(colour_coded(32, 0), recording)
    assert all(mask is None for _, mask in recording.seen.values())


def test_a_noisy_student_repeats_exactly_and_differs_from_a_plain_one(colour_coded) -> None:
    data = colour_coded(48, 0)
    noisy, _ = _fit(data, build("bce"), NOISE)
    again, _ = _fit(data, build("bce"), NOISE)
    plain, _ = _fit(data, build("bce"))
    for name, value in noisy.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])
    assert any(
        not torch.equal(value, plain.state_dict()[name])
        for name, value in noisy.state_dict().items()
    )


def test_noise_is_not_a_training_parameter() -> None:
    with pytest.raises(ValueError, match="augment"):
        TrainSettings.from_config(
            {"epochs": 1, "lr": 1e-3, "batch_size": 8, "seed": 0, "augment": True}
        )
