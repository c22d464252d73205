"""The study design: which students and baselines the graph holds, read from parameters.

Why the graph is built from parameters: the study trains one student per threshold and one
model per baseline loss, and Kedro nodes cannot be created while a pipeline runs. So the
node list itself depends on `taus` (or a `tau` given on the command line), `baselines.losses`,
`model.frozen_backbone` and, in that mode, whether pre-extracted features are on disk. Kedro
builds pipelines before a session's runtime parameters exist; the session hook therefore
builds a `StudyDesign` from the session's parameters (and the catalog's configuration) and
hands it to `pipeline_registry.register_study`, which passes it to every `create_pipeline`.
Outside a session (kedro viz without hooks, `kedro registry`) the design comes from conf/.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset
from omegaconf.basecontainer import BaseContainer

from spml import losses, models, policies
from spml.augment import Augment
from spml.pseudo import tau_slug, validate_tau
from spml.registry import did_you_mean
from spml.train_settings import TrainSettings
from spml.variants import Variant


@dataclass(frozen=True)
class StudyDesign:
    """Which students and baselines the pipelines contain, for which training seeds."""

    taus: tuple[float, ...]
    baselines: tuple[str, ...] = ()
    frozen_backbone: bool = False
    variants: tuple[Variant, ...] = ()  # every student of every round; () = the paper's, per tau
    seeds: tuple[int, ...] = ()  # () = one study at training.seed, with unprefixed names
    band_low: float = 0.5

    @property
    def students(self) -> tuple[Variant, ...]:
        """Every student of the study, round by round (a later round after its teacher)."""
        return self.variants or tuple(Variant("threshold", tau) for tau in self.taus)

    @property
    def seed_scopes(self) -> tuple[int | None, ...]:
        """The seeds whose models the graph trains; None: the single, unprefixed study."""
        return self.seeds or (None,)

    def trained_students(self, later_rounds: bool = False) -> list[tuple[Variant, int | None]]:
        """Every (student, seed) pair of round 1, or of the rounds after it."""
        return [
            (variant, seed)
            for seed in self.seed_scopes
            for variant in self.students
            if (variant.round > 1) == later_rounds
        ]

    @property
    def is_paper(self) -> bool:
        """Whether this is the published study, reported as the paper's table and figures."""
        return not self.seeds and all(variant.is_paper for variant in self.students)

    @property
    def model_inputs(self) -> tuple[str, str]:
        """What the models train on: decoded images, or features from a frozen backbone."""
        if self.frozen_backbone:
            return "train_features", "test_features"
        return "train_images", "test_images"

    @property
    def training_inputs(self) -> dict[str, str]:
        """What every training node reads besides its own labels: argument -> dataset."""
        train, test = self.model_inputs
        return {
            "full_labels": "full_labels",
            "test_labels": "test_labels",
            "train_images": train,
            "test_images": test,
            "model": "params:model",
            "training": "params:training",
            "checkpoints": "params:checkpoints",
            "data_root": "params:data_root",
        }


def scope(seed: int | None, round_: int = 1) -> str:
    """The prefix of a model's dataset names: 'seed_1.' for one seed of several, 'round_2.' for a
    later self-training round, '' for the published study's models."""
    parts = ([f"seed_{seed}"] if seed is not None else []) + (
        [f"round_{round_}"] if round_ > 1 else []
    )
    return "".join(f"{part}." for part in parts)


def namespace(prefix: str, name: str = "") -> str | None:
    """A node namespace from a scope prefix and a name (kedro-viz draws one block per part)."""
    return (prefix + name).strip(".") or None


