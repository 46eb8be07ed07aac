"""Static PNGs of the same figure data with matplotlib (Agg): no browser needed.

Plotly's own PNG export (kaleido) needs a Chrome at report time; matplotlib ships with
MLflow already, so a PNG per figure costs no extra dependency.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.report import views
from tunetrack.report.figures import CONTOUR_NEEDS, IMPORTANCE_NEEDS, parallel_count


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    # Constrained layout (set where each figure is made) keeps labels apart without
    # tight_layout's warnings when they do not fit.
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path


def parallel_coordinates(par: views.ParallelData, path: Path) -> Path:
    plt = _plt()
    n = len(par.dimensions)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * n), 5), layout="constrained")
    norm = []
    for d in par.dimensions:
        low, high = d.range
        span = (high - low) or 1.0
        norm.append([(v - low) / span for v in d.values])
    lines = np.array(norm).T if par.shown else np.zeros((0, n))
    c_low, c_high, clipped = views.color_limits(par.color)
    colors = plt.get_cmap("viridis_r")(_unit(par.color, c_low, c_high))
    for row, color in zip(lines, colors, strict=False):
        ax.plot(range(n), row, color=color, alpha=0.6, linewidth=1)
    for i, d in enumerate(par.dimensions):
        ax.axvline(i, color="black", linewidth=0.8)
        low, high = d.range
        span = (high - low) or 1.0
        for tv, tt in zip(d.tickvals, d.ticktext, strict=True):
            ax.text(i + 0.03, (tv - low) / span, tt, fontsize=7, va="center")
    labels = [f"{d.label} (log)" if d.log else d.label for d in par.dimensions]
    ax.set_xticks(range(n), labels, rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.08, 1.08)  # every tick label inside the axes
    title = f"Parallel coordinates: {parallel_count(par.shown, par.total)}"
    if clipped:
        title += f" (colour clipped at {c_high:.4g}: {clipped} above)"
    ax.set_title(title)
    if c_high > c_low:  # one value has no scale to show
        bar = plt.cm.ScalarMappable(cmap="viridis_r", norm=plt.Normalize(c_low, c_high))
        fig.colorbar(bar, ax=ax, label=par.metric, shrink=0.8)
    return _save(fig, path)


def scatter(
    panels: list[views.ScatterData],
    metric: str,
    path: Path,
    *,
    best: int | None = None,
    integers: frozenset[str] = frozenset(),
) -> Path:
    """Each param against the metric, coloured by trial number (colour bar), the ``best``
    trial starred; params in ``integers`` get whole-number ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    plt = _plt()
    n_max = max((n for p in panels for n in p.numbers), default=1)
    dots = None
    cols = min(3, max(len(panels), 1))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    values = {n: float(y) for p in panels for n, y in zip(p.numbers, p.y, strict=True)}
    y_low, y_top, _ = views.color_limits(list(values.values()))
    off_scale = sum(1 for y in values.values() if y > y_top)
    for ax, panel in zip(axes.flat, panels, strict=False):
        if panel.scale == "categorical":
            codes = {c: i for i, c in enumerate(dict.fromkeys([*panel.categories, *panel.x]))}
            dots = ax.scatter(
                [codes[v] for v in panel.x], panel.y, s=14, c=panel.numbers, cmap="viridis",
                vmin=0, vmax=n_max,
            )  # fmt: skip
            ax.set_xticks(list(codes.values()), list(codes), fontsize=7, rotation=10)
        else:
            dots = ax.scatter(
                panel.x, panel.y, s=14, c=panel.numbers, cmap="viridis", vmin=0, vmax=n_max
            )
            if panel.scale == "log":
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            elif panel.param in integers:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best is not None and best in panel.numbers:
            at = panel.numbers.index(best)
            bx = codes[panel.x[at]] if panel.scale == "categorical" else panel.x[at]
            ax.scatter([bx], [panel.y[at]], marker="*", s=160, color="red",
                       edgecolors="black", zorder=3, label=f"best (trial {best})")  # fmt: skip
            ax.legend(fontsize=7, loc="best")
        if off_scale:  # far-off trials: triangles at the top edge (see figures.scatter)
            pad = 0.05 * (y_top - y_low) or 0.05 * abs(y_top) or 1.0
            ax.set_ylim(y_low - pad, y_top + pad)
            above = [j for j, y in enumerate(panel.y) if y > y_top]
            if above:
                xs = [panel.x[j] for j in above]
                if panel.scale == "categorical":
                    xs = [codes[v] for v in xs]
                ax.scatter(xs, [y_top] * len(above), marker="^", s=30, color="grey", zorder=3)
        ax.set_xlabel(panel.param)
        ax.set_ylabel(metric)
    if off_scale:
        trials = "1 trial" if off_scale == 1 else f"{off_scale} trials"
        fig.suptitle(f"{trials} above {y_top:.4g}: triangles at the top edge", fontsize=9)
    if dots is not None:
        fig.colorbar(dots, ax=axes, label="trial", shrink=0.8)
    if not panels:
        axes.flat[0].set_visible(True)
        _say(axes.flat[0], "Scatter plots need at least 1 completed trial.")
    return _save(fig, path)


