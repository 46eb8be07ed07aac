"""Issue #17, anytime: every family's default space starts with cheap points."""

from __future__ import annotations

import pytest

from tunetrack.models import Task, get_model
from tunetrack.samplers import make_sampler
from tunetrack.space import describe_space
from tunetrack.study.setup import json_roundtrip

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
