"""Thin plotly drawing of the figure data in ``report.data``: no computation here.

Everything is SVG except parallel coordinates (plotly draws those with WebGL only).
"""

from __future__ import annotations

import base64
import functools
import math
from typing import Any

import pandas as pd

from tunetrack.report import data, views
from tunetrack.study import Study

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
}
_COLORS = "Viridis_r"  # low (good) metric is bright
# What an empty panel says instead of drawing nothing.
IMPORTANCE_NEEDS = (
    f"Importance needs at least {data.MIN_TRIALS_FOR_IMPORTANCE} completed trials "
    "with a varying param."
)
CONTOUR_NEEDS = "A contour needs at least 4 completed trials spread over two numeric params."


def plural(n: int, word: str) -> str:
    """``1 trial``, ``2 trials``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _empty(fig: Any, sentence: str) -> Any:
    """A figure with nothing to draw says what it needs, in one sentence, where it would be."""
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=sentence, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
        font={"size": 15},
    )  # fmt: skip
    return fig


def integer_ticks(values: list[float]) -> dict[str, Any]:
    """Axis settings for a whole-number param: ticks on integers only, at most ~8 of them."""
    finite = [v for v in values if math.isfinite(v)]
    span = (max(finite) - min(finite)) if finite else 1.0
    return {"tickmode": "linear", "tick0": 0, "dtick": max(1, math.ceil(span / 8)),
            "tickformat": "d"}  # fmt: skip


def log_ticks(values: list[float]) -> dict[str, Any]:
    """Axis settings for a log axis: labelled ticks at decades, else 1-2-5 steps, else
    1-1.5-2-3-5-7 steps: the first that gives four or more over the data."""
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if not finite:
        return {}
    low, high = min(finite), max(finite)
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
            for m in mantissas
            if low / 1.05 <= m * 10.0**e <= high * 1.05
        ]
        if len(ticks) >= 4:
            break
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [f"{t:.3g}" for t in ticks]}


def with_image(fig: Any, png: bytes) -> Any:
    """A copy of ``fig`` that displays in a notebook as plotly's interactive output plus
    ``png`` (a static image of the same data): viewers that run no JavaScript, such as
    GitHub and exported HTML, show the image."""
    static = _static_figure_class()(fig)
    static._png = png
    return static


@functools.cache
def _static_figure_class() -> type:
    go = _go()

    class StaticFigure(go.Figure):  # type: ignore[misc, name-defined]
        _png: bytes = b""

        def _ipython_display_(self) -> None:
            from IPython.display import display

            bundle = dict(self._repr_mimebundle_())
            if self._png:
                bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
            display(bundle, raw=True)

    return StaticFigure


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def parallel_coordinates(study: Study, *, top_k: int | None = 50) -> Any:
    go = _go()
    par = views.parallel_coordinates(study, top_k=top_k)
    dims = [
        {
            "label": f"{d.label} (log)" if d.log else d.label,
            "values": list(d.values),
            "tickvals": list(d.tickvals),
            "ticktext": list(d.ticktext),
            "range": list(d.range),
        }
        for d in par.dimensions
    ]
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line={
                "color": list(par.color),
                "colorscale": _COLORS,
                "showscale": True,
                **color_range(list(par.color), par.metric),
            },
            labelangle=-20,
        )
    )
    fig.update_layout(
        title=f"Parallel coordinates: {parallel_count(par.shown, par.total)}",
        **{**_LAYOUT, "margin": {"l": 80, "r": 80, "t": 110, "b": 40}},
    )
    return fig


def parallel_count(shown: int, total: int) -> str:
    """How many completed trials the parallel coordinates draw, the same words everywhere."""
    if shown == total:
        return "all " + plural(total, "completed trial") if total != 1 else "1 completed trial"
    return f"the best {shown} of {plural(total, 'completed trial')}"


def color_range(values: list[float], metric: str) -> dict[str, Any]:
    """A colour scale over the bulk of the values: one far-off trial would make every
    other line one colour, so values beyond 3 interquartile ranges above the upper
    quartile are clipped to the scale's end, and the colour bar's title says so."""
    low, high, clipped = views.color_limits(values)
    title = f"{metric}<br>({clipped} above {high:.4g} clipped)" if clipped else metric
    return {"cmin": low, "cmax": high, "colorbar": {"title": {"text": title}}}


def metric_limits(panels: list[views.ScatterData]) -> tuple[float, float, int]:
    """The metric range scatter panels show, and how many trials lie above it: one
    far-off trial would squash every other point onto one line, so the same rule as the
    colour scales (3 interquartile ranges above the upper quartile) bounds the axis."""
    values = {n: float(y) for p in panels for n, y in zip(p.numbers, p.y, strict=True)}
    low, top, _ = views.color_limits(list(values.values()))
    return low, top, sum(1 for y in values.values() if y > top)


def scatter(study: Study, *, params: list[str] | None = None) -> Any:
    from plotly.subplots import make_subplots

    panels = [s for s in views.scatter(study) if params is None or s.param in params]
    cols = min(3, max(len(panels), 1))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[s.param for s in panels])
    go = _go()
    axes = {a.name: a for a in data.param_axes(study)}
    best = study.best.number if study.completed else None
    n_max = max((n for p in panels for n in p.numbers), default=0)
    y_low, y_top, off_scale = metric_limits(panels)
    for i, panel in enumerate(panels):
        row, col = i // cols + 1, i % cols + 1
        fig.add_trace(
            go.Scatter(
                x=list(panel.x),
                y=list(panel.y),
                mode="markers",
                marker={
                    "size": 7,
                    "color": list(panel.numbers),
                    "colorscale": "Viridis",
                    "cmin": 0,
                    "cmax": max(n_max, 1),
                    "showscale": i == 0,  # one colour bar serves every panel
                    "colorbar": {"title": {"text": "trial"}},
                    "line": {"width": 0.5, "color": "white"},
                },
                text=[f"trial {n}" for n in panel.numbers],
                name=panel.param,
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        if best is not None and best in panel.numbers:
            at = panel.numbers.index(best)
            fig.add_trace(
                go.Scatter(
                    x=[panel.x[at]],
                    y=[panel.y[at]],
                    mode="markers",
                    marker={"size": 15, "symbol": "star", "color": "red",
                            "line": {"width": 1, "color": "black"}},
                    text=[f"best: trial {best}"],
                    name=f"best trial ({best})",
                    legendgroup="best",
                    showlegend=i == 0,
                ),
                row=row,
                col=col,
            )  # fmt: skip
        above = [j for j, y in enumerate(panel.y) if y > y_top] if off_scale else []
        if above:  # far-off trials: at the top edge as triangles, their value on hover
            fig.add_trace(
                go.Scatter(
                    x=[panel.x[j] for j in above],
                    y=[y_top] * len(above),
                    mode="markers",
                    marker={"size": 9, "symbol": "triangle-up", "color": "grey"},
                    text=[f"trial {panel.numbers[j]}: {panel.y[j]:.4g}" for j in above],
                    name=f"{panel.param} off the scale",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
        if panel.none_x is not None:  # sampled None: apart, to the right, as diamonds
            fig.add_trace(
                go.Scatter(
                    x=[panel.none_x] * len(panel.none_y),
                    y=list(panel.none_y),
                    mode="markers",
                    marker={"size": 8, "symbol": "diamond", "color": "firebrick"},
                    text=[f"trial {n}: {panel.param}=None" for n in panel.none_numbers],
                    name=f"{panel.param}=None",
                    showlegend=False,
                ),
                row=row,
                col=col,
            )
        title = panel.param if panel.none_x is None else f"{panel.param} (diamonds: None)"
        xaxis: dict[str, Any] = {"title_text": title}
        numeric_x = [float(v) for v in panel.x] if panel.scale != "categorical" else []
        if panel.scale == "log":
            xaxis.update(type="log", **log_ticks(numeric_x))
        elif (
            panel.scale != "categorical"
            and panel.none_x is None
            and (panel.param in axes and axes[panel.param].integer)
        ):
            xaxis.update(integer_ticks(numeric_x))
        elif panel.scale == "categorical":
            xaxis.update(type="category", categoryorder="array", categoryarray=panel.categories)
        fig.update_xaxes(row=row, col=col, **xaxis)
        yaxis: dict[str, Any] = {"title_text": study.metric if col == 1 else None}
        if off_scale:
            pad = 0.05 * (y_top - y_low) or 0.05 * abs(y_top) or 1.0
            yaxis["range"] = [y_low - pad, y_top + pad]
        fig.update_yaxes(row=row, col=col, **yaxis)
    title = f"{study.metric} against each hyperparameter (colour: trial number; star: best)"
    if off_scale:
        title += f"<br>{plural(off_scale, 'trial')} above {y_top:.4g}: triangles at the top edge"
    fig.update_layout(
        title=title,
        height=320 * rows,
        legend={"orientation": "h", "y": -0.12},
        **_LAYOUT,
    )
    if not panels:
        _empty(fig, "Scatter plots need at least 1 completed trial with a varying param.")
    return fig


def contour(
    study: Study, x: str | None = None, y: str | None = None, *, ranking: pd.Series | None = None
) -> Any:
    """One pair when ``x`` and ``y`` are given, else the most important pairs side by side."""
    from plotly.subplots import make_subplots

    pairs = [(x, y)] if x and y else data.important_pairs(study, ranking=ranking)
    surfaces = [s for s in (views.contour(study, a, b) for a, b in pairs) if s is not None]
    go = _go()
    fig = make_subplots(
        rows=1, cols=max(len(surfaces), 1), subplot_titles=[f"{s.x} vs {s.y}" for s in surfaces]
    )
    for i, s in enumerate(surfaces):
        fig.add_trace(
            go.Contour(
                x=list(s.grid_x),
                y=list(s.grid_y),
                z=[list(row) for row in s.z],
                colorscale=_COLORS,
                showscale=i == 0,
                colorbar={"title": {"text": study.metric}},
                contours={"coloring": "heatmap"},
                connectgaps=False,
            ),
            row=1,
            col=i + 1,
        )
        fig.add_trace(
            go.Scatter(
                x=list(s.points_x),
                y=list(s.points_y),
                mode="markers",
                marker={"size": 4, "color": "black", "opacity": 0.5},
                showlegend=False,
                name="trials",
            ),
            row=1,
            col=i + 1,
        )
        fig.update_xaxes(title_text=s.x, type="log" if s.x_log else "linear", row=1, col=i + 1)
        fig.update_yaxes(title_text=s.y, type="log" if s.y_log else "linear", row=1, col=i + 1)
    fig.update_layout(
        title="Contour of the metric over the most important pairs", height=420, **_LAYOUT
    )
    if not surfaces:
        _empty(fig, CONTOUR_NEEDS)
    return fig


def history(study: Study) -> Any:
    go = _go()
    frame = data.history(study)
    fig = go.Figure()
    ok = frame[frame["state"] == "ok"]
    fig.add_trace(
        go.Scatter(x=ok["number"], y=ok["value"], mode="markers", name="trial", marker={"size": 6})
    )
    fig.add_trace(
        go.Scatter(
            x=frame["number"],
            y=frame["best_so_far"],
            mode="lines",
            line={"shape": "hv", "color": "firebrick"},
            name="best so far",
        )
    )
    top = frame["value"].max() if frame["value"].notna().any() else 1.0
    for state, symbol in (("failed", "x"), ("pruned", "triangle-down")):
        sub = frame[frame["state"] == state]
        if len(sub):
            # Failed trials have no value: mark them along the top edge.
            ys = sub["value"].fillna(top) if state == "pruned" else pd.Series(top, index=sub.index)
            fig.add_trace(
                go.Scatter(
                    x=sub["number"],
                    y=ys,
                    mode="markers",
                    name=f"{state} ({len(sub)})",
                    marker={"symbol": symbol, "size": 9, "color": "grey"},
                )
            )
    fig.update_layout(
        title="Optimization history", xaxis_title="trial", yaxis_title=study.metric, **_LAYOUT
    )
    return fig


def importance(study: Study, ranking: pd.Series | None = None) -> Any:
    go = _go()
    ranking = data.importance(study) if ranking is None else ranking
    fig = go.Figure(
        go.Bar(x=list(ranking.values[::-1]), y=list(ranking.index[::-1]), orientation="h")
    )
    title = "Hyperparameter importance (permutation importance of a random-forest surrogate)"
    fig.update_layout(
        title=title, xaxis_title=f"share of {study.metric} explained", height=360, **_LAYOUT
    )
    if ranking.empty:
        _empty(fig, IMPORTANCE_NEEDS)
    return fig


def tradeoffs(study: Study) -> Any:
    from plotly.subplots import make_subplots

    go = _go()
    fig = make_subplots(rows=1, cols=len(data.COST_METRICS), subplot_titles=data.COST_METRICS)
    for i, cost in enumerate(data.COST_METRICS):
        frame = data.tradeoff(study, cost)
        front = frame[frame["pareto"]]
        fig.add_trace(
            go.Scatter(
                x=frame["cost"],
                y=frame["value"],
                mode="markers",
                marker={"size": 5, "color": "lightsteelblue"},
                text=[f"trial {n}" for n in frame["number"]],
                name="trials",
                showlegend=i == 0,
            ),
            row=1,
            col=i + 1,
        )
        fig.add_trace(
            go.Scatter(
                x=front["cost"],
                y=front["value"],
                mode="lines+markers",
                line={"shape": "hv", "color": "crimson"},
                text=[f"trial {n}" for n in front["number"]],
                name="Pareto front",
                showlegend=i == 0,
            ),
            row=1,
            col=i + 1,
        )
        fig.update_xaxes(title_text=cost, type="log", row=1, col=i + 1)
        fig.update_yaxes(title_text=study.metric if i == 0 else None, row=1, col=i + 1)
    fig.update_layout(title="Trade-offs: metric against cost", height=420, **_LAYOUT)
    return fig
