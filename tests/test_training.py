"""The training loop: model selection, checkpoints that resume exactly, clear failures."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spml import losses, models, training
from spml.augment import Augment
from spml.checkpoints import Checkpoint
from spml.data import LabelledImages, normalise
from spml.inference import predict
from spml.metrics import mean_average_precision
from spml.train_settings import TrainSettings
from spml.training import fit
from tests.images import colour_coded_images

_data = colour_coded_images

SETTINGS = TrainSettings(epochs=3, lr=1e-2, batch_size=16, seed=7, device="cpu")


def _model_and_loss() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(7)
    return models.build_model("small_cnn", 3, width=4), losses.build("bce")


def _train(
    checkpoint: Path | None = None,
    stop_after: int | None = None,
    seed: int = 7,
    settings: TrainSettings = SETTINGS,
):
    torch.manual_seed(seed)
    model = models.build_model("small_cnn", 3, width=4)
    loss = losses.build("bce", num_samples=64, num_classes=3)

    def interrupt(report) -> None:
        if stop_after is not None and report.epoch == stop_after:
            raise KeyboardInterrupt

    settings = TrainSettings(**{**settings.__dict__, "seed": seed})
    result = fit(
        model,
        loss,
        _data(64, 0),
        _data(32, 1),
        settings,
        checkpoint=Checkpoint(checkpoint, "inputs-v1") if checkpoint else None,
        on_epoch_end=interrupt,
    )
    return model, result


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_keeps_the_weights_of_the_best_validation_epoch_not_the_last(monkeypatch) -> None:
    curve = iter([40.0, 70.0, 70.0, 55.0])  # best at epoch 2; epoch 3 only ties it
    monkeypatch.setattr(training, "evaluate", lambda model, data, settings: next(curve))
    model, loss = _model_and_loss()
    weights_after = {}
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 4})
    result = fit(
        model,
        loss,
        _data(64, 0),
        _data(32, 1),
        settings,
        on_epoch_end=lambda report: weights_after.update({report.epoch: _weights(model)}),
    )
    assert [r.val_map for r in result.history] == [40.0, 70.0, 70.0, 55.0]
    assert (result.best_epoch, result.best_val_map) == (2, 70.0)
    assert not all(torch.equal(weights_after[2][k], v) for k, v in weights_after[4].items())
    for name, value in weights_after[2].items():
        assert torch.equal(model.state_dict()[name], value), name
        assert torch.equal(result.best_state[name], value), name


def test_validation_map_is_measured_without_flips() -> None:
    val = _data(32, 1)
    model, loss = _model_and_loss()
    weights_after = {}
    fit(
        model,
        loss,
        _data(64, 0),
        val,
        SETTINGS,
        on_epoch_end=lambda report: weights_after.update({report.epoch: (report, _weights(model))}),
    )
    images = normalise(val.batch(torch.arange(len(val))))
    for report, weights in weights_after.values():
        model.load_state_dict(weights)
        model.eval()
        with torch.no_grad():
            plain, mirrored = model(images), model(images.flip(-1))
        assert report.val_map == pytest.approx(mean_average_precision(plain, val.targets))
        assert report.val_map != pytest.approx(mean_average_precision(mirrored, val.targets))


COSINE = TrainSettings(**{**SETTINGS.__dict__, "schedule": "cosine", "warmup_epochs": 0.5})


@pytest.mark.parametrize("settings", [SETTINGS, COSINE], ids=["constant", "cosine"])
def test_interrupted_training_resumes_to_the_same_weights(
    tmp_path: Path, settings: TrainSettings
) -> None:
    checkpoint = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        _train(checkpoint, stop_after=2, settings=settings)
    resumed_model, resumed = _train(checkpoint, settings=settings)
    straight_model, straight = _train(settings=settings)
    assert [r.val_map for r in resumed.history] == [r.val_map for r in straight.history]
    for name, value in straight_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    images = _data(8, 3)
    np.testing.assert_array_equal(
        predict(resumed_model, images, SETTINGS.inference),
        predict(straight_model, images, SETTINGS.inference),
    )


def test_a_resumed_training_keeps_the_best_epoch_it_had_before(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    scores = iter([40.0, 70.0, 55.0])  # epochs 1 and 2 before the interruption, 3 after it
    monkeypatch.setattr(training, "evaluate", lambda model, data, settings: next(scores))
    checkpoint = tmp_path / "model"
    with caplog.at_level(logging.INFO, logger="spml.checkpoints"):
        with pytest.raises(KeyboardInterrupt):
            _train(checkpoint, stop_after=2)
        after_epoch_2 = torch.load(Checkpoint(checkpoint, "inputs-v1").path, weights_only=True)
        model, resumed = _train(checkpoint)
    path = Checkpoint(checkpoint, "inputs-v1").path
    assert [r.message for r in caplog.records if r.name == "spml.checkpoints"] == [
        "model: no checkpoint of these inputs and parameters; training afresh",
        f"model: resuming from {path} after epoch 2",  # named by the model being trained
    ]
    assert [(r.epoch, r.val_map) for r in resumed.history] == [(1, 40.0), (2, 70.0), (3, 55.0)]
    assert (resumed.best_epoch, resumed.best_val_map) == (2, 70.0)
    for name, value in after_epoch_2["model"].items():
        assert torch.equal(model.state_dict()[name], value), name


def test_a_checkpoint_is_reused_only_for_the_same_inputs(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model"
    _, first = _train(checkpoint, seed=7)
    _, reused = _train(checkpoint, seed=8)  # same fingerprint: the finished training is kept
    assert reused.history == first.history

    torch.manual_seed(8)
    changed = fit(
        models.build_model("small_cnn", 3, width=4),
        losses.build("bce"),
        _data(64, 0),
        _data(32, 1),
        TrainSettings(**{**SETTINGS.__dict__, "seed": 8}),
        checkpoint=Checkpoint(checkpoint, "inputs-v2") if checkpoint else None,
    )
    _, fresh = _train(None, seed=8)
    assert [r.val_map for r in changed.history] == [r.val_map for r in fresh.history]


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    _, first = _train(seed=3)
    _, again = _train(seed=3)
    _, other = _train(seed=4)
    assert [r.train_loss for r in first.history] == [r.train_loss for r in again.history]
    assert [r.train_loss for r in first.history] != [r.train_loss for r in other.history]


def test_compile_modes_train_like_eager_on_the_cpu() -> None:
    eager = fit(*_model_and_loss(), _data(64, 0), _data(32, 1), SETTINGS)
    settings = TrainSettings(**{**SETTINGS.__dict__, "compile": "reduce-overhead"})
    compiled = fit(*_model_and_loss(), _data(64, 0), _data(32, 1), settings)
    for mine, theirs in zip(compiled.history, eager.history, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-3)


def test_a_failing_compile_names_the_parameter_that_turns_it_off(monkeypatch) -> None:
    def broken(*_args, **_kwargs):
        raise torch._dynamo.exc.TorchDynamoException("inductor: no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda network, **_: broken)
    settings = TrainSettings(**{**SETTINGS.__dict__, "compile": True})
    with pytest.raises(
        RuntimeError,
        match=r"^model: torch\.compile failed \(parameter training\.compile=True\); "
        r"--params training\.compile=false trains without it$",
    ):
        fit(*_model_and_loss(), _data(64, 0), _data(32, 1), settings)


@pytest.mark.parametrize(
    "compile_setting, mode", [(True, None), ("reduce-overhead", "reduce-overhead")]
)
def test_the_compile_parameter_reaches_torch_compile(
    monkeypatch, compile_setting: bool | str, mode: str | None
) -> None:
    compiled = []

    def recording_compile(network, **options):
        compiled.append((network, options))
        return network

    monkeypatch.setattr(torch, "compile", recording_compile)
    model = torch.nn.Linear(4, 3)
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "compile": compile_setting})
    fit(model, RecordingBCE(), _features(16, 0), _features(8, 1), settings)
    assert compiled == [(model, {"mode": mode})]


def test_a_non_finite_loss_names_epoch_and_step() -> None:
    class Exploding(torch.nn.Module):
        def forward(self, logits, targets, **_):
            return logits.sum() * float("nan")

    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1"):
        fit(
            models.build_model("small_cnn", 3, width=4),
            Exploding(),
            _data(64, 0),
            _data(32, 1),
            SETTINGS,
        )


def test_a_batch_larger_than_the_data_is_refused() -> None:
    settings = TrainSettings(epochs=1, lr=1e-3, batch_size=500, seed=0, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        fit(
            models.build_model("small_cnn", 3, width=4),
            losses.build("bce"),
            _data(64, 0),
            _data(32, 1),
            settings,
        )


@pytest.mark.parametrize(
    "config, name",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"colour": 1}, "colour"),
        ({"compile": "fastest"}, "training.compile"),
        ({"compile": "reduce-overhead", "devices": 2}, "training.compile"),
        ({"schedule": "step"}, r"training.schedule must be one of \('constant', 'cosine'\)"),
        ({"warmup_epochs": -0.5}, "training.warmup_epochs must be a number >= 0"),
        ({"weight_decay": True}, "training.weight_decay must be a number >= 0, got True"),
        ({"weight_decay": float("nan")}, "training.weight_decay must be a number"),
    ],
)
def test_bad_training_parameters_are_named(config: dict, name: str) -> None:
    base = {"epochs": 1, "lr": 1e-3, "batch_size": 8, "seed": 0}
    with pytest.raises(ValueError, match=name):
        TrainSettings.from_config({**base, **config})


def test_a_loss_that_turns_nan_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    class NanInSecondEpoch(torch.nn.Module):
        def forward(self, logits, targets, *, epoch, **_):
            value = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
            return value * float("nan") if epoch == 2 else value

    checkpoint = tmp_path / "model"
    with pytest.raises(FloatingPointError, match=r"epoch 2, step 1"):
        fit(
            models.build_model("small_cnn", 3, width=4),
            NanInSecondEpoch(),
            _data(64, 0),
            _data(32, 1),
            SETTINGS,
            checkpoint=Checkpoint(checkpoint, "x") if checkpoint else None,
        )
    saved = torch.load(Checkpoint(checkpoint, "x").path, weights_only=True)
    assert saved["epoch"] == 1
    assert all(
        torch.isfinite(value).all()
        for value in saved["model"].values()
        if value.is_floating_point()
    )


def _features(n: int, seed: int) -> LabelledImages:
    """Frozen-backbone features (N x 4) and labels: training steps that cost next to nothing."""
    rng = np.random.default_rng(seed)
    return LabelledImages.from_arrays(rng.random((n, 4), dtype=np.float32), np.eye(n, 3))


class RecordingBCE(torch.nn.Module):
    """BCE that remembers each batch's value; becomes NaN at one step if asked."""

    def __init__(self, nan_at_step: int | None = None) -> None:
        super().__init__()
        self.values: list[float] = []
        self.nan_at_step = nan_at_step

    def forward(self, logits, targets, **_):
        value = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        self.values.append(value.item())
        return value * float("nan") if len(self.values) == self.nan_at_step else value


