"""Results table and the paper's figures 1a/1b, built from one record per trained model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping

import matplotlib
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from spml.losses import FULL_LABEL_LOSSES

COLUMNS: tuple[str, ...] = (
    "name",
    "role",
    "loss",
    "tau",
    "test_map",
    "best_val_map",
    "best_epoch",
    "epochs",
    "pseudo_pos_per_image",
    "pseudo_precision",
    "pseudo_recall",
    "pseudo_f1",
)
REQUIRED: tuple[str, ...] = ("name", "role", "loss", "test_map")
ROLES: tuple[str, ...] = ("teacher", "baseline", "student")
_TEXT_COLUMNS = ("name", "role", "loss")
_NUMERIC_COLUMNS = tuple(c for c in COLUMNS if c not in _TEXT_COLUMNS)

LOSS_LABELS: dict[str, str] = {
    "bce": "full labels (BCE)",
    "bce_ls": "BCE-LS",
    "an": "AN",
    "an_ls": "AN-LS",
    "wan": "WAN",
    "epr": "EPR",
    "role": "ROLE",
    "em": "EM",
    "em_apl": "EM+APL",
    "ll_r": "LL-R",
    "ll_ct": "LL-Ct",
    "ll_cp": "LL-Cp",
    "gr": "GR",
}

FIGSIZE = (6.0, 4.0)
DPI = 120
_STUDENT_COLOUR = "tab:blue"
_REFERENCE_COLOURS = (
    "tab:red",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
)
_REFERENCE_STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


def loss_label(loss: str) -> str:
    """Give a loss the name readers know from the papers, falling back to upper case."""
    return LOSS_LABELS.get(loss.lower(), loss.upper())


def _missing(value: object) -> bool:
    """Treat None and NaN alike, since records may use either for 'not measured'."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_record(index: int, record: Mapping[str, object]) -> None:
    """Fail early on a record that cannot be placed in the table."""
    absent = [key for key in REQUIRED if _missing(record.get(key))]
    if absent:
        name = record.get("name", f"#{index}")
        raise ValueError(f"Result record {name!r} (position {index}) lacks required keys {absent}")
    if record["role"] not in ROLES:
        raise ValueError(
            f"Result record {record['name']!r} has unknown role {record['role']!r}; "
            f"choose one of {list(ROLES)}"
        )
    if record["role"] == "student" and _missing(record.get("tau")):
        raise ValueError(f"Student record {record['name']!r} lacks its threshold 'tau'")


def results_table(records: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Put every model in one table, teacher first, then baselines, then students by tau."""
    records = list(records)
    for index, record in enumerate(records):
        _check_record(index, record)

    def order(item: tuple[int, Mapping[str, object]]) -> tuple[int, float, int]:
        index, record = item
        rank = ROLES.index(str(record["role"]))
        tau = float(record["tau"]) if record["role"] == "student" else 0.0  # type: ignore[arg-type]
        return rank, tau, index

    ordered = [record for _, record in sorted(enumerate(records), key=order)]
    rows = [
        {key: (None if _missing(record.get(key)) else record.get(key)) for key in COLUMNS}
        for record in ordered
    ]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in _TEXT_COLUMNS:
        table[column] = table[column].astype(str)
    for column in _NUMERIC_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="raise").astype(float)
    return table


def _fixed(digits: int) -> Callable[[float], str]:
    """Make a formatter with a fixed number of decimals for one column."""
    return lambda value: f"{value:.{digits}f}"


_FORMATS: dict[str, Callable[[float], str]] = {
    "tau": _fixed(2),
    "test_map": _fixed(2),
    "best_val_map": _fixed(2),
    "best_epoch": lambda value: str(int(round(value))),
    "epochs": lambda value: str(int(round(value))),
    "pseudo_pos_per_image": _fixed(2),
    "pseudo_precision": _fixed(3),
    "pseudo_recall": _fixed(3),
    "pseudo_f1": _fixed(3),
}
MISSING_MARK = "–"


def results_markdown(table: pd.DataFrame) -> str:
    """Render the results table as GitHub Markdown for the report, without extra packages."""
    return markdown_table(table, _FORMATS)


def markdown_table(table: pd.DataFrame, formats: Mapping[str, Callable[[float], str]]) -> str:
    """A table as GitHub Markdown: formatted columns right-aligned, text escaped for pipes,
    missing values as MISSING_MARK."""
    columns = list(table.columns)

    def cell(column: str, value: object) -> str:
        if _missing(value):
            return MISSING_MARK
        if column in formats:
            return formats[column](float(value))  # type: ignore[arg-type]
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(columns) + " |"
    align = "|" + "|".join("---:" if c in formats else "---" for c in columns) + "|"
    body = [
        "| " + " | ".join(cell(c, row[c]) for c in columns) + " |" for _, row in table.iterrows()
    ]
    return "\n".join([header, align, *body]) + "\n"


def _students(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Pick the student rows with a value to plot, or say why there are none."""
    students = table[table["role"] == "student"]
    if students.empty:
        raise ValueError(
            "No student rows (role 'student') in the results table; nothing to plot against tau"
        )
    students = students.dropna(subset=["tau", column]).sort_values("tau")
    if students.empty:
        raise ValueError(
            f"No student row has both 'tau' and '{column}'; nothing to plot against tau"
        )
    return students


def _new_axes() -> tuple[Figure, Axes]:
    """Make a small stand-alone figure that does not touch pyplot's global state."""
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="tight")
    return figure, figure.add_subplot()


