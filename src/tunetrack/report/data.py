"""Pure figure data: every function maps a Study to tables or plain records, no drawing.

Axes come from the study's described search space (``Study.search_space``), so a
log-distributed parameter gets a log axis and a categorical one keeps its full labels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.analysis.pareto import pareto_mask
from tunetrack.space import Leaf, space_leaves
from tunetrack.study import Study

# The param a cross-family study's trials carry (tunetrack.models.FAMILY_KEY).
FAMILY_PARAM = "family"

ABSENT_LABEL = "(absent)"
# A sampled None is a value, not an absence (random forests' max_depth=None: no limit). On
# a categorical axis it is the label NONE_LABEL; in a numeric column it is NONE_VALUE
# (+inf: scikit-learn reads None as "no limit"), drawn on its own tick above the axis,
# while a param the trial lacks is NaN, drawn below it.
NONE_LABEL = "None"
NONE_VALUE = math.inf
# The fit is costed in CPU seconds (steady under machine load; wall seconds are not).
COST_METRICS = ("fit_cpu_seconds", "model_bytes")
MIN_TRIALS_FOR_IMPORTANCE = 5


@dataclass(frozen=True)
class Axis:
    """One hyperparameter as a plot axis: ``scale`` is ``log``, ``linear`` or ``categorical``;
    ``nullable``: None is one of its values; ``integer``: every value sampled is a whole
    number (``max_depth``), so its ticks and CSV cells are integers."""

    name: str
    scale: str
    categories: tuple[str, ...] = ()
    nullable: bool = False
    integer: bool = False

    @property
    def log(self) -> bool:
        return self.scale == "log"

    @property
    def numeric(self) -> bool:
        return self.scale != "categorical"


def param_axes(study: Study) -> list[Axis]:
    """The varying hyperparameters, in search-space order; constants are left out."""
    leaves = space_leaves(study.search_space) if study.search_space else {}
    seen = {key for t in study.trials for key in t.params}
    # Params a trial carries that the described space does not name (a hand-made run).
    for name in sorted(seen - leaves.keys()):
        values = [t.params[name] for t in study.trials if name in t.params]
        numeric = all(_is_number(v) for v in values if v is not None)
        leaves[name] = Leaf(name, "linear" if numeric else "categorical", tuple(values))
    axes = []
    for leaf in leaves.values():
        if leaf.scale == "constant":
            continue
        if leaf.scale == "categorical":
            values = [_label(t.params[leaf.name]) for t in study.trials if leaf.name in t.params]
            known = [_label(o) for o in leaf.options]
            cats = tuple(dict.fromkeys([*known, *sorted(set(values) - set(known))]))
            if len(cats) < 2 and not leaf.conditional:
                continue
            axes.append(Axis(leaf.name, "categorical", cats, NONE_LABEL in cats))
        else:
            nullable = leaf.nullable or any(
                leaf.name in t.params and t.params[leaf.name] is None for t in study.trials
            )
            sampled = [t.params[leaf.name] for t in study.trials if leaf.name in t.params]
            numbers = [v for v in sampled if v is not None]
            integer = bool(numbers) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in numbers
            )
            axes.append(Axis(leaf.name, leaf.scale, nullable=nullable, integer=integer))
    return axes


def trials_table(study: Study) -> pd.DataFrame:
    """One row per trial: number, run_id, state, value (the metric, NaN when missing),
    the cost metrics, and one column per axis (float, or label text for categoricals).

    A param the trial lacks is NaN (``ABSENT_LABEL`` on a categorical axis); a sampled None
    is ``NONE_VALUE`` (``NONE_LABEL``), so the two never read alike."""
    axes = param_axes(study)
    rows = []
    for t in study.trials:
        row: dict[str, Any] = {
            "number": t.number,
            "run_id": t.run_id,
            "state": t.state,
            "value": _nan(t.value(study.metric)),
        }
        for cost in COST_METRICS:
            row[cost] = _nan(t.fit_cost() if cost == "fit_cpu_seconds" else t.value(cost))
        for axis in axes:
            present = axis.name in t.params
            raw = t.params.get(axis.name)
            if not present:
                row[axis.name] = math.nan if axis.numeric else ABSENT_LABEL
            elif axis.numeric:
                row[axis.name] = NONE_VALUE if raw is None else _float(raw)
            else:
                row[axis.name] = _label(raw)
        rows.append(row)
    columns = ["number", "run_id", "state", "value", *COST_METRICS, *(a.name for a in axes)]
    return pd.DataFrame(rows, columns=columns)


def completed_table(study: Study) -> pd.DataFrame:
    """Trials with a metric (state ``ok``), best first."""
    frame = trials_table(study)
    done = frame[(frame["state"] == "ok") & frame["value"].notna()]
    return done.sort_values(["value", "number"], kind="stable").reset_index(drop=True)


# -- optimization history -----------------------------------------------------------------------


def history(study: Study) -> pd.DataFrame:
    """number, state, value, best_so_far (NaN before the first success), is_best."""
    frame = trials_table(study)[["number", "state", "value", "run_id"]].copy()
    frame = frame.sort_values("number", kind="stable").reset_index(drop=True)
    ok = frame["value"].where(frame["state"] == "ok")
    frame["best_so_far"] = ok.cummin().ffill()
    previous = frame["best_so_far"].shift(1)
    frame["is_best"] = ok.notna() & (previous.isna() | (ok < previous))
    return frame


# -- trade-offs and Pareto front ----------------------------------------------------------------


def tradeoff(study: Study, cost: str) -> pd.DataFrame:
    """number, run_id, value, cost and ``pareto`` (on the front of metric vs cost)."""
    done = completed_table(study)
    frame = done[["number", "run_id", "value", cost]].rename(columns={cost: "cost"})
    frame = frame[frame["cost"].notna()].reset_index(drop=True)
    frame["pareto"] = pareto_mask(frame[["value", "cost"]].to_numpy())
    return frame.sort_values("cost", kind="stable").reset_index(drop=True)


# -- importance -------------------------------------------------------------------------------


def feature_matrix(frame: pd.DataFrame, axes: Sequence[Axis]) -> pd.DataFrame:
    """Axes as model inputs: log10 for log axes, category codes for categoricals."""
    columns = {}
    for axis in axes:
        col = frame[axis.name]
        if axis.log:
            columns[axis.name] = none_above(np.log10(col.where(col > 0)))
        elif axis.numeric:
            columns[axis.name] = none_above(col.astype(float))
        else:
            codes = {label: i for i, label in enumerate((*axis.categories, ABSENT_LABEL))}
            columns[axis.name] = col.map(codes).astype(float)
    return pd.DataFrame(columns, index=frame.index)


def none_above(column: pd.Series) -> pd.Series:
    """A numeric column with its None values (+inf) moved just above its largest value: a
    level of their own that a model or a plot can take (NaN stays NaN)."""
    finite = column[np.isfinite(column)]
    if not np.isinf(column).any():
        return column
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    return column.replace([np.inf], high + (0.1 * (high - low) or 1.0))


def importance(study: Study, *, seed: int = 0, n_repeats: int = 10) -> pd.Series:
    """Share of the metric each hyperparameter explains, summing to 1, largest first.

    Permutation importance (scikit-learn) of a random-forest surrogate fitted on the
    completed trials: shuffle one hyperparameter's column and measure how much worse the
    surrogate predicts the metric. It is model-agnostic, handles categorical and
    log-scaled params after encoding, and unlike impurity importance it does not favour
    params with many distinct values. Empty when there are too few trials to tell.
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    axes = param_axes(study)
    done = completed_table(study)
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE or not axes:
        return pd.Series(dtype=float, name="importance")
    x = feature_matrix(done, axes)
    y = done["value"].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        return pd.Series(1.0 / len(axes), index=[a.name for a in axes], name="importance")
    forest = RandomForestRegressor(
        n_estimators=64, min_samples_leaf=2, random_state=seed, n_jobs=1
    ).fit(x.to_numpy(), y)
    result = permutation_importance(
        forest, x.to_numpy(), y, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    scores = np.clip(result.importances_mean, 0.0, None)
    total = scores.sum()
    shares = scores / total if total > 0 else np.full(len(axes), 1.0 / len(axes))
    series = pd.Series(shares, index=[a.name for a in axes], name="importance")
    return series.sort_values(ascending=False, kind="stable")


def important_pairs(study: Study, *, top: int = 3, ranking: pd.Series | None = None) -> list:
    """Pairs among the ``top`` most important numeric hyperparameters, most important first."""
    numeric = [a.name for a in param_axes(study) if a.numeric]
    ranking = importance(study) if ranking is None else ranking
    ordered = [name for name in ranking.index if name in numeric] or numeric
    return list(itertools.combinations(ordered[:top], 2))


# -- top trials ---------------------------------------------------------------------------------


def top_trials(study: Study, k: int = 10) -> pd.DataFrame:
    """The ``k`` best trials: rank, number, run id, metric, costs and hyperparameters."""
    done = completed_table(study).head(k).copy()
    for axis in param_axes(study):
        if not axis.numeric:
            continue
        column = done[axis.name]
        if axis.integer:  # max_depth 10, not 10.0 (pandas' nullable Int64 keeps gaps)
            whole = column.where(np.isfinite(column.astype(float)))
            done[axis.name] = whole.astype("Int64")
        if axis.nullable:  # None as None, not as +inf
            shown = done[axis.name].astype(object)
            done[axis.name] = shown.where(column != NONE_VALUE, NONE_LABEL)
    frame = done.drop(columns=["state"]).rename(columns={"value": study.metric})
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def families(study: Study) -> pd.DataFrame:
    """One row per model family the study searched: trials, failures, its best metric and
    the median cost of its completed trials, best family first."""
    rows: dict[str, dict[str, Any]] = {}
    for trial in study.trials:
        family = str(trial.params.get(FAMILY_PARAM, study.model))
        row = rows.setdefault(
            family, {"family": family, "trials": 0, "failed": 0, "values": [], "fit": [], "kb": []}
        )
        row["trials"] += 1
        row["failed"] += trial.state == "failed"
        value = trial.value(study.metric) if trial.state == "ok" else None
        if value is not None:
            row["values"].append(value)
            row["fit"].append(_nan(trial.fit_cost()))
            row["kb"].append(trial.metrics.get("model_bytes", math.nan) / 1024)
    table = pd.DataFrame(
        [
            {
                "family": r["family"],
                "trials": r["trials"],
                "failed": r["failed"],
                f"best {study.metric}": min(r["values"], default=math.nan),
                "median fit CPU s": float(np.median(r["fit"])) if r["fit"] else math.nan,
                "median model KB": float(np.median(r["kb"])) if r["kb"] else math.nan,
            }
            for r in rows.values()
        ],
        columns=[
            "family",
            "trials",
            "failed",
            f"best {study.metric}",
            "median fit CPU s",
            "median model KB",
        ],
    )
    return table.sort_values(f"best {study.metric}", kind="stable").reset_index(drop=True)


# -- helpers ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _float(value: Any) -> float:
    return float(value) if _is_number(value) else math.nan


def _label(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)
