"""The teacher's probabilities (and a teaching student's): its selected weights on the training
split, never flipped."""

from __future__ import annotations

import numpy as np
import torch

from spml import models
from spml.data import normalise
from spml.pipelines.common import predict_training_split
from tests.pipelines.memory_study import CATEGORIES, MODEL, TRAINING, table


def test_teacher_probabilities_are_the_unflipped_forward_pass_of_the_training_split() -> None:
    rng = np.random.default_rng(0)
    split = np.array(["train", "val", "train", "train", "val", "train"])
    images = rng.integers(0, 255, size=(6, 3, 16, 16), dtype=np.uint8)
    torch.manual_seed(3)
    teacher = models.build_from_config(MODEL, len(CATEGORIES)).eval()

    probabilities = predict_training_split(
        {k: v.clone() for k, v in teacher.state_dict().items()},
        table(rng.integers(0, 2, size=(6, 3)), split),
        images,
        MODEL,
        TRAINING,
    )

    train = np.flatnonzero(split == "train")
    assert probabilities["image_id"].tolist() == (train + 1).tolist()
    inputs = normalise(torch.from_numpy(images[train]))
    with torch.no_grad():
        plain, mirrored = torch.sigmoid(teacher(inputs)), torch.sigmoid(teacher(inputs.flip(-1)))
    scores = probabilities[CATEGORIES].to_numpy()
    np.testing.assert_allclose(scores, plain.numpy(), rtol=1e-5)
    assert not np.allclose(scores, mirrored.numpy(), rtol=1e-3)  # the teacher is not symmetric