def _plot_curve(axes: Axes, taus: list[float], values: list[float], label: str) -> None:
    """Draw the per-tau curve with each point labelled, as in the paper's figure."""
    axes.plot(taus, values, marker="o", linestyle="-", color=_STUDENT_COLOUR, label=label)
    for tau, value in zip(taus, values):
        axes.annotate(
            f"{value:.2f}",
            (tau, value),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    axes.set_xticks(taus)
    if len(taus) == 1:
        axes.set_xlim(taus[0] - 0.05, taus[0] + 0.05)
    axes.set_xlabel("threshold τ")
    axes.grid(True, alpha=0.4)


def _references(table: pd.DataFrame, reference_losses: list[str] | None) -> list[tuple[str, float]]:
    """List the horizontal lines of figure 1a: teacher(s) first, then the chosen baselines."""
    lines = [
        (f"{loss_label(row.loss)} teacher", float(row.test_map))
        for row in table[table["role"] == "teacher"].itertuples()
    ]
    baselines = table[table["role"] == "baseline"]
    if reference_losses is not None:
        wanted = [loss.lower() for loss in reference_losses]
        absent = sorted(set(wanted) - set(baselines["loss"].str.lower()))
        if absent:
            warnings.warn(
                f"No baseline trained with losses {absent}; their reference lines are left out",
                stacklevel=3,
            )
        baselines = baselines[baselines["loss"].str.lower().isin(wanted)]
    lines += [(loss_label(row.loss), float(row.test_map)) for row in baselines.itertuples()]
    return lines


def plot_map_against_tau(
    table: pd.DataFrame,
    reference_losses: list[str] | None = None,
    title: str = "Student test mAP against pseudo-label threshold",
) -> Figure:
    """Draw figure 1a: student mAP per tau against the teacher and baseline mAPs."""
    students = _students(table, "test_map")
    figure, axes = _new_axes()
    _plot_curve(
        axes, students["tau"].tolist(), students["test_map"].tolist(), "student (pseudo labels)"
    )
    for number, (label, value) in enumerate(_references(table, reference_losses)):
        axes.axhline(
            value,
            color=_REFERENCE_COLOURS[number % len(_REFERENCE_COLOURS)],
            linestyle=_REFERENCE_STYLES[number % len(_REFERENCE_STYLES)],
            linewidth=1.5,
            label=label,
        )
    axes.set_ylabel("test mAP (%)")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="best")
    return figure


def plot_positives_against_tau(
    table: pd.DataFrame,
    ground_truth_positives: float,
    title: str = "Positives per image in the pseudo labels",
) -> Figure:
    """Draw figure 1b: how many positives each tau keeps, against the true label density."""
    if not math.isfinite(ground_truth_positives):
        raise ValueError(
            f"ground_truth_positives must be a finite number, got {ground_truth_positives!r}"
        )
    students = _students(table, "pseudo_pos_per_image")
    figure, axes = _new_axes()
    _plot_curve(
        axes, students["tau"].tolist(), students["pseudo_pos_per_image"].tolist(), "pseudo labels"
    )
    axes.axhline(
        ground_truth_positives,
        color=_REFERENCE_COLOURS[0],
        linestyle="--",
        linewidth=1.5,
        label=f"ground truth ({ground_truth_positives:.2f})",
    )
    axes.set_ylabel("positives per image")
    axes.set_title(title)
    axes.legend(fontsize=8, loc="best")
    return figure


