"""teacher: an SPML model trained on single positives, and its scores on the training split."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import current_design

from .nodes import predict_teacher, train_teacher


def create_pipeline(**kwargs) -> Pipeline:
    """Train, then predict with the selected epoch's weights."""
    train_images, test_images = current_design().model_inputs
    return Pipeline(
        [
            node(
                train_teacher,
                inputs=[
                    "observed_labels",
                    "full_labels",
                    "test_labels",
                    train_images,
                    test_images,
                    "params:teacher",
                    "params:model",
                    "params:training",
                    "params:checkpoints",
                    "params:data_root",
                ],
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
