"""Issue #17, anytime: every family's default space starts with cheap points, and a new
study's first trial fits while the tracking store is set up."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.models import Task, get_model
from tunetrack.samplers import make_sampler
from tunetrack.space import describe_space
from tunetrack.study.setup import json_roundtrip

from .conftest import FAST

TASKS = {"regression": Task(), "classification": Task(kind="classification", classes=(0, 1))}
# What makes a point cheap, per family: (parameter, the most it may be).
CHEAP = {
    "xgboost": ("max_depth", 8),
    "lightgbm": ("num_leaves", 31),
    "random_forest": ("n_estimators", 50),
    "linear": (None, None),
}


@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("family", list(CHEAP))
def test_every_family_starts_cheap_inside_its_default_space(
    family: str, task: str, engine: str
) -> None:
    model = get_model(family)
    described = json_roundtrip(describe_space(model.default_space(TASKS[task], "native")))
    constants = {k: v for k, v in described.items() if not isinstance(v, dict)}
    points = [{**constants, **p} for p in model.start_points(TASKS[task], "native")]
    assert points, "a default space without a start point starts with a random draw"
    key, most = CHEAP[family]
    if key is not None:
        assert points[0][key] <= most
    if "learning_rate" in points[0]:
        assert points[0]["learning_rate"] >= 0.25  # few rounds to converge
    sampler = make_sampler(engine, "tpe", described, 0)
    for point in points:
        sampler.enqueue(point)  # raises SearchSpaceError for a point outside the space
    assert [sampler.ask().params for _ in points] == points


def test_the_first_trial_fits_while_the_store_is_set_up(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    client = MlflowClient(tracking_uri)
    common = dict(train=train, valid=valid, max_evals=2, overrides=FAST, progress=False)
    inline = tunetrack.tune(**common, experiment="inline")
    # Worker processes start first: no head start there, the same first trial.
    pool = tunetrack.tune(**common, experiment="pool", executor="processes", parallelism=1)
    for study, head_start in ((inline, True), (pool, False)):
        study_run = client.get_run(study.run_id)
        first, second = (client.get_run(t.run_id) for t in study.trials)
        assert [t.state for t in study.trials] == ["ok", "ok"]
        # The head start's fit began before the study run was created; its run says when.
        assert (first.info.start_time < study_run.info.start_time) is head_start
        assert first.info.status == second.info.status == "FINISHED"
        if head_start:  # inline: written, then the next one starts
            assert first.info.end_time <= second.info.start_time
        runs = client.search_runs(
            [study.experiment_id], f"tags.`mlflow.parentRunId` = '{study.run_id}'"
        )
        assert sorted(r.data.tags["tunetrack.trial"] for r in runs) == ["0", "1"]
    # The sampler's first point either way, told once: the second trial matches too.
    assert [t.params for t in inline.trials] == [t.params for t in pool.trials]
