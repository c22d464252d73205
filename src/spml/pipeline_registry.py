"""The study's pipelines, each built from one StudyDesign (see spml.pipelines.design for why)."""

from __future__ import annotations

from collections.abc import Callable

from kedro.framework.project import pipelines as project_pipelines
from kedro.pipeline import Pipeline

from spml.pipelines import (
    baselines,
    controls,
    data_engineering,
    pseudo_labeling,
    reporting,
    self_training,
    student,
    teacher,
)
from spml.pipelines.design import StudyDesign, configured_design

# In the order the study runs them; `kedro run --pipeline NAME` picks one.
PIPELINES: dict[str, Callable[[StudyDesign], Pipeline]] = {
    "data_engineering": data_engineering.create_pipeline,
    "teacher": teacher.create_pipeline,
    "pseudo_labeling": pseudo_labeling.create_pipeline,
    "student": student.create_pipeline,
    "self_training": self_training.create_pipeline,
    "baselines": baselines.create_pipeline,
    "controls": controls.create_pipeline,
    "reporting": reporting.create_pipeline,
}


def register_pipelines(design: StudyDesign | None = None) -> dict[str, Pipeline]:
    """Every pipeline of `design` (by default the one conf/ describes); `__default__` runs
    the whole study."""
    design = design or configured_design()
    registered = {name: create(design) for name, create in PIPELINES.items()}
    registered["__default__"] = sum(registered.values(), Pipeline([]))
    return registered


def register_study(design: StudyDesign) -> None:
    """Make a session's design the graph Kedro runs: its registry is filled with this design's
    pipelines instead of asking `register_pipelines()` again without the session's params."""
    project_pipelines.configure(None)
    project_pipelines.update(register_pipelines(design))
