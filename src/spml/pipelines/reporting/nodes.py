"""The paper's figures and a results table, from the metrics each model left behind."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from spml import reporting
from spml.protocol import positives_per_image
from spml.tables import label_matrix, rows_of_split

_RECORD_KEYS = reporting.COLUMNS


def report_study(
    full_labels: pd.DataFrame, reporting_params: dict[str, Any], *model_metrics: dict[str, Any]
) -> tuple[pd.DataFrame, str, Figure, Figure]:
    """Results table (CSV + Markdown), figure 1a (mAP vs tau) and figure 1b (positives vs tau)."""
    records = [{key: metrics.get(key) for key in _RECORD_KEYS} for metrics in model_metrics]
    table = reporting.results_table(records)
    truth = label_matrix(full_labels)[rows_of_split(full_labels, "train")]
    figure_map = reporting.plot_map_against_tau(table, reporting_params.get("reference_losses"))
    figure_positives = reporting.plot_positives_against_tau(table, positives_per_image(truth))
    return table, reporting.results_markdown(table), figure_map, figure_positives


def report_variants(*model_metrics: dict[str, Any]) -> tuple[pd.DataFrame, str, Figure]:
    """The variants table (mean ± std of test mAP over seeds, pseudo-label quality) and the
    figure of every student variant against the teacher and baselines."""
    keys = (*_RECORD_KEYS, *reporting.VARIANT_KEYS, *reporting.QUALITY_COLUMNS, "variant", "seed")
    table = reporting.variants_table(
        [{key: metrics.get(key) for key in keys} for metrics in model_metrics]
    )
    return table, reporting.variants_markdown(table), reporting.plot_variants(table)