class RecordingShares(torch.nn.Module):
    """BCE that remembers the sample indices of every step it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[list[int]] = []

    def forward(self, logits, targets, *, index, **_):
        self.steps.append(index.tolist())
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)


@pytest.mark.parametrize(("images", "sizes"), [(17, [(9, 8)]), (33, [(8, 8), (9, 8)])])
def test_each_rank_trains_every_epoch_on_its_share_a_last_batch_too_small_joins(
    monkeypatch, images: int, sizes: list[tuple[int, int]]
) -> None:
    # One rank's view of a 2-process run, without the process group: the model unwrapped
    # (DDP's gradient averaging and SyncBatchNorm are tested in test_distributed.py).
    monkeypatch.setattr(training, "_network", lambda model, settings, world_size: model)
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 2, "batch_size": 16})
    steps = []
    for rank in (0, 1):
        loss = RecordingShares()
        torch.manual_seed(0)
        fit(
            torch.nn.Linear(4, 3),
            loss,
            _features(images, 0),
            _features(8, 1),
            settings,
            rank=rank,
            world_size=2,
        )
        steps.append(loss.steps)
    # Batches of 16 leave a last one of 1, which joins the one before: no rank goes empty.
    assert len(steps[0]) == len(steps[1]) == 2 * len(sizes)  # both ranks train both epochs
    for epoch in range(2):
        shares = [rank[epoch * len(sizes) : (epoch + 1) * len(sizes)] for rank in steps]
        assert [(len(a), len(b)) for a, b in zip(*shares, strict=True)] == sizes
        for a, b in zip(*shares, strict=True):
            assert not set(a) & set(b)  # each rank its own part of the same batch
        assert sorted(i for rank in shares for step in rank for i in step) == list(range(images))


def test_the_epoch_loss_is_the_mean_of_its_batch_losses_read_in_chunks() -> None:
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "batch_size": 1})
    loss = RecordingBCE()
    result = fit(torch.nn.Linear(4, 3), loss, _features(40, 0), _features(8, 1), settings)
    assert len(loss.values) == 40  # more steps than one read-back covers (LOSS_CHECK_EVERY)
    assert result.history[0].train_loss == pytest.approx(sum(loss.values) / 40)

    whole = TrainSettings(**{**settings.__dict__, "batch_size": 40})  # one step per epoch
    single = RecordingBCE()
    result = fit(torch.nn.Linear(4, 3), single, _features(40, 0), _features(8, 1), whole)
    assert single.values == [pytest.approx(result.history[0].train_loss)]


def test_a_non_finite_loss_stops_training_at_the_next_read_back() -> None:
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "batch_size": 1})
    loss = RecordingBCE(nan_at_step=1)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1;"):
        fit(torch.nn.Linear(4, 3), loss, _features(40, 0), _features(8, 1), settings)
    assert len(loss.values) == training.LOSS_CHECK_EVERY  # not the whole epoch of 40 steps


def test_a_non_finite_loss_late_in_an_epoch_names_its_step() -> None:
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "batch_size": 1})
    message = r"^model: loss became nan at epoch 1, step 35; the last good checkpoint is kept$"
    with pytest.raises(FloatingPointError, match=message):
        fit(torch.nn.Linear(4, 3), RecordingBCE(35), _features(40, 0), _features(8, 1), settings)


def test_the_loss_parameters_learn_at_their_own_rate() -> None:
    lr = 0.05  # not Adam's default, which a group without its own rate would get
    model, role = _model_and_loss()[0], losses.build("role", num_samples=64, num_classes=3)
    optimiser = training._optimiser(model, role, lr)
    weights, others, loss_group = optimiser.param_groups
    assert weights["lr"] == others["lr"] == lr and loss_group["lr"] == pytest.approx(10 * lr)
    assert [p.ndim for p in weights["params"]] == [4, 4, 4, 4, 2]  # convolutions, classifier
    assert {id(p) for p in weights["params"] + others["params"]} == {
        id(p) for p in model.parameters()
    }
    assert loss_group["params"] == [role.logits]
    assert len(training._optimiser(model, losses.build("bce"), lr).param_groups) == 2

    class ScaledBCE(torch.nn.Module):  # a learnable loss without its own learning rate
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

    loss_group = training._optimiser(model, ScaledBCE(), lr).param_groups[2]
    assert loss_group["lr"] == lr and len(loss_group["params"]) == 1


class RecordingLoss(torch.nn.Module):
    """BCE over the known entries that writes down what the training loop gave it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []

    def forward(self, logits, targets, *, index, epoch, mask):
        self.calls.append({"index": index, "targets": targets, "epoch": epoch, "mask": mask})
        known = ~torch.isnan(targets)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits[known], targets[known])


