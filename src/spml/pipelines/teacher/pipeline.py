"""teacher: an SPML model trained on single positives, and its scores on the training split."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.common import bind, prediction_node
from spml.pipelines.design import StudyDesign, namespace, scope

from .nodes import train_teacher


def teacher_for(seed: int | None, design: StudyDesign) -> Pipeline:
    """Train one seed's teacher, then predict with the selected epoch's weights."""
    prefix = scope(seed)
    return Pipeline(
        [
            node(
                bind(train_teacher, seed=seed),
                inputs={
                    "observed_labels": "observed_labels",
                    "teacher": "params:teacher",
                    **design.training_inputs,
                },
                outputs=[f"{prefix}teacher_model", f"{prefix}teacher_metrics"],
                name="train_teacher",
                namespace=namespace(prefix),
            ),
            prediction_node(
                f"{prefix}teacher_model",
                f"{prefix}teacher_probabilities",
                "predict_teacher",
                namespace(prefix),
                design.model_inputs[0],
            ),
        ]
    ) + Pipeline(
        [
            prediction_node(
                f"{prefix}teacher_model",
                f"{prefix}teacher_probabilities_mirrored",
                "predict_teacher_mirrored",
                namespace(prefix),
                design.model_inputs[0],
                mirrored=True,
            )
        ]
        if design.mirrors_teacher
        else []
    )


def create_pipeline(design: StudyDesign) -> Pipeline:
    """One teacher per training seed of the study (one, unprefixed, by default)."""
    return sum((teacher_for(seed, design) for seed in design.seed_scopes), Pipeline([]))