# ---- the variants study: every student variant over several seeds -------------------------

VARIANT_KEYS: tuple[str, ...] = ("policy", "policy_value", "keep_observed", "noisy", "round")
QUALITY_COLUMNS: tuple[str, ...] = (
    "pseudo_pos_per_image",
    "pseudo_precision",
    "pseudo_recall",
    "pseudo_f1",
    "pseudo_unknown_per_image",
)
GAIN_COLUMNS: tuple[str, ...] = ("gain_vs_teacher", "gain_vs_teacher_std", "gap_closed")
VARIANT_COLUMNS: tuple[str, ...] = (
    "role",
    "model",
    *VARIANT_KEYS,
    "epochs",
    "seeds",
    "test_map_mean",
    "test_map_std",
    *GAIN_COLUMNS,
    "best_val_map_mean",
    *QUALITY_COLUMNS,
)
_KEPT_COLOURS = {False: "tab:blue", True: "tab:orange"}


def model_label(record: Mapping[str, object]) -> str:
    """How the variants table names a model: 'EM teacher', 'AN', 'EM teacher, 40 epochs' (an
    equal-compute control), or the student's variant."""
    loss = str(record["loss"])
    control = f", {int(record['epochs'])} epochs" if record.get("control") else ""  # type: ignore[call-overload]
    if record["role"] == "teacher":
        return f"{loss_label(loss)} teacher{control}"
    if record["role"] == "baseline":
        return loss_label(loss) + control
    label = str(record["variant"])
    return label + (f" round {int(record['round'])}" if int(record["round"]) > 1 else "")


def _by_seed(frame: pd.DataFrame, model: str) -> pd.Series:
    """One model's test mAP per seed."""
    rows = frame[frame["model"] == model]
    return rows.set_index("seed")["test_map"].astype(float)


