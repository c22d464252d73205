"""The teacher: learn from single positives, then score every training image."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from spml import models
from spml.data import LabelledImages
from spml.inference import predict
from spml.pipelines.common import Trained, train_model
from spml.study import ModelSpec
from spml.tables import category_columns, label_matrix, rows_of_split, training_split
from spml.train_settings import TrainSettings


def train_teacher(observed_labels: pd.DataFrame, teacher: dict[str, Any], **study: Any) -> Trained:
    """Train the teacher on the observed single positives, selecting on clean validation mAP."""
    loss = teacher["loss"]  # checked when the session started
    spec = ModelSpec(f"teacher ({loss})", "teacher", loss, dict(teacher.get("loss_options") or {}))
    return train_model(spec, training_split(observed_labels), "observed_labels", **study)


def predict_teacher(
    teacher_model: dict[str, torch.Tensor],
    full_labels: pd.DataFrame,
    train_images: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
) -> pd.DataFrame:
    """Teacher probabilities for every training-split image, under the evaluation transform."""
    categories = category_columns(full_labels)
    rows = rows_of_split(full_labels, "train")
    images = LabelledImages.from_arrays(train_images, label_matrix(full_labels)[rows], rows)
    config = model if images.is_image else models.head_config(int(train_images.shape[1]))
    network = models.build_from_config(config, len(categories))
    models.load_weights(network, teacher_model, "teacher_model")
    probabilities = predict(network, images, TrainSettings.from_config(training).inference)
    table = full_labels.loc[rows, ["image_id", "file_name"]].reset_index(drop=True)
    return pd.concat([table, pd.DataFrame(probabilities, columns=categories)], axis=1)
