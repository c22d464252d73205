"""self_training: the round-r student predicts the training split and teaches round r+1.

Each later round lives in its own namespace (round_2, round_3, ...), its datasets named with
the same prefix, so kedro-viz draws one block per round and the catalog keeps every round's
probabilities, pseudo labels, quality, student and metrics apart.
"""

from kedro.pipeline import Pipeline

from spml.pipelines.common import prediction_node
from spml.pipelines.design import StudyDesign, namespace, scope
from spml.pipelines.student.pipeline import student_for


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Every round after the first: the teaching student's predictions, then the new student."""
    pipeline = Pipeline([])
    for variant, seed in design.trained_students(later_rounds=True):
        teaching = variant.previous()
        prefix = scope(seed, teaching.round)
        predictions = prediction_node(
            f"{prefix}student_model_{teaching.slug}",
            f"{prefix}student_probabilities_{teaching.slug}",
            "predict_student",
            namespace(prefix, teaching.slug),
            design.model_inputs[0],
        )
        mirrored = [
            prediction_node(
                f"{prefix}student_model_{teaching.slug}",
                f"{prefix}student_probabilities_mirrored_{teaching.slug}",
                "predict_student_mirrored",
                namespace(prefix, teaching.slug),
                design.model_inputs[0],
                mirrored=True,
            )
        ]
        pipeline += Pipeline([predictions, *(mirrored if variant.mirror else [])])
        pipeline += student_for(variant, seed, design)
    return pipeline
