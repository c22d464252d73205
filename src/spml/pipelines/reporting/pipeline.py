"""reporting: gather every model's metrics into the study's table and figures."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import StudyDesign
from spml.pseudo import tau_slug

from .nodes import report_study


def create_pipeline(design: StudyDesign) -> Pipeline:
    """One node reading the teacher's, the baselines' and every student's metrics."""
    metrics = (
        ["teacher_metrics"]
        + [f"baseline_metrics_{loss}" for loss in design.baselines]
        + [f"student_metrics_{tau_slug(tau)}" for tau in design.taus]
    )
    return Pipeline(
        [
            node(
                report_study,
                inputs=["full_labels", "params:reporting", *metrics],
                outputs=[
                    "results_table",
                    "results_markdown",
                    "figure_map_against_tau",
                    "figure_positives_against_tau",
                ],
                name="report_study",
            )
        ]
    )
