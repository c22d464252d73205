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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import AbstractDataset
from kedro.utils import find_kedro_project
from omegaconf.basecontainer import BaseContainer

from spml import losses, models, search
from spml.pipelines.student_variants import student_variants, study_seeds
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
    pre_extracted_features: bool = False  # frozen mode reads features files, decodes no image
    variants: tuple[Variant, ...] = ()  # every student of every round; () = the paper's, per tau
    seeds: tuple[int, ...] = ()  # () = one study at training.seed, with unprefixed names
    band_low: float = 0.5
    controls: tuple[str, ...] = ()  # models also trained as long as the longest student chain
    control_epochs: int | None = None  # that chain's epochs, its teacher's included

    @property
    def students(self) -> tuple[Variant, ...]:
        """Every student of the study, round by round (a later round after its teacher)."""
        return self.variants or tuple(Variant("threshold", tau) for tau in self.taus)

    @property
    def mirrors_teacher(self) -> bool:
        """Whether a student learns from the teacher's predictions on the mirror images too."""
        return any(variant.mirror and variant.round == 1 for variant in self.students)

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
            "search": "params:search",
            "checkpoints": "params:checkpoints",
            "data_root": "params:data_root",
        }


PRE_EXTRACTED = ("pre_extracted_train_features", "pre_extracted_test_features")
"""Catalog entries of features files that frozen-backbone mode uses where they exist."""


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


def design_from_parameters(
    params: Mapping[str, Any], catalog: Mapping[str, Any] | None = None
) -> StudyDesign:
    """Read `taus` (or a single `tau` given on the command line), `baselines`, the
    frozen-backbone mode (pre-extracted features where `catalog` has them), the pseudo-label
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
    check_variants(variants, params, band_low, frozen)
    paper = all(variant.is_paper for variant in variants)
    controls = compute_controls(params)
    return StudyDesign(
        taus,
        baselines,
        frozen,
        frozen and pre_extracted_on_disk(catalog or {}),
        variants=() if paper else variants,
        seeds=study_seeds(params),
        band_low=band_low,
        controls=controls,
        control_epochs=longest_chain_epochs(variants, params) if controls else None,
    )


def compute_controls(params: Mapping[str, Any]) -> tuple[str, ...]:
    """`compute_controls`: `teacher` and any baseline loss, each trained again for as many epochs
    as the longest student chain, so a student is compared at equal compute."""
    controls = params.get("compute_controls") or []
    if not isinstance(controls, list | tuple):
        raise ValueError(f"Parameter compute_controls must be a list, got {controls!r}")
    valid = ["teacher", *losses.available_losses()]
    for name in controls:
        if name not in valid:
            raise ValueError(
                f"Parameter compute_controls names {name!r}; {did_you_mean(str(name), valid)}"
                f"valid: teacher or a loss, {losses.available_losses()}"
            )
    if len(set(controls)) != len(controls):
        raise ValueError(f"Parameter compute_controls lists a model twice: {list(controls)}")
    return tuple(controls)


def longest_chain_epochs(variants: tuple[Variant, ...], params: Mapping[str, Any]) -> int:
    """The epochs behind the most trained student: its teacher's, then every round's (each
    round the student's own epochs or training.epochs)."""
    epochs = (params.get("training") or {}).get("epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Parameter training.epochs must be a positive integer, got {epochs!r}")
    return max(epochs + student.round * (student.epochs or epochs) for student in variants)


def pre_extracted_on_disk(catalog: Mapping[str, Any]) -> bool:
    """Whether the catalog configuration declares pre-extracted features and both exist."""
    if not all(name in catalog for name in PRE_EXTRACTED):
        return False
    found = {
        name: AbstractDataset.from_config(name, dict(catalog[name])).exists()
        for name in PRE_EXTRACTED
    }
    if len(set(found.values())) > 1:
        present, absent = sorted(found, key=lambda name: not found[name])
        raise ValueError(
            f"{present} exists but {absent} does not ({catalog[absent]['filepath']}): "
            "frozen-backbone mode uses pre-extracted features only when both are there"
        )
    return all(found.values())


def check_variants(
    variants: tuple[Variant, ...], params: Mapping[str, Any], band_low: float, frozen: bool
) -> None:
    """What the variants need from the rest of the study: a band above band_low, images for
    noise, and a student loss that can ignore the band's unknown targets."""
    student_loss = str((params.get("student") or {}).get("loss"))
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
        if variant.mirror and frozen:
            raise ValueError(
                f"Student {variant.label}: mirror needs images, but model.frozen_backbone is true "
                "(models train on features, which cannot be mirrored)"
            )
        loss = losses.LOSSES[student_loss] if student_loss in losses.LOSSES else None
        if variant.policy == "band" and loss is not None and not loss.can_ignore_entries():
            raise ValueError(
                f"Parameter student.loss={student_loss!r} has a batch regulariser, so it cannot "
                "ignore the band policy's unknown targets; choose a loss without one (bce_ls)"
            )


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

    root = project_path or find_kedro_project(Path.cwd()) or Path.cwd()  # a notebook runs below it
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
    `${globals:}` and `${runtime_params:}`: Kedro's parameter validation builds the graph (so
    calls configured_design) inside a session, whose environment's globals (conf/voc's
    data_root, conf/shared's data_dir) and --params must survive for its catalog."""
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
    search.candidates(params.get("search"))
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
