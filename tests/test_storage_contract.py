"""The storage contract, run over every backend: MLflow (SQLite) and in-memory.

Each test states what the study loop, resume and ``load_study`` rely on; a new backend
passes this file before it is used. The MLflow-only part checks that tunetrack leaves a
store it did not create exactly as it found it. ``make test-compat`` runs this file
against the oldest MLflow the project supports too.
"""

from __future__ import annotations

import math
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import tunetrack
from tunetrack._core import TrialState
from tunetrack.exceptions import StudyClaimedError, TrackingError
from tunetrack.storage import (
    DatasetRecord,
    Lease,
    StudyRecord,
    StudyRef,
    StudyStorage,
    TrialWrite,
    open_storage,
    schema,
)
from tunetrack.storage.in_memory import InMemoryStorage
from tunetrack.storage.mlflow import MlflowStorage
from tunetrack.study import Study
from tunetrack.study.lease import claim_study

from .conftest import FAST

SPACE = {"max_depth": {"quniform": {"low": 2, "high": 6, "q": 1}, "type": "int"}}
CONFIG = {"search": {"max_evals": 3}, "model": {"name": "xgboost"}}


@pytest.fixture(params=["mlflow", "memory"])
def storage(request: pytest.FixtureRequest, tracking_uri: str) -> StudyStorage:
    if request.param == "memory":
        return InMemoryStorage()
    return MlflowStorage(tracking_uri)


def _record(**changes: object) -> StudyRecord:
    frame = pd.DataFrame({"x": [1.0, 2.0, None], "y": [0.5, 1.5, 2.5]})
    fields: dict[str, object] = {
        "model": "xgboost",
        "engine": "hyperopt",
        "tags": {schema.TAG_ENGINE: "hyperopt"},
        "params": {"metric": "rmse", "max_evals": 3, "timeout": None, "rate": 0.1},
        "config": CONFIG,
        "space": SPACE,
        "datasets": [DatasetRecord("t.parquet", "train", "/data/t.parquet", "ab" * 32, frame, "y")],
    }
    fields.update(changes)
    return StudyRecord(**fields)  # type: ignore[arg-type]


def _study(storage: StudyStorage) -> StudyRef:
    experiment_id = storage.experiment_id("contract")
    run_id = storage.create_study(experiment_id, _record())
    return StudyRef(run_id=run_id, experiment_id=experiment_id, model="xgboost")


def test_a_study_run_carries_its_record(storage: StudyStorage) -> None:
    ref = _study(storage)
    run = storage.get_run(ref.run_id)
    assert run.status == "RUNNING"
    assert run.tags[schema.TAG_ROLE] == schema.ROLE_STUDY
    assert run.tags[schema.TAG_MODEL] == "xgboost"
    assert run.tags[schema.TAG_ENGINE] == "hyperopt"
    assert "tuned with hyperopt" in run.tags[schema.TAG_NOTE]
    # Params are text as MLflow keeps them: ints without ".0", floats exact, None as text.
    assert run.params["max_evals"] == "3"
    assert run.params["rate"] == "0.1"
    assert run.params["timeout"] == "None"
    assert run.params["data.train_sha256"] == "ab" * 32
    assert storage.load_json_artifact(ref.run_id, schema.CONFIG_ARTIFACT) == CONFIG
    assert storage.load_json_artifact(ref.run_id, schema.SPACE_ARTIFACT) == SPACE
    assert storage.latest_study("contract").run_id == ref.run_id
    assert storage.experiment_name(ref.experiment_id) == "contract"