def contour(surfaces: list[views.ContourData], metric: str, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(
        1, max(len(surfaces), 1), figsize=(5 * max(len(surfaces), 1), 4), layout="constrained"
    )
    axes = np.atleast_1d(axes)
    for ax, s in zip(axes, surfaces, strict=False):
        z = np.array([[np.nan if v is None else v for v in row] for row in s.z])
        filled = ax.contourf(s.grid_x, s.grid_y, z, levels=15, cmap="viridis_r")
        ax.scatter(s.points_x, s.points_y, s=4, color="black", alpha=0.5)
        ax.set_xscale("log" if s.x_log else "linear")
        ax.set_yscale("log" if s.y_log else "linear")
        ax.set_xlabel(s.x)
        ax.set_ylabel(s.y)
        fig.colorbar(filled, ax=ax, label=metric)
    if not surfaces:
        _say(axes[0], CONTOUR_NEEDS)
    return _save(fig, path)


def history(frame: pd.DataFrame, metric: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    ok = frame[frame["state"] == "ok"]
    ax.scatter(ok["number"], ok["value"], s=10, label="trial")
    ax.step(frame["number"], frame["best_so_far"], where="post", color="firebrick", label="best")
    top = frame["value"].max() if frame["value"].notna().any() else 1.0
    for state, marker in (("failed", "x"), ("pruned", "v")):
        sub = frame[frame["state"] == state]
        if len(sub):
            ys = sub["value"].fillna(top) if state == "pruned" else [top] * len(sub)
            ax.scatter(sub["number"], ys, marker=marker, color="grey", label=state)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend()
    ax.set_title("Optimization history")
    return _save(fig, path)


def importance(ranking: pd.Series, metric: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(ranking), 2) + 1.2), layout="constrained")
    ax.barh(list(ranking.index[::-1]), list(ranking.values[::-1]))
    if ranking.empty:
        _say(ax, IMPORTANCE_NEEDS)
    ax.set_xlabel(f"share of {metric} explained")
    ax.set_title("Hyperparameter importance (permutation, RF surrogate)")
    return _save(fig, path)


def tradeoffs(frames: dict[str, pd.DataFrame], metric: str, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(
        1, len(frames), figsize=(5 * len(frames), 4), squeeze=False, layout="constrained"
    )
    for ax, (cost, frame) in zip(axes.flat, frames.items(), strict=True):
        ax.scatter(frame["cost"], frame["value"], s=8, color="lightsteelblue", label="trials")
        front = frame[frame["pareto"]]
        ax.step(front["cost"], front["value"], where="post", color="crimson", marker="o", ms=4)
        if (frame["cost"] > 0).all() and len(frame):
            ax.set_xscale("log")
        ax.set_xlabel(cost)
        ax.set_ylabel(metric)
    return _save(fig, path)


def _say(ax: Any, sentence: str) -> None:
    """An empty panel says what it needs instead of drawing nothing."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, sentence, ha="center", va="center", wrap=True, transform=ax.transAxes)


def _unit(values: tuple[float, ...], low: float, high: float) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if not len(arr) or high <= low:
        return np.zeros(len(arr))
    return np.clip((arr - low) / (high - low), 0.0, 1.0)
