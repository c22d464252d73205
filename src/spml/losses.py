"""Every single-positive multi-label (SPML) loss, built by name so configuration picks it.

Formulas, normalisation and defaults follow the public reference implementations
(Cole et al. CVPR 2021, github.com/elijahcole/single-positive-multi-label; Kim et al.
CVPR 2022, github.com/snucml/LargeLossMatters; Zhou et al. ECCV 2022,
github.com/Correr-Zhou/SPML-AckTheUnknown): p = sigmoid(logit), neg_log(x) = -log(x + 1e-5),
loss = sum of the B x C loss matrix / (B * C), plus the regulariser where there is one.

Call a loss as ``loss(logits, observed, index=..., epoch=..., mask=...)``: ``observed`` holds 1
for an observed positive and 0 for unknown (full targets in [0, 1] for ``bce``/``bce_ls``, soft
ones included), ``index`` the batch's sample indices in [0, num_samples), ``epoch`` counts from
1, and ``mask`` (optional, boolean) marks entries to ignore: they contribute exactly zero to the
loss and its gradient, whatever their target holds (NaN included). State that must survive an
epoch lives in parameters and buffers, so ``state_dict()`` restores it; move the loss to the
model's device.

A loss declares each hyper-parameter once, as a class attribute ``HParam(default, rule)``;
its docstring says where it departs from the reference code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from spml.registry import Registry, did_you_mean

LOG_EPSILON = 1e-5
DATA_FACTS = ("num_samples", "num_classes")

LOSSES: Registry[type[SPMLLoss]] = Registry("loss")


def neg_log(x: Tensor) -> Tensor:
    """-log(x + 1e-5): the reference's log, finite at 0 so no loss ever becomes inf."""
    return -torch.log(x + LOG_EPSILON)


def bce(p: Tensor, target: Tensor | float) -> Tensor:
    """Element-wise BCE of probabilities against (soft) targets, as the papers write it."""
    return target * neg_log(p) + (1.0 - target) * neg_log(1.0 - p)


def smoothed_bce(p: Tensor, target: Tensor, eps: float) -> Tensor:
    """Label smoothing: (1-eps)*BCE(t) + eps*BCE(1-t), so no target is ever fully trusted."""
    return (1.0 - eps) * bce(p, target) + eps * bce(p, 1.0 - target)


def entropy_maximisation(p: Tensor, z: Tensor, alpha: float) -> Tensor:
    """Observed positives fitted; unknowns pushed towards maximal entropy H(p) = BCE(p, p)."""
    return torch.where(z > 0.5, neg_log(p), -alpha * bce(p, p))


def expected_positive_regulariser(p: Tensor, expected_positives: float) -> Tensor:
    """(mean over batch of sum_c p - k)^2 / C^2: keeps the predicted label count near k."""
    return (p.sum(1).mean() - expected_positives) ** 2 / p.shape[1] ** 2


def register(name: str) -> Callable[[type[SPMLLoss]], type[SPMLLoss]]:
    """Make a loss class reachable from configuration under `name` (once)."""

    def decorator(cls: type[SPMLLoss]) -> type[SPMLLoss]:
        cls.name = name
        return LOSSES.register(name)(cls)

    return decorator


def available_losses() -> list[str]:
    """The names configuration may use, for error messages and docs."""
    return LOSSES.names()


def default_hparams(name: str) -> dict[str, Any]:
    """The published defaults of a loss's hyper-parameters, for logging and docs."""
    return LOSSES[name].hparam_defaults()


