"""Synthetic studies written through the real tracking path, for tests and benchmarks.

The metric is a known function of the params, so importance and Pareto results can be
checked, and thousands of trials can be logged without fitting a model.
"""

from __future__ import annotations

import math
import random
from typing import Any

from tunetrack._core import TrialState
from tunetrack.space import describe_space
from tunetrack.storage import StudyRecord, StudyRef, TrialWrite, open_storage
from tunetrack.storage.schema import TAG_ENGINE
from tunetrack.study import Study

SPACE: dict[str, Any] = {
    "learning_rate": "loguniform(-7, 0)",
    "max_depth": "quniform(2, 12, 1)",
    "subsample": "uniform(0.5, 1.0)",
    "booster": "choice(['gbtree', 'dart-with-a-long-descriptive-name'])",
    "objective": "reg:squarederror",
}


def objective(params: dict[str, Any]) -> float:
    """Strong in learning_rate (optimum near 0.05), weaker in max_depth, none in subsample."""
    lr = math.log10(params["learning_rate"])
    return 5.0 + (lr + 1.3) ** 2 + 0.3 * abs(params["max_depth"] - 6)


def synthetic_study(
    n_trials: int,
    *,
    experiment: str = "synthetic",
    seed: int = 0,
    failed_every: int = 0,
    tracking_uri: str | None = None,
) -> Study:
    """Log ``n_trials`` random trials of the synthetic objective; returns the loaded Study."""
    rng = random.Random(seed)
    tracker = open_storage(tracking_uri)
    experiment_id = tracker.experiment_id(experiment)
    described = describe_space(SPACE)
    record = StudyRecord(
        model="xgboost",
        engine="synthetic",
        tags={TAG_ENGINE: "synthetic"},
        params={"metric": "rmse", "max_evals": n_trials, "seed": seed},
        config={"synthetic": True, "n_trials": n_trials},
        space=described,
    )
    run_id = tracker.create_study(experiment_id, record)
    ref = StudyRef(run_id=run_id, experiment_id=experiment_id, model="xgboost")
    best = math.inf
    for number in range(n_trials):
        params = {
            "learning_rate": math.exp(rng.uniform(-7, 0)),
            "max_depth": rng.randint(2, 12),
            "subsample": rng.uniform(0.5, 1.0),
            "booster": rng.choice(["gbtree", "dart-with-a-long-descriptive-name"]),
            "objective": "reg:squarederror",
        }
        trial_run, _ = tracker.start_trial(ref, number, model="xgboost")
        if failed_every and number % failed_every == failed_every - 1:
            failed = TrialWrite(
                TrialState.FAILED, params, params, metrics={}, error="ValueError: synthetic"
            )
            tracker.finish_trial(trial_run, failed)
            continue
        rmse = objective(params) + rng.gauss(0, 0.01)
        best = min(best, rmse)
        metrics = {
            "rmse": rmse,
            "mae": 0.8 * rmse,
            "r2": 0.5,
            "fit_seconds": 0.01 * params["max_depth"] / params["learning_rate"] ** 0.3,
            "fit_cpu_seconds": 0.012 * params["max_depth"] / params["learning_rate"] ** 0.3,
            "model_bytes": float(1000 * 2 ** params["max_depth"]),
            "best_iteration": 10.0,
        }
        tracker.finish_trial(trial_run, TrialWrite(TrialState.OK, params, params, metrics))
    tracker.finish_study(
        run_id,
        metrics={"n_trials": float(n_trials), "best_rmse": best},
        status="FINISHED",
        tags={},
    )
    return Study.from_storage(tracker, run_id)
