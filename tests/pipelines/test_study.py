"""The whole study through a real KedroSession, then the user's one-student command."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from spml import models, tracking
from tests.conftest import kedro

EXPERIMENT = "spml-pseudo-labels"


def _model_runs(project: Path) -> pd.DataFrame:
    """Every per-model MLflow run of the project's store (the study runs carry no role)."""
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT])
    return runs[runs["params.role"].notna()].reset_index(drop=True)


def test_study_writes_figures_table_and_one_top_level_run_per_model(finished_study: Path) -> None:
    reports = finished_study / "data" / "08_reporting"
    for figure in ("fig1a_map_against_tau.png", "fig1b_positives_against_tau.png"):
        with Image.open(reports / figure) as image:
            assert image.size[0] > 300 and image.size[1] > 200

    stats = pd.read_csv(reports / "dataset_stats.csv").set_index("split")
    assert stats.loc["train", "images_without_positives"] > 0  # dropped, and counted
    assert (
        stats.loc["train", "images_kept"] == stats.loc["train", ["train_split", "val_split"]].sum()
    )

    results = pd.read_csv(reports / "results.csv")
    assert list(results["name"]) == [
        "teacher (em)",
        "baseline an",
        "baseline em",
        "baseline bce",
        "student tau=0.3",
        "student tau=0.5",
    ]
    assert results["test_map"].between(0, 100).all()
    students = results[results["role"] == "student"]
    # A higher threshold keeps fewer positives: the pseudo labels must reflect that.
    assert students["pseudo_pos_per_image"].iloc[0] >= students["pseudo_pos_per_image"].iloc[1]
    markdown = (reports / "results.md").read_text()
    assert all(name in markdown for name in results["name"])

    runs = _model_runs(finished_study)
    assert sorted(runs["tags.mlflow.runName"]) == sorted(results["name"])
    for column in ("role", "loss", "tau", "seed", "lr", "batch_size", "epochs", "model", "dataset"):
        assert runs[f"params.{column}"].notna().all(), column
    for metric in ("test_map", "val_map", "train_loss"):
        assert runs[f"metrics.{metric}"].notna().all(), metric
    student_runs = runs[runs["params.role"] == "student"]
    for metric in ("pseudo_pos_per_image", "pseudo_precision", "pseudo_recall"):
        assert student_runs[f"metrics.{metric}"].notna().all(), metric
    client = mlflow.tracking.MlflowClient()
    teacher_id = runs.loc[runs["params.role"] == "teacher", "run_id"].item()
    saved_version = next((finished_study / "data/06_models/teacher.pt").iterdir()).name
    assert client.get_run(teacher_id).data.tags["model_version"] == saved_version
    assert [m.step for m in client.get_metric_history(teacher_id, "val_map")] == [1, 2]
    study_run = mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string="tags.mlflow.runName = '__default__'"
    )
    artifacts = {a.path for a in client.list_artifacts(study_run["run_id"].iloc[0])}
    assert {"fig1a_map_against_tau.png", "results.csv", "results.md"} <= artifacts
    _check_listed_at_the_top_and_linked_to_their_kedro_run(runs)
    _check_weights_rebuild_the_model(finished_study, runs)


def _check_listed_at_the_top_and_linked_to_their_kedro_run(runs: pd.DataFrame) -> None:
    """What MLflow's UI needs to list and chart the model runs as it opens."""
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    study_id = mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string="tags.mlflow.runName = '__default__'"
    )["run_id"].item()
    top_level = mlflow.search_runs(
        experiment_names=[EXPERIMENT], filter_string="tags.mlflow.parentRunId IS NULL"
    )
    assert set(runs["run_id"]) <= set(top_level["run_id"])
    assert set(runs[f"tags.{tracking.KEDRO_RUN_TAG}"]) == {study_id}


def _check_weights_rebuild_the_model(project: Path, runs: pd.DataFrame) -> None:
    """A student run's weights artifact loads without pickles into the model its config builds."""
    run_id = runs.set_index("tags.mlflow.runName").loc["student tau=0.3", "run_id"]
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model"))
    weights = torch.load(folder / "weights.pt", weights_only=True)
    description = json.loads((folder / "config.json").read_text())
    assert (description["role"], description["tau"]) == ("student", 0.3)
    model = models.build_from_config(description["model"], len(description["categories"]))
    model.load_state_dict(weights)
    saved = next((project / "data/06_models/student_tau_0_30.pt").iterdir())
    expected = torch.load(saved / "student_tau_0_30.pt", weights_only=True)
    assert all(torch.equal(weights[key], expected[key]) for key in expected)


def test_one_student_for_any_tau_reuses_the_teacher(finished_study: Path) -> None:
    teacher_versions = sorted((finished_study / "data/06_models/teacher.pt").iterdir())
    result = kedro(finished_study, "run", "--pipeline", "student", "--params", "tau:0.4")
    assert result.returncode == 0, result.stdout + result.stderr

    runs = _model_runs(finished_study)
    new = runs[runs["params.tau"] == "0.4"]
    assert list(new["tags.mlflow.runName"]) == ["student tau=0.4"]
    assert (runs["params.role"] == "teacher").sum() == 1
    assert sorted((finished_study / "data/06_models/teacher.pt").iterdir()) == teacher_versions
    assert (finished_study / "data/07_model_output/student_metrics_tau_0_40.json").is_file()

    same = kedro(finished_study, "run", "--pipeline", "student", "--params", "tau=0.4")
    assert same.returncode == 0, same.stdout + same.stderr
    again = _model_runs(finished_study)
    assert list(again.loc[again["params.tau"] == "0.4", "run_id"]) == list(new["run_id"])
    history = mlflow.tracking.MlflowClient().get_metric_history(new["run_id"].item(), "test_map")
    assert len(history) == 1  # nothing trained, nothing logged twice


