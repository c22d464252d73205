"""Every single-positive multi-label (SPML) loss, built by name so configuration picks it.

Formulas, normalisation and defaults follow the public reference implementations
(Cole et al. CVPR 2021, github.com/elijahcole/single-positive-multi-label; Kim et al.
CVPR 2022, github.com/snucml/LargeLossMatters; Zhou et al. ECCV 2022,
github.com/Correr-Zhou/SPML-AckTheUnknown): p = sigmoid(logit), neg_log(x) = -log(x + 1e-5),
loss = sum of the B x C loss matrix / (B * C), plus the regulariser where there is one.

Call a loss as ``loss(logits, observed, index=..., epoch=...)``: ``observed`` holds 1 for an
observed positive and 0 for unknown (full 0/1 targets for ``bce``/``bce_ls``), ``index`` the
batch's sample indices in [0, num_samples), ``epoch`` counts from 1. State that must survive an
epoch lives in parameters and buffers, so ``state_dict()`` restores it; move the loss to the
model's device.

Schedules
- LL-R / LL-Ct (Kim et al.): clean rate at epoch e is 1 - (e - 1) * delta_rel (the reference
  starts at 1 and subtracts delta_rel after every epoch); each step rejects (R) or flips to
  positive for that step (Ct) exactly k = ceil(B*C*(1 - clean_rate)) unknown entries with the
  largest AN loss (capped at the number of unknowns). LL-Cp flips k = ceil(B*C*delta_rel) per
  step, from epoch 2, permanently. delta_rel is a fraction (the reference CLI takes percent
  and divides by 100; its README grid is {0.1, ..., 0.5} percent, with no default); the
  default here is 0.002 = 0.2 %. Unlike the reference, LL uses neg_log like every other loss
  (the reference uses BCE-with-logits, a <= 1e-5 difference), picks exactly k entries where the
  reference's threshold test also takes ties and float noise (1 - 0.95 -> k off by one), and
  never touches observed positives.
- EM+APL (Zhou et al., COCO settings): alpha 0.1, beta 0.9, warm-up 5 epochs, 90 % of each
  class's unknowns relabelled over num_epochs - warm-up rounds. The reference relabels after
  every training epoch e >= warm-up from a separate pass over the training set; here the loss
  records the p it sees for each sample during an epoch and, on the first call of epoch e with
  e - 1 >= warm-up, turns the int(neg_proportion * U_c / (num_epochs - warm-up)) lowest-scored
  remaining unknowns of every class c (U_c = unknowns of class c) into soft negatives whose
  target is their recorded p. Scores are therefore training-mode probabilities gathered while
  the model moved through the epoch, not a fresh evaluation pass.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

LOG_EPSILON = 1e-5
DATA_FACTS = ("num_samples", "num_classes")

_REGISTRY: dict[str, type[SPMLLoss]] = {}


def neg_log(x: Tensor) -> Tensor:
    """-log(x + 1e-5): the reference's log, finite at 0 so no loss ever becomes inf."""
    return -torch.log(x + LOG_EPSILON)


def bce(p: Tensor, target: Tensor | float) -> Tensor:
    """Element-wise BCE of probabilities against (soft) targets, as the papers write it."""
    return target * neg_log(p) + (1.0 - target) * neg_log(1.0 - p)


def smoothed_bce(p: Tensor, target: Tensor, eps: float) -> Tensor:
    """Label smoothing: (1-eps)*BCE(t) + eps*BCE(1-t), so no target is ever fully trusted."""
    return (1.0 - eps) * bce(p, target) + eps * bce(p, 1.0 - target)


def expected_positive_regulariser(p: Tensor, expected_positives: float) -> Tensor:
    """(mean over batch of sum_c p - k)^2 / C^2: keeps the predicted label count near k."""
    return (p.sum(1).mean(0) - expected_positives) ** 2 / p.shape[1] ** 2


def register(name: str) -> Callable[[type[SPMLLoss]], type[SPMLLoss]]:
    """Make a loss class reachable from configuration under `name`."""

    def decorator(cls: type[SPMLLoss]) -> type[SPMLLoss]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def available_losses() -> list[str]:
    """The names configuration may use, for error messages and docs."""
    return sorted(_REGISTRY)