def test_the_loss_gets_each_images_index_targets_and_unknown_mask_every_epoch() -> None:
    train = _features(24, 0)
    train.targets[[1, 5, 6], [0, 2, 1]] = float("nan")  # unknown entries (a band policy)
    loss = RecordingLoss()
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 2, "batch_size": 5})
    fit(torch.nn.Linear(4, 3), loss, train, _features(8, 1), settings)
    assert [call["epoch"] for call in loss.calls] == [1] * 5 + [2] * 5
    for epoch in (1, 2):
        calls = [call for call in loss.calls if call["epoch"] == epoch]
        assert sorted(torch.cat([call["index"] for call in calls]).tolist()) == list(range(24))
    for call in loss.calls:
        expected = train.targets[call["index"]]
        assert torch.equal(call["mask"], torch.isnan(expected))
        torch.testing.assert_close(call["targets"], expected, equal_nan=True)


def test_a_loss_with_a_batch_regulariser_trains_on_fully_known_targets() -> None:
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "batch_size": 8})
    epr = losses.build("epr", num_samples=24, num_classes=3)
    result = fit(torch.nn.Linear(4, 3), epr, _features(24, 0), _features(8, 1), settings)
    assert np.isfinite(result.history[0].train_loss)


def test_a_noisy_student_trains_on_noise_drawn_from_its_seed() -> None:
    augment = Augment(min_area=0.5, max_aspect=1.2, brightness=0.2, contrast=0.2, saturation=0.2)
    noisy = TrainSettings(
        **{**SETTINGS.__dict__, "epochs": 1, "batch_size": 12, "augment": augment}
    )
    plain = TrainSettings(**{**noisy.__dict__, "augment": None})

    def weights_after(settings: TrainSettings) -> dict[str, torch.Tensor]:
        model, loss = _model_and_loss()
        fit(model, loss, _data(28, 0, size=8), _data(8, 1, size=8), settings)  # a short last batch
        return _weights(model)

    first, again, unnoised = weights_after(noisy), weights_after(noisy), weights_after(plain)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], unnoised[k]) for k in first)


