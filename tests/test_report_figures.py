"""The report's figures read from their plotly JSON: colour bars, ticks, counts, empty
panels, and the files beside them (CSV types, PNGs drawn without warnings)."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from tunetrack.report import build_report, figures
from tunetrack.space import describe_space
from tunetrack.study import Study, TrialRecord

SPACE = describe_space(
    {
        "learning_rate": "loguniform(-3, -1.2)",  # 0.05-0.3: under a decade
        "max_depth": "quniform(2, 12, 1)",
        "subsample": "uniform(0.5, 1.0)",
        "objective": "reg:squarederror",
    }
)


def _study(n: int, *, outlier: bool = False) -> Study:
    trials = []
    for i in range(n):
        lr = 0.05 * (0.28 / 0.05) ** (i / max(n - 1, 1))
        params = {"learning_rate": lr, "max_depth": 2 + i % 9, "subsample": 0.5 + 0.05 * (i % 10)}
        rmse = 6.0 + 0.01 * ((i * 7) % 13)
        if outlier and i == n - 1:
            rmse = 60.0
        metrics = {"rmse": rmse, "fit_seconds": 1.0 + i, "fit_cpu_seconds": 0.5 + i}
        trials.append(
            TrialRecord(i, f"run{i}", "ok", params, {**metrics, "model_bytes": 1e3 * (i + 1)}, 0, 1)
        )
    return Study("study", "1", "exp", "xgboost", "rmse", tuple(trials), SPACE, {}, "sqlite:///x")


def _json(fig: Any) -> dict[str, Any]:
    return fig.to_plotly_json()


def _axis_of(fig: dict[str, Any], param: str) -> dict[str, Any]:
    layout = fig["layout"]
    for key, value in layout.items():
        if key.startswith("xaxis") and value.get("title", {}).get("text") == param:
            return value
    raise AssertionError(f"no x axis titled {param}")


def test_scatter_has_a_colour_bar_the_best_starred_and_readable_ticks() -> None:
    study = _study(20)
    fig = _json(figures.scatter(study))
    dots = [t for t in fig["data"] if t["name"] in ("learning_rate", "max_depth", "subsample")]
    assert [t["marker"]["showscale"] for t in dots] == [True, False, False]  # one bar
    assert dots[0]["marker"]["colorbar"]["title"]["text"] == "trial"
    stars = [t for t in fig["data"] if t["name"].startswith("best trial")]
    assert len(stars) == 3
    assert {s["marker"]["symbol"] for s in stars} == {"star"}
    assert stars[0]["text"] == [f"best: trial {study.best.number}"]
    depth = _axis_of(fig, "max_depth")
    assert depth["tickmode"] == "linear"
    assert depth["dtick"] == 1  # 2-10: nine whole-number ticks
    assert depth["tick0"] == 0
    assert depth["tickformat"] == "d"
    lr = _axis_of(fig, "learning_rate")
    assert lr["type"] == "log"
    assert lr["ticktext"] == ["0.05", "0.07", "0.1", "0.15", "0.2"]
    assert "dtick" not in _axis_of(fig, "subsample")  # a real-valued param keeps plotly's


@pytest.mark.parametrize(("outlier", "clipped"), [(False, 0), (True, 1)])
def test_scatter_keeps_its_metric_axis_on_the_bulk(outlier: bool, clipped: int) -> None:
    fig = _json(figures.scatter(_study(20, outlier=outlier)))
    yaxes = [v for k, v in fig["layout"].items() if k.startswith("yaxis")]
    edges = [t for t in fig["data"] if t["name"].endswith("off the scale")]
    if clipped:
        # The bulk (6.0-6.12) fills the axis; the 60.0 trial sits on its top edge.
        assert all(a["range"][1] < 7.0 for a in yaxes)
        assert len(edges) == 3  # one triangle per panel
        assert all(t["text"] == ["trial 19: 60"] for t in edges)
        assert "1 trial above" in fig["layout"]["title"]["text"]
    else:
        assert all("range" not in a for a in yaxes)
        assert not edges
        assert "above" not in fig["layout"]["title"]["text"]


@pytest.mark.parametrize(("outlier", "clipped"), [(False, 0), (True, 1)])
def test_parallel_coordinates_clip_an_outlier_and_say_so(outlier: bool, clipped: int) -> None:
    fig = _json(figures.parallel_coordinates(_study(20, outlier=outlier), top_k=None))
    line = fig["data"][0]["line"]
    assert line["showscale"] is True
    title = line["colorbar"]["title"]["text"]
    if clipped:
        assert line["cmax"] < 7.0  # the bulk (6.0-6.12) spans the scale, not 6-60
        assert "1 above" in title
        assert "clipped" in title
    else:
        assert title == "rmse"
        assert line["cmax"] == pytest.approx(max(line["color"]))
    assert fig["layout"]["title"]["text"] == "Parallel coordinates: all 20 completed trials"


@pytest.mark.parametrize(
    ("shown", "total", "words"),
    [
        (1, 1, "1 completed trial"),
        (3, 3, "all 3 completed trials"),
        (50, 60, "the best 50 of 60 completed trials"),
    ],
)
def test_counts_read_the_same_everywhere(shown: int, total: int, words: str) -> None:
    assert figures.parallel_count(shown, total) == words


def test_a_one_trial_study_says_what_each_empty_panel_needs(tmp_path: Path) -> None:
    study = _study(1)
    for fig, needs in (
        (figures.importance(study), figures.IMPORTANCE_NEEDS),
        (figures.contour(study), figures.CONTOUR_NEEDS),
    ):
        notes = [a["text"] for a in _json(fig)["layout"].get("annotations", [])]
        assert needs in notes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's layout warnings included
        path = build_report(study, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "1 trial," in text
    assert "1 trials" not in text
    assert "1 completed trial;" in text


def test_report_files_keep_real_types_and_draw_without_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_report(_study(12, outlier=True), tmp_path)
    with open(tmp_path / "top_trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    assert all(r["max_depth"].isdigit() for r in rows)
    assert all(not float(r["learning_rate"]).is_integer() for r in rows)
    assert "fit_cpu_seconds" in rows[0]
    for name in ("scatter", "parallel_coordinates", "importance", "contour"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    assert math.isfinite(float(rows[0]["rmse"]))
