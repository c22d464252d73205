"""data_engineering: the raw layer -> label tables, then decoded images or features."""

from kedro.pipeline import Pipeline, node

from spml.pipelines.design import StudyDesign

from .nodes import build_label_tables, extract_features, images_to_decode, select_pre_extracted


def create_pipeline(design: StudyDesign) -> Pipeline:
    """Wire the protocol: tables first, then what the models read for the images they list."""
    tables = Pipeline(
        [
            node(
                build_label_tables,
                inputs=["raw_train_labels", "raw_test_labels", "params:protocol"],
                outputs=["full_labels", "observed_labels", "test_labels", "dataset_stats"],
                name="build_label_tables",
            )
        ]
    )
    if design.pre_extracted_features:
        return tables + Pipeline(
            [
                node(
                    select_pre_extracted,
                    inputs=[f"pre_extracted_{split}_features", labels],
                    outputs=f"{split}_features",
                    name=f"select_{split}_features",
                )
                for split, labels in (("train", "full_labels"), ("test", "test_labels"))
            ]
        )
    decoded = tables + Pipeline(
        [
            node(
                images_to_decode,
                inputs=[f"raw_{split}_images", labels, "params:image_size", "params:decode_on"],
                outputs=f"{split}_images",
                name=f"decode_{split}_images",
            )
            for split, labels in (("train", "full_labels"), ("test", "test_labels"))
        ]
    )
    if not design.frozen_backbone:
        return decoded
    return decoded + Pipeline(
        [
            node(
                extract_features,
                inputs=["train_images", "test_images", "params:model", "params:training"],
                outputs=["train_features", "test_features"],
                name="extract_features",
            )
        ]
    )