def test_each_epoch_is_logged_shown_as_progress_and_timed(monkeypatch, caplog) -> None:
    bars = []

    class RecordingBar:
        def __init__(self, **options) -> None:
            self.options, self.steps, self.postfix, self.redraws = options, 0, {}, []
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *_):
            return None

        def update(self, steps: int) -> None:
            self.steps += steps

        def set_postfix(self, refresh: bool = True, **postfix) -> None:
            self.postfix = postfix
            self.redraws.append(refresh)

    monkeypatch.setattr(training, "tqdm", RecordingBar)
    curve = iter([40.0, 70.0])
    monkeypatch.setattr(training, "evaluate", lambda model, data, settings: next(curve))
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 2, "batch_size": 1})
    loss = RecordingBCE()
    started = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="spml.training"):
        result = fit(torch.nn.Linear(4, 3), loss, _features(40, 0), _features(8, 1), settings)
    elapsed = time.perf_counter() - started
    assert [(bar.options["total"], bar.steps) for bar in bars] == [(40, 40), (40, 40)]
    assert [bar.options["desc"] for bar in bars] == ["model epoch 1/2", "model epoch 2/2"]
    for bar in bars:  # gone when its epoch ends, drawn at most once a second, only on a terminal
        assert (bar.options["leave"], bar.options["mininterval"]) == (False, 1.0)
        assert bar.options["disable"] is None and not any(bar.redraws)
    for bar, report in zip(bars, result.history, strict=True):
        assert bar.postfix == {"loss": f"{report.train_loss:.4f}"}
    second = result.history[1]
    assert caplog.messages == [
        f"model epoch 1/2: train_loss {result.history[0].train_loss:.4f}, val mAP 40.00 "
        f"(best 40.00 at epoch 1), {result.history[0].seconds:.1f}s",
        f"model epoch 2/2: train_loss {second.train_loss:.4f}, val mAP 70.00 "
        f"(best 70.00 at epoch 2), {second.seconds:.1f}s",
    ]
    assert 0 < result.history[0].seconds and sum(r.seconds for r in result.history) <= elapsed


