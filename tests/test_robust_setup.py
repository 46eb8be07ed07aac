"""Issue 19, kinds 4, 8 and 9: a study's set-up is all or nothing for its readers,
every interrupt says truthfully what it left, servers die with their parent, and a
shipped model names no build path.

The interrupts are real KeyboardInterrupts raised at the exact store call where the
issue's kill landed (in-process, so the instant is certain, not a race); the store, the
CLI and MLflow are the real ones. The process tests kill real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tunetrack.cli import app
from tunetrack.selection.flavor import MODEL_CODE, PACKAGE_DIR
from tunetrack.storage import schema

from .conftest import TRAIN_SAMPLE, VALID_SAMPLE, port_closed
from .shipping import ALIAS, MODEL_NAME, ShippedStudy, shipped_study

TUNE = ["tune", "--quiet", "--train", str(TRAIN_SAMPLE), "--valid", str(VALID_SAMPLE)]
TUNE += ["--max-evals", "2", "--set", "model.num_boost_round=5"]
EXPERIMENT = "nyc-taxi-duration"
BACKSTOP = 300  # seconds; every wait below ends on an event long before this


def _runs(uri: str, role: str | None = None) -> list[Any]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id])
    return [r for r in runs if role is None or r.data.tags.get(schema.TAG_ROLE) == role]


def _interrupt_at(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str, when: Callable[..., bool]
) -> list[int]:
    """Make ``cls.name`` raise KeyboardInterrupt (as Ctrl-C would) on the calls ``when``
    accepts; returns a list that counts the interrupts raised."""
    original = getattr(cls, name)
    raised: list[int] = []

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            raised.append(1)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, patched)
    return raised


def _is_space(run_id: str, value: Any, artifact_file: str) -> bool:
    return artifact_file == schema.SPACE_ARTIFACT


# -- kind 4: set-up ----------------------------------------------------------------------


def test_interrupted_between_the_two_artifacts_leaves_no_study(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's worst instant (config written, space not): the run is removed, the
    line says so, and every reader still works on the experiment."""
    assert CliRunner().invoke(app, TUNE).exit_code == 0  # an earlier, complete study
    before = {r.info.run_id for r in _runs(tracking_uri, schema.ROLE_STUDY)}
    with monkeypatch.context() as patch:
        _interrupt_at(patch, MlflowClient, "log_dict", _is_space)
        result = CliRunner().invoke(app, TUNE)
    assert result.exit_code == 130, result.output
    assert "was being set up; it was removed" in result.stderr
    assert "nothing was written" not in result.stderr
    assert {r.info.run_id for r in _runs(tracking_uri)} >= before
    assert not _runs(tracking_uri, schema.ROLE_SETUP)
    assert all(r.info.status != "RUNNING" for r in _runs(tracking_uri))
    for args in (["report", "--out", "r"], ["select", "--dry-run"], [*TUNE, "--resume"]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, (args, done.output)


def test_a_set_up_cut_short_twice_is_skipped_then_removed(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during set-up and again during its removal: the run stays, marked as a
    set-up; readers skip it, naming it by id says what to do, and the next tune (once
    its owner's claim has lapsed) removes it."""
    assert CliRunner().invoke(app, TUNE).exit_code == 0
    monkeypatch.setenv("TUNETRACK_LEASE_SECONDS", "1")
    with monkeypatch.context() as patch:
        _interrupt_at(patch, MlflowClient, "log_dict", _is_space)
        _interrupt_at(patch, MlflowClient, "delete_run", lambda *a, **k: True)
        result = CliRunner().invoke(app, TUNE)
    assert result.exit_code == 130, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "marked unfinished" in lines[0]
    [left] = _runs(tracking_uri, schema.ROLE_SETUP)
    assert left.info.status == "RUNNING"
    # Readers skip it: the latest *study* is the complete one.
    for args in (["report", "--out", "r"], ["select", "--dry-run"]):
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, (args, done.output)
    named = CliRunner().invoke(app, ["report", "--study", left.info.run_id])
    assert named.exit_code == 2
    assert "never finished setting up" in named.stderr
    assert len(named.stderr.strip().splitlines()) == 1
    # The next tune removes it once its claim has lapsed (1 s here).
    expires = float(left.data.tags[schema.TAG_LEASE_EXPIRES])
    while time.time() <= expires + 0.1:
        time.sleep(0.1)
    again = CliRunner().invoke(app, TUNE)
    assert again.exit_code == 0, again.output
    assert f"removed study run {left.info.run_id}" in again.stderr
    assert not _runs(tracking_uri, schema.ROLE_SETUP)


def test_a_second_interrupt_while_closing_says_the_study_stays_running(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during a trial, then again while the study is being closed: the line says
    the study stays RUNNING (not "nothing was recorded"), and --resume finishes it."""
    monkeypatch.setenv("TUNETRACK_LEASE_SECONDS", "1")
    with monkeypatch.context() as patch:
        # Ctrl-C as the second trial starts, and again as the study is closed KILLED.
        _interrupt_at(
            patch, MlflowClient, "create_run",
            lambda *a, **k: (k.get("tags") or {}).get(schema.TAG_TRIAL) == "1",
        )  # fmt: skip
        _interrupt_at(
            patch, MlflowClient, "set_terminated", lambda *a, **k: k.get("status") == "KILLED"
        )
        result = CliRunner().invoke(app, TUNE)
    assert result.exit_code == 130, result.output
    assert "stays RUNNING until --resume closes it" in result.stderr
    assert "resume with:" in result.stderr
    assert "nothing was" not in result.stderr
    [study] = _runs(tracking_uri, schema.ROLE_STUDY)
    assert study.info.status == "RUNNING"
    expires = float(study.data.tags[schema.TAG_LEASE_EXPIRES])  # its claim lapses (1 s)
    while time.time() <= expires + 0.1:
        time.sleep(0.1)
    resumed = CliRunner().invoke(app, [*TUNE, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    [study] = _runs(tracking_uri, schema.ROLE_STUDY)
    assert study.info.status == "FINISHED"
    assert all(r.info.status != "RUNNING" for r in _runs(tracking_uri))


def test_select_interrupted_while_logging_leaves_no_model_run_or_pending_model(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CliRunner().invoke(app, TUNE).exit_code == 0
    client = MlflowClient(tracking_uri)
    with monkeypatch.context() as patch:
        _interrupt_at(patch, MlflowClient, "log_model_artifacts", lambda *a, **k: True)
        result = CliRunner().invoke(app, ["select", "--register", "taxi"])
    assert result.exit_code == 130, result.output
    assert "model run cut short was removed" in result.stderr
    assert not _runs(tracking_uri, "model")
    assert all(r.info.status != "RUNNING" for r in _runs(tracking_uri))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert not client.search_logged_models([experiment.experiment_id])
    assert not client.search_registered_models()


@pytest.mark.slow
def test_select_sigterm_removes_its_model_run(tracking_uri: str) -> None:
    """A real `tunetrack select` process, SIGTERM'd while its model run is open."""
    assert CliRunner().invoke(app, TUNE).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunetrack.cli", "select", "--register", "taxi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + BACKSTOP
        while not _runs(tracking_uri, "model"):  # the model run exists: refit under way
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no model run appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=BACKSTOP)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:  # it finished before the signal landed: nothing to check
        pytest.fail("select finished before SIGTERM; the model run window was missed")
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not _runs(tracking_uri, "model")
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert not client.search_logged_models([experiment.experiment_id])


# -- kind 8: servers die with their parent -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_answering(port: int, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + BACKSTOP
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except OSError as err:
            if getattr(err, "code", None):  # an HTTP error is an answer
                return
        assert time.monotonic() < deadline, f"nothing answered on {port}"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["run_foreground", "tunetrack ui"])
def test_kill_9_of_the_parent_stops_its_server(how: str, tracking_uri: str) -> None:
    """kill -9 (no handler runs) of the process that started a server: the server's
    whole group stops. ``run_foreground`` is what ``serve`` and ``ui`` use."""
    port = _free_port()
    if how == "tunetrack ui":
        assert CliRunner().invoke(app, TUNE).exit_code == 0
        command = [sys.executable, "-m", "tunetrack.cli", "ui", "--port", str(port)]
    else:
        server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        command = [
            sys.executable,
            "-c",
            f"from tunetrack.processes import run_foreground; run_foreground({server!r})",
        ]
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_answering(port, parent)
        os.kill(parent.pid, signal.SIGKILL)  # the parent only, as a crash or OOM would
        parent.wait(timeout=BACKSTOP)
        assert port_closed(port, wait=BACKSTOP), "the server outlived its parent's kill -9"
    finally:
        if parent.poll() is None:
            parent.kill()


# -- kind 9: a shipped model names no build path -----------------------------------------


@pytest.fixture(scope="module")
def shipped(
    tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path
) -> Iterator[ShippedStudy]:
    yield from shipped_study(tmp_path_factory, _migrated_store)


def test_mlmodel_names_no_build_path_and_still_loads(
    shipped: ShippedStudy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped.uri)
    uri = f"models:/{MODEL_NAME}@{ALIAS}"
    local = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))
    text = (local / "MLmodel").read_text()
    for leak in ("tunetrack-ship-", str(PACKAGE_DIR), str(PACKAGE_DIR.parent), "/tmp/"):
        assert leak not in text.split("artifact_path:", 1)[-1].split("\n", 1)[-1], leak
    pyfunc = yaml.safe_load(text)["flavors"]["python_function"]
    assert pyfunc["model_code_path"] == "packaged_model.py"
    assert {a["uri"] for a in pyfunc["artifacts"].values()} == {
        a["path"] for a in pyfunc["artifacts"].values()
    }
    rows = __import__("pandas").read_parquet(VALID_SAMPLE).head(5)
    assert len(mlflow.pyfunc.load_model(uri).predict(rows)) == 5


