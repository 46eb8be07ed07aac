"""Crashes, interrupts, time limits and concurrent writers, done for real: subprocesses,
signals and a shared SQLite store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hyperopt import space_eval
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.report.data import history
from tunetrack.samplers import Suggestion
from tunetrack.samplers.hyperopt import HyperoptSampler
from tunetrack.space import build_space, flatten_params
from tunetrack.storage import schema

from .conftest import FAST

# Trials slow enough (a second or more) to be caught in flight.
SLOW = [
    "model.num_boost_round=1000",
    "model.early_stopping_rounds=1000",
    "space.learning_rate=loguniform(-9, -8)",
    "space.max_depth=quniform(6, 8, 1)",
    "space.min_child_weight=loguniform(-1, 0)",  # small leaves: many of them, slow rounds
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tunetrack.cli", *args]


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


# Backstops against a hang, never a speed check: every wait below ends on its event (a run
# in the store, a process exiting); on a loaded machine (a benchmark beside the tests)
# the slow trials took minutes.
BACKSTOP = 900


def _wait_for_running_trial(client: MlflowClient, number: int, proc: subprocess.Popen) -> None:
    """Return as soon as trial ``number``'s run is RUNNING in the store: its run is
    created just before it starts, so a signal sent now finds it in flight (whether it
    is still setting up or boosting makes no difference to what it leaves behind)."""
    deadline = time.monotonic() + BACKSTOP
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for experiment in client.search_experiments():
            runs = client.search_runs(
                [experiment.experiment_id],
                f"tags.`tunetrack.trial` = '{number}' and attributes.status = 'RUNNING'",
            )
            if runs:
                return
        time.sleep(0.1)
    raise AssertionError(f"trial {number} never started")


def _trial_runs(client: MlflowClient, study_run_id: str) -> list:
    experiment_id = client.get_run(study_run_id).info.experiment_id
    return client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{study_run_id}'")


@pytest.mark.slow
@pytest.mark.integration  # a whole study killed and resumed: minutes on 2 cores
def test_sigkill_mid_trial_then_resume_loses_nothing(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "5", "--quiet", *_sets(SLOW)]
    client = MlflowClient(tracking_uri)
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_running_trial(client, 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=BACKSTOP)
    finally:
        proc.kill()
    stale = tunetrack.load_study()
    assert [t.state for t in stale.trials] == ["ok", "ok", "running"]
    # The killed process's claim stays behind; its process is gone, so a resume on this
    # host takes it over at once instead of waiting for it to lapse.
    lease = client.get_run(stale.run_id).data.tags[schema.TAG_LEASE_OWNER]
    assert lease.split(":")[1] == str(proc.pid)

    resumed = subprocess.run(
        _cli(*args, "--resume"), capture_output=True, text=True, timeout=BACKSTOP, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    study = tunetrack.load_study()
    assert study.run_id == stale.run_id
    numbers = [t.number for t in study.trials]
    assert numbers == sorted(set(numbers))  # no trial number twice
    states = [t.state for t in study.trials]
    assert states.count("ok") == 5  # exactly max_evals finished trials
    assert states == ["ok", "ok", "killed", "ok", "ok", "ok"]
    killed = client.get_run(study.trials[2].run_id)
    assert killed.info.status == "KILLED"
    assert client.get_run(study.run_id).info.status == "FINISHED"
    assert client.get_run(study.run_id).data.metrics["n_trials"] == 6
    # The earlier trials were not run again: their runs are the same ones.
    assert [t.run_id for t in study.trials[:2]] == [t.run_id for t in stale.trials[:2]]


@pytest.mark.slow
@pytest.mark.integration  # a whole study stopped and resumed: minutes on 2 cores
def test_ctrl_c_marks_the_trial_killed_and_prints_the_resume_command(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "4", "--quiet", *_sets(SLOW)]
    client = MlflowClient(tracking_uri)
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_running_trial(client, 1, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=BACKSTOP)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert "resume with: tunetrack tune" in stderr
    study = tunetrack.load_study()
    # The command names the study, so it resumes this one even if another starts later.
    assert stderr.strip().splitlines()[-1].endswith(f"--resume --study {study.run_id}")
    assert [t.state for t in study.trials] == ["ok", "killed"]
    assert client.get_run(study.trials[1].run_id).info.status == "KILLED"
    assert client.get_run(study.run_id).info.status == "KILLED"
    assert schema.TAG_LEASE_OWNER not in client.get_run(study.run_id).data.tags  # released

    resumed = tunetrack.tune(
        train=train, valid=valid, max_evals=4, overrides=SLOW, progress=False, resume=True
    )
    assert [t.state for t in resumed.trials] == ["ok", "killed", "ok", "ok", "ok"]
    assert tunetrack.load_study() == resumed


def test_resume_feeds_finished_trials_to_the_optimizer(sample_paths: tuple[str, str]) -> None:
    """The stored typed params rebuild the engine's history: every trial, with its loss."""
    study = tunetrack.tune(
        train=sample_paths[0],
        valid=sample_paths[1],
        max_evals=4,
        progress=False,
        overrides=[*FAST, "space.booster=choice(['gbtree', 'dart'])"],
    )
    reloaded = tunetrack.load_study(study.run_id)
    sampler = HyperoptSampler(reloaded.search_space, algo="tpe", seed=1)
    space = build_space(reloaded.search_space)
    for trial in reloaded.trials:
        vals = sampler.vals_for(trial.params)
        point = {k: v[0] for k, v in vals.items() if v}
        assert flatten_params(space_eval(space, point)) == trial.params
        sampler.tell(Suggestion(trial.params), trial.metrics["rmse"])
    nxt = sampler.ask()
    assert nxt.params["booster"] in ("gbtree", "dart")
    assert 2 <= nxt.params["max_depth"] <= 6


