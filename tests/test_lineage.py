"""A study run says who ran it, from what code, with which library versions; `select`
compares those versions with the running ones before trusting its reproduction check."""

from __future__ import annotations

import getpass
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.storage.lineage import VERSIONED

from .shipping import tune_sample


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def _expected_versions() -> dict[str, str]:
    versions = {p: importlib.metadata.version(p) for p in VERSIONED if p != "tunetrack"}
    return {**versions, "tunetrack": tunetrack.__version__, "python": platform.python_version()}


@pytest.mark.parametrize("checkout", [True, False], ids=["git-checkout", "no-checkout"])
def test_the_study_run_records_its_lineage(
    tracking_uri: str, tmp_path: Path, checkout: bool
) -> None:
    if checkout:  # the working directory (tmp_path) is the user's project, in git
        _git("init", "-q", "-b", "main", str(tmp_path))
        (tmp_path / "study.yaml").write_text("search: {max_evals: 1}\n")
        _git("-C", str(tmp_path), "add", "study.yaml")
        _git("-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "x")
    study = tune_sample(max_evals=1)
    tags = MlflowClient(tracking_uri).get_run(study.run_id).data.tags
    expected = {
        "mlflow.user": getpass.getuser(),
        # pytest's own script, or MLflow's name for code without one (an xdist worker).
        "mlflow.source.name": (
            str(Path(sys.argv[0]).resolve()) if sys.argv[0] not in ("", "-c") else "<console>"
        ),
        "mlflow.source.type": "LOCAL",
        **{f"tunetrack.version.{k}": v for k, v in _expected_versions().items()},
    }
    if checkout:
        expected["mlflow.source.git.commit"] = _git("-C", str(tmp_path), "rev-parse", "HEAD")
        expected["mlflow.source.git.branch"] = "main"
    else:
        assert "mlflow.source.git.commit" not in tags
    for key, value in expected.items():
        assert tags.get(key) == value, key
    assert set(_expected_versions()) == {*VERSIONED, "python"}  # every library it names


# How the study's recorded versions stand against the running ones, and what a refit
# that does not reproduce then blames.
DRIFT = {
    "changed": ("0.0.1", "install the study's versions"),
    "same": (None, "the libraries are the versions the study recorded, so the data differ"),
    "not-recorded": ("", "it recorded no versions"),
}


@pytest.mark.slow
@pytest.mark.parametrize("drift", list(DRIFT))
def test_select_says_when_versions_differ_before_trusting_its_refit(
    tracking_uri: str, drift: str
) -> None:
    recorded, blame = DRIFT[drift]
    study = tune_sample(max_evals=1)
    client = MlflowClient(tracking_uri)
    if recorded == "":  # a study from before versions were recorded
        for key in list(client.get_run(study.run_id).data.tags):
            if key.startswith("tunetrack.version."):
                client.delete_tag(study.run_id, key)
    elif recorded is not None:  # as if tuned elsewhere, with another xgboost
        client.set_tag(study.run_id, "tunetrack.version.xgboost", recorded)
    runner = CliRunner()
    running = importlib.metadata.version("xgboost")
    note = f"(xgboost 0.0.1 -> {running}); the refit checks it still reproduces"
    shown = runner.invoke(app, ["select", "--study", study.run_id, "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert (note in shown.stderr) == (drift == "changed"), shown.stderr
    if drift == "changed":  # other versions that give the same result: it ships
        shipped = runner.invoke(app, ["select", "--study", study.run_id])
        assert shipped.exit_code == 0, shipped.output
        assert note in shipped.stderr
        assert "difference 0.0e+00" in shipped.stdout
    # A trial whose logged metric the refit cannot reproduce: the error names the cause.
    trial = study.trials[0]
    client.log_metric(trial.run_id, "rmse", trial.metrics["rmse"] + 1.0, step=1)
    failed = runner.invoke(app, ["select", "--study", study.run_id, "--trial", "0"])
    assert failed.exit_code == 2, failed.output
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 + (drift == "changed"), failed.stderr
    assert "the refit scores rmse" in lines[-1]
    assert blame in lines[-1]
    if drift == "changed":
        assert f"xgboost 0.0.1 -> {running}" in lines[-1]
