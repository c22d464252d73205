"""The study design (thresholds, baselines) shapes the registered pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from spml.pipelines.baselines import create_pipeline as baselines_pipeline
from spml.pipelines.design import (
    StudyDesign,
    check_losses,
    check_parameters,
    design_from_parameters,
)
from spml.pipelines.reporting import create_pipeline as reporting_pipeline
from spml.pipelines.student import create_pipeline as student_pipeline

GRID = {"taus": [0.75, 0.55, 0.65], "baselines": {"losses": ["an", "bce"]}}


def test_the_grid_is_sorted_and_a_command_line_tau_replaces_it() -> None:
    assert design_from_parameters({**GRID, "tau": None}).taus == (0.55, 0.65, 0.75)
    assert design_from_parameters({**GRID, "tau": "0.7"}).taus == (0.7,)


@pytest.mark.parametrize(
    "params, named",
    [
        ({**GRID, "tau": 1.0}, "tau"),
        ({**GRID, "tau": "high"}, "tau"),
        ({"taus": [0.5, 1.2], "baselines": {}}, "taus"),
        ({"taus": [], "baselines": {}}, "taus"),
        ({"taus": [0.5], "baselines": {"losses": ["not_a_loss"]}}, "baselines.losses"),
        ({"taus": [0.5], "baselines": {"losses": ["an", "an"]}}, "baselines.losses"),
    ],
)
def test_bad_designs_name_the_parameter(params: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        design_from_parameters(params)


def test_each_tau_gets_its_own_namespaced_student_and_the_report_reads_them() -> None:
    design = StudyDesign((0.55, 0.7), ("an",))
    student = student_pipeline(design)
    assert {n.namespace for n in student.nodes} == {"tau_0_55", "tau_0_70"}
    assert "teacher_probabilities" in student.inputs()
    reported = reporting_pipeline(design).inputs()
    assert {"student_metrics_tau_0_55", "student_metrics_tau_0_70"} <= reported
    assert [n.name for n in baselines_pipeline(design).nodes] == ["baseline_an.train_AN"]


@pytest.mark.parametrize(
    "override, named",
    [
        ({"teacher": {"loss": "bce"}}, "teacher.loss"),
        ({"teacher": {"loss": "nope"}}, "teacher"),
        ({"student": {"loss": "bce_ls", "loss_options": {"eps": 2}}}, "student"),
        (
            {"baselines": {"losses": ["em"], "options": {"em": {"gamma": 1}}}},
            "baselines.options.em",
        ),
        ({"baselines": {"losses": ["an"], "options": {"emm": {}}}}, "baselines.options"),
    ],
)
def test_bad_loss_configuration_is_named_before_training(override: dict, named: str) -> None:
    params = {
        "teacher": {"loss": "em", "loss_options": {"alpha": 0.2}},
        "student": {"loss": "bce_ls", "loss_options": {"eps": 0.1}},
        "baselines": {"losses": ["an"], "options": {}},
        **override,
    }
    with pytest.raises(ValueError, match=named):
        check_losses(params)


def test_the_shipped_configuration_is_valid(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached ImageNet weights
    from tests.conftest import shipped_parameters as parameters

    for env in ("local", "all_losses"):
        check_parameters(parameters(env))
        assert design_from_parameters(parameters(env)).taus == (0.55, 0.65, 0.75, 0.85, 0.95)
    boostlu = parameters("local")
    assert (boostlu["model"]["head"], boostlu["model"]["boostlu_alpha"]) == ("linear", 5)
    boostlu["model"]["head"] = "boostlu"
    check_parameters(boostlu)
    boostlu["model"]["boostlu_alpha"] = -5  # a bad head option stops the run before training
    with pytest.raises(ValueError, match="model.boostlu_alpha"):
        check_parameters(boostlu)
    coco = parameters("coco")
    assert (coco["model"]["name"], coco["image_size"], coco["training"]["lr"]) == (
        "resnet50",
        448,
        1e-5,
    )
    with pytest.raises(
        ValueError, match="weights_path"
    ):  # no ImageNet weights given: said up front
        check_parameters(coco)
    coco["model"]["options"]["resnet50"]["random_init"] = True
    check_parameters(coco)
    for env, k in (("voc", 1.5), ("cub", 31.4), ("formatted", 1.9)):
        params = parameters(env)
        assert params["demo"]["generate"] is False  # never a demo over the data set's root
        assert params["baselines"]["options"]["epr"]["expected_positives"] == k
        assert params["baselines"]["options"]["role"]["expected_positives"] == k
        assert params["baselines"]["options"]["em"]["alpha"] == 0.1  # base's options kept
        assert design_from_parameters(params).frozen_backbone is (env == "formatted")


def test_frozen_backbone_mode_switches_every_model_to_features() -> None:
    from spml.pipelines.data_engineering import create_pipeline as data_pipeline
    from spml.pipelines.teacher import create_pipeline as teacher_pipeline

    frozen = design_from_parameters({**GRID, "model": {"frozen_backbone": True}})
    assert frozen.model_inputs == ("train_features", "test_features")
    assert {"train_features", "test_features"} <= data_pipeline(frozen).all_outputs()
    for create in (teacher_pipeline, student_pipeline, baselines_pipeline):
        pipeline = create(frozen)
        assert "train_features" in pipeline.inputs() and "train_images" not in pipeline.inputs()
    with pytest.raises(ValueError, match="model.frozen_backbone"):
        design_from_parameters({**GRID, "model": {"frozen_backbone": "yes"}})


def test_pre_extracted_features_replace_decoding_and_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spml.pipelines.data_engineering import create_pipeline as data_pipeline
    from spml.pipelines.design import PRE_EXTRACTED

    catalog = {
        name: {
            "type": "spml.datasets.PreExtractedFeaturesDataset",
            "filepath": str(tmp_path / f"{name}.npy"),
            "images_filepath": str(tmp_path / "images.npy"),
        }
        for name in PRE_EXTRACTED
    }
    frozen = {**GRID, "model": {"frozen_backbone": True}}
    assert not design_from_parameters(frozen, catalog).pre_extracted_features  # no files yet
    (tmp_path / "images.npy").touch()
    (tmp_path / "pre_extracted_train_features.npy").touch()
    with pytest.raises(ValueError, match="pre_extracted_test_features does not"):
        design_from_parameters(frozen, catalog)
    (tmp_path / "pre_extracted_test_features.npy").touch()
    design = design_from_parameters(frozen, catalog)
    assert design.pre_extracted_features
    assert not design_from_parameters(GRID, catalog).pre_extracted_features  # end to end
    pipeline = data_pipeline(design)
    assert {"train_features", "test_features"} <= pipeline.all_outputs()
    assert pipeline.inputs() == {
        "raw_train_labels",
        "raw_test_labels",
        *PRE_EXTRACTED,
        "params:protocol",
    }
    # No backbone runs on pre-extracted features, so none needs weights.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached ImageNet weights
    resnet = {"model": {"name": "resnet50", "options": {"resnet50": {"weights_path": None}}}}
    training = {"epochs": 1, "lr": 1e-3, "batch_size": 8, "seed": 0}
    params = {"teacher": {"loss": "em"}, "student": {"loss": "bce_ls"}, "image_size": 448}
    params = {**params, **resnet, "training": training}
    with pytest.raises(ValueError, match="weights"):
        check_parameters(params)
    check_parameters(params, backbone_needed=False)


def test_training_nodes_are_wired_by_name_to_the_shared_training_body() -> None:
    import inspect

    from spml.pipelines.common import _train_once, train_model

    def keyword_only(function) -> set[str]:
        return {
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty
        }

    design = StudyDesign((0.5,), ("an",))
    # train_model takes the search and the training settings, and hands the rest to each run
    assert keyword_only(train_model) == {"search", "training"}
    assert set(design.training_inputs) == keyword_only(train_model) | keyword_only(_train_once)
    nodes = [*student_pipeline(design).nodes, *baselines_pipeline(design).nodes]
    for training in (n for n in nodes if n.name.split(".")[-1].startswith("train_")):
        inputs = training._inputs  # the argument -> dataset mapping the node was built with
        assert isinstance(inputs, dict)
        assert inputs["checkpoints"] == "params:checkpoints"
        assert inputs["data_root"] == "params:data_root"


def test_the_registry_builds_every_pipeline_from_the_design_it_is_given() -> None:
    from spml.pipeline_registry import PIPELINES, register_pipelines

    registered = register_pipelines(StudyDesign((0.4, 0.9), ("bce",)))
    assert set(registered) == {*PIPELINES, "__default__"}
    namespaces = {n.namespace for n in registered["__default__"].nodes}
    assert {"tau_0_40", "tau_0_90", "baseline_bce"} <= namespaces
    assert "tau_0_55" not in namespaces
    assert (
        registered["__default__"].nodes
        == sum((registered[name] for name in PIPELINES), registered["reporting"]).nodes
    )


def test_a_session_design_becomes_the_graph_kedro_runs() -> None:
    from kedro.framework.project import pipelines

    from spml.pipeline_registry import register_study

    try:
        register_study(StudyDesign((0.42,), ()))
        assert {n.namespace for n in pipelines["student"].nodes} == {"tau_0_42"}
        register_study(StudyDesign((0.3, 0.6), ("an",)))
        assert {n.namespace for n in pipelines["student"].nodes} == {"tau_0_30", "tau_0_60"}
        assert "baseline_an.train_AN" in {n.name for n in pipelines["baselines"].nodes}
    finally:
        pipelines.configure("spml.pipeline_registry")  # as bootstrapping leaves it
