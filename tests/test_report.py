"""The report end to end: from the tracking store to HTML, PNGs and study-run artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack import report
from tunetrack.cli import app
from tunetrack.report import FIGURES
from tunetrack.synthetic import synthetic_study


@pytest.mark.slow
def test_report_command_writes_offline_html_pngs_and_logs_them(tracking_uri: str) -> None:
    study = synthetic_study(200, experiment="synth", failed_every=30)
    result = CliRunner().invoke(app, ["report", "--experiment", "synth", "--out", "rep"])
    assert result.exit_code == 0, result.output
    page = Path("rep/report.html").read_text()
    # plotly.js is inline, no <script src>: the file works offline (the browser test checks).
    assert "<script src=" not in page
    assert "Plotly.newPlot" in page
    for name in FIGURES:
        assert f'data-figure="{name}"' in page
        assert Path(f"rep/{name}.png").stat().st_size > 5000
    assert study.best.run_id in page  # the top-trials table carries run ids
    logged = {a.path for a in MlflowClient(tracking_uri).list_artifacts(study.run_id, "report")}
    assert "report/report.html" in logged
    assert {f"report/{name}.png" for name in FIGURES} <= logged


def test_report_errors_are_one_line() -> None:
    result = CliRunner().invoke(app, ["report", "--experiment", "nope"])
    assert result.exit_code == 2
    assert "no experiment named 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_report_functions_return_figures(tracking_uri: str) -> None:
    synthetic_study(40, experiment="synth")
    study = tunetrack.load_study(experiment="synth")
    for fig in (
        report.plot_parallel_coordinates(study),
        report.plot_scatter(study),
        report.plot_contour(study),
        report.plot_contour(study, "learning_rate", "subsample"),
        report.plot_history(study),
        report.plot_importance(study),
        report.plot_tradeoffs(study),
    ):
        assert fig.data, fig.layout.title.text
        assert hasattr(fig, "_repr_html_")
    contour = report.plot_contour(study, "learning_rate", "subsample")
    assert contour.layout.xaxis.type == "log"
    assert contour.layout.yaxis.type == "linear"
    assert not report.importance(study).empty


@pytest.mark.slow
def test_write_report_logs_under_the_study_run_unless_told_not_to(tracking_uri: str) -> None:
    study = synthetic_study(20, experiment="synth")
    quiet = report.write_report(study, "quiet", log=False)
    assert quiet == Path("quiet/report.html")
    assert quiet.exists()
    assert not MlflowClient(tracking_uri).list_artifacts(study.run_id, "report")
    path = report.write_report(study, "rep")
    assert path.exists()
    logged = {a.path for a in MlflowClient(tracking_uri).list_artifacts(study.run_id, "report")}
    assert "report/report.html" in logged