def test_loading_a_model_writes_nothing_to_the_store(
    shipped: ShippedStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow writes ``registered_model_meta`` into a local store's model folder when it
    loads a models:/ URI in place; tunetrack loads a copy."""
    from tunetrack.serving import load_model

    from .badinput import store_state

    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped.uri)
    db = Path(shipped.uri.removeprefix("sqlite:///"))
    before = store_state(db, db.parent / "mlartifacts")
    load_model(f"models:/{MODEL_NAME}@{ALIAS}")
    assert store_state(db, db.parent / "mlartifacts") == before


@pytest.mark.slow
def test_a_model_carries_only_its_code_and_predicts_with_it_alone(
    shipped: ShippedStudy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's code/ holds the predictor's modules and no more, and a fresh process
    predicts with that code (tunetrack imported from inside the model, not from here)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped.uri)
    local = Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}@{ALIAS}", dst_path=str(tmp_path))
    )
    carried = {p.name for p in (local / "code" / "tunetrack").iterdir()}
    assert carried == set(MODEL_CODE)
    script = (
        "import sys, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model({str(local)!r})\n"
        f"rows = pd.read_parquet({str(VALID_SAMPLE)!r}).head(5)\n"
        "assert len(model.predict(rows)) == 5\n"
        "print(sys.modules['tunetrack'].__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=BACKSTOP,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].startswith(str(local / "code")), done.stdout
