"""A small study held in memory, for running pipelines through Kedro's runner in tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from spml.tables import label_table

CATEGORIES = ["cat", "dog", "bird"]
TRAINING = {"epochs": 1, "lr": 1e-3, "batch_size": 8, "seed": 0, "device": "cpu"}
MODEL = {"name": "small_cnn", "options": {"small_cnn": {"width": 4}}}


def table(labels: np.ndarray, split: object = None, ids: object = None) -> pd.DataFrame:
    """A label table of images 1, 2, ... (or `ids`), one file each, with a split if given."""
    ids = [int(i) for i in (np.arange(1, len(labels) + 1) if ids is None else ids)]
    files = [f"{image_id}.jpg" for image_id in ids]
    return label_table(ids, files, CATEGORIES, labels, None if split is None else np.array(split))


class _Kept(MemoryDataset):
    """A memory dataset the runner cannot empty, so a test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def run(pipeline: Pipeline, **inputs: Any) -> dict[str, Any]:
    """Run `pipeline` on in-memory inputs (parameters as `params:name`); return every output."""
    datasets = {name: _Kept() for name in pipeline.all_outputs()}
    datasets.update({name: MemoryDataset(value) for name, value in inputs.items()})
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}
