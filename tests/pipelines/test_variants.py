"""The variants study: policies x grids x keep_observed, noisy students, rounds and seeds."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog
from PIL import Image

from spml.augment import Augment
from spml.pipeline_registry import register_pipelines
from spml.pipelines.design import StudyDesign, check_parameters, design_from_parameters
from spml.policies import make_targets
from spml.tables import label_matrix, training_split
from spml.variants import Variant
from tests.conftest import PROJECT_ROOT, TINY_PARAMETERS, shipped_parameters

PAPER = {"taus": [0.55, 0.65], "baselines": {"losses": ["an"]}}
CHAIN = {"policy": "soft", "value": 1.0, "keep_observed": True, "rounds": 2}
AUGMENTATION = {
    "min_area": 0.5,
    "max_aspect": 1.2,
    "brightness": 0.1,
    "contrast": 0.1,
    "saturation": 0.1,
}


def test_the_default_parameters_design_the_paper_study() -> None:
    design = design_from_parameters(shipped_parameters("local"))
    assert design.is_paper and design.variants == () and design.seeds == ()
    assert design.students == tuple(
        Variant("threshold", tau) for tau in (0.55, 0.65, 0.75, 0.85, 0.95)
    )
    graph = register_pipelines(design)
    assert "report_study" in {n.name for n in graph["reporting"].nodes}
    assert not graph["self_training"].nodes
    assert {n.namespace for n in graph["student"].nodes} == {
        "tau_0_55",
        "tau_0_65",
        "tau_0_75",
        "tau_0_85",
        "tau_0_95",
    }


def test_the_paper_study_keeps_its_nodes_datasets_and_parameters() -> None:
    """The graph main had before the variants (results.md then cannot change by wiring):
    only the pseudo labels also read the observed labels, which `threshold` ignores; every
    training reads the (empty) learning-rate search; the report adds the learning curves."""
    taus, baselines = ("0_55", "0_65", "0_75", "0_85", "0_95"), ("an", "em", "bce")
    model_inputs = {"full_labels", "train_images", "test_images", "test_labels"}
    settings = {"params:checkpoints", "params:data_root", "params:model", "params:training"}
    settings |= {"params:search"}
    expected = {
        "build_label_tables": (
            {"raw_train_labels", "raw_test_labels", "params:protocol"},
            {"dataset_stats", "full_labels", "observed_labels", "test_labels"},
        ),
        "decode_train_images": (
            {"raw_train_images", "full_labels", "params:decode_on", "params:image_size"},
            {"train_images"},
        ),
        "decode_test_images": (
            {"raw_test_images", "test_labels", "params:decode_on", "params:image_size"},
            {"test_images"},
        ),
        "train_teacher": (
            model_inputs | settings | {"observed_labels", "params:teacher"},
            {"teacher_metrics", "teacher_model"},
        ),
        "predict_teacher": (
            {"full_labels", "params:model", "params:training", "teacher_model", "train_images"},
            {"teacher_probabilities"},
        ),
        "report_study": (
            {"full_labels", "params:reporting", "teacher_metrics"}
            | {f"baseline_metrics_{loss}" for loss in baselines}
            | {f"student_metrics_tau_{tau}" for tau in taus},
            {"figure_map_against_tau", "figure_positives_against_tau"}
            | {"results_markdown", "results_table", "learning_curves", "figure_learning_curves"},
        ),
    }
    for loss in baselines:
        expected[f"baseline_{loss}.train_{loss.upper()}"] = (
            model_inputs | settings | {"observed_labels", "params:baselines"},
            {f"baseline_metrics_{loss}", f"baseline_model_{loss}"},
        )
    for tau in taus:
        labels, quality = f"pseudo_labels_tau_{tau}", f"pseudo_label_quality_tau_{tau}"
        expected[f"tau_{tau}.make_pseudo_labels"] = (
            {"observed_labels", "teacher_probabilities"},
            {labels},
        )
        expected[f"tau_{tau}.assess_pseudo_labels"] = ({"full_labels", labels}, {quality})
        expected[f"tau_{tau}.train_student"] = (
            model_inputs | settings | {"params:student", labels, quality},
            {f"student_metrics_tau_{tau}", f"student_model_tau_{tau}"},
        )
    graph = register_pipelines(design_from_parameters(shipped_parameters("local")))
    actual = {n.name: (set(n.inputs), set(n.outputs)) for n in graph["__default__"].nodes}
    assert actual == expected


def test_the_variants_environment_compares_chains_at_equal_compute_over_three_seeds() -> None:
    params = shipped_parameters("variants")
    check_parameters(params)
    design = design_from_parameters(params)
    assert design.seeds == (0, 1, 2)
    epochs = params["training"]["epochs"]
    chain = [v for v in design.students if v.mirror and v.epochs is None]
    assert [v.round for v in chain] == [1, 2] and all(v.keep_observed for v in chain)
    (longer,) = [v for v in design.students if v.epochs]
    assert longer.epochs == 2 * epochs  # as many epochs as the chain's two rounds
    assert any(v.is_paper for v in design.students)
    assert design.controls == ("teacher", "bce")
    assert design.control_epochs == 3 * epochs  # the teacher and two rounds
    assert design.mirrors_teacher


def test_policies_grids_and_keep_observed_multiply_and_chains_add_rounds() -> None:
    params = {
        **PAPER,
        "pseudo_labeling": {
            "policy": ["threshold", "top_k"],
            "keep_observed": [False, True],
            "grids": {"top_k": [1, 2]},
        },
        "student": {"augment": False, "augmentation": AUGMENTATION, "dropout": 0.0},
        "self_training": {
            "rounds": 1,
            "chains": [CHAIN, {**CHAIN, "augment": True, "dropout": 0.1}],
        },
    }
    students = design_from_parameters(params).students
    sweep = [(v.policy, v.value, v.keep_observed) for v in students if v.policy != "soft"]
    assert len(sweep) == 8 and len(set(sweep)) == 8
    chain = [v for v in students if v.policy == "soft"]
    assert [(v.round, v.noisy) for v in chain] == [(1, False), (1, True), (2, False), (2, True)]
    assert chain[1].augment == Augment(**AUGMENTATION) and chain[1].dropout == 0.1
    assert [v.slug for v in chain] == ["soft_1_kept", "soft_1_kept_noisy"] * 2


def test_rounds_apply_to_every_swept_variant_and_repeat_nothing() -> None:
    params = {
        **PAPER,
        "self_training": {
            "rounds": 3,
            "chains": [{**CHAIN, "policy": "threshold", "value": 0.55, "keep_observed": False}],
        },
    }
    students = design_from_parameters(params).students
    assert [(v.value, v.round) for v in students] == [
        (0.55, 1),
        (0.65, 1),
        (0.55, 2),
        (0.65, 2),
        (0.55, 3),
        (0.65, 3),
    ]


@pytest.mark.parametrize(
    "override, named",
    [
        ({"pseudo_labeling": {"policy": "median"}}, "pseudo_labeling.policy"),
        ({"pseudo_labeling": {"policy": "top_k"}}, "pseudo_labeling.grids.top_k"),
        ({"pseudo_labeling": {"policy": "top_k", "grids": {"top_k": [0]}}}, "grids.top_k"),
        ({"pseudo_labeling": {"keep_observed": "yes"}}, "pseudo_labeling.keep_observed"),
        ({"pseudo_labeling": {"policy": []}}, "pseudo_labeling.policy"),
        (
            {"pseudo_labeling": {"policy": "band", "grids": {"band": [0.6]}, "band_low": 0.7}},
            "band_low",
        ),
        ({"student": {"dropout": 1.0}}, "student.dropout"),
        ({"student": {"augment": True, "augmentation": {"hue": 1}}}, "student.augmentation"),
        ({"student": {"augment": {"min_area": 0.5}}}, "student.augment"),
        ({"self_training": {"rounds": 0}}, "self_training.rounds"),
        ({"self_training": {"chains": [{"policy": "soft"}]}}, r"self_training.chains\[0\]"),
        ({"self_training": {"chains": [{**CHAIN, "round": 2}]}}, r"self_training.chains\[0\]"),
        (
            {"self_training": {"chains": [{**CHAIN, "value": -1}]}},
            r"self_training.chains\[0\].value",
        ),
        ({"self_training": {"chains": [{**CHAIN, "epochs": 0}]}}, r"chains\[0\].epochs"),
        ({"self_training": {"chains": [{**CHAIN, "epochs": 2.5}]}}, r"chains\[0\].epochs"),
        ({"compute_controls": ["teacher", "teacher"]}, "compute_controls lists a model twice"),
        ({"compute_controls": ["techer"]}, "compute_controls names 'techer'; did you mean"),
        ({"compute_controls": "teacher"}, "compute_controls must be a list"),
        ({"seeds": [0, 0]}, "seeds"),
        ({"seeds": "0,1"}, "seeds"),
        (
            {
                "student": {"augment": True, "augmentation": AUGMENTATION},
                "model": {"frozen_backbone": True},
            },
            "student.augment",
        ),
        (
            {"self_training": {"chains": [{**CHAIN, "dropout": 0.1}, {**CHAIN, "dropout": 0.2}]}},
            "soft_1_kept_noisy",
        ),
    ],
)
def test_bad_variant_parameters_are_named(override: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        design_from_parameters({**PAPER, **override})


def test_a_chain_with_its_own_epochs_is_named_by_them_and_trains_that_long() -> None:
    longer = {**CHAIN, "rounds": 1, "epochs": 6}
    design = design_from_parameters({**PAPER, "self_training": {"chains": [CHAIN, longer]}})
    (long_student,) = [v for v in design.students if v.epochs]
    assert long_student.epochs == 6 and long_student.slug == "soft_1_kept_6_epochs"
    assert long_student.label == "soft T=1 +observed 6 epochs"
    graph = register_pipelines(design)["student"]
    (node,) = [n for n in graph.nodes if n.name == "soft_1_kept_6_epochs.train_student"]
    assert node.func.keywords["variant"].epochs == 6


def test_controls_train_as_long_as_the_longest_chain_teacher_included() -> None:
    params = {
        **PAPER,
        "training": {"epochs": 5},
        "self_training": {"chains": [{**CHAIN, "rounds": 3}, {**CHAIN, "rounds": 1, "epochs": 12}]},
        "compute_controls": ["teacher", "bce"],
        "seeds": [0, 1],
    }
    design = design_from_parameters(params)
    # the teacher's 5 epochs + 3 rounds x 5 = 20, more than 5 + 1 round x 12 = 17
    assert design.control_epochs == 20
    controls = register_pipelines(design)["controls"]
    assert {n.name for n in controls.nodes} == {
        f"seed_{seed}.control_{name}.train_{name}_20_epochs"
        for seed in (0, 1)
        for name in ("teacher", "bce")
    }
    assert {o for n in controls.nodes for o in n.outputs} == {
        f"seed_{seed}.control_{kind}_{name}"
        for seed in (0, 1)
        for kind in ("model", "metrics")
        for name in ("teacher", "bce")
    }
    (teacher,) = [n for n in controls.nodes if n.name.startswith("seed_1.control_teacher")]
    assert teacher.func.keywords == {"seed": 1, "epochs": 20}
    reporting = register_pipelines(design)["reporting"].nodes[0]
    assert {"seed_0.control_metrics_teacher", "seed_1.control_metrics_bce"} <= set(reporting.inputs)
    longest = {**params, "self_training": {"chains": [{**CHAIN, "rounds": 1, "epochs": 30}]}}
    assert design_from_parameters(longest).control_epochs == 35
    assert design_from_parameters({**params, "compute_controls": []}).control_epochs is None


def test_round_two_reads_the_round_one_students_predictions_not_the_teachers() -> None:
    design = design_from_parameters({**PAPER, "self_training": {"chains": [CHAIN]}})
    graph = register_pipelines(design)["__default__"]
    nodes = {n.name: n for n in graph.nodes}
    labels = nodes["round_2.soft_1_kept.make_pseudo_labels"]
    assert "teacher_probabilities" not in labels.inputs
    assert "student_probabilities_soft_1_kept" in labels.inputs
    predict = nodes["soft_1_kept.predict_student"]
    assert predict.outputs == ["student_probabilities_soft_1_kept"]
    assert "student_model_soft_1_kept" in predict.inputs  # the round-1 student's weights
    assert nodes["soft_1_kept.train_student"].outputs[0] == "student_model_soft_1_kept"
    # Every round-2 artefact has its own name in the round_2 namespace.
    round_two = [n for n in graph.nodes if n.namespace and n.namespace.startswith("round_2.")]
    assert {n.name.split(".")[-1] for n in round_two} == {
        "make_pseudo_labels",
        "assess_pseudo_labels",
        "train_student",
    }
    assert all(out.startswith("round_2.") for n in round_two for out in n.outputs)
    assert "round_2.student_metrics_soft_1_kept" in nodes["report_variants"].inputs


def test_seeds_namespace_every_model_and_share_the_teacher_between_a_seeds_students() -> None:
    design = StudyDesign(
        (0.5,), ("an",), variants=(Variant("threshold", 0.5), Variant("soft", 1.0)), seeds=(3, 4)
    )
    graph = register_pipelines(design)["__default__"]
    teachers = [n for n in graph.nodes if n.name.endswith("train_teacher")]
    assert sorted(n.namespace for n in teachers) == ["seed_3", "seed_4"]
    for seed in (3, 4):
        readers = [n for n in graph.nodes if f"seed_{seed}.teacher_probabilities" in n.inputs]
        assert sorted(n.name for n in readers) == [
            f"seed_{seed}.soft_1.make_pseudo_labels",
            f"seed_{seed}.tau_0_50.make_pseudo_labels",
        ]
    assert "seed_4.baseline_metrics_an" in graph.all_outputs()


def test_the_catalog_files_every_seeds_and_rounds_datasets_apart() -> None:
    config = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local")
    catalog = DataCatalog.from_config(config["catalog"])
    expected = {
        "student_metrics_tau_0_65": "data/07_model_output/student_metrics_tau_0_65.json",
        "pseudo_labels_soft_1_kept": "data/05_model_input/pseudo_labels_soft_1_kept.parquet",
        "seed_1.teacher_probabilities": (
            "data/07_model_output/seed_1/teacher_probabilities.parquet"
        ),
        "seed_1.round_2.student_metrics_soft_1_kept": (
            "data/07_model_output/seed_1.round_2/student_metrics_soft_1_kept.json"
        ),
        "round_2.pseudo_label_quality_band_0_65": (
            "data/07_model_output/round_2/pseudo_label_quality_band_0_65.json"
        ),
        "seed_0.student_probabilities_soft_1_kept": (
            "data/07_model_output/seed_0/student_probabilities_soft_1_kept.parquet"
        ),
    }
    for name, path in expected.items():
        assert str(catalog.get(name)._describe()["filepath"]) == path, name


@pytest.fixture
def variants_study(tiny_project: Path) -> Path:
    """The variants environment on the tiny project: two seeds, two policies, one chain of two
    rounds from mirrored predictions, one noisy student, and the teacher's equal-compute control."""
    bootstrap_project(tiny_project)
    params = {
        **TINY_PARAMETERS,
        "training": {**TINY_PARAMETERS["training"], "epochs": 1},
        "taus": [0.5],
        "seeds": [0, 1],
        "baselines": {"losses": ["an"]},
        "reporting": {"reference_losses": ["an"]},
        "pseudo_labeling": {
            "policy": ["threshold", "soft"],
            "keep_observed": [True],
            "grids": {"soft": [1.0]},
        },
        "self_training": {
            "rounds": 1,
            "chains": [
                {**CHAIN, "mirror": True},
                {**CHAIN, "rounds": 1, "augment": True, "dropout": 0.2},
            ],
        },
        "compute_controls": ["teacher"],
    }
    with KedroSession.create(
        project_path=tiny_project, env="variants", runtime_params=params
    ) as session:
        session.run()
    return tiny_project