def reference_rows(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """The rows every gain is measured against: the teacher row with the best mean test mAP
    (an equal-compute control included), and the full-label model trained longest."""
    teachers = frame[frame["role"] == "teacher"]
    best = teachers.groupby("model")["test_map"].mean().idxmax() if len(teachers) else None
    full = frame[(frame["role"] == "baseline") & frame["loss"].isin(sorted(FULL_LABEL_LOSSES))]
    if full.empty:
        return best, None
    longest = full.groupby("model").agg(epochs=("epochs", "max"), test=("test_map", "mean"))
    return best, longest.sort_values(["epochs", "test"]).index[-1]


def paired_gains(frame: pd.DataFrame, model: str) -> dict[str, float]:
    """A model's gain over the best teacher row, paired by seed (mean and sample std), and the
    share of the distance from that teacher to the longest-trained full-label model it closes."""
    teacher, full = reference_rows(frame)
    empty = dict.fromkeys(GAIN_COLUMNS, math.nan)
    if teacher is None:
        return empty
    own, base = _by_seed(frame, model), _by_seed(frame, teacher)
    gains = (own - base).dropna()
    if gains.empty:
        return empty
    closed = math.nan
    if full is not None:
        distance = (_by_seed(frame, full) - base).reindex(gains.index)
        closed = float((gains / distance).mean())
    return {
        "gain_vs_teacher": float(gains.mean()),
        "gain_vs_teacher_std": float(gains.std(ddof=1)) if len(gains) > 1 else math.nan,
        "gap_closed": closed,
    }


def variants_table(records: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """One row per model kind (teacher, control, baseline, student variant and round): test mAP
    mean and sample std over its seeds, its gain over the best teacher row paired by seed, and
    its pseudo labels' quality averaged over the seeds."""
    frame = pd.DataFrame([{**record, "model": model_label(record)} for record in records])
    if frame.empty or not (frame["role"] == "student").any():
        raise ValueError("No student metrics to report: the variants study trained no student")
    for column in (*VARIANT_KEYS, *QUALITY_COLUMNS, "best_val_map", "epochs", "seed"):
        if column not in frame:
            frame[column] = None
    rows = []
    for (role, model), group in frame.groupby(["role", "model"], sort=False):
        first = group.iloc[0]
        rows.append(
            {
                "role": role,
                "model": model,
                **{key: first[key] for key in VARIANT_KEYS},
                "epochs": first["epochs"],
                "seeds": len(group),
                "test_map_mean": group["test_map"].astype(float).mean(),
                "test_map_std": group["test_map"].astype(float).std(ddof=1),
                **paired_gains(frame, model),
                "best_val_map_mean": group["best_val_map"].astype(float).mean(),
                **{key: pd.to_numeric(group[key]).mean() for key in QUALITY_COLUMNS},
            }
        )
    table = pd.DataFrame(rows, columns=list(VARIANT_COLUMNS))
    order = table["role"].map(ROLES.index)
    students = table["role"] == "student"
    table["_policy"] = table["policy"].where(students, "")
    table["_order"] = order
    table = table.sort_values(
        ["_order", "_policy", "policy_value", "keep_observed", "noisy", "round", "epochs"],
        kind="stable",
        na_position="first",
    )
    table = table.drop(columns=["_policy", "_order"]).reset_index(drop=True)
    table.attrs["teacher_row"], table.attrs["full_label_row"] = reference_rows(frame)
    return table


_VARIANT_FORMATS: dict[str, Callable[[float], str]] = {
    "policy_value": lambda value: f"{value:g}",
    "round": lambda value: str(int(round(value))),
    "epochs": lambda value: str(int(round(value))),
    "seeds": lambda value: str(int(round(value))),
    "test_map_mean": _fixed(2),
    "test_map_std": _fixed(2),
    "gain_vs_teacher": lambda value: f"{value:+.2f}",
    "gain_vs_teacher_std": _fixed(2),
    "gap_closed": _fixed(2),
    "best_val_map_mean": _fixed(2),
    "pseudo_pos_per_image": _fixed(2),
    "pseudo_precision": _fixed(3),
    "pseudo_recall": _fixed(3),
    "pseudo_f1": _fixed(3),
    "pseudo_unknown_per_image": _fixed(2),
}


def variants_markdown(table: pd.DataFrame) -> str:
    """The variants table as GitHub Markdown: one row per model kind, mean ± std over seeds,
    after a line naming the rows that the gains are measured against."""
    teacher, full = table.attrs.get("teacher_row"), table.attrs.get("full_label_row")
    caption = (
        f"Gains are paired by seed against **{teacher}**, the best teacher row; gap_closed is "
        f"the share of the distance from it to **{full}** that a model closes.\n\n"
        if teacher and full
        else ""
    )
    return caption + markdown_table(table, _VARIANT_FORMATS)


def _padded(values: list[float], share: float = 0.06) -> tuple[float, float]:
    """Axis limits that keep every point and reference line off the frame's edge."""
    low, high = min(values), max(values)
    margin = share * (high - low) or 1.0
    return low - margin, high + margin


def plot_variants(
    table: pd.DataFrame, title: str = "Student test mAP per pseudo-label policy"
) -> Figure:
    """Every student variant's test mAP (mean ± std over seeds), grouped by policy, with the
    teacher and baseline models as horizontal lines."""
    students = table[table["role"] == "student"].reset_index(drop=True)
    if students.empty:
        raise ValueError("No student rows in the variants table; nothing to plot")
    figure = Figure(figsize=(max(FIGSIZE[0], 0.45 * len(students) + 3), 4.5), dpi=DPI)
    axes = figure.add_subplot()
    positions, labels, position, last_policy = [], [], 0.0, None
    for row in students.itertuples():
        if last_policy is not None and row.policy != last_policy:
            position += 0.8  # a gap between policies
        last_policy = row.policy
        positions.append(position)
        flags = ("+obs " if row.keep_observed else "") + ("noisy " if row.noisy else "")
        rounds = f"r{int(row.round)}" if int(row.round) > 1 else ""
        labels.append(f"{row.policy} {row.policy_value:g} {flags}{rounds}".strip())
        position += 1.0
    for kept in (False, True):
        chosen = students["keep_observed"].astype(bool) == kept
        if not chosen.any():
            continue
        axes.errorbar(
            [p for p, c in zip(positions, chosen) if c],
            students.loc[chosen, "test_map_mean"],
            yerr=students.loc[chosen, "test_map_std"].fillna(0.0),
            fmt="o",
            capsize=3,
            color=_KEPT_COLOURS[kept],
            label="keeps the observed positive" if kept else "policy only",
        )
    references = table[table["role"] != "student"]
    for number, row in enumerate(references.itertuples()):
        axes.axhline(
            row.test_map_mean,
            color=_REFERENCE_COLOURS[number % len(_REFERENCE_COLOURS)],
            linestyle=_REFERENCE_STYLES[number % len(_REFERENCE_STYLES)],
            linewidth=1.5,
            label=f"{row.model} ({row.test_map_mean:.2f})",
        )
    spread = students["test_map_std"].fillna(0.0)
    axes.set_ylim(
        *_padded(
            [
                *(students["test_map_mean"] - spread),
                *(students["test_map_mean"] + spread),
                *references["test_map_mean"],
            ]
        )
    )
    axes.set_xticks(positions)
    axes.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("test mAP (%), mean ± std over seeds")
    axes.set_title(title)
    axes.grid(True, axis="y", alpha=0.4)
    axes.legend(fontsize=7, loc="best")
    figure.set_layout_engine("tight")
    return figure


# ---- learning curves: has every model reached its plateau? ---------------------------------

CURVE_COLUMNS: tuple[str, ...] = ("model", "role", "epoch", "val_map", "seeds", "best_epoch")


def learning_curves(
    records: Iterable[Mapping[str, object]], label: Callable[[Mapping[str, object]], str]
) -> pd.DataFrame:
    """Validation mAP per epoch of every model (named by `label`), averaged over its seeds, with
    the epoch its mean curve peaks at."""
    rows = [
        {"model": label(record), "role": record["role"], "seed": record.get("seed"), **epoch}
        for record in records
        for epoch in record.get("history") or ()  # type: ignore[attr-defined]
    ]
    if not rows:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    frame = pd.DataFrame(rows)
    curves = (
        frame.groupby(["model", "role", "epoch"], sort=False)
        .agg(val_map=("val_map", "mean"), seeds=("val_map", "size"))
        .reset_index()
    )
    peaks = curves.loc[curves.groupby("model", sort=False)["val_map"].idxmax(), ["model", "epoch"]]
    best = dict(zip(peaks["model"], peaks["epoch"]))
    curves["best_epoch"] = curves["model"].map(best)
    return curves[list(CURVE_COLUMNS)]


def plot_learning_curves(curves: pd.DataFrame, title: str = "Validation mAP per epoch") -> Figure:
    """Every model's validation curve, references (teachers, baselines, controls) on the left
    and students on the right, each curve's best epoch marked: a curve still rising at its
    last epoch has not converged."""
    if curves.empty:
        raise ValueError("No model has a training history; nothing to plot")
    figure = Figure(figsize=(11.0, 4.8), dpi=DPI)
    panels = figure.subplots(1, 2, sharey=True)
    groups = (("teacher and baselines", curves["role"] != "student"),)
    groups += (("students", curves["role"] == "student"),)
    for axes, (heading, chosen) in zip(panels, groups):
        models = list(dict.fromkeys(curves.loc[chosen, "model"]))
        colours = matplotlib.colormaps["tab20" if len(models) > 10 else "tab10"]
        for number, model in enumerate(models):
            curve = curves[curves["model"] == model]
            colour = colours(number % colours.N)
            axes.plot(curve["epoch"], curve["val_map"], color=colour, linewidth=1.2, label=model)
            peak = curve[curve["epoch"] == curve["best_epoch"]]
            axes.plot(peak["epoch"], peak["val_map"], "o", color=colour, markersize=4)
        axes.set_title(heading)
        axes.set_xlabel("epoch (● best)")
        axes.grid(True, alpha=0.4)
        if models:
            axes.legend(fontsize=6, loc="lower right", ncol=2 if len(models) > 8 else 1)
    panels[0].set_ylabel("validation mAP (%)")
    seeds = int(curves["seeds"].max())
    figure.suptitle(title + (f" (mean over {seeds} seeds)" if seeds > 1 else ""))
    figure.set_layout_engine("tight")
    return figure
