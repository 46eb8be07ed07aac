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


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path


def parallel_coordinates(par: views.ParallelData, path: Path) -> Path:
    plt = _plt()
    n = len(par.dimensions)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * n), 5))
    norm = []
    for d in par.dimensions:
        low, high = d.range
        span = (high - low) or 1.0
        norm.append([(v - low) / span for v in d.values])
    lines = np.array(norm).T if par.shown else np.zeros((0, n))
    colors = plt.get_cmap("viridis_r")(_unit(par.color))
    for row, color in zip(lines, colors, strict=False):
        ax.plot(range(n), row, color=color, alpha=0.6, linewidth=1)
    for i, d in enumerate(par.dimensions):
        ax.axvline(i, color="black", linewidth=0.8)
        low, high = d.range
        span = (high - low) or 1.0
        for tv, tt in zip(d.tickvals, d.ticktext, strict=True):
            ax.text(i + 0.03, (tv - low) / span, tt, fontsize=7, va="center")
    ax.set_xticks(range(n), [f"{d.label} (log)" if d.log else d.label for d in par.dimensions])
    ax.set_yticks([])
    ax.set_title(f"Parallel coordinates: best {par.shown} of {par.total} completed trials")
    return _save(fig, path)


def scatter(panels: list[views.ScatterData], metric: str, path: Path) -> Path:
    plt = _plt()
    cols = min(3, max(len(panels), 1))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        if panel.scale == "categorical":
            codes = {c: i for i, c in enumerate(dict.fromkeys([*panel.categories, *panel.x]))}
            ax.scatter([codes[v] for v in panel.x], panel.y, s=10, alpha=0.7)
            ax.set_xticks(list(codes.values()), list(codes), fontsize=7, rotation=10)
        else:
            ax.scatter(panel.x, panel.y, s=10, alpha=0.7)
            if panel.scale == "log":
                ax.set_xscale("log")
        ax.set_xlabel(panel.param)
        ax.set_ylabel(metric)
    return _save(fig, path)


def contour(surfaces: list[views.ContourData], metric: str, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, max(len(surfaces), 1), figsize=(5 * max(len(surfaces), 1), 4))
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
        axes[0].set_title("not enough completed trials for a contour")
    return _save(fig, path)


def history(frame: pd.DataFrame, metric: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
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
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(ranking), 2) + 1.2))
    ax.barh(list(ranking.index[::-1]), list(ranking.values[::-1]))
    ax.set_xlabel(f"share of {metric} explained")
    ax.set_title("Hyperparameter importance (permutation, RF surrogate)")
    return _save(fig, path)


def tradeoffs(frames: dict[str, pd.DataFrame], metric: str, path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 4), squeeze=False)
    for ax, (cost, frame) in zip(axes.flat, frames.items(), strict=True):
        ax.scatter(frame["cost"], frame["value"], s=8, color="lightsteelblue", label="trials")
        front = frame[frame["pareto"]]
        ax.step(front["cost"], front["value"], where="post", color="crimson", marker="o", ms=4)
        if (frame["cost"] > 0).all() and len(frame):
            ax.set_xscale("log")
        ax.set_xlabel(cost)
        ax.set_ylabel(metric)
    return _save(fig, path)


def _unit(values: tuple[float, ...]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if not len(arr) or np.ptp(arr) == 0:
        return np.zeros(len(arr))
    return (arr - arr.min()) / np.ptp(arr)