def test_the_variants_study_reports_every_variant_over_its_seeds(variants_study: Path) -> None:
    reports = variants_study / "data" / "08_reporting"
    table = pd.read_csv(reports / "variants.csv")
    students = table[table["role"] == "student"]
    assert set(students["model"]) == {
        "tau=0.5 +observed",
        "soft T=1 +observed",
        "soft T=1 +observed +mirror",
        "soft T=1 +observed +mirror round 2",
        "soft T=1 +observed noisy",
    }
    assert (table["seeds"] == 2).all()
    assert table["test_map_std"].notna().all() and table["test_map_mean"].between(0, 100).all()
    references = set(table.loc[table["role"] != "student", "model"])
    assert references == {"EM teacher", "EM teacher, 3 epochs", "AN"}  # 1 epoch + 2 rounds
    assert set(table.loc[table["model"] == "EM teacher, 3 epochs", "epochs"]) == {3}
    teachers = table[table["role"] == "teacher"].set_index("model")["test_map_mean"]
    best = teachers.idxmax()
    gains = table.set_index("model")["gain_vs_teacher"]
    per_seed = {}
    for path in sorted((variants_study / "data" / "07_model_output").glob("seed_*/*.json")):
        metrics = json.loads(path.read_text())
        if "test_map" in metrics:
            per_seed[(metrics["seed"], metrics["name"].rsplit(" seed", 1)[0])] = metrics["test_map"]
    name = "teacher (em) 3 epochs" if best.endswith("epochs") else "teacher (em)"
    student = "student soft T=1 +observed +mirror round 2"
    expected = np.mean([per_seed[(s, student)] - per_seed[(s, name)] for s in (0, 1)])
    assert gains["soft T=1 +observed +mirror round 2"] == pytest.approx(expected)
    assert gains[best] == 0.0
    curves = pd.read_csv(reports / "learning_curves.csv")
    assert set(curves["model"]) == set(table["model"])
    assert curves.groupby("model")["epoch"].max().to_dict()["EM teacher, 3 epochs"] == 3
    markdown = (reports / "variants.md").read_text()
    assert all(model in markdown for model in table["model"])
    with Image.open(reports / "fig_variants_map.png") as image:
        assert image.size[0] > 300
    assert not (reports / "results.md").exists()  # the paper's table is for the paper's study

    # The mirror chain: round 1 learned from the mean of the teacher's predictions on each
    # image and on its mirror image, round 2 from the round-1 student's, not the teacher's.
    data = variants_study / "data"
    observed = label_matrix(
        training_split(pd.read_parquet(data / "03_primary/observed_labels.parquet"))
    )

    def probabilities(name: str) -> np.ndarray:
        return label_matrix(pd.read_parquet(data / f"07_model_output/seed_1/{name}.parquet"))

    def soft_kept(p: np.ndarray) -> np.ndarray:
        return make_targets("soft", 1.0, p, observed, keep=True).matrix()

    teacher, mirrored = (
        probabilities("teacher_probabilities"),
        probabilities("teacher_probabilities_mirrored"),
    )
    assert not np.allclose(mirrored, teacher)
    round_one = pd.read_parquet(
        data / "05_model_input/seed_1/pseudo_labels_soft_1_kept_mirror.parquet"
    )
    np.testing.assert_allclose(label_matrix(round_one), soft_kept((teacher + mirrored) / 2))
    student = probabilities("student_probabilities_soft_1_kept_mirror")
    student_mirrored = probabilities("student_probabilities_mirrored_soft_1_kept_mirror")
    round_two = pd.read_parquet(
        data / "05_model_input/seed_1.round_2/pseudo_labels_soft_1_kept_mirror.parquet"
    )
    from_student = soft_kept((student + student_mirrored) / 2)
    np.testing.assert_allclose(label_matrix(round_two), from_student)
    assert not np.allclose(from_student, soft_kept((teacher + mirrored) / 2))

    mlflow.set_tracking_uri(f"sqlite:///{variants_study / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["spml-pseudo-labels"])
    models = runs[runs["params.role"].notna()]
    assert len(models) == 2 * (3 + 5)  # per seed: teacher, its control, AN, five students
    students = models[models["params.role"] == "student"]
    assert set(students["params.policy"]) == {"threshold", "soft"}
    assert set(students["params.round"]) == {"1", "2"}
    assert set(students["params.policy_value"]) == {"0.5", "1.0"}
    assert set(models["params.seed"]) == {"0", "1"}
    assert (models.loc[models["params.role"] == "teacher", "params.round"] == "0").all()
    noisy = students[students["tags.mlflow.runName"].str.contains("noisy")]
    assert set(noisy["params.augment"]) == {"True"} and set(noisy["params.dropout"]) == {"0.2"}
    study = runs[runs["params.role"].isna()]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(study["run_id"].iloc[0])}
    assert {"variants.csv", "variants.md", "fig_variants_map.png"} <= artifacts
    assert {"learning_curves.csv", "fig_learning_curves.png"} <= artifacts
