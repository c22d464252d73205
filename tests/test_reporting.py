"""Behaviour of the results table, its Markdown, figures 1a/1b and the variants figure."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from spml.reporting import (
    COLUMNS,
    MISSING_MARK,
    learning_curves,
    loss_label,
    plot_learning_curves,
    plot_map_against_tau,
    plot_positives_against_tau,
    plot_variants,
    results_markdown,
    results_table,
    variants_markdown,
    variants_table,
)

PUBLISHED = {
    0.55: (64.87, 8.8),
    0.65: (68.92, 4.0),
    0.75: (69.89, 2.7),
    0.85: (68.95, 2.0),
    0.95: (63.83, 1.3),
}


def _student(tau: float, test_map: float, positives: float) -> dict:
    return {
        "name": f"student tau={tau}",
        "role": "student",
        "loss": "bce_ls",
        "tau": tau,
        "test_map": test_map,
        "best_val_map": test_map - 1.0,
        "best_epoch": 7,
        "pseudo_pos_per_image": positives,
        "pseudo_precision": 0.81234,
        "pseudo_recall": 0.7,
        "pseudo_f1": 0.75,
    }


def _baseline(loss: str, test_map: float) -> dict:
    return {
        "name": f"baseline {loss}",
        "role": "baseline",
        "loss": loss,
        "tau": None,
        "test_map": test_map,
        "best_val_map": test_map,
        "best_epoch": 3,
    }


def _records() -> list[dict]:
    """Records in a scrambled order, as a pipeline might collect them."""
    students = [_student(tau, m, p) for tau, (m, p) in PUBLISHED.items()]
    teacher = {
        "name": "teacher em",
        "role": "teacher",
        "loss": "em",
        "tau": None,
        "test_map": 70.96,
        "best_val_map": 70.1,
        "best_epoch": 9,
    }
    return [
        students[3],
        _baseline("an", 62.3),
        students[0],
        teacher,
        students[4],
        _baseline("bce", 76.78),
        students[2],
        _baseline("em", 70.7),
        students[1],
    ]


def test_table_orders_teacher_then_baselines_then_students_by_tau():
    table = results_table(_records())
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 9
    assert list(table["role"]) == ["teacher"] + ["baseline"] * 3 + ["student"] * 5
    assert list(table["loss"][1:4]) == ["an", "bce", "em"]  # baselines keep the given order
    assert list(table["tau"][4:]) == sorted(PUBLISHED)
    assert table["tau"][:4].isna().all()
    assert table.loc[0, "pseudo_f1"] != table.loc[0, "pseudo_f1"]  # NaN for a non-student
    assert table.loc[4, "test_map"] == pytest.approx(64.87)


def test_table_fills_missing_keys_with_nan():
    table = results_table(
        [{"name": "s", "role": "student", "loss": "bce_ls", "tau": 0.5, "test_map": 1.0}]
    )
    assert table[list(COLUMNS[5:])].isna().all(axis=None)


@pytest.mark.parametrize("key", ["name", "role", "loss", "test_map"])
def test_table_rejects_record_missing_required_key(key):
    record = _student(0.5, 60.0, 3.0)
    del record[key]
    with pytest.raises(ValueError, match=key):
        results_table([record])


def test_table_rejects_unknown_role_and_student_without_tau():
    with pytest.raises(ValueError, match="unknown role 'oracle'"):
        results_table([{**_student(0.5, 60.0, 3.0), "role": "oracle"}])
    with pytest.raises(ValueError, match="tau"):
        results_table([{**_student(0.5, 60.0, 3.0), "tau": None}])


def test_markdown_lists_every_model_with_rounded_values():
    table = results_table(_records())
    text = results_markdown(table)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(table)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert all(line.count("|") == len(COLUMNS) + 1 for line in lines)
    for name in table["name"]:
        assert name in text
    student = next(line for line in lines if "student tau=0.75" in line)
    cells = [cell.strip() for cell in student.strip("|").split("|")]
    assert cells[COLUMNS.index("tau")] == "0.75"
    assert cells[COLUMNS.index("test_map")] == "69.89"
    assert cells[COLUMNS.index("best_val_map")] == "68.89"
    assert cells[COLUMNS.index("best_epoch")] == "7"
    assert cells[COLUMNS.index("pseudo_precision")] == "0.812"
    teacher = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert teacher[COLUMNS.index("name")] == "teacher em"
    assert teacher[COLUMNS.index("tau")] == MISSING_MARK
    assert teacher[COLUMNS.index("pseudo_f1")] == MISSING_MARK
    assert "nan" not in text.lower()


def _legend_labels(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_figure_1a_student_curve_and_all_reference_lines(tmp_path):
    figure = plot_map_against_tau(results_table(_records()))
    axes = figure.axes[0]
    curve, *references = axes.lines
    np.testing.assert_allclose(curve.get_xdata(), sorted(PUBLISHED))
    np.testing.assert_allclose(curve.get_ydata(), [PUBLISHED[t][0] for t in sorted(PUBLISHED)])
    assert [line.get_ydata()[0] for line in references] == [70.96, 62.3, 76.78, 70.7]
    assert _legend_labels(figure)[1:] == ["EM teacher", "AN", "full labels (BCE)", "EM"]
    assert len({(line.get_color(), str(line.get_linestyle())) for line in references}) == len(
        references
    )
    assert axes.get_xlabel() == "threshold τ"
    assert axes.get_ylabel() == "test mAP (%)"
    annotations = {text.get_text() for text in axes.texts}
    assert {"64.87", "69.89", "63.83"} <= annotations
    path = tmp_path / "fig1a.png"
    figure.savefig(path)
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def test_figure_1a_keeps_only_requested_baselines():
    table = results_table(_records())
    figure = plot_map_against_tau(table, reference_losses=["an"], title="COCO")
    assert len(figure.axes[0].lines) == 3  # student curve, teacher, AN
    assert _legend_labels(figure)[1:] == ["EM teacher", "AN"]
    assert figure.axes[0].get_title() == "COCO"
    with pytest.warns(UserWarning, match="wan"):
        figure = plot_map_against_tau(table, reference_losses=["wan"])
    assert len(figure.axes[0].lines) == 2


def test_figure_1b_positives_with_ground_truth_line(tmp_path):
    figure = plot_positives_against_tau(results_table(_records()), ground_truth_positives=2.9)
    axes = figure.axes[0]
    curve, truth = axes.lines
    np.testing.assert_allclose(curve.get_ydata(), [PUBLISHED[t][1] for t in sorted(PUBLISHED)])
    np.testing.assert_allclose(truth.get_ydata(), [2.9, 2.9])
    assert "ground truth (2.90)" in _legend_labels(figure)
    assert axes.get_ylabel() == "positives per image"
    path = tmp_path / "fig1b.png"
    figure.savefig(path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_figures_work_with_a_single_student(tmp_path):
    table = results_table([_records()[3], _student(0.75, 69.89, 2.7)])
    figure_a = plot_map_against_tau(table)
    figure_b = plot_positives_against_tau(table, 2.9)
    assert list(figure_a.axes[0].lines[0].get_ydata()) == [69.89]
    assert list(figure_b.axes[0].lines[0].get_ydata()) == [2.7]
    low, high = figure_a.axes[0].get_xlim()
    assert low < 0.75 < high
    figure_a.savefig(tmp_path / "a.png")
    figure_b.savefig(tmp_path / "b.png")


def test_figures_reject_tables_without_students():
    table = results_table(_records()[1:2] + [_records()[3]])
    with pytest.raises(ValueError, match="No student"):
        plot_map_against_tau(table)
    with pytest.raises(ValueError, match="No student"):
        plot_positives_against_tau(table, 2.9)


def test_figure_1b_rejects_students_without_pseudo_statistics_and_bad_truth():
    table = results_table(
        [{"name": "s", "role": "student", "loss": "bce_ls", "tau": 0.5, "test_map": 1.0}]
    )
    with pytest.raises(ValueError, match="pseudo_pos_per_image"):
        plot_positives_against_tau(table, 2.9)
    with pytest.raises(ValueError, match="finite"):
        plot_positives_against_tau(results_table(_records()), math.nan)


def test_loss_labels_fall_back_to_upper_case():
    assert loss_label("bce") == "full labels (BCE)"
    assert loss_label("em_apl") == "EM+APL"
    assert loss_label("gr") == "GR"


def test_the_variants_figure_keeps_every_reference_line_and_error_bar_off_its_frame():
    table = pd.DataFrame(
        {
            "role": ["teacher", "baseline", "student", "student"],
            "model": ["EM teacher", "full labels (BCE)", "tau=0.75", "soft T=2 +observed"],
            "policy": [None, None, "threshold", "soft"],
            "policy_value": [None, None, 0.75, 2.0],
            "keep_observed": [None, None, False, True],
            "noisy": [None, None, False, False],
            "round": [0, None, 1, 1],
            "test_map_mean": [53.0, 59.3, 41.7, 56.9],
            "test_map_std": [1.3, 1.1, 3.9, 1.5],
        }
    )
    low, high = plot_variants(table).axes[0].get_ylim()
    # The full-label line (59.3) lies just above the highest error bar (58.4): it must not sit on
    # the frame's top edge, nor the lowest bar's end (37.8) on the bottom one.
    span = high - low
    assert high - 59.3 > 0.03 * span and 37.8 - low > 0.03 * span


def _variant_records() -> list[dict]:
    """Two seeds of a teacher, its 40-epoch control, a full label model and its control, and
    one student; numbers chosen so the best teacher row is the control."""
    rows = []
    for seed, shift in ((0, 0.0), (1, 2.0)):
        common = {"seed": seed, "variant": None, "round": None, "best_val_map": 0.0}
        rows += [
            {**common, "role": "teacher", "loss": "em", "test_map": 70 + shift, "epochs": 10},
            {
                **common,
                "role": "teacher",
                "loss": "em",
                "test_map": 72 + shift,
                "epochs": 40,
                "control": True,
            },
            {**common, "role": "baseline", "loss": "bce", "test_map": 80 + shift, "epochs": 10},
            {
                **common,
                "role": "baseline",
                "loss": "bce",
                "test_map": 84 + 2 * shift,
                "epochs": 40,
                "control": True,
            },
            {
                **common,
                "role": "student",
                "loss": "bce_ls",
                "variant": "soft T=2 +observed",
                "round": 1,
                "policy": "soft",
                "policy_value": 2.0,
                "keep_observed": True,
                "noisy": False,
                "test_map": 75 + 2 * shift,
                "epochs": 10,
            },
        ]
    return rows


def test_gains_are_paired_by_seed_against_the_best_teacher_row_control_included() -> None:
    table = variants_table(_variant_records())
    assert list(table["model"]) == [
        "EM teacher",
        "EM teacher, 40 epochs",
        "full labels (BCE)",
        "full labels (BCE), 40 epochs",
        "soft T=2 +observed",
    ]
    assert table.attrs == {
        "teacher_row": "EM teacher, 40 epochs",
        "full_label_row": "full labels (BCE), 40 epochs",
    }
    student = table.iloc[-1]
    # seed 0: 75 - 72 = 3 of 84 - 72 = 12; seed 1: 79 - 74 = 5 of 88 - 74 = 14
    assert student["gain_vs_teacher"] == pytest.approx(4.0)
    assert student["gain_vs_teacher_std"] == pytest.approx(np.std([3.0, 5.0], ddof=1))
    assert student["gap_closed"] == pytest.approx((3 / 12 + 5 / 14) / 2)
    assert table.iloc[0]["gain_vs_teacher"] == pytest.approx(-2.0)  # the 10-epoch teacher
    assert list(table["epochs"]) == [10, 40, 10, 40, 10]
    markdown = variants_markdown(table)
    assert markdown.startswith(
        "Gains are paired by seed against **EM teacher, 40 epochs**, the best teacher row; "
        "gap_closed is the share of the distance from it to **full labels (BCE), 40 epochs**"
    )
    assert (
        "| soft T=2 +observed | soft | 2 | True | False | 1 | 10 | 2 | 77.00 | 2.83 | +4.00 |"
        in (markdown)
    )


def test_a_seed_without_its_teacher_is_left_out_of_the_pairing() -> None:
    records = [r for r in _variant_records() if not (r["seed"] == 1 and r["role"] == "teacher")]
    student = variants_table(records).iloc[-1]
    assert student["gain_vs_teacher"] == pytest.approx(3.0)  # seed 0 alone
    assert math.isnan(student["gain_vs_teacher_std"])


def _history(values: list[float]) -> list[dict]:
    return [
        {"epoch": e, "val_map": v, "train_loss": 0.1, "seconds": 1.0}
        for e, v in enumerate(values, 1)
    ]


def test_learning_curves_average_seeds_and_mark_where_the_mean_peaks() -> None:
    records = [
        {"name": "teacher", "role": "teacher", "seed": 0, "history": _history([10, 30, 20])},
        {"name": "teacher", "role": "teacher", "seed": 1, "history": _history([20, 30, 40])},
        {"name": "student", "role": "student", "seed": 0, "history": _history([5, 6])},
        {"name": "no history", "role": "baseline", "seed": 0},
    ]
    curves = learning_curves(records, lambda record: str(record["name"]))
    teacher = curves[curves["model"] == "teacher"]
    assert list(teacher["val_map"]) == [15.0, 30.0, 30.0]
    assert list(teacher["seeds"]) == [2, 2, 2]
    assert set(teacher["best_epoch"]) == {2}  # the first of the equal means
    assert list(curves[curves["model"] == "student"]["best_epoch"]) == [2, 2]
    assert "no history" not in set(curves["model"])
    figure = plot_learning_curves(curves)
    references, students = figure.axes
    assert [line.get_label() for line in references.get_lines()][0] == "teacher"
    assert [line.get_label() for line in students.get_lines()][0] == "student"
    with pytest.raises(ValueError, match="No model has a training history"):
        plot_learning_curves(learning_curves(records[3:], lambda record: "x"))