def default_hparams(name: str) -> dict[str, Any]:
    """The published defaults of a loss's hyper-parameters, for logging and docs."""
    return dict(_loss_class(name).hparam_defaults())


def build(
    name: str, *, num_samples: int | None = None, num_classes: int | None = None, **hparams: Any
) -> SPMLLoss:
    """Build the loss `name`; data-set facts are used by the losses that keep per-sample state."""
    cls = _loss_class(name)
    valid = cls.hparam_defaults()
    foreign = sorted(set(hparams) - set(valid))
    if foreign:
        allowed = sorted(valid) if valid else "none"
        raise ValueError(
            f"Loss '{name}' has no hyper-parameter {', '.join(map(repr, foreign))}; "
            f"its hyper-parameters are: {allowed}"
        )
    facts = {}
    for fact, value in (("num_samples", num_samples), ("num_classes", num_classes)):
        if fact not in cls.data_facts():
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Loss '{name}' needs {fact} (a positive integer from the data set), "
                f"got {value!r}; "
                f"losses that need no data-set facts: {sorted(set(_REGISTRY) - _stateful())}"
            )
        facts[fact] = value
    return cls(**facts, **hparams)


def _loss_class(name: str) -> type[SPMLLoss]:
    """The registered class, or an error that lists the valid names."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown loss '{name}'; choose one of {available_losses()}")
    return _REGISTRY[name]


def _stateful() -> set[str]:
    """Losses whose per-sample state needs num_samples / num_classes."""
    return {name for name, cls in _REGISTRY.items() if cls.data_facts()}


class SPMLLoss(nn.Module):
    """Base of every loss: input checks, the B*C normalisation and the regulariser in one place."""

    name: str = ""
    needs_full_labels: bool = False
    needs_index: bool = False
    needs_epoch: bool = False
    lr_multiplier: float = 1.0

    @classmethod
    def _signature(cls) -> list[inspect.Parameter]:
        """The constructor's named parameters: the single source of hparam names and defaults."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [p for p in parameters if p.kind not in variadic]

    @classmethod
    def data_facts(cls) -> tuple[str, ...]:
        """The data-set facts (num_samples, num_classes) this loss's constructor takes."""
        return tuple(p.name for p in cls._signature() if p.name in DATA_FACTS)

    @classmethod
    def hparam_defaults(cls) -> dict[str, Any]:
        """Hyper-parameters and their published defaults, read from the constructor."""
        return {p.name: p.default for p in cls._signature() if p.name not in DATA_FACTS}

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hparams = hparams

    def extra_repr(self) -> str:
        """Show the hyper-parameters when the loss is printed or logged."""
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())

    def _check(
        self,
        hparam: str,
        value: Any,
        ok: Callable[[float], bool],
        rule: str,
        *,
        integer: bool = False,
    ) -> None:
        """Refuse a hyper-parameter outside its range, naming the loss and the value."""
        kinds = (int,) if integer else (int, float)
        numeric = isinstance(value, kinds) and not isinstance(value, bool)
        if not numeric or not math.isfinite(value) or not ok(value):
            raise ValueError(
                f"Loss '{self.name}': hyper-parameter {hparam}={value!r} must be {rule}; "
                f"its hyper-parameters are: {sorted(self.hparam_defaults())}"
            )

    def forward(
        self,
        logits: Tensor,
        observed: Tensor,
        *,
        index: Tensor | None = None,
        epoch: int | None = None,
    ) -> Tensor:
        """Mean of the loss matrix over all B*C entries, plus the regulariser."""
        self._check_call(logits, observed, index, epoch)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()  # neg_log's 1e-5 and 1 - p are meaningless in half precision
        p = torch.sigmoid(logits)
        observed = observed.to(p.dtype)
        self.observe(p.detach(), observed, index, epoch)
        matrix = self.loss_matrix(p, observed, index, epoch)
        return matrix.sum() / matrix.numel() + self.regulariser(p, index)

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
        num_classes = getattr(self, "num_classes", logits.shape[1])
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


