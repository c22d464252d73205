"""The paper's figures and a results table, from the metrics each model left behind."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from spml import reporting
from spml.protocol import positives_per_image
from spml.tables import label_matrix, rows_of_split

_VARIANT_KEYS = (
    *reporting.COLUMNS,
    *reporting.VARIANT_KEYS,
    *reporting.QUALITY_COLUMNS,
    "variant",
    "seed",
    "control",
)


def _name(record: dict[str, Any]) -> str:
    """How the paper's table names a model: its own name."""
    return str(record["name"])


def report_study(
    full_labels: pd.DataFrame, reporting_params: dict[str, Any], *model_metrics: dict[str, Any]
) -> tuple[pd.DataFrame, str, Figure, Figure, pd.DataFrame, Figure]:
    """Results table (CSV + Markdown), figure 1a (mAP vs tau), figure 1b (positives vs tau) and
    every model's learning curve (CSV + figure)."""
    records = [{key: metrics.get(key) for key in reporting.COLUMNS} for metrics in model_metrics]
    table = reporting.results_table(records)
    truth = label_matrix(full_labels)[rows_of_split(full_labels, "train")]
    figure_map = reporting.plot_map_against_tau(table, reporting_params.get("reference_losses"))
    figure_positives = reporting.plot_positives_against_tau(table, positives_per_image(truth))
    curves = reporting.learning_curves(model_metrics, _name)
    return (
        table,
        reporting.results_markdown(table),
        figure_map,
        figure_positives,
        curves,
        reporting.plot_learning_curves(curves),
    )


def report_variants(
    *model_metrics: dict[str, Any],
) -> tuple[pd.DataFrame, str, Figure, pd.DataFrame, Figure]:
    """The variants table (mean ± std of test mAP over seeds, gains over the best teacher row
    paired by seed, pseudo-label quality), its figure, and every model's learning curve."""
    table = reporting.variants_table(
        [{key: metrics.get(key) for key in _VARIANT_KEYS} for metrics in model_metrics]
    )
    curves = reporting.learning_curves(model_metrics, reporting.model_label)
    return (
        table,
        reporting.variants_markdown(table),
        reporting.plot_variants(table),
        curves,
        reporting.plot_learning_curves(curves),
    )
