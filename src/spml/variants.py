"""A student's variant: which policy made its pseudo labels, its noise, and its round.

The paper's students are `Variant("threshold", tau)`; the variants study adds the other
policies, keeping the observed positive, noisy students (Xie et al., 2020) and self-training
rounds, in which the round-r student becomes the teacher of round r+1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spml.augment import Augment
from spml.policies import POLICIES
from spml.pseudo import tau_slug

_VALUE_DECIMALS = 4


def value_slug(value: float) -> str:
    """A file-safe name for a swept value, free of float artefacts (2.9 -> '2_9', 3.0 -> '3')."""
    text = f"{round(value, _VALUE_DECIMALS):.{_VALUE_DECIMALS}f}".rstrip("0").rstrip(".")
    return text.replace(".", "_").replace("-", "minus_")


@dataclass(frozen=True)
class Variant:
    """How one kind of student learns: its pseudo labels, its noise, its self-training round."""

    policy: str
    value: float
    keep_observed: bool = False
    augment: Augment | None = None  # Noisy Student's input noise
    dropout: float = 0.0  # Noisy Student's model noise
    round: int = 1  # 1: learns from the teacher; r > 1: from the round r-1 student
    epochs: int | None = None  # its own training length (a longer student), else training.epochs
    mirror: bool = False  # targets from its teacher's predictions averaged with the mirror image's

    def __post_init__(self) -> None:
        POLICIES[self.policy]  # names the parameter and the valid policies
        if isinstance(self.round, bool) or not isinstance(self.round, int) or self.round < 1:
            raise ValueError(f"A student's round must be an integer >= 1, got {self.round!r}")
        if self.epochs is not None and not _positive_int(self.epochs):
            raise ValueError(f"A student's epochs must be an integer >= 1, got {self.epochs!r}")

    @property
    def noisy(self) -> bool:
        """Whether it trains with input or model noise."""
        return self.augment is not None or self.dropout > 0

    @property
    def is_paper(self) -> bool:
        """The published student: hard thresholded labels, nothing kept, no noise, round 1."""
        return (
            self.policy == "threshold"
            and not self.keep_observed
            and not self.noisy
            and not self.mirror
            and self.epochs is None
            and (self.round == 1)
        )

    @property
    def slug(self) -> str:
        """The name of its pseudo labels, model and metrics (rounds and seeds are namespaces):
        tau_0_65 for the paper's students, e.g. soft_1_kept_noisy for the others."""
        if self.policy == "threshold":
            base = tau_slug(self.value)
        else:
            base = f"{self.policy}_{value_slug(self.value)}"
        base += "_kept" if self.keep_observed else ""
        base += "_mirror" if self.mirror else ""
        base += "_noisy" if self.noisy else ""
        return base + (f"_{self.epochs}_epochs" if self.epochs else "")

    @property
    def label(self) -> str:
        """How tables, figures and MLflow run names show it, e.g. 'soft T=1 +observed noisy'."""
        symbol = POLICIES[self.policy].symbol
        text = f"{symbol}={self.value:g}"
        if self.policy != "threshold":
            text = f"{self.policy} {text}"
        text += " +observed" if self.keep_observed else ""
        text += " +mirror" if self.mirror else ""
        text += " noisy" if self.noisy else ""
        text += f" {self.epochs} epochs" if self.epochs else ""
        return text + (f" round {self.round}" if self.round > 1 else "")

    @property
    def targets_value(self) -> float:
        """The value its policy applies to its own teacher's probabilities. A soft temperature
        tempers the first teacher only: a student trained at temperature T already predicts at
        T, so tempering its predictions again would compound T with every round."""
        if self.policy == "soft" and self.round > 1:
            return 1.0
        return self.value

    @property
    def chain(self) -> Variant:
        """The same variant in round 1: what the rounds of one self-training chain share."""
        return replace(self, round=1)

    def previous(self) -> Variant:
        """The round whose student is this round's teacher."""
        if self.round == 1:
            raise ValueError(f"{self.label} learns from the teacher, not from an earlier round")
        return replace(self, round=self.round - 1)


def _positive_int(value: object) -> bool:
    """An int >= 1 that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
