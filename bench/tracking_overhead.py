"""What tracking costs a trial on a local SQLite store, measured side by side.

Compares tunetrack's trial writes (the run created, then finished: one transaction
each, straight into the SQL store), the same through MLflow's client (``create_run``,
``log_batch``, ``set_terminated``) and the hand-written loop's habit of one MLflow call
per value, on the same store, with the same params, metrics and tags. Prints JSON.

    .venv/bin/python bench/tracking_overhead.py [--trials 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from tunetrack import tracking
from tunetrack.tracking import StudyRef, Tracker

PARAMS = {
    "max_depth": 12,
    "learning_rate": 0.0813,
    "reg_alpha": 0.0312,
    "reg_lambda": 0.0071,
    "min_child_weight": 2.41,
    "objective": "reg:squarederror",
    "seed": 42,
}
METRICS = {
    "rmse": 6.21,
    "mae": 4.3,
    "r2": 0.71,
    "fit_seconds": 3.2,
    "model_bytes": 1.2e6,
    "best_iteration": 170.0,
}


def per_value(client: MlflowClient, experiment_id: str, parent: str, n: int) -> float:
    """The tutorial's way: one call per param, metric and tag."""
    started = time.perf_counter()
    for number in range(n):
        run = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent})
        run_id = run.info.run_id
        client.set_tag(run_id, "model", "xgboost")
        client.set_tag(run_id, "tunetrack.trial", str(number))
        for key, value in PARAMS.items():
            client.log_param(run_id, key, value)
        for key, value in METRICS.items():
            client.log_metric(run_id, key, value)
        client.set_terminated(run_id)
    return (time.perf_counter() - started) / n


def batched(tracker: Tracker, ref: StudyRef, n: int) -> float:
    """tunetrack's way: the run created RUNNING, then finished with all its values."""
    started = time.perf_counter()
    for number in range(n):
        run_id, _ = tracker.start_trial(ref, number)
        tracker.finish_trial(run_id, state="ok", params=PARAMS, metrics=METRICS)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        tracker = Tracker(uri)
        tracking.DIRECT_SQL_TRIAL_WRITES = False
        via_client = Tracker(uri)
        tracking.DIRECT_SQL_TRIAL_WRITES = True
        client = MlflowClient(uri)
        experiment_id = tracker.experiment_id("bench")
        parent = client.create_run(experiment_id).info.run_id
        ref = StudyRef(run_id=parent, experiment_id=experiment_id, model="xgboost")
        batched(tracker, ref, 5)  # warm up connections and caches
        batched(via_client, ref, 5)
        naive_runs, client_runs, direct_runs = [], [], []
        for _ in range(args.repeats):  # interleaved so drift hits all alike
            naive_runs.append(per_value(client, experiment_id, parent, args.trials))
            client_runs.append(batched(via_client, ref, args.trials))
            direct_runs.append(batched(tracker, ref, args.trials))
    naive_ms = statistics.median(naive_runs) * 1000
    client_ms = statistics.median(client_runs) * 1000
    direct_ms = statistics.median(direct_runs) * 1000
    print(
        json.dumps(
            {
                "store": "sqlite (local file)",
                "trials_per_repeat": args.trials,
                "repeats": args.repeats,
                "one_call_per_value_ms_per_trial": round(naive_ms, 2),
                "client_batched_ms_per_trial": round(client_ms, 2),
                "tunetrack_ms_per_trial": round(direct_ms, 2),
                "speedup_over_one_call_per_value": round(naive_ms / direct_ms, 2),
                "speedup_over_client_batched": round(client_ms / direct_ms, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
