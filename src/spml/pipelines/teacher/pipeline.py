"""teacher: an SPML model trained on single positives, and its scores on the training split."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import current_design

from .nodes import predict_teacher, train_teacher


def create_pipeline(**kwargs) -> Pipeline:
    """Train, then predict with the selected epoch's weights."""
    design = current_design()
    train_images = design.model_inputs[0]
    return Pipeline(
        [
            node(
                train_teacher,
                inputs=["observed_labels", "params:teacher", *design.training_inputs],
                outputs=["teacher_model", "teacher_metrics"],
                name="train_teacher",
            ),
            node(
                predict_teacher,
                inputs=[
                    "teacher_model",
                    "full_labels",
                    train_images,
                    "params:model",
                    "params:training",
                ],
                outputs="teacher_probabilities",
                name="predict_teacher",
            ),
        ]
    )
