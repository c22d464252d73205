"""data_engineering: COCO instances -> label tables and decoded images."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import StudyDesign

from .nodes import build_label_tables, extract_features, images_to_decode


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Wire the protocol: tables first, then the images they list (and their features)."""
    pipeline = Pipeline(
        [
            node(
                build_label_tables,
                inputs=["coco_train_instances", "coco_test_instances", "params:protocol"],
                outputs=["full_labels", "observed_labels", "test_labels", "dataset_stats"],
                name="build_label_tables",
            ),
            node(
                images_to_decode,
                inputs=[
                    "coco_train_images",
                    "full_labels",
                    "params:image_size",
                    "params:decode_on",
                ],
                outputs="train_images",
                name="decode_train_images",
            ),
            node(
                images_to_decode,
                inputs=["coco_test_images", "test_labels", "params:image_size", "params:decode_on"],
                outputs="test_images",
                name="decode_test_images",
            ),
        ]
    )
    if not design.frozen_backbone:
        return pipeline
    return pipeline + Pipeline(
        [
            node(
                extract_features,
                inputs=["train_images", "test_images", "params:model", "params:training"],
                outputs=["train_features", "test_features"],
                name="extract_features",
            )
        ]
    )