def test_shuffles_flips_and_noise_come_from_the_training_seed_alone() -> None:
    augment = Augment(min_area=0.5, max_aspect=1.2, brightness=0.2, contrast=0.2, saturation=0.2)
    settings = TrainSettings(
        **{**SETTINGS.__dict__, "epochs": 1, "batch_size": 7, "augment": augment}
    )
    model, _ = _model_and_loss()
    start = _weights(model)

    def weights_after(global_seed: int) -> dict[str, torch.Tensor]:
        model.load_state_dict(start)
        torch.manual_seed(global_seed)  # what other code did with torch's global generator
        fit(model, losses.build("bce"), _data(28, 0, size=8), _data(8, 1, size=8), settings)
        return _weights(model)

    first, other = weights_after(1), weights_after(2)
    assert all(torch.equal(first[k], other[k]) for k in first)


class RecordingInputs(torch.nn.Module):
    """Passes the inputs on, remembering those of training steps."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(inputs.detach().clone())
        return inputs


def test_training_flips_a_random_share_of_the_images_and_nothing_else() -> None:
    train = _data(28, 0, size=8)
    recorder, loss = RecordingInputs(), RecordingLoss()
    model = torch.nn.Sequential(recorder, torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    settings = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1, "batch_size": 7})
    fit(model, loss, train, _data(8, 1, size=8), settings)
    flipped = []
    for inputs, call in zip(recorder.seen, loss.calls, strict=True):
        images = normalise(train.batch(call["index"]))
        for seen, image in zip(inputs, images, strict=True):
            assert torch.equal(seen, image) or torch.equal(seen, image.flip(-1))
            flipped.append(not torch.equal(seen, image))
    assert len(flipped) == 28 and 0 < sum(flipped) < 28


def test_weight_decay_applies_to_weights_only_decoupled_from_the_gradient() -> None:
    model = models.build_model("small_cnn", 3, width=4)
    optimiser = training._optimiser(model, losses.build("bce"), 0.1, weight_decay=0.5)
    weights, others = optimiser.param_groups
    assert all(p.ndim > 1 for p in weights["params"]) and weights["weight_decay"] == 0.5
    assert all(p.ndim == 1 for p in others["params"]) and others["weight_decay"] == 0.0
    assert optimiser.defaults["decoupled_weight_decay"] is True
    before = {id(p): p.detach().clone() for p in model.parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only the decay moves anything
    optimiser.step()
    for p in weights["params"]:  # AdamW: w <- w * (1 - lr * decay)
        torch.testing.assert_close(p.detach(), before[id(p)] * (1 - 0.1 * 0.5))
    for p in others["params"]:
        assert torch.equal(p.detach(), before[id(p)])


def test_the_learning_rate_warms_up_linearly_then_follows_a_half_cosine_to_zero() -> None:
    factor = training.learning_rate_factor
    assert [factor("cosine", step, 104, 4) for step in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor("cosine", 4, 104, 4) == 1.0  # the cosine starts at the peak
    assert factor("cosine", 54, 104, 4) == pytest.approx(0.5)  # halfway through it
    assert factor("cosine", 104, 104, 4) == pytest.approx(0.0, abs=1e-12)
    assert factor("cosine", 103, 104, 0) == pytest.approx(0.5 * (1 + np.cos(np.pi * 103 / 104)))
    assert [factor("constant", step, 10, 2) for step in (0, 1, 2, 9)] == [0.5, 1.0, 1.0, 1.0]


def test_every_step_trains_at_its_scheduled_rate_in_every_group(monkeypatch) -> None:
    seen: list[tuple[float, float]] = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):  # the rates the update is made with
            seen.append((self.param_groups[0]["lr"], self.param_groups[-1]["lr"]))
            return super().step(closure)

    settings = TrainSettings(
        **{**SETTINGS.__dict__, "epochs": 2, "schedule": "cosine", "warmup_epochs": 1}
    )
    model = models.build_model("small_cnn", 3, width=4)
    role = losses.build("role", num_samples=64, num_classes=3)
    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    fit(model, role, _data(64, 0), _data(32, 1), settings)
    steps = 4 * settings.epochs  # 64 images in batches of 16
    expected = [
        settings.lr * training.learning_rate_factor("cosine", s, steps, 4) for s in range(steps)
    ]
    assert [model_lr for model_lr, _ in seen] == pytest.approx(expected)
    assert [loss_lr for _, loss_lr in seen] == pytest.approx([10 * lr for lr in expected])
