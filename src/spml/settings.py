"""Project settings: the study's hooks and the configuration resolvers they rely on."""

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project

from spml.hooks import StageTimingHooks, StudyDesignHooks, StudyInputsHooks


def default_tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, else the project's embedded SQLite store (mlflow.db in
    the project folder, also from a notebook in notebooks/)."""
    root = find_kedro_project(Path.cwd()) or Path.cwd()
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


HOOKS = (StageTimingHooks(), StudyInputsHooks(), StudyDesignHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"spml.tracking_uri": default_tracking_uri},
    # An environment (local, coco) overrides single keys and keeps the rest of base.
    "merge_strategy": {"parameters": "soft", "mlflow": "soft"},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
}