def design_from_parameters(params: Mapping[str, Any]) -> StudyDesign:
    """Read `taus` (or a single `tau` given on the command line), `baselines`, the pseudo-label
    policies with their grids, the students' noise, the self-training rounds and `seeds`."""
    if params.get("tau") is not None:
        taus = (validate_tau(params["tau"], "tau"),)
    else:
        grid = params.get("taus")
        if not isinstance(grid, list | tuple) or not grid:
            raise ValueError(f"Parameter taus must be a non-empty list of thresholds, got {grid!r}")
        taus = tuple(sorted({validate_tau(tau, "taus") for tau in grid}))
    if len({tau_slug(tau) for tau in taus}) != len(taus):
        raise ValueError(f"Parameter taus has thresholds equal to 4 decimals: {list(taus)}")
    baselines = tuple((params.get("baselines") or {}).get("losses") or ())
    unknown = sorted(set(baselines) - set(losses.available_losses()))
    if unknown:
        raise ValueError(
            f"Unknown loss(es) {unknown} in parameter baselines.losses; "
            f"valid: {losses.available_losses()}"
        )
    if len(set(baselines)) != len(baselines):
        raise ValueError(f"Parameter baselines.losses lists a loss twice: {list(baselines)}")
    frozen = (params.get("model") or {}).get("frozen_backbone", False)
    if not isinstance(frozen, bool):
        raise ValueError(f"Parameter model.frozen_backbone must be true or false, got {frozen!r}")
    band_low = validate_tau((params.get("pseudo_labeling") or {}).get("band_low", 0.5), "band_low")
    variants = student_variants(params, taus)
    for variant in variants:
        if variant.policy == "band" and variant.value < band_low:
            raise ValueError(
                f"Parameter pseudo_labeling.band_low={band_low} exceeds the band's tau "
                f"{variant.value}: no entry could be positive and negative at once"
            )
        if variant.augment is not None and frozen:
            raise ValueError(
                "Parameter student.augment needs images, but model.frozen_backbone is true "
                "(models train on features)"
            )
    student_loss = str((params.get("student") or {}).get("loss"))
    masked = any(variant.policy == "band" for variant in variants)
    if (
        masked
        and student_loss in losses.LOSSES
        and not losses.LOSSES[student_loss].can_ignore_entries()
    ):
        raise ValueError(
            f"Parameter student.loss={student_loss!r} has a batch regulariser, so it cannot ignore "
            "the band policy's unknown targets; choose a loss without one (e.g. bce_ls)"
        )
    paper = all(variant.is_paper for variant in variants)
    return StudyDesign(
        taus, baselines, frozen, () if paper else variants, study_seeds(params), band_low
    )


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


def _policy_value(policy: str, value: Any, name: str) -> float:
    """A policy's swept value, checked by the policy (the class count is checked at run time)."""
    try:
        return policies.POLICIES[policy].check(value, None)
    except ValueError as error:
        raise ValueError(f"Parameter {name}: {error}") from error


def student_variants(params: Mapping[str, Any], taus: tuple[float, ...]) -> tuple[Variant, ...]:
    """Every student: each policy x its grid x keep_observed (with the students' noise, for
    `self_training.rounds` rounds), then the extra `self_training.chains`; each once."""
    labelling = params.get("pseudo_labeling") or {}
    student = params.get("student") or {}
    self_training = params.get("self_training") or {}
    noise = {
        "augment": Augment.from_config(student.get("augment")),
        "dropout": _dropout(student.get("dropout", 0.0), "student.dropout"),
    }
    rounds = _rounds(self_training.get("rounds", 1), "self_training.rounds")
    keeps = [
        _flag(keep, "pseudo_labeling.keep_observed")
        for keep in _as_list(labelling.get("keep_observed", False), "pseudo_labeling.keep_observed")
    ]
    chains: list[tuple[Variant, int]] = []
    for policy in _as_list(labelling.get("policy", "threshold"), "pseudo_labeling.policy"):
        policies.POLICIES[str(policy)]  # names the parameter and the valid policies
        grid = taus if policy == "threshold" else _grid(labelling, policy)
        for value in grid:
            for keep in keeps:
                chains.append((Variant(policy, value, keep, **noise), rounds))
    for number, chain in enumerate(self_training.get("chains") or []):
        chains.append(_chain(chain, f"self_training.chains[{number}]", noise, rounds))
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


def _chain(chain: Any, name: str, noise: Mapping[str, Any], rounds: int) -> tuple[Variant, int]:
    """One self-training chain: a variant (unset keys as the sweep's) and its rounds."""
    known = {"policy", "value", "keep_observed", "augment", "dropout", "rounds"}
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
        Augment.from_config(chain["augment"]) if "augment" in chain else noise["augment"],
        _dropout(chain.get("dropout", noise["dropout"]), f"{name}.dropout"),
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


