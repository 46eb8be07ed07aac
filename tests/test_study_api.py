"""The Study handle: create, optimize in steps, read states, load by id, resume by id."""

from __future__ import annotations

import pytest

import tunetrack
from tunetrack import TrialState
from tunetrack.storage.in_memory import InMemoryStorage

from .conftest import FAST


def test_create_then_optimize_in_steps(sample_paths: tuple[str, str]) -> None:
    train, valid = sample_paths
    storage = InMemoryStorage()
    study = tunetrack.create_study(train=train, valid=valid, overrides=FAST, storage=storage)
    assert study.trials == ()
    assert study.stop_reason == "created"
    study.optimize(n_trials=2, progress=False)
    study.optimize(n_trials=2, progress=False)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert study.best_trial == study.best
    assert study.best_trial.state is TrialState.OK
    assert study.get_trials(states=[TrialState.OK, "pruned"]) == study.trials
    assert study.get_trials(states=["failed"]) == ()
    frame = study.trials_dataframe()
    assert list(frame.index) == [0, 1, 2, 3]
    assert set(frame["state"]) == {"ok"}
    assert tunetrack.load_study(study.run_id, storage=storage) == study
    with pytest.raises(ValueError, match="unknown trial state 'done'; valid: ok, pruned"):
        study.get_trials(states=["done"])


def test_resume_by_run_id_continues_that_study_not_the_latest(
    sample_paths: tuple[str, str],
) -> None:
    train, valid = sample_paths
    first = tunetrack.tune(train=train, valid=valid, max_evals=1, overrides=FAST, progress=False)
    latest = tunetrack.tune(train=train, valid=valid, max_evals=1, overrides=FAST, progress=False)
    resumed = tunetrack.tune(
        train=train, valid=valid, max_evals=2, overrides=FAST, progress=False, resume=first.run_id
    )
    assert resumed.run_id == first.run_id
    assert len(resumed.trials) == 2
    assert len(tunetrack.load_study(latest.run_id).trials) == 1
    # The sampler learned from the first trial: the resumed one is a new point.
    assert resumed.trials[1].params != resumed.trials[0].params


def test_a_created_default_study_tries_its_start_point_first(
    sample_paths: tuple[str, str],
) -> None:
    from tunetrack.models import Task, get_model

    train, valid = sample_paths
    study = tunetrack.create_study(
        train=train,
        valid=valid,
        overrides=["model.num_boost_round=30", "model.early_stopping_rounds=5"],
        storage=InMemoryStorage(),
    )
    study.optimize(n_trials=1, progress=False)
    point = get_model("xgboost").start_points(Task(), "native")[0]
    assert {k: study.trials[0].params[k] for k in point} == point
    study.optimize(n_trials=1, progress=False)  # tried once: not again
    assert study.trials[1].params != study.trials[0].params
    assert study.get_trials(states="ok") == study.trials


def test_start_points_can_be_turned_off(sample_paths: tuple[str, str]) -> None:
    from tunetrack.models import Task, get_model

    train, valid = sample_paths
    point = get_model("xgboost").start_points(Task(), "native")[0]
    study = tunetrack.create_study(
        train=train,
        valid=valid,
        overrides=["model.num_boost_round=30", "search.start_points=false"],
        storage=InMemoryStorage(),
    )
    study.optimize(n_trials=1, progress=False)
    assert {k: study.trials[0].params[k] for k in point} != point
    assert study.config["search"]["start_points"] is False


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_dataframe_with_a_target_tunes_from_a_notebook(task: str) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    frame["y"] = 2 * frame["x1"] - frame["x2"] + rng.normal(scale=0.1, size=300)
    if task == "classification":
        frame["y"] = (frame["y"] > 0).astype(int)
    study = tunetrack.tune(
        train=frame, target="y", max_evals=2, overrides=FAST, storage=InMemoryStorage(),
        progress=False,
    )  # fmt: skip
    assert [t.state for t in study.trials] == ["ok", "ok"]
    assert study.metric == ("log_loss" if task == "classification" else "rmse")
    # The stored config says where the rows came from: not a path, not the bundled data.
    assert study.config["data"]["train"] == "<DataFrame>"
