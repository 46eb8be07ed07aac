"""Trial runs written straight into MLflow's SQL store read back as the client writes them.

The direct path (``tracking._SqlTrialWrites``) exists for speed only (issue #5); every
reader (MLflow's client, search, its UI, tunetrack's load_study) must see the same runs.
Each test writes the same trial both ways on a real SQLite store and compares. The last
checks the other shortcut taken for speed: the logged datasets' schema, read from a sample.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tunetrack import tracking
from tunetrack.tracking import StudyRef, Tracker

# The long value is over MLflow's limit, which truncates it.
PARAMS = {
    "max_depth": 7,
    "learning_rate": 0.125,
    "objective": "reg:squarederror",
    "note": "p" * 7000,
}
METRICS = {"rmse": 6.02, "mae": 4.1, "rounds": 145.0}


def _tracker(uri: str, direct: bool, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    monkeypatch.setattr(tracking, "DIRECT_SQL_TRIAL_WRITES", direct)
    tracker = Tracker(uri)
    assert (tracker._sql_writes is not None) is direct
    return tracker


def _study(tracker: Tracker) -> StudyRef:
    experiment_id = tracker.experiment_id("sql-writes")
    parent = tracker._client.create_run(experiment_id).info.run_id
    return StudyRef(run_id=parent, experiment_id=experiment_id, model="xgboost")


def _trial(
    tracker: Tracker, ref: StudyRef, metrics: dict[str, float] = METRICS, **finish: Any
) -> str:
    run_id, _ = tracker.start_trial(ref, 3, start_ms=1_700_000_000_000)
    tracker.finish_trial(
        run_id,
        state=finish.pop("state", "ok"),
        params=PARAMS,
        metrics=metrics,
        end_ms=1_700_000_004_321,
        **finish,
    )
    return run_id


def _comparable(client: MlflowClient, run_id: str) -> dict[str, Any]:
    run = client.get_run(run_id)
    info = run.info
    return {
        "status": info.status,
        "lifecycle": info.lifecycle_stage,
        "name": info.run_name,
        "user": info.user_id,
        "start": info.start_time,
        "end": info.end_time,
        "artifact_tail": info.artifact_uri.rsplit("/", 2)[-1],
        "artifact_has_id": f"/{run_id}/" in info.artifact_uri,
        "params": run.data.params,
        "metrics": {k: (str(v) if math.isnan(v) else v) for k, v in run.data.metrics.items()},
        "tags": run.data.tags,
        "history": {
            k: [(m.step, m.timestamp, str(m.value)) for m in client.get_metric_history(run_id, k)]
            for k in run.data.metrics
        },
    }


def test_a_direct_trial_run_reads_back_like_the_clients(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, ref = [], None
    for direct in (True, False):
        tracker = _tracker(tracking_uri, direct, monkeypatch)
        ref = ref or _study(tracker)
        run_id = _trial(tracker, ref, extra_tags={"tunetrack.pruned_at": "40", "long": "t" * 9000})
        seen.append(_comparable(tracker._client, run_id))
    assert seen[0]["status"] == "FINISHED"
    assert seen[0]["tags"]["tunetrack.state"] == "ok"  # "running" was overwritten
    assert seen[0]["params"]["max_depth"] == "7"
    assert len(seen[0]["params"]["note"]) == 6000
    assert seen[0] == seen[1]


def test_direct_runs_are_found_by_mlflow_search_and_load_back_into_a_study(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = _tracker(tracking_uri, True, monkeypatch)
    ref = _study(tracker)
    running, _ = tracker.start_trial(ref, 0)
    assert tracker._client.get_run(running).info.status == "RUNNING"  # visible mid-trial
    done = _trial(tracker, ref)
    found = tracker._client.search_runs(
        [ref.experiment_id],
        "metrics.rmse < 6.5 and params.max_depth = '7' and tags.model = 'xgboost'",
    )
    assert [r.info.run_id for r in found] == [done]
    trials = tracker.trial_runs(ref.run_id, ref.experiment_id)
    assert {t.run_id for t in trials} == {running, done}


def test_nan_and_infinite_metrics_are_stored_as_mlflow_stores_them(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = {"rmse": float("nan"), "gain": float("inf"), "loss": float("-inf")}
    seen, ref = [], None
    for direct in (True, False):
        tracker = _tracker(tracking_uri, direct, monkeypatch)
        ref = ref or _study(tracker)
        run_id = _trial(tracker, ref, metrics=odd, state="failed", error="boom")
        seen.append(_comparable(tracker._client, run_id))
    assert seen[0]["status"] == "FAILED"
    assert seen[0]["metrics"]["rmse"] == "nan"
    assert seen[0]["metrics"]["gain"] > 1e308
    assert seen[0] == seen[1]


def test_a_value_mlflow_refuses_is_refused_before_anything_is_written(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = _tracker(tracking_uri, True, monkeypatch)
    ref = _study(tracker)
    run_id, _ = tracker.start_trial(ref, 0)
    with pytest.raises(MlflowException, match="Invalid value"):
        tracker.finish_trial(run_id, state="ok", params={"bad name?": 1}, metrics=METRICS)
    run = tracker._client.get_run(run_id)
    assert run.info.status == "RUNNING"
    assert run.data.metrics == {}
    assert run.data.params == {}


def test_a_run_deleted_mid_trial_gets_mlflows_own_error(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = _tracker(tracking_uri, True, monkeypatch)
    run_id, _ = tracker.start_trial(_study(tracker), 0)
    tracker._client.delete_run(run_id)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        tracker.finish_trial(run_id, state="ok", params=PARAMS, metrics=METRICS)


@pytest.mark.parametrize("direct", [True, False])
def test_no_trial_starts_in_an_experiment_deleted_mid_study(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    tracker = _tracker(tracking_uri, direct, monkeypatch)
    ref = _study(tracker)
    tracker.start_trial(ref, 0)  # a trial before the deletion: it stops the next one only
    tracker._client.delete_experiment(ref.experiment_id)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        tracker.start_trial(ref, 1)
    tracker._client.restore_experiment(ref.experiment_id)
    runs = tracker._client.search_runs([ref.experiment_id], "tags.`tunetrack.role` = 'trial'")
    assert [r.data.tags["tunetrack.trial"] for r in runs] == ["0"]


def test_a_trial_finished_twice_falls_back_to_the_client_and_its_error(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = _tracker(tracking_uri, True, monkeypatch)
    run_id = _trial(tracker, _study(tracker))
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        tracker.finish_trial(run_id, state="ok", params={**PARAMS, "max_depth": 9}, metrics=METRICS)
    assert tracker._client.get_run(run_id).data.params["max_depth"] == "7"


def test_the_logged_dataset_schema_is_mlflows_own_inference_read_from_a_sample() -> None:
    n = 3 * tracking.SCHEMA_SAMPLE_ROWS
    frame = pd.DataFrame(
        {
            "PULocationID": [str(i % 260) for i in range(n)],
            "trip_distance": np.linspace(0.1, 30, n),
            "passengers": np.arange(n) % 5,
            "store_and_fwd": [i % 2 == 0 for i in range(n)],
            "pickup": pd.date_range("2021-01-01", periods=n, freq="min"),
            "tip": [None if i == n - 1 else 1.5 for i in range(n)],  # missing past the sample
            "note": ["x"] * (n - 1) + [None],
        }
    )
    ours = tracking._frame_schema(frame)
    assert ours == from_pandas(frame).schema  # what MLflow infers reading every row
    assert [c.required for c in ours.inputs] == [True] * 5 + [False, False]
