"""Assemble the figures into one self-contained HTML page (plotly.js inline: works offline)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tunetrack.report.figures import plural
from tunetrack.study import Study

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1300px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.run { font-family: monospace; text-align: left; }
.meta { color: #555; } .note { color: #555; font-size: 0.9em; max-width: 900px; }
"""


def render(
    study: Study,
    figures: Mapping[str, tuple[str, Any, str]],
    top: pd.DataFrame,
    families: pd.DataFrame | None = None,
) -> str:
    """``figures``: name -> (heading, plotly figure, note); ``families``: one row per
    model family, shown when the study searched more than one. Returns the whole page."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    sections = []
    for name, (heading, fig, note) in figures.items():
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{name}",
            config={"displaylogo": False, "responsive": True},
        )
        sections.append(
            f'<section data-figure="{name}"><h2>{html.escape(heading)}</h2>'
            f'<p class="note">{html.escape(note)}</p>{div}</section>'
        )
    n_ok = len(study.completed)
    meta = (
        f"study run <code>{html.escape(study.run_id)}</code> in experiment "
        f"'{html.escape(study.experiment_name)}' &middot; model {html.escape(study.model)} "
        f"&middot; {plural(len(study.trials), 'trial')}, {n_ok} completed, "
        f"{study.n_failed} failed"
    )
    best = ""
    if n_ok:
        best = (
            f" &middot; best {html.escape(study.metric)} {study.best_value:.5g} "
            f"(trial {study.best.number})"
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>tunetrack report: {html.escape(study.run_id)}</title>"
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>tunetrack study report</h1><p class='meta'>{meta}{best}</p>"
        f"{_families_section(families)}{''.join(sections)}"
        f"<section data-table='top'><h2>Top trials</h2>{_table(top)}</section>"
        "</body></html>"
    )


def _families_section(families: pd.DataFrame | None) -> str:
    if families is None or len(families) < 2:
        return ""
    return (
        "<section data-table='families'><h2>Model families</h2><p class='note'>Each "
        "family's trials in this one search; TPE spends more trials on the families that "
        f"do well.</p>{_table(families)}</section>"
    )


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            cls = " class='run'" if col == "run_id" else ""
            cells.append(f"<td{cls}>{html.escape(_cell(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.5g}"
    return str(value)
