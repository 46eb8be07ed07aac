"""examples/tuning.ipynb runs top to bottom on a small budget."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import TRAIN_SAMPLE, VALID_SAMPLE

NOTEBOOK = Path(__file__).parents[1] / "examples" / "tuning.ipynb"


@pytest.mark.slow
def test_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNETRACK_EXAMPLE_FAST", "1")
    monkeypatch.setenv("TUNETRACK_TRAIN", str(TRAIN_SAMPLE))
    monkeypatch.setenv("TUNETRACK_VALID", str(VALID_SAMPLE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nbformat's validation warnings included
        nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    plots = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plots) == 5  # each plot_* cell displays a figure inline
    # ... with a static image too, for GitHub and exported HTML (no JavaScript there).
    assert all(o["data"]["image/png"].startswith("iVBOR") for o in plots)  # base64 PNG
    # No library noise (MLflow's INFO lines, tqdm's IProgress warning): on stderr only
    # tunetrack's own data notes and MLflow's one-line registry confirmations.
    said = [o["text"] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    lines = [line for text in said for line in text.splitlines() if line.strip()]
    kept = ("tunetrack: ", "Successfully registered model", "Created version")
    noise = [line for line in lines if not line.startswith(kept)]
    assert noise == [], "\n".join(noise)
    # The tune cell shows its progress: trials done of the budget and the best so far.
    shown = [o["data"].get("text/html", "") for o in outputs if "data" in o]
    assert any("6/6 trials" in h and "best rmse" in h for h in shown)
    # The selection table includes the chosen trial.
    select_cell = next(c for c in nb.cells if "tunetrack.select(" in c.source)
    table = select_cell.outputs[-1]["data"]["text/plain"]
    assert "chosen" in table
    assert "True" in table
    assert (tmp_path / "tunetrack-report" / "report.html").exists()
    # The last cell predicts two trips in minutes with the registered model.
    last = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    minutes = [
        float(x) for x in last.replace("array(", "").replace(")", "").strip("[] \n").split(",")
    ]
    assert len(minutes) == 2
    assert all(1 <= m <= 60 for m in minutes)
