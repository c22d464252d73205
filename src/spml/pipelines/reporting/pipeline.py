"""reporting: gather every model's metrics into the study's table and figures."""

import warnings

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import StudyDesign, scope

from .nodes import report_study, report_variants


def model_metrics(design: StudyDesign) -> list[str]:
    """Every trained model's metrics: teachers, baselines, then students, seed by seed."""
    return [
        name
        for seed in design.seed_scopes
        for name in (
            f"{scope(seed)}teacher_metrics",
            *(f"{scope(seed)}baseline_metrics_{loss}" for loss in design.baselines),
            *(f"{scope(seed)}control_metrics_{name}" for name in design.controls),
            *(
                f"{scope(seed, variant.round)}student_metrics_{variant.slug}"
                for variant in design.students
            ),
        )
    ]


def create_pipeline(design: StudyDesign) -> Pipeline:
    """The paper's table and figures 1a/1b for the published study; for a study of variants
    (other policies, noise, rounds, seeds) the variants table and figure instead."""
    if design.is_paper:
        return Pipeline(
            [
                node(
                    report_study,
                    inputs=["full_labels", "params:reporting", *model_metrics(design)],
                    outputs=[
                        "results_table",
                        "results_markdown",
                        "figure_map_against_tau",
                        "figure_positives_against_tau",
                        "learning_curves",
                        "figure_learning_curves",
                    ],
                    name="report_study",
                )
            ]
        )
    with warnings.catch_warnings():
        # The report gathers every seed's and round's namespaced metrics (seed_1.teacher_metrics):
        # reading across namespaces is its purpose, not the naming slip Kedro warns about.
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        report = node(
            report_variants,
            inputs=model_metrics(design),
            outputs=[
                "variants_table",
                "variants_markdown",
                "figure_variants",
                "learning_curves",
                "figure_learning_curves",
            ],
            name="report_variants",
        )
    return Pipeline([report])