def test_resume_refuses_a_different_study(sample_paths: tuple[str, str]) -> None:
    train, valid = sample_paths
    tunetrack.tune(train=train, valid=valid, max_evals=1, overrides=FAST, progress=False)
    with pytest.raises(tunetrack.ConfigError, match=r"model\.num_boost_round"):
        tunetrack.tune(
            train=train,
            valid=valid,
            max_evals=2,
            progress=False,
            resume=True,
            overrides=[*FAST, "model.num_boost_round=31"],
        )
    with pytest.raises(tunetrack.ConfigError, match="valid data differs"):
        tunetrack.tune(
            train=train, valid=train, max_evals=2, progress=False, resume=True, overrides=FAST
        )
    resumed = tunetrack.tune(
        train=train, valid=valid, max_evals=3, progress=False, resume=True, overrides=FAST
    )
    assert len(resumed.trials) == 3


def test_resume_with_no_study_is_a_clear_error() -> None:
    with pytest.raises(tunetrack.TrackingError, match="no experiment named"):
        tunetrack.tune(max_evals=1, progress=False, resume=True)


@pytest.mark.slow
def test_trial_timeout_fails_the_trial_and_the_search_goes_on(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    result = subprocess.run(
        _cli(
            "tune",
            "--train",
            train,
            "--valid",
            valid,
            "--max-evals",
            "2",
            "--quiet",
            *_sets([*SLOW, "search.trial_timeout=0.5"]),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Every trial failed: exit 1 with the first reason, in one line.
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "every trial failed" in line
    ]
    assert "search.trial_timeout=0.5" in result.stderr
    study = tunetrack.load_study()
    assert [t.state for t in study.trials] == ["failed", "failed"]  # the search went on
    assert "search.trial_timeout=0.5" in study.trials[0].error
    client = MlflowClient(tracking_uri)
    run = client.get_run(study.trials[0].run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["tunetrack.error"] == study.trials[0].error
    assert client.get_run(study.run_id).info.status == "FAILED"


def test_nan_metric_fails_the_trial(sample_paths: tuple[str, str]) -> None:
    # A huge learning rate with no regularisation diverges to inf/NaN predictions.
    study = tunetrack.tune(
        train=sample_paths[0],
        valid=sample_paths[1],
        max_evals=3,
        progress=False,
        overrides=[
            *FAST,
            "space.learning_rate=choice([0.3, 1.0e300])",
            "space.reg_lambda=0",
            "space.reg_alpha=0",
        ],
    )
    failed = [t for t in study.trials if t.state == "failed"]
    ok = [t for t in study.trials if t.state == "ok"]
    assert failed
    assert ok
    assert all(t.params["learning_rate"] == 1.0e300 for t in failed)
    assert all(np.isfinite(t.metrics["rmse"]) for t in ok)


@pytest.mark.slow
def test_two_studies_write_one_sqlite_store_at_once(
    sample_paths: tuple[str, str], tmp_path: Path
) -> None:
    """Two processes start on a fresh store at the same moment (schema creation and
    experiment creation race too) and write many small trials each."""
    train, valid = sample_paths
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    common = [
        "tune",
        "--train",
        train,
        "--valid",
        valid,
        "--quiet",
        "--max-evals",
        "25",
        "--experiment",
        "shared",
        *_sets([*FAST, "model.num_boost_round=3"]),
    ]
    procs = [
        subprocess.Popen(
            _cli(*common, "--seed", str(seed)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    # Meanwhile, read the store the way report and select do.
    reads = 0
    while any(p.poll() is None for p in procs):
        time.sleep(0.05)
        try:
            study = tunetrack.load_study(experiment="shared", tracking_uri=uri)
        except tunetrack.TrackingError:
            continue  # no study (or its config artifact) written yet
        if study.completed:
            assert tunetrack.select(study, policy="pareto").chosen in study.completed
            assert len(history(study)) == len(study.trials)
            reads += 1
    outputs = [p.communicate(timeout=BACKSTOP) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
        assert "locked" not in stderr
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("shared")
    studies = client.search_runs([experiment.experiment_id], "tags.`tunetrack.role` = 'study'")
    assert len(studies) == 2
    for study_run in studies:
        assert study_run.info.status == "FINISHED"
        assert len(_trial_runs(client, study_run.info.run_id)) == 25
    assert reads > 0


@pytest.mark.slow
def test_unwritable_artifact_store_is_a_clear_error(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    # /proc refuses new directories even to root: a real read-only location.
    client = MlflowClient(tracking_uri)
    client.create_experiment("ro", artifact_location="file:///proc/tunetrack-artifacts")
    result = subprocess.run(
        _cli(
            "tune",
            "--train",
            sample_paths[0],
            "--valid",
            sample_paths[1],
            "--quiet",
            "--experiment",
            "ro",
            "--max-evals",
            "1",
            *_sets(FAST),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot write the study's artifacts" in lines[0]
    experiment_id = client.get_experiment_by_name("ro").experiment_id
    assert client.search_runs([experiment_id]) == []  # nothing half-written is visible
