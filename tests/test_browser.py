"""Real headless Chromium (Debian's, driven by Playwright): the report draws, the UI loads."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunetrack.report import FIGURES, build_report
from tunetrack.synthetic import synthetic_study

from .conftest import port_closed

# A real browser (and for the UI test an MLflow server): seconds each, so not in test-fast.
# A real Chromium and a real MLflow server: outside services (`make test-integration`).
pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHROMIUM = os.environ.get("TUNETRACK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Parallel coordinates need WebGL: software rendering stands in for the GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
SHOTS = os.environ.get("TUNETRACK_SCREENSHOTS")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives each browser a fresh temporary profile (--user-data-dir).
        chrome = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chrome
        chrome.close()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def test_report_draws_every_figure_without_console_errors(browser: Any, tmp_path: Path) -> None:
    study = synthetic_study(60, experiment="synth", failed_every=10)
    path = build_report(study, tmp_path / "rep")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.set_default_timeout(300_000)  # a generous backstop on a busy machine, not a pace
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    drawn = page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('section[data-figure]'))
            .map(s => [s.dataset.figure, {
                plot: !!s.querySelector('.js-plotly-plot .main-svg'),
                marks: s.querySelectorAll('path.point, path.js-line, g.contourlevel, '
                    + 'g.bars path, canvas').length,
            }]))"""
    )
    assert set(drawn) == set(FIGURES)
    for name, found in drawn.items():
        assert found["plot"], name
        assert found["marks"] > 0, name
    assert errors == []
    _shot(page, tmp_path, "report.png")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_opens_the_runs_view_with_named_study_and_trials(
    browser: Any, tmp_path: Path, tracking_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    study = synthetic_study(12, experiment="synth")
    client = MlflowClient(tracking_uri)
    # The experiment says it is model training, so MLflow 3 opens its runs table (without a
    # kind it guesses the GenAI layout, with its assistant panel).
    experiment = client.get_experiment(study.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    study_name = client.get_run(study.run_id).info.run_name
    assert study_name.startswith("xgboost 20")
    assert study_name.endswith(" UTC")
    port = _free_port()
    cli = [sys.executable, "-m", "tunetrack.cli", "ui", "--port", str(port)]
    proc = subprocess.Popen(
        [*cli, "--experiment", "synth"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        url = f"http://127.0.0.1:{port}/#/experiments/{study.experiment_id}/runs"
        assert url in first
        # A backstop only: MLflow's server took 66 s to answer at load 10 on 2 cores.
        deadline = time.monotonic() + 600
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        page.set_default_timeout(300_000)
        page.goto(first.split("MLflow UI: ", 1)[1].strip(), wait_until="commit")  # the link
        # The classic runs table (not the GenAI overview), the study under its readable name.
        page.get_by_text(study_name).first.wait_for()
        text = page.evaluate("() => document.body.innerText")
        assert "Training runs" in text
        assert "Run Name" in text
        assert "13 matching runs" in text  # the study and its 12 trials
        _shot(page, tmp_path, "mlflow-ui.png")
        # MLflow nests trials under their study and keeps its expanded state in the
        # browser, not the link: one click on the study row's expander lists them.
        name_cell = page.locator(".ag-cell", has_text=study_name).first
        name_cell.locator("button").first.click()
        page.get_by_text("trial-0003").first.wait_for()
        assert "trial-0011" in page.evaluate("() => document.body.innerText")
        _shot(page, tmp_path, "mlflow-ui-trials.png")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert port_closed(port), "stopping `tunetrack ui` left the MLflow server running"