def build(
    name: str, *, num_samples: int | None = None, num_classes: int | None = None, **hparams: Any
) -> SPMLLoss:
    """Build the loss `name`; data-set facts are used by the losses that keep per-sample state."""
    cls = LOSSES[name]
    foreign = sorted(set(hparams) - set(cls.hparams))
    if foreign:
        allowed = sorted(cls.hparams) if cls.hparams else "none"
        raise ValueError(
            f"Loss '{name}' has no hyper-parameter {', '.join(map(repr, foreign))}; "
            f"{did_you_mean(foreign[0], cls.hparams)}its hyper-parameters are: {allowed}"
        )
    facts = {}
    for fact, value in (("num_samples", num_samples), ("num_classes", num_classes)):
        if not cls.stateful:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            stateless = sorted(n for n, c in LOSSES.items() if not c.stateful)
            raise ValueError(
                f"Loss '{name}' needs {fact} (a positive integer from the data set), "
                f"got {value!r}; losses that need no data-set facts: {stateless}"
            )
        facts[fact] = value
    return cls(**facts, **hparams)


@dataclass(frozen=True)
class HParam:
    """A hyper-parameter declared once: its published default and the range it must lie in."""

    default: Any
    rule: str = "a number"
    ok: Callable[[float], bool] = lambda value: True
    integer: bool = False
    optional: bool = False  # None is a valid value (e.g. an unseeded draw)

    def accepts(self, value: Any) -> bool:
        """Whether `value` has the right type and lies in range."""
        if value is None:
            return self.optional
        kinds = (int,) if self.integer else (int, float)
        numeric = isinstance(value, kinds) and not isinstance(value, bool)
        return numeric and math.isfinite(value) and self.ok(value)

    def convert(self, value: Any) -> Any:
        """The value as the loss uses it: int, float or None."""
        if value is None:
            return None
        return int(value) if self.integer else float(value)