@pytest.mark.parametrize("value", ["1.5", "abc", "-0.1"])
def test_bad_tau_stops_before_training_and_names_the_parameter(
    tiny_project: Path, value: str
) -> None:
    result = kedro(tiny_project, "run", "--pipeline", "student", "--params", f"tau:{value}")
    assert result.returncode != 0
    assert "tau" in result.stderr
    assert "Running node" not in result.stdout + result.stderr


def test_student_without_teacher_names_the_missing_dataset(tiny_project: Path) -> None:
    result = kedro(tiny_project, "run", "--pipeline", "student", "--params", "tau=0.5")
    assert result.returncode != 0
    assert "teacher_probabilities" in result.stderr
    assert "Running node" not in result.stdout + result.stderr


def test_missing_raw_data_says_where_to_put_it(tiny_project: Path, tmp_path: Path) -> None:
    result = kedro(
        tiny_project, "run", "--pipeline", "data_engineering", "--params", f"data_root={tmp_path}"
    )
    assert result.returncode != 0
    assert "instances_train2014.json" in result.stderr and "data_root" in result.stderr
    assert "Run the pipelines that produce them" not in result.stderr
    assert "Running node" not in result.stdout + result.stderr


def test_an_unreachable_tracking_server_is_named_before_any_node(
    tiny_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result = kedro(tiny_project, "run", "--pipeline", "data_engineering")
    assert result.returncode != 0
    assert "http://127.0.0.1:9" in result.stderr
    assert "Running node" not in result.stdout + result.stderr


def test_a_broken_annotation_file_is_named_and_outputs_stay(tiny_project: Path) -> None:
    broken = tiny_project / "broken"
    for folder in ("annotations", "train2014", "val2014"):
        (broken / folder).mkdir(parents=True)
    (broken / "annotations" / "instances_train2014.json").write_text('{"images": [')
    (broken / "annotations" / "instances_val2014.json").write_text("{}")
    existing = tiny_project / "data" / "03_primary" / "full_labels.parquet"
    existing.write_bytes(b"earlier output")
    result = kedro(
        tiny_project, "run", "--pipeline", "data_engineering", "--params", f"data_root={broken}"
    )
    assert result.returncode != 0
    assert "instances_train2014.json" in result.stderr and "not valid JSON" in result.stderr
    assert existing.read_bytes() == b"earlier output"
    assert not (
        tiny_project / "data" / "01_raw" / "coco_demo"
    ).exists()  # no demo over a user's path


def test_frozen_backbone_mode_trains_linear_heads_on_cached_features(tiny_project: Path) -> None:
    bootstrap_project(tiny_project)
    mlflow.set_tracking_uri(f"sqlite:///{tiny_project / 'mlflow.db'}")
    mlflow.create_experiment(EXPERIMENT)  # made by an older version: no experiment kind yet
    params = {"model": {"frozen_backbone": True}, "taus": [0.3], "baselines": {"losses": ["an"]}}
    with KedroSession.create(project_path=tiny_project, runtime_params=params) as session:
        session.run()
    kind = mlflow.get_experiment_by_name(EXPERIMENT).tags.get(tracking.EXPERIMENT_KIND_TAG)
    assert kind == "custom_model_development"
    features = np.load(tiny_project / "data/05_model_input/train_features.npy")
    images = np.load(tiny_project / "data/05_model_input/train_images.npy", mmap_mode="r")
    assert features.shape == (len(images), 64)  # small_cnn width 8: 8 * 8 channels
    teacher = torch.load(
        next((tiny_project / "data/06_models/teacher.pt").iterdir()) / "teacher.pt"
    )
    assert set(teacher) == {"weight", "bias"}  # a linear head, not the CNN
    results = pd.read_csv(tiny_project / "data/08_reporting/results.csv")
    assert list(results["name"]) == ["teacher (em)", "baseline an", "student tau=0.3"]
    runs = _model_runs(tiny_project)
    assert set(runs["params.frozen_backbone"]) == {"True"}


def test_a_boostlu_gr_teacher_then_linear_students(tiny_project: Path) -> None:
    """The README's recipe: the teacher alone with BoostLU and GR, the students without."""
    bootstrap_project(tiny_project)
    teacher = {"teacher": {"loss": "gr", "loss_options": None}, "baselines": {"losses": []}}
    boostlu = {**teacher, "model": {"head": "boostlu"}}
    with KedroSession.create(project_path=tiny_project, runtime_params=boostlu) as session:
        session.run(pipeline_names=["data_engineering", "teacher"])
    with KedroSession.create(project_path=tiny_project, runtime_params=teacher) as session:
        session.run(pipeline_names=["pseudo_labeling", "student", "reporting"])
    weights = torch.load(
        next((tiny_project / "data/06_models/teacher.pt").iterdir()) / "teacher.pt"
    )
    assert weights["cam.weight"].shape == (24, 64, 1, 1)  # 24 demo classes over 64 maps
    results = pd.read_csv(tiny_project / "data/08_reporting/results.csv")
    assert list(results["name"]) == ["teacher (gr)", "student tau=0.3", "student tau=0.5"]
    runs = _model_runs(tiny_project).set_index("tags.mlflow.runName")
    assert runs.loc["teacher (gr)", "params.head"] == "boostlu"
    assert runs.loc["teacher (gr)", "params.boostlu_alpha"] == "5"
    assert set(runs.loc[["student tau=0.3", "student tau=0.5"], "params.head"]) == {"linear"}
