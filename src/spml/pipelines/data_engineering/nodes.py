"""Turn the raw layer into the label tables, images and features every later stage reads."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import models, protocol
from spml.data import DecodeJob, ImageFolder, LabelledImages
from spml.inference import forward_all
from spml.readers import RawLabels
from spml.readers.formatted import PreExtractedFeatures
from spml.train_settings import TrainSettings

log = logging.getLogger(__name__)


def build_label_tables(
    raw_train_labels: RawLabels, raw_test_labels: RawLabels, protocol_params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Full, observed (one positive) and test labels plus the stats that describe them."""
    full_labels, observed_labels, test_labels, stats = protocol.reference_tables(
        raw_train_labels,
        raw_test_labels,
        int(protocol_params["seed"]),
        float(protocol_params["val_fraction"]),
    )
    train, test = stats.to_dict("records")
    log.info(
        "Label tables from %s and %s: %d train, %d val, %d test images, %d categories; "
        "%d and %d images without a positive dropped",
        train["source"],
        test["source"],
        train["train_split"],
        train["val_split"],
        test["images_kept"],
        train["categories"],
        train["images_without_positives"],
        test["images_without_positives"],
    )
    return full_labels, observed_labels, test_labels, stats


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


def select_pre_extracted(features: PreExtractedFeatures, labels: pd.DataFrame) -> np.ndarray:
    """Frozen-backbone mode on pre-extracted features: the rows of the table's images."""
    selected = features.rows_for(tuple(labels["file_name"]))
    log.info("Pre-extracted features %s from %s", selected.shape, features.source)
    return selected