@register("bce")
class FullBCE(SPMLLoss):
    """Full-label BCE: the upper bound, and the student's loss on pseudo multi-labels."""

    needs_full_labels = True

    def loss_matrix(self, p: Tensor, y: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return bce(p, y)


@register("bce_ls")
class FullBCELabelSmoothing(SPMLLoss):
    """Full-label BCE with label smoothing (the published student used eps = 0.1)."""

    needs_full_labels = True

    def __init__(self, eps: float = 0.1) -> None:
        super().__init__(eps=eps)
        self._check("eps", eps, lambda v: 0 <= v < 1, "in [0, 1)")
        self.eps = float(eps)

    def loss_matrix(self, p: Tensor, y: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return smoothed_bce(p, y, self.eps)


@register("an")
class AssumeNegative(SPMLLoss):
    """AN: every unknown label is taken as a negative."""

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return bce(p, z)


@register("an_ls")
class AssumeNegativeLabelSmoothing(SPMLLoss):
    """AN-LS: assume negative, but smooth every target since many negatives are wrong."""

    def __init__(self, eps: float = 0.1) -> None:
        super().__init__(eps=eps)
        self._check("eps", eps, lambda v: 0 <= v < 1, "in [0, 1)")
        self.eps = float(eps)

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        return smoothed_bce(p, z, self.eps)


@register("wan")
class WeakAssumeNegative(SPMLLoss):
    """WAN: assumed negatives weighted 1/(C-1) so the one positive is not drowned out."""

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        weight = z + (1.0 - z) / (p.shape[1] - 1)
        return weight * bce(p, z)


@register("epr")
class ExpectedPositiveRegulariser(SPMLLoss):
    """EPR: observed positives only, plus a pull of the label count towards k."""

    def __init__(self, expected_positives: float = 2.9) -> None:
        super().__init__(expected_positives=expected_positives)
        self._check("expected_positives", expected_positives, lambda v: v > 0, "> 0")
        self.expected_positives = float(expected_positives)

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

    needs_index = True

    def __init__(
        self,
        num_samples: int,
        num_classes: int,
        expected_positives: float = 2.9,
        lr_multiplier: float = 10.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            expected_positives=expected_positives, lr_multiplier=lr_multiplier, seed=seed
        )
        self._check("expected_positives", expected_positives, lambda v: v > 0, "> 0")
        self._check("lr_multiplier", lr_multiplier, lambda v: v > 0, "> 0")
        if seed is not None:
            rule = "a non-negative integer or None"
            self._check("seed", seed, lambda v: v >= 0, rule, integer=True)
        self.num_samples, self.num_classes = num_samples, num_classes
        self.expected_positives = float(expected_positives)
        self.lr_multiplier = float(lr_multiplier)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        half_width = math.log(0.6 / 0.4)
        uniform = torch.rand(num_samples, num_classes, generator=generator)
        self.logits = nn.Parameter(half_width * (2.0 * uniform - 1.0))
        self.register_buffer("initialised", torch.zeros(num_samples, dtype=torch.bool))

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

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__(alpha=alpha)
        self._check("alpha", alpha, lambda v: v >= 0, ">= 0")
        self.alpha = float(alpha)

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        entropy = bce(p, p)
        return torch.where(z > 0.5, neg_log(p), -self.alpha * entropy)


@register("em_apl")
class EntropyMaximisationAPL(SPMLLoss):
    """EM + asymmetric pseudo-labelling: after a warm-up, confident unknowns become soft negatives.

    Buffers: ``scores`` (last p seen per sample), ``seen``, ``positive`` (observed positives),
    ``soft`` / ``soft_target`` (the soft negatives and their targets); the last epoch seen is
    extra state. See the module docstring for the schedule.
    """

    needs_index = True
    needs_epoch = True

    def __init__(
        self,
        num_samples: int,
        num_classes: int,
        alpha: float = 0.1,
        beta: float = 0.9,
        warmup_epochs: int = 5,
        neg_proportion: float = 0.9,
        num_epochs: int = 10,
    ) -> None:
        super().__init__(
            alpha=alpha,
            beta=beta,
            warmup_epochs=warmup_epochs,
            neg_proportion=neg_proportion,
            num_epochs=num_epochs,
        )
        self._check("alpha", alpha, lambda v: v >= 0, ">= 0")
        self._check("beta", beta, lambda v: v >= 0, ">= 0")
        self._check(
            "warmup_epochs", warmup_epochs, lambda v: v >= 1, "an integer >= 1", integer=True
        )
        self._check("neg_proportion", neg_proportion, lambda v: 0 <= v <= 1, "in [0, 1]")
        self._check(
            "num_epochs",
            num_epochs,
            lambda v: v > warmup_epochs,
            f"an integer > warmup_epochs={warmup_epochs}",
            integer=True,
        )
        self.num_samples, self.num_classes = num_samples, num_classes
        self.alpha, self.beta = float(alpha), float(beta)
        self.neg_proportion = float(neg_proportion)
        self.warmup_epochs, self.num_epochs = warmup_epochs, num_epochs
        self.last_epoch = 0
        shape = (num_samples, num_classes)
        self.register_buffer("scores", torch.zeros(shape))
        self.register_buffer("seen", torch.zeros(num_samples, dtype=torch.bool))
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
        t = self.soft_target[index].to(p.dtype)
        unknown = torch.where(self.soft[index], self.beta * bce(p, t), -self.alpha * bce(p, p))
        return torch.where(z > 0.5, neg_log(p), unknown)


class LargeLoss(SPMLLoss):
    """LL (Kim et al.): AN, but from epoch 2 the largest unknown losses are rejected/corrected."""

    needs_epoch = True
    correct: bool = False

    def __init__(self, delta_rel: float = 0.002) -> None:
        super().__init__(delta_rel=delta_rel)
        rule = "in (0, 1) (a fraction per epoch: 0.002 = 0.2 %)"
        self._check("delta_rel", delta_rel, lambda v: 0 < v < 1, rule)
        self.delta_rel = float(delta_rel)
        self.last_modified: Tensor | None = None  # the last batch's mask, for diagnostics

    def clean_rate(self, epoch: int) -> float:
        """Share of unknowns kept as negatives: 1 in epoch 1, then delta_rel less each epoch."""
        return max(0.0, 1.0 - (epoch - 1) * self.delta_rel)

    def num_modified(self, batch_entries: int, epoch: int) -> int:
        """k = ceil(B*C*(1 - clean_rate)), rounded first so float noise never adds one."""
        return math.ceil(round(batch_entries * (1.0 - self.clean_rate(epoch)), 6))

    def largest_unknowns(self, loss: Tensor, unknown: Tensor, k: int) -> Tensor:
        """Mask of the k unknown entries with the largest loss (fewer if the batch has fewer)."""
        k = min(k, int(unknown.sum()))
        chosen = torch.zeros_like(unknown)
        if k > 0:
            ranked = torch.where(unknown, loss.detach(), -torch.inf).flatten()
            chosen.view(-1)[torch.topk(ranked, k).indices] = True
        return chosen

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        """AN loss with the chosen unknowns rejected (zero) or flipped to positive."""
        loss = bce(p, z)
        k = self.num_modified(z.numel(), epoch) if epoch > 1 else 0
        chosen = self.largest_unknowns(loss, z < 0.5, k)
        self.last_modified = chosen
        return torch.where(chosen, neg_log(p) if self.correct else torch.zeros_like(loss), loss)


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

    needs_index = True
    correct = True

    def __init__(self, num_samples: int, num_classes: int, delta_rel: float = 0.002) -> None:
        super().__init__(delta_rel=delta_rel)
        self.num_samples, self.num_classes = num_samples, num_classes
        self.register_buffer("flipped", torch.zeros(num_samples, num_classes, dtype=torch.bool))

    def num_modified(self, batch_entries: int, epoch: int) -> int:
        return math.ceil(round(batch_entries * self.delta_rel, 6))

    def loss_matrix(self, p: Tensor, z: Tensor, index: Tensor | None, epoch: int | None) -> Tensor:
        z = torch.maximum(z, self.flipped[index].to(z.dtype))
        loss = super().loss_matrix(p, z, index, epoch)
        with torch.no_grad():
            self.flipped[index] |= self.last_modified
        return loss


FULL_LABEL_LOSSES: frozenset[str] = frozenset(
    name for name, cls in _REGISTRY.items() if cls.needs_full_labels
)
