"""The study report: pure figure data (``data``), thin drawing (``figures``, ``png``) and
one offline HTML page (``html``), built from the tracking store alone.

Functions of a study, for notebooks and the CLI: ``plot_*`` return plotly figures (they
display inline, with a static PNG of the same data beside the interactive figure, so a
notebook reads on GitHub and in exported HTML too), ``importance`` the ranking behind
them, ``write_report`` the HTML + PNG report. The report sits above the study: it
imports ``tunetrack.study``, never the reverse, and its libraries (plotly, matplotlib,
scikit-learn) load on first use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from tunetrack.study import Study

__all__ = [
    "FIGURES",
    "build_report",
    "importance",
    "plot_contour",
    "plot_history",
    "plot_importance",
    "plot_parallel_coordinates",
    "plot_scatter",
    "plot_tradeoffs",
    "write_report",
]

REPORT_FILE = "report.html"
FIGURES = ("history", "importance", "parallel_coordinates", "scatter", "contour", "tradeoffs")
DEFAULT_DIR = "tunetrack-report"


def plot_parallel_coordinates(study: Study, top_k: int | None = 50) -> Any:
    """Plotly parallel coordinates of the best ``top_k`` trials (None: all)."""
    from tunetrack.report import figures, png, views

    par = views.parallel_coordinates(study, top_k=top_k)
    fig = figures.parallel_coordinates(study, top_k=top_k)
    return _with_png(fig, lambda path: png.parallel_coordinates(par, path))


def plot_scatter(study: Study, params: list[str] | None = None) -> Any:
    """Each hyperparameter (or those in ``params``) against the metric."""
    from tunetrack.report import data, figures, png, views

    panels = [s for s in views.scatter(study) if params is None or s.param in params]
    integers = frozenset(a.name for a in data.param_axes(study) if a.integer)
    best = study.best.number if study.completed else None
    fig = figures.scatter(study, params=params)
    return _with_png(
        fig, lambda path: png.scatter(panels, study.metric, path, best=best, integers=integers)
    )


def plot_contour(study: Study, x: str | None = None, y: str | None = None) -> Any:
    """The metric over ``x`` and ``y``, or over the most important pairs."""
    from tunetrack.report import data, figures, png, views

    pairs = [(x, y)] if x and y else data.important_pairs(study)
    surfaces = [s for s in (views.contour(study, a, b) for a, b in pairs) if s is not None]
    fig = figures.contour(study, x, y)
    return _with_png(fig, lambda path: png.contour(surfaces, study.metric, path))


def plot_history(study: Study) -> Any:
    """Each trial's metric and the best so far."""
    from tunetrack.report import data, figures, png

    fig = figures.history(study)
    return _with_png(fig, lambda path: png.history(data.history(study), study.metric, path))


def plot_importance(study: Study) -> Any:
    """The share of the metric each hyperparameter explains, as bars."""
    from tunetrack.report import data, figures, png

    ranking = data.importance(study)
    fig = figures.importance(study, ranking)
    return _with_png(fig, lambda path: png.importance(ranking, study.metric, path))


def plot_tradeoffs(study: Study) -> Any:
    """The metric against training time and model size, with the Pareto front."""
    from tunetrack.report import data, figures, png

    costs = {cost: data.tradeoff(study, cost) for cost in data.COST_METRICS}
    fig = figures.tradeoffs(study)
    return _with_png(fig, lambda path: png.tradeoffs(costs, study.metric, path))


def _with_png(fig: Any, draw: Callable[[Path], Path]) -> Any:
    """``fig`` as a figure whose notebook output also carries the PNG ``draw`` writes."""
    from tunetrack.report import figures

    with tempfile.TemporaryDirectory() as folder:
        image = draw(Path(folder) / "figure.png").read_bytes()
    return figures.with_image(fig, image)


def importance(study: Study) -> pd.Series:
    """Share of the metric each hyperparameter explains (see ``report.data``)."""
    from tunetrack.report import data

    return data.importance(study)


def write_report(study: Study, out_dir: str | Path = DEFAULT_DIR, *, log: bool = True) -> Path:
    """Build the HTML + PNG report (:func:`build_report`); with ``log``, also log it under
    the study run. Returns the HTML path."""
    path = build_report(study, out_dir)
    if log:
        from tunetrack.storage import open_storage

        open_storage(study.tracking_uri).log_report(study.run_id, path.parent)
    return path


def build_report(study: Study, out_dir: str | Path, *, top_k: int = 50) -> Path:
    """Write ``report.html`` and one PNG per figure into ``out_dir``; returns the HTML path."""
    from tunetrack.report import data, figures, png, views
    from tunetrack.report import html as page

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ranking = data.importance(study)  # computed once: the bar chart and the contour pairs
    pairs = data.important_pairs(study, ranking=ranking)
    surfaces = [s for s in (views.contour(study, a, b) for a, b in pairs) if s is not None]
    par = views.parallel_coordinates(study, top_k=top_k)
    hist = data.history(study)
    panels = views.scatter(study)
    costs = {cost: data.tradeoff(study, cost) for cost in data.COST_METRICS}
    metric = study.metric

    drawn = {
        "history": (
            "Optimization history",
            figures.history(study),
            "Each trial's metric and the best so far; failed trials (no metric) are marked "
            "with x along the top edge, pruned ones with triangles.",
        ),
        "importance": (
            "Hyperparameter importance",
            figures.importance(study, ranking),
            "Permutation importance (scikit-learn) of a random-forest surrogate fitted on "
            "the completed trials; log-distributed params enter in log10.",
        ),
        "parallel_coordinates": (
            "Parallel coordinates",
            figures.parallel_coordinates(study, top_k=top_k),
            f"{figures.parallel_count(par.shown, par.total).capitalize()}; log axes are labelled "
            "in real values, missing params sit on an '(absent)' tick. Drag on an axis to "
            "filter.",
        ),
        "scatter": (
            "Each hyperparameter against the metric",
            figures.scatter(study),
            "Colour: trial number (colour bar); the red star is the best trial. Log x axis "
            "where the search space is log-distributed; whole-number params have integer ticks.",
        ),
        "contour": (
            "Contours of the most important pairs",
            figures.contour(study, ranking=ranking),
            "The metric interpolated linearly between trials (black dots); blank outside them.",
        ),
        "tradeoffs": (
            "Trade-offs",
            figures.tradeoffs(study),
            "Metric against the fit's CPU seconds (fit_cpu_seconds: steady under machine load, "
            "unlike wall time) and model size; the red line is the Pareto front "
            "(no other trial is both better and cheaper).",
        ),
    }
    png.history(hist, metric, out / "history.png")
    png.importance(ranking, metric, out / "importance.png")
    png.parallel_coordinates(par, out / "parallel_coordinates.png")
    integers = frozenset(a.name for a in data.param_axes(study) if a.integer)
    best = study.best.number if study.completed else None
    png.scatter(panels, metric, out / "scatter.png", best=best, integers=integers)
    png.contour(surfaces, metric, out / "contour.png")
    png.tradeoffs(costs, metric, out / "tradeoffs.png")
    top = data.top_trials(study, k=20)
    top.to_csv(out / "top_trials.csv", index=False)
    by_family = data.families(study)
    by_family.to_csv(out / "families.csv", index=False)
    path = out / REPORT_FILE
    path.write_text(page.render(study, drawn, top, by_family), encoding="utf-8")
    return path
