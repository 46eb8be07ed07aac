"""The sampler seam: Hyperopt behind ask/tell, point for point what ``fmin`` would do."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hyperopt import STATUS_OK, Trials, anneal, fmin, rand, space_eval, tpe

from tunetrack.exceptions import ConfigError, SearchSpaceError
from tunetrack.samplers import Suggestion, make_sampler
from tunetrack.samplers.hyperopt import HyperoptSampler
from tunetrack.space import build_space, describe_space, flatten_params
from tunetrack.space.distributions import Categorical, Float, Int, from_spec, to_spec

SPEC = {
    "max_depth": "quniform(4, 100, 1)",
    "learning_rate": "loguniform(-3, 0)",
    "booster": {
        "choice": [{"booster": "gbtree"}, {"booster": "dart", "rate_drop": "uniform(0, 0.3)"}]
    },
    "cap": {"choice": [None, {"quniform": [4, 30, 1]}]},
    "kind": {"pchoice": [[0.7, "a"], [0.3, "b"]]},
    "objective": "reg:squarederror",
}
DESCRIBED = describe_space(SPEC)


def _loss(params: dict[str, Any]) -> float:
    return (params["max_depth"] - 20) ** 2 / 100 + abs(math.log(params["learning_rate"]) + 2)


@pytest.mark.parametrize(("algo", "suggest"), [("tpe", tpe), ("rand", rand), ("anneal", anneal)])
def test_asks_the_points_fmin_would_ask(algo: str, suggest: Any) -> None:
    seen: list[dict[str, Any]] = []

    def objective(sample: dict[str, Any]) -> dict[str, Any]:
        seen.append(flatten_params(sample))
        return {"status": STATUS_OK, "loss": _loss(seen[-1])}

    fmin(
        objective,
        build_space(DESCRIBED),
        algo=suggest.suggest,
        max_evals=30,
        trials=Trials(),
        rstate=np.random.default_rng(7),
        show_progressbar=False,
    )
    sampler = make_sampler("hyperopt", algo, DESCRIBED, seed=7)
    asked = []
    for _ in range(30):
        suggestion = sampler.ask()
        asked.append(dict(suggestion.params))
        sampler.tell(suggestion, _loss(suggestion.params))
    assert asked == seen
    assert all(isinstance(p["max_depth"], int) for p in asked)  # ints arrive as int


def test_typed_params_round_trip_through_hyperopt_vals() -> None:
    sampler = HyperoptSampler(DESCRIBED, algo="rand", seed=3)
    space = build_space(DESCRIBED)
    branches = set()
    for _ in range(60):
        params = dict(sampler.ask().params)
        vals = sampler.vals_for(params)
        point = {label: v[0] for label, v in vals.items() if v}
        assert flatten_params(space_eval(space, point)) == params
        branches.add((params["booster"], params["cap"] is None, params["kind"]))
    assert len(branches) == 8  # every branch of every choice was taken and read back


def test_enqueued_points_come_first_and_history_counts() -> None:
    sampler = HyperoptSampler(DESCRIBED, algo="tpe", seed=1)
    point = {
        "max_depth": 10,
        "learning_rate": 0.1,
        "booster": "dart",
        "rate_drop": 0.1,
        "cap": None,
        "kind": "b",
        "objective": "reg:squarederror",
    }
    sampler.enqueue(point)
    first = sampler.ask()
    assert first.params == point
    sampler.tell(first, 1.0)
    sampler.tell(Suggestion({**point, "max_depth": 11}), None)  # a failed trial from history
    assert sampler.ask().params != point


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("a value the space has no option for", {"booster": "gblinear"}),
        ("a parameter missing", {"learning_rate": None}),
        ("text where a number goes", {"max_depth": "ten"}),
        ("a constant changed", {"objective": "reg:absoluteerror"}),
        ("a value outside its range", {"max_depth": 700}),
        ("a key the space does not have", {"colsample_bytree": 0.5}),
        ("a key of the branch not taken", {"rate_drop": 0.1}),
    ],
)
def test_a_point_outside_the_space_is_refused(case: str, params: dict[str, Any]) -> None:
    good = {
        "max_depth": 10,
        "learning_rate": 0.1,
        "booster": "gbtree",
        "cap": 12,
        "kind": "a",
        "objective": "reg:squarederror",
    }
    sampler = HyperoptSampler(DESCRIBED, algo="tpe", seed=1)
    sampler.enqueue(good)
    with pytest.raises(SearchSpaceError, match="not a point of the search space"):
        sampler.enqueue({**good, **params})


def test_history_finds_the_branch_that_explains_every_param() -> None:
    described = describe_space(
        {
            "c": {"choice": [{"a": "uniform(0, 1)"}, {"a": "uniform(5, 10)"}]},
            "reg": {"choice": [{}, {"alpha": "uniform(0, 1)"}]},
        }
    )
    sampler = HyperoptSampler(described, algo="tpe", seed=0)
    vals = sampler.vals_for({"a": 7.0, "alpha": 0.5})
    assert (vals["c"], vals["reg"], vals["c.1.a"], vals["c.0.a"]) == ([1], [1], [7.0], [])
    assert sampler.vals_for({"a": 0.5})["reg"] == [0]


def test_engine_and_algorithm_lookups_name_the_valid_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown search\.engine 'ray'; choose one of: hyperopt"):
        make_sampler("ray", "tpe", DESCRIBED, 0)
    with pytest.raises(ConfigError, match=r"unknown search\.algo 'bayes'; choose one of: tpe"):
        make_sampler("hyperopt", "bayes", DESCRIBED, 0)


@pytest.mark.parametrize("family", ["xgboost", "lightgbm", "random_forest", "linear"])
@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_neutral_spaces_round_trip_through_the_hp_form(family: str, kind: str) -> None:
    from tunetrack._core import Task
    from tunetrack.models import get_model

    described = describe_space(get_model(family).default_space(Task(kind, ("a", "b")), "native"))
    neutral = from_spec(described)
    assert describe_space(to_spec(neutral)) == described


def test_neutral_form_of_a_conditional_space() -> None:
    described = describe_space(
        {"k": {"choice": [{"depth": "quniform(2, 10, 1)", "kind": "a"}, {"kind": "b"}]}}
    )
    assert from_spec(described) == {
        "k": Categorical(({"depth": Int(2, 10), "kind": "a"}, {"kind": "b"}))
    }
    assert from_spec(describe_space({"lr": "loguniform(-3, 0)"}))["lr"] == Float(
        math.exp(-3), 1.0, log=True
    )
