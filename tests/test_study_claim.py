"""One live writer per study: real processes on one SQLite store.

A study run carries a claim (``tunetrack.lease.*`` tags) while a process runs it; a second
runner is refused in one line naming the holder, the claim goes when the study ends, and
the study's summary (best trial, trial count, budget) is read from its stored trials.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.storage import Lease, schema
from tunetrack.storage.mlflow import MlflowStorage

from .test_robust import SLOW, _cli, _sets, _wait_for_running_trial

pytestmark = pytest.mark.slow

# Short claims, so a claim that was not renewed would lapse while the trials run.
TTL_SECONDS = "6"


def _args(train: str, valid: str, max_evals: int, *extra: str) -> list[str]:
    return [
        "tune", "--train", train, "--valid", valid, "--quiet", "--experiment", "claim",
        "--max-evals", str(max_evals), *_sets(SLOW), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "TUNETRACK_LEASE_SECONDS": TTL_SECONDS}


def _assert_summary_is_the_stored_truth(client: MlflowClient, study: tunetrack.Study) -> None:
    run = client.get_run(study.run_id)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # no number twice, none skipped
    true_best = min(study.completed, key=lambda t: t.metrics["rmse"])
    assert run.data.tags[schema.TAG_BEST_TRIAL_RUN] == true_best.run_id
    assert run.data.metrics["best_rmse"] == true_best.metrics["rmse"]
    assert run.data.metrics["n_trials"] == len(study.trials)
    assert schema.TAG_LEASE_OWNER not in run.data.tags  # released at the end


@pytest.mark.slow
@pytest.mark.integration  # two real processes racing for one running study
def test_a_second_runner_is_refused_while_the_study_runs(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    client = MlflowClient(tracking_uri)
    first = subprocess.Popen(
        _cli(*_args(train, valid, 3)),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_running_trial(client, 0, first)
        for extra in (["--max-evals", "6"],):  # a resume asking for a larger budget
            second = subprocess.run(
                _cli(*_args(train, valid, 3), "--resume", *extra),
                env=_env(),
                capture_output=True,
                text=True,
                timeout=600,  # a backstop: it is refused as soon as it reads the claim
                check=False,
            )
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert f"is being run by pid {first.pid} on host" in lines[0]
            assert "expires at" in lines[0]
        _, stderr = first.communicate(timeout=900)  # a backstop against a hang
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    study = tunetrack.load_study(experiment="claim")
    assert [t.state for t in study.trials] == ["ok", "ok", "ok"]
    _assert_summary_is_the_stored_truth(client, study)


@pytest.mark.integration  # two resumes racing over a whole study: minutes on 2 cores
def test_two_resumes_at_once_one_runs_the_other_is_refused(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    client = MlflowClient(tracking_uri)
    start = subprocess.run(
        _cli(*_args(train, valid, 1)), env=_env(), capture_output=True, text=True, check=False
    )
    assert start.returncode == 0, start.stderr
    procs = [
        subprocess.Popen(
            _cli(*_args(train, valid, 3), "--resume"),
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=900)[1] for p in procs]  # backstops
    finally:
        for proc in procs:
            proc.kill()
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outputs
    refused = outputs[codes.index(2)].strip().splitlines()
    assert len(refused) == 1, refused
    assert "study" in refused[0]
    assert "being run by" in refused[0] or "claimed by another process" in refused[0]
    study = tunetrack.load_study(experiment="claim")
    assert [t.state for t in study.trials] == ["ok"] * 3  # the budget, not twice over
    _assert_summary_is_the_stored_truth(client, study)
    run = client.get_run(study.run_id)
    # The new budget is on the study run; the param keeps the one it was created with.
    assert run.data.tags[schema.TAG_MAX_EVALS] == "3"
    assert study.config["search"]["max_evals"] == 3
    assert run.data.params["max_evals"] == "1"


def test_a_lapsed_claim_is_taken_over(
    sample_paths: tuple[str, str], tracking_uri: str, tmp_path: Path
) -> None:
    """A runner on another host that stopped renewing: refused until its claim lapses."""
    train, valid = sample_paths
    fast = ["model.num_boost_round=5", "space.max_depth=quniform(2, 4, 1)"]
    args = ["tune", "--quiet", "--train", train, "--valid", valid, *_sets(fast)]
    assert CliRunner().invoke(app, [*args, "--max-evals", "1"]).exit_code == 0
    study = tunetrack.load_study()
    storage = MlflowStorage(tracking_uri)
    lapse = time.time() + 3
    storage.write_lease(study.run_id, Lease("far-away-host:4242:tok", lapse))
    refused = CliRunner().invoke(app, [*args, "--max-evals", "2", "--resume"])
    assert refused.exit_code == 2, refused.output
    assert "pid 4242 on host far-away-host" in refused.stderr
    assert len(tunetrack.load_study().trials) == 1  # nothing was run or closed
    time.sleep(max(0.0, lapse - time.time()) + 0.1)  # the claim's own expiry, not a guess
    resumed = CliRunner().invoke(app, [*args, "--max-evals", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert [t.state for t in tunetrack.load_study().trials] == ["ok", "ok"]
    assert storage.read_lease(study.run_id) is None
