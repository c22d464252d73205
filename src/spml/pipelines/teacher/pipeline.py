"""teacher: an SPML model trained on single positives, and its scores on the training split."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import StudyDesign

from .nodes import predict_teacher, train_teacher


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Train, then predict with the selected epoch's weights."""
    return Pipeline(
        [
            node(
                train_teacher,
                inputs={
                    "observed_labels": "observed_labels",
                    "teacher": "params:teacher",
                    **design.training_inputs,
                },
                outputs=["teacher_model", "teacher_metrics"],
                name="train_teacher",
            ),
            node(
                predict_teacher,
                inputs={
                    "teacher_model": "teacher_model",
                    "full_labels": "full_labels",
                    "train_images": design.model_inputs[0],
                    "model": "params:model",
                    "training": "params:training",
                },
                outputs="teacher_probabilities",
                name="predict_teacher",
            ),
        ]
    )
