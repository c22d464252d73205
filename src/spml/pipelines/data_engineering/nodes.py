"""Turn COCO instances into the label tables every later stage reads."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import models, protocol
from spml.data import DecodeJob, ImageFolder, LabelledImages
from spml.inference import forward_all
from spml.tables import label_table
from spml.train_settings import TrainSettings

log = logging.getLogger(__name__)


def build_label_tables(
    train_instances: dict[str, Any], test_instances: dict[str, Any], protocol_params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Full, observed (one positive) and test labels plus the stats that describe them."""
    protocol.check_same_categories(
        train_instances, test_instances, "coco_train_instances", "coco_test_instances"
    )
    seed = int(protocol_params["seed"])
    train_ids, categories, train_matrix = protocol.coco_label_matrix(
        train_instances, "coco_train_instances"
    )
    test_ids, _, test_matrix = protocol.coco_label_matrix(test_instances, "coco_test_instances")
    train_idx, val_idx = protocol.split_train_val(
        len(train_ids), float(protocol_params["val_fraction"]), seed
    )
    split = np.full(len(train_ids), "train", dtype=object)
    split[val_idx] = "val"
    train_files = protocol.file_names(train_instances, train_ids)
    observed = protocol.observe_single_positive(train_matrix, seed)
    full_labels = label_table(train_ids, train_files, categories, train_matrix, split)
    observed_labels = label_table(train_ids, train_files, categories, observed, split)
    test_labels = label_table(
        test_ids, protocol.file_names(test_instances, test_ids), categories, test_matrix
    )
    stats = _stats(
        train_instances, test_instances, train_matrix, test_matrix, len(train_idx), len(val_idx)
    )
    log.info(
        "Label tables: %d train, %d val, %d test images, %d categories",
        len(train_idx),
        len(val_idx),
        len(test_ids),
        len(categories),
    )
    return full_labels, observed_labels, test_labels, stats


def _stats(
    train_instances: dict[str, Any],
    test_instances: dict[str, Any],
    train_matrix: np.ndarray,
    test_matrix: np.ndarray,
    n_train: int,
    n_val: int,
) -> pd.DataFrame:
    """What the protocol kept and dropped, one row per source file."""
    rows = []
    for name, instances, matrix in (
        ("train2014", train_instances, train_matrix),
        ("val2014 (test)", test_instances, test_matrix),
    ):
        rows.append(
            {
                "source": name,
                "images": len(instances["images"]),
                "images_without_annotations": len(instances["images"]) - len(matrix),
                "images_kept": len(matrix),
                "categories": matrix.shape[1],
                "positives_per_image": protocol.positives_per_image(matrix),
                "train_split": n_train if name == "train2014" else 0,
                "val_split": n_val if name == "train2014" else 0,
            }
        )
    return pd.DataFrame(rows)


def images_to_decode(
    folder: ImageFolder, labels: pd.DataFrame, image_size: int, decode_on: str
) -> DecodeJob:
    """The labelled images in table order; the catalog's image cache decodes them once."""
    if decode_on == "auto":  # nvJPEG when there is a GPU, PIL threads otherwise
        decode_on = "cuda" if torch.cuda.is_available() else "pil"
    if decode_on not in ("pil", "cpu", "cuda"):
        raise ValueError(f"Parameter decode_on must be auto, pil, cpu or cuda, got {decode_on!r}")
    return DecodeJob(folder, tuple(labels["file_name"]), int(image_size), decode_on)


def extract_features(
    train_images: np.ndarray,
    test_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen-backbone mode: every image through the backbone once (no flip), for linear heads."""
    torch.manual_seed(int(training["seed"]))
    backbone, _ = models.backbone_from_config(model)
    settings = TrainSettings.from_config(training).inference
    features = [
        forward_all(
            backbone, LabelledImages.from_arrays(images, np.zeros((len(images), 1))), settings
        )
        .numpy()
        .astype(np.float32)
        for images in (train_images, test_images)
    ]
    log.info("Frozen-backbone features: %s train, %s test", features[0].shape, features[1].shape)
    return features[0], features[1]