def configured_parameters(conf_source: str | Path, env: str | None) -> dict[str, Any]:
    """The parameters conf/ holds for `env`, without any given at run time."""
    (params,) = configured_config(conf_source, env, "parameters")
    return params


def configured_config(conf_source: str | Path, env: str | None, *keys: str) -> list[Any]:
    """What conf/ holds for `env` under each key (parameters, catalog), without runtime
    parameters, leaving the session's `${globals:}` in place (_session_resolvers_kept)."""
    from kedro.framework.project import settings

    with _session_resolvers_kept():
        loader = OmegaConfigLoader(
            conf_source=str(conf_source), env=env, **settings.CONFIG_LOADER_ARGS
        )
        return [loader[key] for key in keys]


def configured_design(project_path: Path | None = None, env: str | None = None) -> StudyDesign:
    """The design conf/ describes, for tools that build the graph without a session."""
    from kedro.framework.project import settings

    root = project_path or Path.cwd()
    params, catalog = configured_config(
        root / settings.CONF_SOURCE, env or os.environ.get("KEDRO_ENV"), "parameters", "catalog"
    )
    return design_from_parameters(params, catalog)


# Parameters whose keys are options of a loss or model: a runtime key under one of them is
# checked against what that loss or model accepts (check_losses, models.check_options).
FREE_FORM = ("teacher.loss_options", "student.loss_options", "baselines.options", "model.options")


@contextmanager
def _session_resolvers_kept() -> Iterator[None]:
    """OmegaConf's resolvers are process-wide and every config loader registers its own
    `${globals:}`: Kedro's parameter validation builds the graph (so calls configured_design)
    inside a session, whose environment's globals (e.g. conf/voc/globals.yml) must survive."""
    saved = dict(BaseContainer._resolvers)  # noqa: SLF001 - no public way to read them back
    try:
        yield
    finally:
        BaseContainer._resolvers.clear()  # noqa: SLF001
        BaseContainer._resolvers.update(saved)  # noqa: SLF001


def check_parameters(params: Mapping[str, Any], backbone_needed: bool = True) -> None:
    """Everything the study can check before it starts: losses, model, training settings
    (the backbone only when one runs: not on pre-extracted features)."""
    check_losses(params)
    model = params.get("model") or {}
    models.check_options(model.get("options") or {})
    if backbone_needed:  # names a bad name, option or weights file
        models.build_from_config(model, num_classes=2)
    TrainSettings.from_config(params.get("training") or {})
    size = params.get("image_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"Parameter image_size must be an integer >= 16, got {size!r}")


def check_losses(params: Mapping[str, Any]) -> None:
    """Build every configured loss once, so a bad name or option stops the run before training."""
    teacher, student = params.get("teacher") or {}, params.get("student") or {}
    baselines = params.get("baselines") or {}
    options = baselines.get("options") or {}
    configured = [
        ("teacher", teacher.get("loss"), teacher.get("loss_options")),
        ("student", student.get("loss"), student.get("loss_options")),
        *(  # options kept for losses not chosen now must fit their loss too
            (f"baselines.options.{loss}", loss, options.get(loss))
            for loss in dict.fromkeys([*(baselines.get("losses") or ()), *options])
        ),
    ]
    unknown = sorted(set(options) - set(losses.available_losses()))
    if unknown:
        raise ValueError(
            f"Parameter baselines.options names unknown loss(es) {unknown}; "
            f"{did_you_mean(unknown[0], losses.available_losses())}"
            f"valid: {losses.available_losses()}"
        )
    if teacher.get("loss") in losses.FULL_LABEL_LOSSES:
        choices = sorted(set(losses.available_losses()) - losses.FULL_LABEL_LOSSES)
        raise ValueError(
            f"Parameter teacher.loss={teacher['loss']!r} needs full labels; a teacher learns from "
            f"single positives: choose one of {choices}"
        )
    for where, name, loss_options in configured:
        try:
            losses.build(str(name), num_samples=2, num_classes=2, **dict(loss_options or {}))
        except (TypeError, ValueError) as error:
            defaults = (
                f" (--params {where}.loss_options=null trains {name} with its published defaults)"
                if where in ("teacher", "student") and loss_options
                else ""
            )
            raise ValueError(f"Parameter {where}: {error}{defaults}") from error
