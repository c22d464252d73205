"""Same seed, same machine: bit-identical labels, split, teacher probabilities and test mAP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

OUTPUTS = ("data/03_primary", "data/07_model_output", "data/06_models")


def _teacher_run(project: Path, **runtime_params: object) -> dict[str, object]:
    """Run data_engineering + teacher from scratch; return what the test compares."""
    for folder in OUTPUTS:
        shutil.rmtree(project / folder, ignore_errors=True)
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_names=["data_engineering", "teacher"])
    metrics = json.loads((project / "data/07_model_output/teacher_metrics.json").read_text())
    return {
        "observed": pd.read_parquet(project / "data/03_primary/observed_labels.parquet"),
        "probabilities": pd.read_parquet(
            project / "data/07_model_output/teacher_probabilities.parquet"
        ),
        "test_map": metrics["test_map"],
    }


def test_same_seeds_repeat_exactly_and_other_seeds_differ(tiny_project: Path) -> None:
    first = _teacher_run(tiny_project)
    cache = tiny_project / "data/05_model_input/train_images.npy"
    decoded_at = cache.stat().st_mtime_ns
    again = _teacher_run(tiny_project)
    assert cache.stat().st_mtime_ns == decoded_at  # the images were not decoded again
    pd.testing.assert_frame_equal(first["observed"], again["observed"])
    pd.testing.assert_frame_equal(first["probabilities"], again["probabilities"])
    assert first["test_map"] == again["test_map"]

    reseeded = _teacher_run(tiny_project, training={"seed": 1})
    assert not reseeded["probabilities"].equals(first["probabilities"])
    assert reseeded["test_map"] != first["test_map"]

    other_draw = _teacher_run(tiny_project, protocol={"seed": 7})
    assert not other_draw["observed"].equals(first["observed"])
    assert (other_draw["observed"]["split"] != first["observed"]["split"]).any()
