"""The students of a study and its seeds, read from parameters: every pseudo-label policy x its
grid x keep_observed (the sweep, with the students' noise and `self_training.rounds`), then the
extra `self_training.chains`, each with its own noise and rounds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from spml import policies
from spml.augment import Augment
from spml.variants import Variant


def _as_list(value: Any, name: str) -> list[Any]:
    """A parameter that takes one value or a list of them, as a non-empty list."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError(f"Parameter {name} must not be an empty list")
    return values


def _flag(value: Any, name: str) -> bool:
    """A true/false parameter, refused when it is anything else."""
    if not isinstance(value, bool):
        raise ValueError(f"Parameter {name} must be true or false, got {value!r}")
    return value


def _dropout(value: Any, name: str) -> float:
    """A dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"Parameter {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _rounds(value: Any, name: str) -> int:
    """A number of self-training rounds, at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Parameter {name} must be an integer >= 1, got {value!r}")
    return value


def _epochs(value: Any, name: str) -> int | None:
    """A chain's own training length per round: null (training.epochs) or an integer >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"Parameter {name} must be null or an integer >= 1, got {value!r}")
    return value


def _policy_value(policy: str, value: Any, name: str) -> float:
    """A policy's swept value, checked by the policy (the class count is checked at run time)."""
    try:
        return policies.POLICIES[policy].check(value, None)
    except ValueError as error:
        raise ValueError(f"Parameter {name}: {error}") from error


def student_variants(params: Mapping[str, Any], taus: tuple[float, ...]) -> tuple[Variant, ...]:
    """Every student: each policy x its grid x keep_observed x mirror (with the students' noise, for
    `self_training.rounds` rounds), then the extra `self_training.chains`; each once."""
    labelling = params.get("pseudo_labeling") or {}
    student = params.get("student") or {}
    self_training = params.get("self_training") or {}
    noise = {
        "augment": Augment.from_config(student.get("augment", False), student.get("augmentation")),
        "dropout": _dropout(student.get("dropout", 0.0), "student.dropout"),
    }
    rounds = _rounds(self_training.get("rounds", 1), "self_training.rounds")
    keeps = [
        _flag(keep, "pseudo_labeling.keep_observed")
        for keep in _as_list(labelling.get("keep_observed", False), "pseudo_labeling.keep_observed")
    ]
    mirrors = [
        _flag(mirror, "pseudo_labeling.mirror")
        for mirror in _as_list(labelling.get("mirror", False), "pseudo_labeling.mirror")
    ]
    chains: list[tuple[Variant, int]] = []
    for policy in _as_list(labelling.get("policy", "threshold"), "pseudo_labeling.policy"):
        policies.POLICIES[str(policy)]  # names the parameter and the valid policies
        grid = taus if policy == "threshold" else _grid(labelling, policy)
        for value in grid:
            for keep in keeps:
                for mirror in mirrors:
                    chains.append((Variant(policy, value, keep, mirror=mirror, **noise), rounds))
    for number, chain in enumerate(self_training.get("chains") or []):
        chains.append(_chain(chain, f"self_training.chains[{number}]", noise, rounds, student))
    students = {
        replace(variant, round=r): None for variant, last in chains for r in range(1, last + 1)
    }
    variants = tuple(sorted(students, key=lambda variant: variant.round))
    _check_unique_names(variants)
    return variants


def _grid(labelling: Mapping[str, Any], policy: str) -> tuple[float, ...]:
    """A policy's sweep from pseudo_labeling.grids.<policy>."""
    name = f"pseudo_labeling.grids.{policy}"
    grid = (labelling.get("grids") or {}).get(policy)
    if not isinstance(grid, list | tuple) or not grid:
        raise ValueError(f"Parameter {name} must be a non-empty list of values, got {grid!r}")
    return tuple(_policy_value(policy, value, name) for value in grid)


def _augment(enabled: Any, student: Mapping[str, Any], name: str) -> Augment | None:
    """A chain's own input noise: on or off, at the strengths of student.augmentation."""
    try:
        return Augment.from_config(enabled, student.get("augmentation"))
    except ValueError as error:
        raise ValueError(f"Parameter {name}.augment: {error}") from error


def _chain(
    chain: Any, name: str, noise: Mapping[str, Any], rounds: int, student: Mapping[str, Any]
) -> tuple[Variant, int]:
    """One self-training chain: a variant (unset keys as the sweep's) and its rounds."""
    known = {"policy", "value", "keep_observed", "mirror", "augment", "dropout", "rounds", "epochs"}
    if not isinstance(chain, Mapping) or not {"policy", "value"} <= set(chain):
        raise ValueError(f"Parameter {name} must be a mapping with a policy and a value")
    unknown = sorted(set(chain) - known)
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in parameter {name}; valid: {sorted(known)}")
    policy = str(chain["policy"])
    policies.POLICIES[policy]
    variant = Variant(
        policy,
        _policy_value(policy, chain["value"], f"{name}.value"),
        _flag(chain.get("keep_observed", False), f"{name}.keep_observed"),
        noise["augment"] if "augment" not in chain else _augment(chain["augment"], student, name),
        _dropout(chain.get("dropout", noise["dropout"]), f"{name}.dropout"),
        epochs=_epochs(chain.get("epochs"), f"{name}.epochs"),
        mirror=_flag(chain.get("mirror", False), f"{name}.mirror"),
    )
    return variant, _rounds(chain.get("rounds", rounds), f"{name}.rounds")


def _check_unique_names(variants: tuple[Variant, ...]) -> None:
    """Two different students must not share a name (e.g. two noise settings in one study)."""
    seen: dict[tuple[str, int], Variant] = {}
    for variant in variants:
        other = seen.setdefault((variant.slug, variant.round), variant)
        if other != variant:
            raise ValueError(
                f"Two students would both be named {variant.slug!r} in round {variant.round}: "
                f"{other} and {variant}; a study holds one noise setting per policy value"
            )


def study_seeds(params: Mapping[str, Any]) -> tuple[int, ...]:
    """`seeds`: the training seeds every model is trained with; null for one study at
    training.seed, with the names of the published study."""
    seeds = params.get("seeds")
    if seeds is None:
        return ()
    valid = isinstance(seeds, list | tuple) and seeds
    if not valid or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"Parameter seeds must be null or a list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"Parameter seeds lists a seed twice: {list(seeds)}")
    return tuple(seeds)
