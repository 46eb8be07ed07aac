"""Figure data for the views that place every trial: parallel coordinates, a scatter per
hyperparameter, and contours of pairs. Pure: a Study in, plain records out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.report.data import (
    ABSENT_LABEL,
    NONE_LABEL,
    Axis,
    completed_table,
    param_axes,
)
from tunetrack.study import Study


@dataclass(frozen=True)
class Dimension:
    """One parallel-coordinates axis: plotted values plus tick positions and labels."""

    label: str
    values: tuple[float, ...]
    tickvals: tuple[float, ...]
    ticktext: tuple[str, ...]
    range: tuple[float, float]
    log: bool = False


@dataclass(frozen=True)
class ParallelData:
    dimensions: tuple[Dimension, ...]
    color: tuple[float, ...]
    metric: str
    shown: int
    total: int
    run_ids: tuple[str, ...] = field(default=())


def parallel_coordinates(study: Study, *, top_k: int | None = 50) -> ParallelData:
    """The ``top_k`` best completed trials (all when None): each axis against the metric.

    Log axes are drawn in log10 with ticks labelled in real values; categoricals are codes
    with their full labels; a trial without a param sits on an ``(absent)`` tick below the
    axis instead of being dropped, and a sampled None on a ``None`` tick above it.
    """
    done = completed_table(study)
    total = len(done)
    shown = done if top_k is None else done.head(top_k)
    dims = [_dimension(axis, shown[axis.name]) for axis in param_axes(study)]
    values = shown["value"].astype(float)
    dims.append(_numeric_dimension(study.metric, values, log=False))
    return ParallelData(
        dimensions=tuple(dims),
        color=tuple(values.tolist()),
        metric=study.metric,
        shown=len(shown),
        total=total,
        run_ids=tuple(shown["run_id"]),
    )


def _dimension(axis: Axis, column: pd.Series) -> Dimension:
    if not axis.numeric:
        labels = [*axis.categories]
        if (column == ABSENT_LABEL).any():
            labels.append(ABSENT_LABEL)
        codes = {label: float(i) for i, label in enumerate(labels)}
        values = tuple(codes[v] for v in column)
        span = (-0.5, max(len(labels) - 0.5, 0.5))
        return Dimension(axis.name, values, tuple(codes.values()), tuple(labels), span)
    return _numeric_dimension(axis.name, column.astype(float), log=axis.log)


def _numeric_dimension(name: str, column: pd.Series, *, log: bool) -> Dimension:
    plotted = np.log10(column.where(column > 0)) if log else column
    present = plotted[np.isfinite(plotted)]
    low, high = (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)
    if high == low:
        low, high = low - 0.5, high + 0.5
    tickvals = _log_ticks(low, high) if log else list(np.linspace(low, high, 5))
    ticktext = [_fmt(10**v if log else v) for v in tickvals]
    if np.isinf(plotted).any():  # sampled None: its own tick above the values
        none_at = high + 0.1 * (high - low)
        plotted = plotted.replace([np.inf], none_at)
        tickvals, ticktext, high = [*tickvals, none_at], [*ticktext, NONE_LABEL], none_at
    if plotted.isna().any():  # absent: its own tick below
        absent = low - 0.1 * (high - low)
        plotted = plotted.fillna(absent)
        tickvals, ticktext, low = [absent, *tickvals], [ABSENT_LABEL, *ticktext], absent
    return Dimension(
        name,
        tuple(float(v) for v in plotted),
        tuple(float(v) for v in tickvals),
        tuple(ticktext),
        (low, high),
        log,
    )


def _log_ticks(low: float, high: float) -> list[float]:
    decades = [float(d) for d in range(math.ceil(low), math.floor(high) + 1)]
    if len(decades) >= 2:
        return decades
    # Less than a decade: label 1-2-5 steps inside the range.
    ticks = [
        math.log10(m * 10.0**e)
        for e in range(math.floor(low), math.ceil(high) + 1)
        for m in (1, 2, 5)
        if low <= math.log10(m * 10.0**e) <= high
    ]
    return ticks if len(ticks) >= 2 else [low, high]


# -- scatter and contour ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScatterData:
    param: str
    scale: str
    x: tuple[Any, ...]
    y: tuple[float, ...]
    numbers: tuple[int, ...]
    categories: tuple[str, ...] = ()
    # Trials that sampled None on a numeric axis: drawn apart, at ``none_x`` (real units).
    none_x: float | None = None
    none_y: tuple[float, ...] = ()
    none_numbers: tuple[int, ...] = ()


def scatter(study: Study) -> list[ScatterData]:
    """Each hyperparameter against the metric, over completed trials (absent ones left out;
    a sampled None on a numeric axis drawn apart, to the right of the values)."""
    done = completed_table(study)
    out = []
    for axis in param_axes(study):
        col = done[axis.name]
        keep = col.notna()
        none_x, nones = None, done.iloc[0:0]
        if axis.numeric:
            nones = done[np.isinf(col.astype(float))]
            keep &= np.isfinite(col.astype(float))
        if axis.log:
            keep &= col > 0
        sub = done[keep]
        if len(nones):
            values = sub[axis.name].astype(float)
            if axis.log:
                logs = np.log10(values) if len(values) else pd.Series([0.0])
                none_x = float(10 ** (logs.max() + (0.1 * np.ptp(logs) or 1.0)))
            else:
                low, high = (values.min(), values.max()) if len(values) else (0.0, 0.0)
                none_x = float(high + (0.1 * (high - low) or 1.0))
        out.append(
            ScatterData(
                axis.name,
                axis.scale,
                tuple(sub[axis.name].tolist()),
                tuple(sub["value"].astype(float).tolist()),
                tuple(int(n) for n in sub["number"]),
                axis.categories if not axis.numeric else (),
                none_x,
                tuple(nones["value"].astype(float).tolist()),
                tuple(int(n) for n in nones["number"]),
            )
        )
    return out


@dataclass(frozen=True)
class ContourData:
    x: str
    y: str
    x_log: bool
    y_log: bool
    grid_x: tuple[float, ...]  # real values (geometric spacing on a log axis)
    grid_y: tuple[float, ...]
    z: tuple[tuple[float | None, ...], ...]  # rows follow grid_y; None outside the trials' hull
    points_x: tuple[float, ...]
    points_y: tuple[float, ...]
    points_value: tuple[float, ...]


def contour(study: Study, x: str, y: str, *, grid: int = 40) -> ContourData | None:
    """The metric interpolated (linearly, in log space for log axes) over two numeric params.

    None when fewer than four trials span the pair, since no surface can be drawn.
    """
    from scipy.interpolate import griddata

    axes = {a.name: a for a in param_axes(study)}
    ax, ay = axes[x], axes[y]
    done = completed_table(study)
    # Finite values only: a sampled None (+inf) has no place on a surface.
    sub = done[np.isfinite(done[x].astype(float)) & np.isfinite(done[y].astype(float))]
    if ax.log:
        sub = sub[sub[x] > 0]
    if ay.log:
        sub = sub[sub[y] > 0]
    px = np.log10(sub[x].to_numpy(float)) if ax.log else sub[x].to_numpy(float)
    py = np.log10(sub[y].to_numpy(float)) if ay.log else sub[y].to_numpy(float)
    if len(sub) < 4 or np.ptp(px) == 0 or np.ptp(py) == 0:
        return None
    gx = np.linspace(px.min(), px.max(), grid)
    gy = np.linspace(py.min(), py.max(), grid)
    mesh_x, mesh_y = np.meshgrid(gx, gy)
    # Scale both axes to [0, 1] so the triangulation is not skewed by units.
    sx, sy = np.ptp(px), np.ptp(py)
    points = np.column_stack([(px - px.min()) / sx, (py - py.min()) / sy])
    targets = np.column_stack([(mesh_x.ravel() - px.min()) / sx, (mesh_y.ravel() - py.min()) / sy])
    try:
        z = griddata(points, sub["value"].to_numpy(float), targets, method="linear")
    except Exception:  # all points on a line: Qhull cannot triangulate
        return None
    z = z.reshape(mesh_x.shape)
    rows = tuple(tuple(None if math.isnan(v) else float(v) for v in row) for row in z)
    return ContourData(
        x,
        y,
        ax.log,
        ay.log,
        tuple((10**gx if ax.log else gx).tolist()),
        tuple((10**gy if ay.log else gy).tolist()),
        rows,
        tuple(sub[x].astype(float).tolist()),
        tuple(sub[y].astype(float).tolist()),
        tuple(sub["value"].astype(float).tolist()),
    )


def color_limits(values: tuple[float, ...] | list[float]) -> tuple[float, float, int]:
    """The metric range a colour scale spans, and how many values lie above it: one
    far-off trial would make every other line one colour, so values beyond 3
    interquartile ranges above the upper quartile are clipped to the scale's top."""
    finite = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if not len(finite):
        return 0.0, 1.0, 0
    low, high = float(finite.min()), float(finite.max())
    if len(finite) >= 4:
        q1, q3 = np.percentile(finite, [25, 75])
        top = float(q3 + 3 * (q3 - q1))
        if q3 > q1 and high > top:
            return low, top, int((finite > top).sum())
    return low, high, 0


def _fmt(value: float) -> str:
    return f"{value:.3g}"
