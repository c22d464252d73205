"""Every SPML loss against its formula written out term by term; schedules, state, errors."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from spml import losses, reporting
from spml.losses import available_losses, build
from tests.conftest import PROJECT_ROOT

LOGITS = [
    [2.0, -1.0, 0.5, -3.0, 30.0],
    [-0.5, 1.5, -2.0, 0.0, -30.0],
    [0.3, -0.7, 3.0, -1.2, 0.8],
    [-2.5, 0.1, -0.4, 1.0, -1.8],
]
OBSERVED = [  # one observed positive per image, the rest unknown
    [1, 0, 0, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 1, 0],
]
FULL = [  # full labels for bce / bce_ls
    [1, 0, 0, 0, 1],
    [0, 1, 0, 1, 0],
    [1, 0, 1, 0, 0],
    [0, 0, 0, 1, 1],
]
B, C = 4, 5
INDEX = [0, 3, 5, 9]
N = 10


def nl(x: float) -> float:
    return -math.log(x + 1e-5)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


P = [[sig(x) for x in row] for row in LOGITS]
ENTRIES = [(i, j) for i in range(B) for j in range(C)]


def call(loss: torch.nn.Module, labels=OBSERVED, *, epoch: int | None = 1, index=INDEX):
    x = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    z = torch.tensor(labels, dtype=torch.float64)
    return loss(x, z, index=torch.tensor(index), epoch=epoch), x


# ---- expected values, entry by entry ------------------------------------------------------


def expected_bce(y) -> float:
    return sum(nl(P[i][j]) if y[i][j] else nl(1 - P[i][j]) for i, j in ENTRIES) / (B * C)


def expected_ls(y, eps: float = 0.1) -> float:
    total = 0.0
    for i, j in ENTRIES:
        p = P[i][j]
        if y[i][j]:
            total += (1 - eps) * nl(p) + eps * nl(1 - p)
        else:
            total += (1 - eps) * nl(1 - p) + eps * nl(p)
    return total / (B * C)


def expected_wan() -> float:
    terms = (nl(P[i][j]) if OBSERVED[i][j] else nl(1 - P[i][j]) / (C - 1) for i, j in ENTRIES)
    return sum(terms) / (B * C)


def epr_term(probs, k: float = 2.9) -> float:
    mean_count = sum(sum(row) for row in probs) / len(probs)
    return (mean_count - k) ** 2 / C**2


def expected_epr() -> float:
    return sum(nl(P[i][j]) for i, j in ENTRIES if OBSERVED[i][j]) / (B * C) + epr_term(P)


def entropy(p: float) -> float:
    return p * nl(p) + (1 - p) * nl(1 - p)


def expected_em(alpha: float = 0.1) -> float:
    terms = (nl(P[i][j]) if OBSERVED[i][j] else -alpha * entropy(P[i][j]) for i, j in ENTRIES)
    return sum(terms) / (B * C)


STATELESS = {
    "bce": (FULL, lambda: expected_bce(FULL)),
    "bce_ls": (FULL, lambda: expected_ls(FULL)),
    "an": (OBSERVED, lambda: expected_bce(OBSERVED)),
    "an_ls": (OBSERVED, lambda: expected_ls(OBSERVED)),
    "wan": (OBSERVED, expected_wan),
    "epr": (OBSERVED, expected_epr),
    "em": (OBSERVED, expected_em),
    "ll_r": (OBSERVED, lambda: expected_bce(OBSERVED)),  # epoch 1: nothing rejected yet
    "ll_ct": (OBSERVED, lambda: expected_bce(OBSERVED)),
    "ll_cp": (OBSERVED, lambda: expected_bce(OBSERVED)),
    "em_apl": (OBSERVED, expected_em),  # epoch 1: no soft negatives yet
}


@pytest.mark.parametrize("name", sorted(STATELESS))
def test_value_matches_formula(name: str) -> None:
    labels, expected = STATELESS[name]
    value, _ = call(build(name, num_samples=N, num_classes=C), labels)
    assert value.item() == pytest.approx(expected(), rel=1e-9)


def test_em_alpha_and_label_smoothing_eps_are_used() -> None:
    assert call(build("em", alpha=0.2))[0].item() == pytest.approx(expected_em(0.2), rel=1e-9)
    smoothed = call(build("an_ls", eps=0.3))[0].item()
    assert smoothed == pytest.approx(expected_ls(OBSERVED, 0.3), rel=1e-9)


@pytest.mark.parametrize("name", available_losses())
def test_gradients_are_finite(name: str) -> None:
    loss = build(name, num_samples=N, num_classes=C)
    labels = FULL if name in losses.FULL_LABEL_LOSSES else OBSERVED
    for epoch in (1, 3):
        value, x = call(loss, labels, epoch=epoch)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_every_listed_loss_is_built_and_flags_are_set() -> None:
    all_losses_env = yaml.safe_load((PROJECT_ROOT / "conf/all_losses/parameters.yml").read_text())
    assert sorted(all_losses_env["baselines"]["losses"]) == available_losses()  # none left out
    assert set(reporting.LOSS_LABELS) == set(available_losses())  # each has its paper's name
    assert losses.FULL_LABEL_LOSSES == {"bce", "bce_ls"}
    for name in available_losses():
        loss = build(name, num_samples=N, num_classes=C)
        assert isinstance(loss, torch.nn.Module)
        assert loss.needs_full_labels == (name in {"bce", "bce_ls"})
        assert loss.lr_multiplier == (10.0 if name == "role" else 1.0)


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="loss 'em' is registered twice"):
        losses.register("em")(type("Again", (losses.SPMLLoss,), {}))
    assert losses.LOSSES["em"] is losses.EntropyMaximisation


# ---- ROLE ------------------------------------------------------------------------------------


def test_role_value_matches_formula() -> None:
    loss = build("role", num_samples=N, num_classes=C, seed=0)
    value, _ = call(loss)
    g = torch.sigmoid(loss.logits.detach()[INDEX]).double().tolist()
    total = 0.0
    for i, j in ENTRIES:
        p, e, z = P[i][j], g[i][j], OBSERVED[i][j]
        total += 0.5 * (z * nl(p) + z * nl(e))
        total += 0.5 * (e * nl(p) + (1 - e) * nl(1 - p) + p * nl(e) + (1 - p) * nl(1 - e))
    expected = total / (B * C) + 0.5 * (epr_term(P) + epr_term(g))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_role_initial_estimates_are_seeded_and_follow_the_reference() -> None:
    loss = build("role", num_samples=N, num_classes=C, seed=3)
    call(loss)
    g = torch.sigmoid(loss.logits.detach())
    observed = torch.zeros(N, C, dtype=torch.bool)
    observed[INDEX] = torch.tensor(OBSERVED, dtype=torch.bool)
    assert torch.allclose(g[observed], torch.tensor(0.995), atol=1e-6)
    assert ((g[~observed] > 0.4) & (g[~observed] < 0.6)).all()
    assert torch.equal(
        build("role", num_samples=N, num_classes=C, seed=3).logits,
        build("role", num_samples=N, num_classes=C, seed=3).logits,
    )


def test_role_step_changes_only_the_batch_estimates() -> None:
    loss = build("role", num_samples=N, num_classes=C, seed=0)
    x = torch.tensor(LOGITS, requires_grad=True)
    optimiser = torch.optim.Adam(
        [
            {"params": [x], "lr": 1e-3},
            {"params": list(loss.parameters()), "lr": 1e-3 * loss.lr_multiplier},
        ]
    )
    value = loss(x, torch.tensor(OBSERVED, dtype=torch.float32), index=torch.tensor(INDEX), epoch=1)
    before = loss.logits.detach().clone()
    value.backward()
    optimiser.step()
    after = loss.logits.detach()
    others = [i for i in range(N) if i not in INDEX]
    assert (after[INDEX] != before[INDEX]).all()
    assert torch.equal(after[others], before[others])


# ---- LL --------------------------------------------------------------------------------------


def unknown_losses() -> list[tuple[float, int, int]]:
    return sorted(((nl(1 - P[i][j]), i, j) for i, j in ENTRIES if not OBSERVED[i][j]), reverse=True)


@pytest.mark.parametrize(
    ("epoch", "delta_rel", "rejected"),
    # k = ceil(B*C*(1 - clean_rate)); (2, 0.05): exactly 1, not 2 from float noise;
    # (2, 0.02): 0.4 of an entry still rejects one
    [(1, 0.1, 0), (2, 0.1, 2), (3, 0.1, 4), (2, 0.05, 1), (2, 0.02, 1)],
)
def test_ll_r_rejects_exactly_the_largest_unknowns(epoch: int, delta_rel: float, rejected: int):
    loss = build("ll_r", delta_rel=delta_rel)
    assert loss.clean_rate(epoch) == pytest.approx(1 - (epoch - 1) * delta_rel)
    value, _ = call(loss, epoch=epoch)
    p = torch.sigmoid(torch.tensor(LOGITS, dtype=torch.float64))
    mask = loss.chosen_unknowns(p, torch.tensor(OBSERVED, dtype=torch.float64), epoch)
    largest = {(i, j) for _, i, j in unknown_losses()[:rejected]}
    assert int(mask.sum()) == rejected
    assert {tuple(ij) for ij in mask.nonzero().tolist()} == largest
    kept = [(i, j) for i, j in ENTRIES if (i, j) not in largest]
    expected = sum(nl(P[i][j]) if OBSERVED[i][j] else nl(1 - P[i][j]) for i, j in kept) / (B * C)
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_ll_r_never_rejects_an_observed_positive() -> None:
    value, _ = call(build("ll_r", delta_rel=0.1), epoch=11)  # clean rate 0: every unknown goes
    expected = sum(nl(P[i][j]) for i, j in ENTRIES if OBSERVED[i][j]) / (B * C)
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_ll_ct_flips_the_largest_unknowns_for_the_step() -> None:
    value, _ = call(build("ll_ct", delta_rel=0.1), epoch=3)
    flipped = {(i, j) for _, i, j in unknown_losses()[:4]}
    expected = sum(
        nl(P[i][j]) if OBSERVED[i][j] or (i, j) in flipped else nl(1 - P[i][j]) for i, j in ENTRIES
    ) / (B * C)
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_ll_cp_flips_at_least_one_entry_per_step() -> None:
    assert build("ll_cp", num_samples=N, num_classes=C, delta_rel=0.02).num_modified(20, 2) == 1


def test_ll_cp_flips_permanently() -> None:
    loss = build("ll_cp", num_samples=N, num_classes=C, delta_rel=0.1)
    call(loss, epoch=2)
    first = {(i, j) for _, i, j in unknown_losses()[:2]}  # ceil(20 * 0.1) = 2 per step
    assert int(loss.flipped.sum()) == 2
    assert {(INDEX.index(r), c) for r, c in loss.flipped.nonzero().tolist()} == first
    value, _ = call(loss, epoch=2)  # first flips now count as positives; the next two flip
    second = {(i, j) for _, i, j in unknown_losses()[2:4]}
    positive = first | second
    expected = sum(
        nl(P[i][j]) if OBSERVED[i][j] or (i, j) in positive else nl(1 - P[i][j]) for i, j in ENTRIES
    ) / (B * C)
    assert value.item() == pytest.approx(expected, rel=1e-9)
    assert int(loss.flipped.sum()) == 4


# ---- EM + APL --------------------------------------------------------------------------------


def run_apl_epoch(loss: torch.nn.Module, epoch: int, logits: torch.Tensor, observed: torch.Tensor):
    for start in range(0, len(logits), 4):
        index = torch.arange(start, start + 4)
        loss(logits[index], observed[index], index=index, epoch=epoch)


def apl_data(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.randn(n, C, generator=torch.Generator().manual_seed(0))
    observed = torch.zeros(n, C)
    observed[torch.arange(n), torch.arange(n) % C] = 1
    return logits, observed


def test_apl_no_soft_negatives_before_warmup_then_lowest_scores_per_class() -> None:
    loss = build("em_apl", num_samples=12, num_classes=C)  # warm-up 5, 10 epochs, 90 %
    logits, observed = apl_data()
    for epoch in range(1, 6):
        run_apl_epoch(loss, epoch, logits, observed)
        assert not loss.soft.any()
    run_apl_epoch(loss, 6, logits, observed)
    assert loss.soft.any()
    p = torch.sigmoid(logits)
    for c in range(C):
        unknown = observed[:, c] == 0
        quota = int(0.9 * int(unknown.sum()) / (10 - 5))
        lowest = torch.argsort(torch.where(unknown, p[:, c], torch.inf))[:quota]
        assert set(loss.soft[:, c].nonzero().flatten().tolist()) == set(lowest.tolist())
        assert torch.allclose(loss.soft_target[lowest, c], p[lowest, c])


def test_apl_value_with_soft_negatives_matches_formula() -> None:
    loss = build(
        "em_apl", num_samples=4, num_classes=C, warmup_epochs=1, num_epochs=2, alpha=0.2, beta=0.5
    )
    x = torch.tensor(LOGITS, dtype=torch.float64)
    z = torch.tensor(OBSERVED, dtype=torch.float64)
    loss(x, z, index=torch.arange(4), epoch=1)
    value = loss(x, z, index=torch.arange(4), epoch=2)
    soft, target = loss.soft.tolist(), loss.soft_target.tolist()
    assert any(any(row) for row in soft)
    total = 0.0
    for i, j in ENTRIES:
        p = P[i][j]
        if OBSERVED[i][j]:
            total += nl(p)
        elif soft[i][j]:
            t = target[i][j]
            total += 0.5 * (t * nl(p) + (1 - t) * nl(1 - p))
        else:
            total += -0.2 * entropy(p)
    assert value.item() == pytest.approx(total / (B * C), rel=1e-6)


# ---- GR --------------------------------------------------------------------------------------


def expected_gr(epoch: int, num_epochs: int, q2: float = 0.01, q3: float = 1.0) -> float:
    """GR written out: w, b at max(epoch - 1, 0)/T of [0 -> 2], [-2 -> -2]; mu, sigma at
    epoch/T of [0.5 -> 0.8], [2 -> 0.5]."""
    w = 0 + (2 - 0) * max(epoch - 1, 0) / num_epochs
    b = -2 + (-2 - -2) * max(epoch - 1, 0) / num_epochs
    mu = 0.5 + (0.8 - 0.5) * epoch / num_epochs
    sigma = 2 + (0.5 - 2) * epoch / num_epochs
    total = 0.0
    for i, j in ENTRIES:
        p = P[i][j]
        if OBSERVED[i][j]:
            total += -math.log(p + 1e-7)
        else:
            k = 1 / (1 + math.exp(-(w * p + b)))
            v = math.exp(-0.5 * ((p - mu) / sigma) ** 2)
            total += v * (k * (1 - p**q2) / q2 + (1 - k) * (1 - (1 - p) ** q3) / q3)
    return total / (B * C)


@pytest.mark.parametrize(("epoch", "num_epochs"), [(1, 10), (4, 10), (8, 8), (3, 5)])
def test_gr_matches_formula_along_its_schedules(epoch: int, num_epochs: int) -> None:
    value, _ = call(build("gr", num_epochs=num_epochs), epoch=epoch)
    assert value.item() == pytest.approx(expected_gr(epoch, num_epochs), rel=1e-9)


def test_gr_q2_q3_are_used_and_schedules_hold_past_the_last_epoch() -> None:
    value, _ = call(build("gr", num_epochs=10, q2=0.5, q3=0.3), epoch=6)
    assert value.item() == pytest.approx(expected_gr(6, 10, q2=0.5, q3=0.3), rel=1e-9)
    loss = build("gr", num_epochs=4)
    assert loss.k_parameters(7) == loss.k_parameters(5) == (2.0, -2.0)
    assert loss.v_parameters(7) == loss.v_parameters(4) == (0.8, 0.5)
    assert loss.k_parameters(4) == (1.5, -2.0)  # w and b lag mu and sigma by one epoch


def test_gr_weights_k_and_v_take_no_gradient() -> None:
    """K and V come from the detached p: the gradient of an unknown entry is V times the
    gradient of its robust terms only."""
    loss = build("gr", num_epochs=10)
    x = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    loss(x, torch.zeros(1, 1, dtype=torch.float64), epoch=3).backward()
    p = sig(0.7)
    w, b = loss.k_parameters(3)
    mu, sigma = loss.v_parameters(3)
    k = sig(w * p + b)
    v = math.exp(-0.5 * ((p - mu) / sigma) ** 2)
    d_loss_d_p = v * (k * -(p ** (0.01 - 1)) + (1 - k) * 1.0)
    assert x.grad.item() == pytest.approx(d_loss_d_p * p * (1 - p), rel=1e-9)


def test_gr_gradients_stay_finite_at_saturated_float32_logits() -> None:
    x = torch.tensor([[-120.0, -95.0, 120.0], [40.0, -85.0, 0.0]], requires_grad=True)
    z = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    for q3 in (1.0, 0.5):
        x.grad = None
        value = build("gr", q3=q3)(x, z, epoch=2)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(x.grad).all()
        assert x.grad[1, 1] < 0  # p = 1e-37: the robust positive term still pulls it up


# ---- state -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["role", "ll_cp", "em_apl"])
def test_state_dict_round_trip_restores_state(name: str) -> None:
    hparams = {"em_apl": {"warmup_epochs": 1, "num_epochs": 3}, "role": {"seed": 1}}.get(name, {})
    loss = build(name, num_samples=N, num_classes=C, **hparams)
    for epoch in (1, 2, 3):
        call(loss, epoch=epoch)
    fresh_hparams = {**hparams, "seed": 2} if name == "role" else hparams
    fresh = build(name, num_samples=N, num_classes=C, **fresh_hparams)
    fresh.load_state_dict(loss.state_dict())
    for key, tensor in loss.state_dict().items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(fresh.state_dict()[key], tensor), key
    if name == "em_apl":
        assert fresh.last_epoch == 3 and loss.soft.any()
    if name == "ll_cp":
        assert loss.flipped.any()
    assert call(fresh, epoch=4)[0].item() == call(loss, epoch=4)[0].item()


# ---- errors ----------------------------------------------------------------------------------


def test_unknown_loss_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"Unknown loss 'focal'.*'an'.*'role'"):
        build("focal")


def test_foreign_hparam_names_loss_and_valid_hparams() -> None:
    for make, message in (
        (
            lambda: build("an", eps=0.1),
            "Loss 'an' has no hyper-parameter 'eps'; its hyper-parameters are: none",
        ),
        (
            lambda: build("em", beta=0.9, gamma=1),
            "Loss 'em' has no hyper-parameter 'beta', 'gamma'; its hyper-parameters are: ['alpha']",
        ),
        (
            lambda: build("em", alpha=-0.1),
            "Loss 'em': hyper-parameter alpha=-0.1 must be >= 0; "
            "its hyper-parameters are: ['alpha']",
        ),
    ):
        with pytest.raises(ValueError) as error:
            make()
        assert str(error.value) == message


@pytest.mark.parametrize(
    ("name", "hparam", "value"),
    [
        ("an_ls", "eps", 1.0),
        ("bce_ls", "eps", -0.1),
        ("em", "alpha", -0.1),
        ("epr", "expected_positives", 0),
        ("role", "expected_positives", -2.9),
        ("em_apl", "neg_proportion", 1.5),
        ("em_apl", "num_epochs", 5),
        ("ll_r", "delta_rel", 0.0),
        ("ll_cp", "delta_rel", 2),
        ("gr", "q2", 0.0),
        ("gr", "q3", 1.5),
        ("gr", "sigma_end", 0),
        ("gr", "num_epochs", 0),
        ("gr", "num_epochs", 2.5),  # in range, but not an integer
        ("em_apl", "warmup_epochs", 2.0),
        ("em", "alpha", "0.1"),
    ],
)
def test_out_of_range_hparam_is_named(name: str, hparam: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"Loss '{name}': hyper-parameter {hparam}={value!r}"):
        build(name, num_samples=N, num_classes=C, **{hparam: value})


@pytest.mark.parametrize("name", ["role", "em_apl", "ll_cp"])
def test_missing_data_facts_are_named(name: str) -> None:
    with pytest.raises(ValueError, match=rf"Loss '{name}' needs num_samples"):
        build(name, num_classes=C)
    with pytest.raises(ValueError, match=rf"Loss '{name}' needs num_classes"):
        build(name, num_samples=N)


def test_data_facts_are_positive_integers_one_is_enough() -> None:
    for name in ("role", "em_apl", "ll_cp"):
        loss = build(name, num_samples=1, num_classes=1)
        assert (loss.num_samples, loss.num_classes) == (1, 1)
    with pytest.raises(ValueError) as error:
        build("role", num_samples=0, num_classes=C)
    head, listed = str(error.value).split("; losses that need no data-set facts: ")
    assert head == "Loss 'role' needs num_samples (a positive integer from the data set), got 0"
    stateless = yaml.safe_load(listed)  # a Python list of quoted names reads as YAML
    assert stateless == sorted(stateless)
    assert {"an", "bce", "bce_ls", "em", "ll_r", "gr"} <= set(stateless) <= set(available_losses())
    assert not {"role", "em_apl", "ll_cp"} & set(stateless)


def test_indices_of_the_wrong_shape_length_or_type_and_logits_of_other_classes_are_named() -> None:
    loss = build("ll_cp", num_samples=N, num_classes=C)
    x, z = torch.zeros(B, C), torch.zeros(B, C)
    for index in (torch.tensor(INDEX[:-1]), torch.tensor(INDEX).reshape(B, 1)):
        with pytest.raises(ValueError) as error:
            loss(x, z, index=index, epoch=2)
        assert str(error.value) == "Loss 'll_cp' needs index, the B sample indices of the batch"
    with pytest.raises(ValueError) as error:
        loss(x, z, index=torch.tensor(INDEX, dtype=torch.float32), epoch=2)  # in range
    assert str(error.value) == "Loss 'll_cp' needs integer indices in [0, 10), got 0.0..9.0"
    wider = torch.zeros(B, C + 1)
    with pytest.raises(ValueError) as error:
        loss(wider, wider, index=torch.tensor(INDEX), epoch=2)
    assert str(error.value) == "Loss 'll_cp' was built for 5 classes, got 6"


def test_a_refused_mask_is_named_with_what_was_given_or_why_it_cannot_be() -> None:
    x = torch.zeros(B, C)
    with pytest.raises(ValueError) as error:
        build("bce_ls")(x, x, mask=torch.zeros(B, C, dtype=torch.int64))
    assert str(error.value) == (
        "Loss 'bce_ls' needs a boolean mask of the logits' shape (4, 5), got torch.int64 (4, 5)"
    )
    with pytest.raises(ValueError) as error:
        build("epr")(x, x, mask=torch.zeros(B, C, dtype=torch.bool))
    assert str(error.value) == (
        "Loss 'epr' has a batch regulariser over every entry, so it cannot ignore masked "
        "targets; choose a loss without one (e.g. bce_ls)"
    )


def test_missing_index_or_epoch_is_named() -> None:
    x, z = torch.zeros(B, C), torch.zeros(B, C)
    with pytest.raises(ValueError, match="Loss 'role' needs index"):
        build("role", num_samples=N, num_classes=C)(x, z, epoch=1)
    with pytest.raises(ValueError, match="Loss 'll_r' needs epoch"):
        build("ll_r")(x, z)
    with pytest.raises(ValueError, match=r"Loss 'll_cp' needs integer indices in \[0, 10\)"):
        loss = build("ll_cp", num_samples=N, num_classes=C)
        loss(x, z, index=torch.tensor([0, 1, 2, 10]), epoch=2)


def test_half_precision_logits_are_computed_in_float32() -> None:
    x = torch.tensor(LOGITS, dtype=torch.bfloat16)
    z = torch.tensor(OBSERVED, dtype=torch.bfloat16)
    value = build("em")(x, z)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(expected_em(), rel=1e-2)


def test_apl_relabels_once_per_epoch() -> None:
    loss = build("em_apl", num_samples=12, num_classes=C, warmup_epochs=1, num_epochs=3)
    logits, observed = apl_data()
    run_apl_epoch(loss, 1, logits, observed)
    run_apl_epoch(loss, 2, logits, observed)
    after_one_round = int(loss.soft.sum())
    run_apl_epoch(loss, 2, logits, observed)
    assert int(loss.soft.sum()) == after_one_round > 0
    run_apl_epoch(loss, 3, logits, observed)
    assert int(loss.soft.sum()) > after_one_round


def test_a_printed_loss_shows_its_hyper_parameters() -> None:
    assert repr(build("em_apl", num_samples=4, num_classes=2, beta=0.5)) == (
        "EntropyMaximisationAPL(alpha=0.1, beta=0.5, warmup_epochs=5, neg_proportion=0.9, "
        "num_epochs=10)"
    )


def test_apl_needs_more_epochs_than_its_warm_up() -> None:
    with pytest.raises(ValueError) as error:
        build("em_apl", num_samples=4, num_classes=2, warmup_epochs=5, num_epochs=5)
    assert str(error.value) == (
        "Loss 'em_apl': hyper-parameter num_epochs=5 must be an integer > warmup_epochs=5; "
        "its hyper-parameters are: ['alpha', 'beta', 'neg_proportion', 'num_epochs', "
        "'warmup_epochs']"
    )


def test_labels_of_another_shape_are_named() -> None:
    logits = torch.zeros(4, 5)
    for observed in (torch.zeros(4, 4), torch.zeros(5, 5)):
        with pytest.raises(ValueError) as error:
            build("an")(logits, observed)
        assert str(error.value) == (
            "Loss 'an' needs B x C logits and observed labels of the same shape, "
            f"got (4, 5) and {tuple(observed.shape)}"
        )


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8])
def test_boolean_and_integer_labels_give_the_float_labels_value(dtype) -> None:
    logits = torch.tensor(LOGITS, dtype=torch.float64)
    value = build("an_ls")(logits, torch.tensor(OBSERVED).to(dtype))
    assert value.item() == pytest.approx(expected_ls(OBSERVED), rel=1e-9)