@pytest.mark.parametrize(
    ("state", "status", "error"),
    [
        (TrialState.OK, "FINISHED", None),
        (TrialState.PRUNED, "FINISHED", None),
        (TrialState.FAILED, "FAILED", "ValueError: boom"),
        (TrialState.KILLED, "KILLED", "interrupted"),
    ],
)
def test_a_trial_is_written_and_read_back_field_by_field(
    storage: StudyStorage, state: TrialState, status: str, error: str | None
) -> None:
    ref = _study(storage)
    run_id, start_ms = storage.start_trial(ref, 7, model="xgboost")
    running = storage.get_run(run_id)
    assert running.status == "RUNNING"
    assert running.tags[schema.TAG_STATE] == "running"
    assert running.tags[schema.TAG_PARENT] == ref.run_id
    assert running.tags[schema.TAG_RUN_NAME] == "trial-0007"
    assert running.start_time == start_ms
    params = {"max_depth": 4, "rate": 0.1, "booster": None}
    write = TrialWrite(
        state=state,
        params=params,
        ui_params=schema.ui_params(params, {}) | {"booster": schema.ABSENT_TEXT},
        metrics={"rmse": 5.5, "fit_seconds": 0.25, "odd": math.nan},
        tags={schema.TAG_PRUNED_AT: "20"},
        error=error,
        curve=[(0, 9.0), (5, 7.5), (10, math.inf), (12, 5.5)],
    )
    end_ms = storage.finish_trial(run_id, write)
    run = storage.get_run(run_id)
    assert run.status == status
    assert run.end_time == end_ms >= start_ms
    assert run.tags[schema.TAG_STATE] == str(state)
    assert run.tags[schema.TAG_TRIAL] == "7"
    assert run.tags[schema.TAG_PRUNED_AT] == "20"
    assert run.tags.get(schema.TAG_ERROR) == error
    assert run.params == {"max_depth": "4", "rate": "0.1", "booster": "(absent)"}
    # A pruned trial's scores are partial: kept off the headline name, so MLflow's charts
    # of rmse compare completed trials only; costs keep their names.
    score_name = "rmse_at_prune" if state == TrialState.PRUNED else "rmse"
    assert run.metrics[score_name] == 5.5
    assert ("rmse" in run.metrics) == (state != TrialState.PRUNED)
    assert run.metrics["fit_seconds"] == 0.25
    odd = "odd_at_prune" if state == TrialState.PRUNED else "odd"
    assert math.isnan(run.metrics[odd])
    # Infinities are kept as the largest finite float, as MLflow's stores keep them.
    assert storage.curve(run_id) == [(0, 9.0), (5, 7.5), (10, sys.float_info.max), (12, 5.5)]
    (trial,) = Study.from_storage(storage, ref.run_id).trials
    assert trial.params == params  # typed, from the JSON tag
    assert trial.state == state
    assert trial.family == "xgboost"
    assert "validation_loss" not in trial.metrics
    # Read back under the headline name, for the samplers' replay, resume and the report.
    assert trial.metrics["rmse"] == 5.5


def test_trials_are_found_by_their_study_only(storage: StudyStorage) -> None:
    one, two = _study(storage), _study(storage)
    ids = [storage.start_trial(one, n, model="xgboost")[0] for n in range(3)]
    storage.start_trial(two, 0, model="xgboost")
    assert sorted(r.run_id for r in storage.trial_runs(one.run_id, one.experiment_id)) == sorted(
        ids
    )
    assert storage.latest_study("contract").run_id == two.run_id
    assert storage.curve(ids[0]) == []


def test_killed_trials_and_a_reopened_study(storage: StudyStorage) -> None:
    ref = _study(storage)
    run_id, _ = storage.start_trial(ref, 0, model="xgboost")
    storage.mark_killed(run_id, "the process ended")
    run = storage.get_run(run_id)
    assert (run.status, run.tags[schema.TAG_STATE]) == ("KILLED", "killed")
    assert run.tags[schema.TAG_ERROR] == "the process ended"
    storage.finish_study(
        ref.run_id, metrics={"n_trials": 1.0}, status="FINISHED", tags={"tunetrack.x": "y"}
    )
    closed = storage.get_run(ref.run_id)
    assert (closed.status, closed.metrics["n_trials"], closed.tags["tunetrack.x"]) == (
        "FINISHED",
        1.0,
        "y",
    )
    storage.reopen_study(ref.run_id)
    assert storage.get_run(ref.run_id).status == "RUNNING"


def test_a_lease_is_written_read_replaced_and_dropped(storage: StudyStorage) -> None:
    ref = _study(storage)
    assert storage.read_lease(ref.run_id) is None
    storage.drop_lease(ref.run_id)  # nothing there: nothing happens
    storage.write_lease(ref.run_id, Lease("host-a:12:tok", 1234.5))
    assert storage.read_lease(ref.run_id) == Lease("host-a:12:tok", 1234.5)
    assert storage.get_run(ref.run_id).tags[schema.TAG_LEASE_OWNER] == "host-a:12:tok"
    storage.write_lease(ref.run_id, Lease("host-b:7:other", 99.0))  # no compare-and-set
    lease = storage.read_lease(ref.run_id)
    assert (lease.host, lease.pid, lease.expires) == ("host-b", 7, 99.0)
    storage.drop_lease(ref.run_id)
    assert storage.read_lease(ref.run_id) is None
    assert schema.TAG_LEASE_OWNER not in storage.get_run(ref.run_id).tags


