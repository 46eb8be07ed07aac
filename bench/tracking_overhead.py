"""What tracking costs a trial on a local SQLite store, measured side by side.

Compares tunetrack's trial writes through MLflow's public client (``create_run`` when
the trial starts; ``log_batch`` with params, metrics, tags and the validation curve, then
``set_terminated`` when it ends), the same without the curve, the in-memory backend (the
floor: no store at all) and the hand-written loop's habit of one MLflow call per value,
on the same store, with the same params, metrics and tags. Prints JSON.

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

from tunetrack._core import TrialState
from tunetrack.storage import StudyRef, StudyStorage, TrialWrite
from tunetrack.storage.in_memory import InMemoryStorage
from tunetrack.storage.mlflow import MlflowStorage
from tunetrack.storage.schema import curve_points

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


# A trial's validation curve: 170 rounds to the best, 50 more until early stopping,
# stored as tunetrack stores it (every few rounds and the last).
CURVE = curve_points([8.0 - 0.01 * r for r in range(220)])
EVERY_ROUND = [(r, 8.0 - 0.01 * r) for r in range(220)]


def batched(storage: StudyStorage, ref: StudyRef, n: int, curve: list[tuple[int, float]]) -> float:
    """tunetrack's way: the run created RUNNING, then finished with all its values."""
    write = TrialWrite(TrialState.OK, PARAMS, PARAMS, METRICS, curve=curve)
    started = time.perf_counter()
    for number in range(n):
        run_id, _ = storage.start_trial(ref, number, model="xgboost")
        storage.finish_trial(run_id, write)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        storage = MlflowStorage(uri)
        memory = InMemoryStorage()
        client = MlflowClient(uri)
        experiment_id = storage.experiment_id("bench")
        parent = client.create_run(experiment_id).info.run_id
        ref = StudyRef(run_id=parent, experiment_id=experiment_id, model="xgboost")
        memory_ref = StudyRef(
            run_id="memory", experiment_id=memory.experiment_id("bench"), model="xgboost"
        )
        batched(storage, ref, 5, CURVE)  # warm up connections and caches
        runs: dict[str, list[float]] = {
            "naive": [], "curve": [], "every_round": [], "no_curve": [], "memory": []
        }  # fmt: skip
        for _ in range(args.repeats):  # interleaved so drift hits all alike
            runs["naive"].append(per_value(client, experiment_id, parent, args.trials))
            runs["curve"].append(batched(storage, ref, args.trials, CURVE))
            runs["every_round"].append(batched(storage, ref, args.trials, EVERY_ROUND))
            runs["no_curve"].append(batched(storage, ref, args.trials, []))
            runs["memory"].append(batched(memory, memory_ref, args.trials, CURVE))
    ms = {name: statistics.median(values) * 1000 for name, values in runs.items()}
    print(
        json.dumps(
            {
                "store": "sqlite (local file), MLflow's public client",
                "trials_per_repeat": args.trials,
                "repeats": args.repeats,
                "curve_rounds": len(EVERY_ROUND),
                "curve_points_stored": len(CURVE),
                "one_call_per_value_ms_per_trial": round(ms["naive"], 2),
                "tunetrack_ms_per_trial": round(ms["curve"], 2),
                "with_every_round_stored_ms_per_trial": round(ms["every_round"], 2),
                "tunetrack_without_curve_ms_per_trial": round(ms["no_curve"], 2),
                "in_memory_ms_per_trial": round(ms["memory"], 3),
                "speedup_over_one_call_per_value": round(ms["naive"] / ms["curve"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
