"""Shared fixtures: a throw-away copy of the project with a tiny study configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from spml.data import LabelledImages
from tests.images import colour_coded_images

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Small enough for CI on two cores, big enough that every stage does real work.
TINY_PARAMETERS = {
    "demo": {"n_train": 300, "n_test": 120, "image_size": 32},
    "image_size": 32,
    "model": {"name": "small_cnn", "options": {"small_cnn": {"width": 8}}},
    "training": {"epochs": 2, "batch_size": 32, "eval_batch_size": 128},
    "taus": [0.3, 0.5],
}


def shipped_parameters(env: str) -> dict:
    """The parameters conf/ gives an environment, merged over base as a session does."""
    from kedro.config import OmegaConfigLoader

    return OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        env=env,
        merge_strategy={"parameters": "soft"},
    )["parameters"]


@pytest.fixture
def colour_coded() -> Callable[..., LabelledImages]:
    """A maker of images whose colour announces the class (see tests/images.py)."""
    return colour_coded_images


def make_tiny_project(project: Path) -> Path:
    """A copy of conf/ and pyproject.toml at `project` whose local env makes the study tiny."""
    project.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project)
    (project / "src").mkdir()  # the package itself is imported from the installed project
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(TINY_PARAMETERS))
    for layer in (
        "01_raw",
        "03_primary",
        "05_model_input",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (project / "data" / layer).mkdir(parents=True)
    return project


@pytest.fixture
def tiny_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny project in a temporary folder, the current directory, with its own MLflow store."""
    project = make_tiny_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    return project


def kedro(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the kedro CLI in `project` as a user would (with `env` added), capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def finished_study(tiny_project: Path) -> Path:
    """The default pipeline run once on the tiny project."""
    bootstrap_project(tiny_project)
    with KedroSession.create(project_path=tiny_project) as session:
        session.run()
    return tiny_project