def test_update_study_sets_tags_and_replaces_the_config(storage: StudyStorage) -> None:
    ref = _study(storage)
    storage.update_study(ref.run_id, tags={schema.TAG_MAX_EVALS: "9"})
    assert storage.load_json_artifact(ref.run_id, schema.CONFIG_ARTIFACT) == CONFIG
    new = {**CONFIG, "search": {"max_evals": 9}}
    storage.update_study(ref.run_id, tags={schema.TAG_MAX_EVALS: "9"}, config=new)
    assert storage.get_run(ref.run_id).tags[schema.TAG_MAX_EVALS] == "9"
    assert storage.load_json_artifact(ref.run_id, schema.CONFIG_ARTIFACT) == new


def test_one_claim_per_study_and_a_lapsed_one_is_taken_over(storage: StudyStorage) -> None:
    ref = _study(storage)
    first = claim_study(storage, ref.run_id, ttl=30, settle=0)
    assert storage.read_lease(ref.run_id).owner == first.owner
    with pytest.raises(StudyClaimedError, match=rf"pid {os.getpid()}\b.*expires at"):
        claim_study(storage, ref.run_id, ttl=30, settle=0)
    first.renew()
    assert not first.lost
    first.release()
    assert storage.read_lease(ref.run_id) is None
    # A crashed runner on another host: live until its expiry, then anyone's.
    storage.write_lease(ref.run_id, Lease("elsewhere:4242:t", time.time() + 30))
    with pytest.raises(StudyClaimedError, match="pid 4242 on host elsewhere"):
        claim_study(storage, ref.run_id, settle=0)
    storage.write_lease(ref.run_id, Lease("elsewhere:4242:t", time.time() - 1))
    second = claim_study(storage, ref.run_id, ttl=30, settle=0)
    # On this host, a claim whose process is gone is taken over at once.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    storage.write_lease(
        ref.run_id, Lease(f"{socket.gethostname()}:{dead.stdout.strip()}:x", time.time() + 30)
    )
    assert claim_study(storage, ref.run_id, ttl=30, settle=0).owner != second.owner
    # The displaced claim notices at its next renewal and leaves the lease alone.
    second.renew()
    assert second.lost
    holder = storage.read_lease(ref.run_id)
    second.release()
    assert storage.read_lease(ref.run_id) == holder


def test_missing_things_are_one_line_errors(storage: StudyStorage) -> None:
    with pytest.raises(TrackingError, match="no experiment named 'nope'"):
        storage.experiment_id("nope", create=False)
    with pytest.raises(TrackingError, match="no run"):
        storage.get_run("0" * 32)
    storage.experiment_id("empty")
    with pytest.raises(TrackingError, match="has no tunetrack study"):
        storage.latest_study("empty")


def test_a_whole_study_runs_on_each_backend(
    storage: StudyStorage, sample_paths: tuple[str, str]
) -> None:
    train, valid = sample_paths
    study = tunetrack.tune(
        train=train, valid=valid, max_evals=3, overrides=FAST, progress=False, storage=storage
    )
    assert study.tracking_uri == storage.location
    loaded = tunetrack.load_study(study.run_id, storage=storage)
    assert loaded == study
    assert [t.number for t in loaded.trials] == [0, 1, 2]
    assert storage.get_run(study.run_id).tags[schema.TAG_STOP_REASON] == "max_evals"


# -- MLflow only: a store tunetrack did not create is left as it was -----------------------


@pytest.fixture
def plain_store(tmp_path: Path) -> Path:
    """A store made by MLflow alone, in SQLite's default (rollback) journal mode."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "theirs"
    folder.mkdir()
    db = folder / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def _journal_mode(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


def test_an_existing_store_keeps_its_settings(
    plain_store: Path, sample_paths: tuple[str, str]
) -> None:
    before = _journal_mode(plain_store)
    uri = f"sqlite:///{plain_store}"
    with pytest.raises(TrackingError):
        tunetrack.load_study("0" * 32, tracking_uri=uri)
    train, valid = sample_paths
    study = tunetrack.tune(
        train=train, valid=valid, max_evals=2, overrides=FAST, progress=False, tracking_uri=uri
    )
    assert _journal_mode(plain_store) == before != "wal"
    assert sorted(p.name for p in plain_store.parent.iterdir()) == ["mlartifacts", "mlflow.db"]
    # Reading writes nothing: not a byte of the database, no file beside it.
    before_read = _snapshot(plain_store.parent)
    assert tunetrack.load_study(study.run_id, tracking_uri=uri) == study
    assert _snapshot(plain_store.parent) == before_read


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_a_store_tunetrack_creates_uses_write_ahead_logging(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    open_storage(f"sqlite:///{db}")
    assert _journal_mode(db) == "wal"
    assert not list(tmp_path.glob("*.lock"))
