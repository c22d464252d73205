"""Synthetic labelled images that a small CNN learns in a few epochs (shared by the tests)."""

from __future__ import annotations

import numpy as np

from spml.data import LabelledImages


def colour_coded_images(n: int, seed: int, size: int = 16) -> LabelledImages:
    """Images whose red and green channels announce classes 0 and 1."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, size=(n, 3)).astype(np.float32)
    targets[targets.sum(1) == 0, 2] = 1
    images = rng.integers(0, 80, size=(n, 3, size, size), dtype=np.uint8)
    images[:, 0] += (targets[:, 0] * 150).astype(np.uint8)[:, None, None]
    images[:, 1] += (targets[:, 1] * 150).astype(np.uint8)[:, None, None]
    return LabelledImages.from_arrays(images, targets)