class SPMLLoss(nn.Module):
    """Base of every loss: hyper-parameters, input checks, the B*C normalisation, the regulariser.

    Subclasses declare hyper-parameters as ``HParam`` class attributes; ``stateful`` losses
    also receive num_samples / num_classes and create their state in ``setup``.
    """

    name: ClassVar[str] = ""
    hparams: ClassVar[dict[str, HParam]] = {}
    stateful: ClassVar[bool] = False  # keeps per-sample state: needs num_samples, num_classes
    needs_full_labels: ClassVar[bool] = False
    needs_index: ClassVar[bool] = False
    needs_epoch: ClassVar[bool] = False
    lr_multiplier: float = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect the HParam attributes of the class and its bases, in declaration order."""
        super().__init_subclass__(**kwargs)
        declared: dict[str, HParam] = {}
        for base in reversed(cls.__mro__):
            declared.update((k, v) for k, v in vars(base).items() if isinstance(v, HParam))
        cls.hparams = declared

    @classmethod
    def can_ignore_entries(cls) -> bool:
        """Whether a mask can silence entries: not when a batch regulariser sees them all."""
        return cls.regulariser is SPMLLoss.regulariser

    @classmethod
    def hparam_defaults(cls) -> dict[str, Any]:
        """Hyper-parameters and their published defaults."""
        return {name: spec.default for name, spec in cls.hparams.items()}

    def __init__(
        self, num_samples: int | None = None, num_classes: int | None = None, **values: Any
    ) -> None:
        super().__init__()
        self.num_samples, self.num_classes = num_samples, num_classes
        self.values = {**self.hparam_defaults(), **values}
        for hparam, spec in self.hparams.items():
            value = self.values[hparam]
            if not spec.accepts(value):
                self.refuse(hparam, value, spec.rule)
            setattr(self, hparam, spec.convert(value))
        self.setup()

    def refuse(self, hparam: str, value: Any, rule: str) -> None:
        """Raise for a hyper-parameter outside its range, naming the loss and the value."""
        raise ValueError(
            f"Loss '{self.name}': hyper-parameter {hparam}={value!r} must be {rule}; "
            f"its hyper-parameters are: {sorted(self.hparams)}"
        )

    def setup(self) -> None:
        """Check hyper-parameters against each other and create per-sample state; none here."""

    def extra_repr(self) -> str:
        """Show the hyper-parameters when the loss is printed or logged."""
        return ", ".join(f"{k}={v!r}" for k, v in self.values.items())

    def forward(
        self,
        logits: Tensor,
        observed: Tensor,
        *,
        index: Tensor | None = None,
        epoch: int | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Mean of the loss matrix over all B*C entries (masked ones count as 0, as LL-R's
        rejected entries do), plus the regulariser."""
        self._check_call(logits, observed, index, epoch)
        self._check_mask(logits, mask)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()  # neg_log's 1e-5 and 1 - p are meaningless in half precision
        p = torch.sigmoid(logits)
        observed = observed.to(p.dtype)
        if mask is not None:  # a finite target under the mask, so 0 * its gradient stays 0
            observed = torch.where(mask, torch.zeros_like(observed), observed)
        self.observe(p.detach(), observed, index, epoch)
        matrix = self.loss_matrix(p, observed, index, epoch)
        if mask is not None:
            matrix = torch.where(mask, torch.zeros_like(matrix), matrix)
        return matrix.sum() / matrix.numel() + self.regulariser(p, index)

    def _check_mask(self, logits: Tensor, mask: Tensor | None) -> None:
        """A mask must match the logits; a batch regulariser would still see masked entries."""
        if mask is None:
            return
        if mask.shape != logits.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"Loss '{self.name}' needs a boolean mask of the logits' shape "
                f"{tuple(logits.shape)}, got {mask.dtype} {tuple(mask.shape)}"
            )
        if not self.can_ignore_entries():
            raise ValueError(
                f"Loss '{self.name}' has a batch regulariser over every entry, so it cannot "
                "ignore masked targets; choose a loss without one (e.g. bce_ls)"
            )

    def observe(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> None:
        """Update per-sample state from the batch before the loss is computed (stateful losses)."""

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        """The B x C loss matrix of the batch."""
        raise NotImplementedError

    def regulariser(self, p: Tensor, index: Tensor | None) -> Tensor | float:
        """A batch-level term added after the B*C normalisation; none by default."""
        return 0.0

    def _check_call(
        self, logits: Tensor, observed: Tensor, index: Tensor | None, epoch: int | None
    ) -> None:
        if logits.dim() != 2 or observed.shape != logits.shape:
            raise ValueError(
                f"Loss '{self.name}' needs B x C logits and observed labels of the same shape, "
                f"got {tuple(logits.shape)} and {tuple(observed.shape)}"
            )
        num_classes = self.num_classes or logits.shape[1]
        if logits.shape[1] != num_classes:
            raise ValueError(
                f"Loss '{self.name}' was built for {num_classes} classes, got {logits.shape[1]}"
            )
        valid_epoch = isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1
        if self.needs_epoch and not valid_epoch:
            raise ValueError(
                f"Loss '{self.name}' needs epoch (an int counting from 1), got {epoch!r}"
            )
        if self.needs_index:
            if index is None or index.dim() != 1 or len(index) != len(logits):
                raise ValueError(
                    f"Loss '{self.name}' needs index, the B sample indices of the batch"
                )
            if index.dtype.is_floating_point or index.min() < 0 or index.max() >= self.num_samples:
                raise ValueError(
                    f"Loss '{self.name}' needs integer indices in [0, {self.num_samples}), "
                    f"got {index.min().item()}..{index.max().item()}"
                )


@register("an")
class AssumeNegative(SPMLLoss):
    """AN: every unknown label is taken as a negative (BCE against the observed labels)."""

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return bce(p, z)


@register("bce")
class FullBCE(AssumeNegative):
    """Full-label BCE: AN's formula on full targets; the upper bound of the study."""

    needs_full_labels = True


@register("an_ls")
class AssumeNegativeLabelSmoothing(SPMLLoss):
    """AN-LS: assume negative, but smooth every target since many negatives are wrong."""

    eps = HParam(0.1, "in [0, 1)", lambda v: 0 <= v < 1)

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return smoothed_bce(p, z, self.eps)


@register("bce_ls")
class FullBCELabelSmoothing(AssumeNegativeLabelSmoothing):
    """Full-label BCE with label smoothing: AN-LS's formula on full targets (the published
    student used eps = 0.1)."""

    needs_full_labels = True


@register("wan")
class WeakAssumeNegative(SPMLLoss):
    """WAN: assumed negatives weighted 1/(C-1) so the one positive is not drowned out."""

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        weight = z + (1.0 - z) / (p.shape[1] - 1)
        return weight * bce(p, z)


EXPECTED_POSITIVES = HParam(2.9, "> 0", lambda v: v > 0)  # COCO's mean labels per image


@register("epr")
class ExpectedPositiveRegulariser(SPMLLoss):
    """EPR: observed positives only, plus a pull of the label count towards k."""

    expected_positives = EXPECTED_POSITIVES

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return z * neg_log(p)

    def regulariser(self, p: Tensor, index: Tensor | None) -> Tensor:
        return expected_positive_regulariser(p, self.expected_positives)


@register("role")
class ROLE(SPMLLoss):
    """ROLE: learn an N x C label estimate g with the classifier, each supervising the other.

    g starts at probability 0.995 on observed positives and uniformly in (0.4, 0.6) elsewhere
    (uniform in logit(0.4)..logit(0.6), as the reference draws it). Observed positives are only
    known once a sample is seen, so a sample's positive logits are set on its first batch.
    """

    stateful = True
    needs_index = True
    expected_positives = EXPECTED_POSITIVES
    lr_multiplier = HParam(10.0, "> 0", lambda v: v > 0)
    seed = HParam(None, "a non-negative integer or None", lambda v: v >= 0, True, True)

    def setup(self) -> None:
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        half_width = math.log(0.6 / 0.4)
        uniform = torch.rand(self.num_samples, self.num_classes, generator=generator)
        self.logits = nn.Parameter(half_width * (2.0 * uniform - 1.0))
        self.register_buffer("initialised", torch.zeros(self.num_samples, dtype=torch.bool))

    def estimates(self, index: Tensor) -> Tensor:
        """g for the batch: the label estimator's probabilities."""
        return torch.sigmoid(self.logits[index])

    @torch.no_grad()
    def observe(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> None:
        """Set a sample's observed positives to logit(0.995) the first time it is seen."""
        fresh = ~self.initialised[index]
        positive = fresh[:, None] & (z > 0.5)
        self.logits[index] = torch.where(positive, math.log(0.995 / 0.005), self.logits[index])
        self.initialised[index] = True

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        g = self.estimates(index)
        observed_positives = 0.5 * (z * neg_log(p) + z * neg_log(g))
        cross = 0.5 * (bce(p, g.detach()) + bce(g, p.detach()))
        return observed_positives + cross

    def regulariser(self, p: Tensor, index: Tensor | None) -> Tensor:
        g = self.estimates(index)
        k = self.expected_positives
        return 0.5 * (expected_positive_regulariser(p, k) + expected_positive_regulariser(g, k))


@register("em")
class EntropyMaximisation(SPMLLoss):
    """EM: fit observed positives and maximise the entropy H(p) of unknowns, assuming nothing."""

    alpha = HParam(0.1, ">= 0", lambda v: v >= 0)

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return entropy_maximisation(p, z, self.alpha)


@register("em_apl")
class EntropyMaximisationAPL(EntropyMaximisation):
    """EM + asymmetric pseudo-labelling: after a warm-up, confident unknowns become soft negatives.

    COCO settings of Zhou et al.: alpha 0.1, beta 0.9, warm-up 5 epochs, 90 % of each class's
    unknowns relabelled over num_epochs - warm-up rounds. The reference relabels after every
    training epoch e >= warm-up from a separate pass over the training set; here the loss
    records the p it sees for each sample during an epoch and, on the first call of epoch e
    with e - 1 >= warm-up, turns the int(neg_proportion * U_c / (num_epochs - warm-up))
    lowest-scored remaining unknowns of every class c (U_c = unknowns of class c) into soft
    negatives whose target is their recorded p. Scores are therefore training-mode
    probabilities gathered while the model moved through the epoch, not a fresh evaluation pass.

    Buffers: ``scores`` (last p seen per sample), ``seen``, ``positive`` (observed positives),
    ``soft`` / ``soft_target`` (the soft negatives and their targets); the last epoch seen is
    extra state.
    """

    stateful = True
    needs_index = True
    needs_epoch = True
    beta = HParam(0.9, ">= 0", lambda v: v >= 0)
    warmup_epochs = HParam(5, "an integer >= 1", lambda v: v >= 1, integer=True)
    neg_proportion = HParam(0.9, "in [0, 1]", lambda v: 0 <= v <= 1)
    num_epochs = HParam(10, "an integer > warmup_epochs", lambda v: v > 1, integer=True)

    def setup(self) -> None:
        if self.num_epochs <= self.warmup_epochs:
            rule = f"an integer > warmup_epochs={self.warmup_epochs}"
            self.refuse("num_epochs", self.values["num_epochs"], rule)
        self.last_epoch = 0
        shape = (self.num_samples, self.num_classes)
        self.register_buffer("scores", torch.zeros(shape))
        self.register_buffer("seen", torch.zeros(self.num_samples, dtype=torch.bool))
        self.register_buffer("positive", torch.zeros(shape, dtype=torch.bool))
        self.register_buffer("soft", torch.zeros(shape, dtype=torch.bool))
        self.register_buffer("soft_target", torch.zeros(shape))

    def get_extra_state(self) -> dict[str, int]:
        """Save the last epoch seen, so a resumed run does not relabel twice."""
        return {"last_epoch": self.last_epoch}

    def set_extra_state(self, state: dict[str, int]) -> None:
        """Restore the last epoch seen."""
        self.last_epoch = int(state["last_epoch"])

    @torch.no_grad()
    def observe(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> None:
        """Relabel when a new epoch follows a finished warm-up, then record this batch's p."""
        if epoch > self.last_epoch:
            if self.last_epoch >= self.warmup_epochs:
                self.assign_soft_negatives()
            self.last_epoch = epoch
        self.scores[index] = p.to(self.scores.dtype)
        self.positive[index] = z > 0.5
        self.seen[index] = True

    @torch.no_grad()
    def assign_soft_negatives(self) -> None:
        """One APL round: each class's lowest-scored remaining unknowns get target p."""
        unknown = self.seen[:, None] & ~self.positive
        quota = torch.floor(
            self.neg_proportion * unknown.sum(0).double() / (self.num_epochs - self.warmup_epochs)
        )
        candidate = unknown & ~self.soft
        ranked = torch.where(candidate, self.scores, torch.inf)
        order = torch.sort(ranked, dim=0, stable=True).indices
        rank = torch.empty_like(order).scatter_(
            0, order, torch.arange(len(order), device=order.device)[:, None].expand_as(order)
        )
        chosen = candidate & (rank < quota[None, :])
        self.soft_target[chosen] = self.scores[chosen]
        self.soft |= chosen

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        em = entropy_maximisation(p, z, self.alpha)
        # Soft negatives are drawn from unknowns only, so they never cover an observed positive.
        return torch.where(self.soft[index], self.beta * bce(p, self.soft_target[index]), em)


class LargeLoss(SPMLLoss):
    """LL (Kim et al.): AN, but from epoch 2 the largest unknown losses are rejected/corrected.

    The clean rate at epoch e is 1 - (e - 1) * delta_rel (the reference starts at 1 and
    subtracts delta_rel after every epoch); each step rejects (R) or flips to positive for that
    step (Ct) exactly k = ceil(B*C*(1 - clean_rate)) unknown entries with the largest AN loss
    (capped at the number of unknowns). delta_rel is a fraction (the reference CLI takes
    percent and divides by 100; its README grid is {0.1, ..., 0.5} percent, with no default);
    the default here is 0.002 = 0.2 %. Unlike the reference, LL uses neg_log like every other
    loss (the reference uses BCE-with-logits, a <= 1e-5 difference), picks exactly k entries
    where the reference's threshold test also takes ties and float noise (1 - 0.95 -> k off by
    one), and never touches observed positives.
    """

    needs_epoch = True
    correct: ClassVar[bool] = False  # flip the chosen unknowns to positive instead of ignoring
    delta_rel = HParam(
        0.002, "in (0, 1) (a fraction per epoch: 0.002 = 0.2 %)", lambda v: 0 < v < 1
    )

    def clean_rate(self, epoch: int) -> float:
        """Share of unknowns kept as negatives: 1 in epoch 1, then delta_rel less each epoch."""
        return max(0.0, 1.0 - (epoch - 1) * self.delta_rel)

    def num_modified(self, batch_entries: int, epoch: int) -> int:
        """k = ceil(B*C*(1 - clean_rate)), rounded first so float noise never adds one."""
        return math.ceil(round(batch_entries * (1.0 - self.clean_rate(epoch)), 6))

    def chosen_unknowns(self, p: Tensor, z: Tensor, epoch: int) -> Tensor:
        """Mask of the k unknown entries with the largest AN loss (none in epoch 1)."""
        unknown = z < 0.5
        k = min(self.num_modified(z.numel(), epoch) if epoch > 1 else 0, int(unknown.sum()))
        chosen = torch.zeros_like(unknown)
        ranked = torch.where(unknown, bce(p, z).detach(), -torch.inf).flatten()
        chosen.view(-1)[torch.topk(ranked, k).indices] = True  # k = 0: nothing
        return chosen

    def modified_loss(self, p: Tensor, z: Tensor, chosen: Tensor) -> Tensor:
        """AN loss with the chosen unknowns rejected (zero) or flipped to positive."""
        loss = bce(p, z)
        return torch.where(chosen, neg_log(p) if self.correct else torch.zeros_like(loss), loss)

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return self.modified_loss(p, z, self.chosen_unknowns(p, z, epoch))


@register("ll_r")
class LargeLossRejection(LargeLoss):
    """LL-R: large-loss unknowns are left out of the loss."""


@register("ll_ct")
class LargeLossTemporaryCorrection(LargeLoss):
    """LL-Ct: large-loss unknowns count as positives for this step only."""

    correct = True


@register("ll_cp")
class LargeLossPermanentCorrection(LargeLoss):
    """LL-Cp: ceil(B*C*delta_rel) large-loss unknowns per step become positives for good."""

    stateful = True
    needs_index = True
    correct = True

    def setup(self) -> None:
        shape = (self.num_samples, self.num_classes)
        self.register_buffer("flipped", torch.zeros(shape, dtype=torch.bool))

    def num_modified(self, batch_entries: int, epoch: int) -> int:
        return math.ceil(round(batch_entries * self.delta_rel, 6))

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        z = torch.where(self.flipped[index], 1.0, z)  # flipped for good: now positives
        chosen = self.chosen_unknowns(p, z, epoch)
        with torch.no_grad():
            self.flipped[index] |= chosen
        return self.modified_loss(p, z, chosen)


GR_LOG_EPSILON = 1e-7  # GR's reference takes -log(p + 1e-7) on observed positives, not 1e-5


def robust_positive(p: Tensor, q: float) -> Tensor:
    """(1 - p^q) / q: -log(p) as q -> 0, MAE-like as q -> 1; the unknown-is-positive term.

    p is held at the smallest normal float, so p^(q-1) cannot overflow into an infinite
    gradient when p underflows to 0 (logits below about -87 in float32)."""
    return (1.0 - p.clamp_min(torch.finfo(p.dtype).tiny) ** q) / q


def robust_negative(p: Tensor, q: float) -> Tensor:
    """(1 - (1 - p)^q) / q: the unknown-is-negative term, robust_positive of 1 - p."""
    return robust_positive(1.0 - p, q)


def gr_k_weight(p_hat: Tensor, w: float, b: float) -> Tensor:
    """K = sigmoid(w * p_hat + b): how likely an unknown is positive, given its prediction."""
    return torch.sigmoid(w * p_hat + b)


def gr_v_weight(p_hat: Tensor, mu: float, sigma: float) -> Tensor:
    """V = exp(-((p_hat - mu) / sigma)^2 / 2): how much an unknown's loss is trusted at all."""
    return torch.exp(-0.5 * ((p_hat - mu) / sigma) ** 2)


def linear_schedule(start: float, end: float, progress: float) -> float:
    """start + (end - start) * progress: GR moves each weight's parameter linearly."""
    return start + (end - start) * progress


@register("gr")
class GeneralizedRobust(SPMLLoss):
    """GR (Chen et al., IJCAI 2024, github.com/yan4xi1/GRLoss): observed positives
    -log(p + 1e-7); each unknown V * [K * (1 - p^q2)/q2 + (1 - K) * (1 - (1 - p)^q3)/q3],
    with K = sigmoid(w p^ + b) and V = exp(-((p^ - mu)/sigma)^2 / 2) of the detached p^.

    Schedules follow the reference's train.py with linear_init = 0 (its default): with T =
    num_epochs and epochs counted from 1, w and b move by max(epoch - 1, 0) / T of the way
    from start to end, but mu and sigma by epoch / T (the reference's offsets differ, so mu
    and sigma reach their end values in the last epoch and w and b never quite do). Defaults
    are the reference's: beta = [w0, wT, b0, bT] = [0, 2, -2, -2], alpha = [mu0, sigma0, muT,
    sigmaT] = [0.5, 2, 0.8, 0.5], q2 = 0.01, q3 = 1. Unlike the reference, p is held at the
    smallest normal float inside the powers, so gradients stay finite at saturated logits, and
    past epoch T (a num_epochs set below training.epochs) every parameter keeps its end value.
    """

    needs_epoch = True
    q2 = HParam(0.01, "in (0, 1]", lambda v: 0 < v <= 1)
    q3 = HParam(1.0, "in (0, 1]", lambda v: 0 < v <= 1)
    w_start = HParam(0.0)
    w_end = HParam(2.0)
    b_start = HParam(-2.0)
    b_end = HParam(-2.0)
    mu_start = HParam(0.5)
    mu_end = HParam(0.8)
    sigma_start = HParam(2.0, "> 0", lambda v: v > 0)
    sigma_end = HParam(0.5, "> 0", lambda v: v > 0)
    num_epochs = HParam(10, "an integer >= 1", lambda v: v >= 1, integer=True)

    def progress(self, epochs_done: int) -> float:
        """Share of the way from start to end values; held at 1 past T (the reference stops)."""
        return min(max(epochs_done, 0) / self.num_epochs, 1.0)

    def k_parameters(self, epoch: int) -> tuple[float, float]:
        """(w, b) at `epoch`: max(epoch - 1, 0) / T of the way, as the reference."""
        progress = self.progress(epoch - 1)
        return (
            linear_schedule(self.w_start, self.w_end, progress),
            linear_schedule(self.b_start, self.b_end, progress),
        )

    def v_parameters(self, epoch: int) -> tuple[float, float]:
        """(mu, sigma) at `epoch`: epoch / T of the way, as the reference."""
        progress = self.progress(epoch)
        return (
            linear_schedule(self.mu_start, self.mu_end, progress),
            linear_schedule(self.sigma_start, self.sigma_end, progress),
        )

    def unknown_loss(self, p: Tensor, epoch: int) -> Tensor:
        """V * [K * robust_positive(p, q2) + (1 - K) * robust_negative(p, q3)] per entry."""
        p_hat = p.detach()
        k = gr_k_weight(p_hat, *self.k_parameters(epoch))
        v = gr_v_weight(p_hat, *self.v_parameters(epoch))
        return v * (k * robust_positive(p, self.q2) + (1.0 - k) * robust_negative(p, self.q3))

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        positive = -torch.log(p + GR_LOG_EPSILON)
        return torch.where(z > 0.5, positive, self.unknown_loss(p, epoch))


FULL_LABEL_LOSSES: frozenset[str] = frozenset(
    name for name, cls in LOSSES.items() if cls.needs_full_labels
)
