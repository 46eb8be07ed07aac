"""Search-space translation, typing, description and validation, against real Hyperopt."""

from __future__ import annotations

import copy
import datetime
import json
import math
from functools import partial
from typing import Any

import numpy as np
import pytest
import yaml
from hyperopt import Trials, fmin, hp, tpe
from hyperopt.pyll import as_apply, scope
from hyperopt.pyll.stochastic import sample

from tunetrack.exceptions import SearchSpaceError
from tunetrack.space import (
    DISTRIBUTIONS,
    build_space,
    describe_space,
    flatten_params,
    param_kinds,
)

N_SAMPLES = 200


def draws(spec: Any, n: int = N_SAMPLES, seed: int = 0) -> list[Any]:
    space = build_space(spec)
    rng = np.random.default_rng(seed)
    return [sample(space, rng=rng) for _ in range(n)]


def values(param: Any, n: int = N_SAMPLES) -> list[Any]:
    return [draw["x"] for draw in draws({"x": param}, n)]


def tutorial_space(wrap_int: bool = True) -> dict[str, Any]:
    max_depth = hp.quniform("max_depth", 4, 100, 1)
    return {
        "max_depth": scope.int(max_depth) if wrap_int else max_depth,
        "learning_rate": hp.loguniform("learning_rate", -3, 0),
        "reg_alpha": hp.loguniform("reg_alpha", -5, -1),
        "reg_lambda": hp.loguniform("reg_lambda", -6, -1),
        "min_child_weight": hp.loguniform("min_child_weight", -1, 3),
        "objective": "reg:squarederror",
        "seed": 42,
    }


TUTORIAL_YAML = """
max_depth: quniform(4, 100, 1)
learning_rate: loguniform(-3, 0)
reg_alpha: {loguniform: [-5, -1]}
reg_lambda: {loguniform: {low: -6, high: -1}}
min_child_weight: loguniform(-1, 3)
objective: reg:squarederror
seed: 42
"""


def is_multiple(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-9)


# -- translation and typing ----------------------------------------------------------------


def test_distribution_names() -> None:
    assert DISTRIBUTIONS == (
        "uniform",
        "quniform",
        "loguniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
        "randint",
        "choice",
        "pchoice",
    )


@pytest.mark.parametrize(
    ("param", "kind", "check"),
    [
        ("uniform(2, 5)", float, lambda v: 2 <= v <= 5),
        ("quniform(4, 100, 1)", int, lambda v: 4 <= v <= 100),
        ({"quniform": [0, 20, 5]}, int, lambda v: 0 <= v <= 20 and v % 5 == 0),
        ({"quniform": [0, 1, 0.25]}, float, lambda v: 0 <= v <= 1 and is_multiple(v, 0.25)),
        ("loguniform(-3, 0)", float, lambda v: math.exp(-3) <= v <= 1),
        ({"qloguniform": [0, 5, 1]}, int, lambda v: 1 <= v <= round(math.exp(5))),
        ({"qloguniform": [0, 2, 0.5]}, float, lambda v: is_multiple(v, 0.5)),
        ("normal(0, 1)", float, lambda v: -10 < v < 10),
        ({"qnormal": {"mu": 10, "sigma": 2, "q": 1}}, int, lambda v: -10 < v < 30),
        ({"qnormal": [0, 1, 0.1]}, float, lambda v: is_multiple(v, 0.1)),
        ("lognormal(0, 1)", float, lambda v: v > 0),
        ({"qlognormal": [2, 0.5, 1]}, int, lambda v: v >= 0),
        ({"randint": [10]}, int, lambda v: 0 <= v < 10),
        ({"randint": [2, 10]}, int, lambda v: 2 <= v < 10),
        ({"randint": {"high": 3}}, int, lambda v: 0 <= v < 3),
        ("randint(-3, 0)", int, lambda v: -3 <= v < 0),
        # type overrides
        ({"quniform": [4, 100, 1], "type": "float"}, float, lambda v: v == int(v)),
        ({"uniform": [0, 10], "type": "int"}, int, lambda v: 0 <= v <= 10),
        ({"randint": [5], "type": "float"}, float, lambda v: v in {0, 1, 2, 3, 4}),
        ("quniform(1, 9, 2, type='float')", float, lambda v: v in {2.0, 4.0, 6.0, 8.0}),
        ({"quniform": [0, 10, 2.0]}, int, lambda v: v % 2 == 0),  # a whole q counts as integer
    ],
)
def test_distribution_typing_and_bounds(param: Any, kind: type, check: Any) -> None:
    got = values(param)
    assert all(type(v) is kind for v in got), {type(v) for v in got}
    assert all(check(v) for v in got), [v for v in got if not check(v)][:5]


def test_randint_covers_its_range() -> None:
    assert set(values({"randint": [2, 6]})) == {2, 3, 4, 5}


def test_choice_returns_values_not_indices() -> None:
    got = values("choice(['gbtree', 'dart'])")
    assert set(got) == {"gbtree", "dart"}
    lists = values({"choice": [[1, 2], [3]]}, n=50)
    assert {tuple(v) for v in lists} == {(1, 2), (3,)}
    assert all(isinstance(v, list) for v in lists)


def test_pchoice_frequencies() -> None:
    got = values({"pchoice": [[0.2, "a"], [0.8, "b"]]}, n=1000)
    assert set(got) == {"a", "b"}
    assert got.count("a") / len(got) == pytest.approx(0.2, abs=0.05)


def test_nested_sub_space_options_produce_their_params() -> None:
    spec = {
        "booster": {
            "choice": [
                "gbtree",
                {"name": "dart", "rate_drop": "uniform(0, 0.5)", "depth": "quniform(1, 5, 1)"},
            ]
        }
    }
    got = [d["booster"] for d in draws(spec)]
    subs = [b for b in got if isinstance(b, dict)]
    assert "gbtree" in got
    assert subs
    for sub in subs:
        assert sub["name"] == "dart"
        assert 0 <= sub["rate_drop"] <= 0.5
        assert type(sub["depth"]) is int
    assert param_kinds(spec) == {
        "booster": "choice",
        "booster.1.rate_drop": "uniform",
        "booster.1.depth": "quniform",
    }


def test_plain_nested_dict_and_constants() -> None:
    spec = {"tree": {"depth": "randint(1, 4)", "method": "hist"}, "tags": ["a", "b"], "none": None}
    for draw in draws(spec, n=20):
        assert draw["tree"]["method"] == "hist"
        assert type(draw["tree"]["depth"]) is int
        assert draw["tags"] == ["a", "b"]
        assert draw["none"] is None
    assert param_kinds(spec) == {"tree.depth": "randint"}


def test_constant_strings_are_not_calls() -> None:
    space = build_space({"objective": "reg:squarederror", "note": "see f(x)", "seed": 42})
    assert sample(space, rng=np.random.default_rng(0)) == {
        "note": "see f(x)",
        "objective": "reg:squarederror",
        "seed": 42,
    }


def test_fmin_objective_receives_ints() -> None:
    spec = yaml.safe_load(TUTORIAL_YAML)
    spec["n_estimators"] = {"randint": [50, 60]}
    spec["booster"] = {"choice": ["gbtree", {"rate_drop": "uniform(0, 1)"}]}
    seen: list[dict[str, Any]] = []

    def objective(params: dict[str, Any]) -> float:
        seen.append(params)
        flat = flatten_params(params)
        return float(flat["learning_rate"] * flat["max_depth"])

    fmin(
        objective,
        build_space(spec),
        algo=partial(tpe.suggest, n_startup_jobs=5),  # so TPE proper runs too
        max_evals=15,
        trials=Trials(),
        rstate=np.random.default_rng(1),
        show_progressbar=False,
    )
    assert len(seen) == 15
    for params in seen:
        assert type(params["max_depth"]) is int
        assert 4 <= params["max_depth"] <= 100
        assert type(params["n_estimators"]) is int
        assert 50 <= params["n_estimators"] < 60
        assert params["booster"] == "gbtree" or 0 <= params["booster"]["rate_drop"] <= 1


# -- Python Hyperopt spaces ------------------------------------------------------------------


@pytest.mark.parametrize("wrap_int", [True, False])
def test_tutorial_python_space(wrap_int: bool) -> None:
    original = tutorial_space(wrap_int)
    before = str(as_apply(original))
    node_ids = {key: id(value) for key, value in original.items()}

    space = build_space(original)

    rng = np.random.default_rng(0)
    for _ in range(50):
        draw = sample(space, rng=rng)
        assert type(draw["max_depth"]) is int
        assert 4 <= draw["max_depth"] <= 100
        assert type(draw["learning_rate"]) is float
        assert draw["objective"] == "reg:squarederror"
        assert draw["seed"] == 42
    # The caller's graph is untouched: same objects, same structure, still float without wrap.
    assert str(as_apply(original)) == before
    assert {key: id(value) for key, value in original.items()} == node_ids
    raw = sample(original, rng=np.random.default_rng(0))["max_depth"]
    assert type(raw) is (int if wrap_int else float)


def test_bare_apply_space() -> None:
    original = hp.choice(
        "model",
        [{"depth": hp.quniform("depth", 1, 5, 1)}, {"lr": hp.loguniform("lr", -3, 0)}],
    )
    before = str(original)
    space = build_space(original)
    rng = np.random.default_rng(0)
    got = [sample(space, rng=rng) for _ in range(40)]
    assert all(type(d["depth"]) is int for d in got if "depth" in d)
    assert any("lr" in d for d in got)
    assert str(original) == before
    assert param_kinds(original) == {"model": "choice", "depth": "quniform", "lr": "loguniform"}


def test_shared_python_node_stays_shared() -> None:
    shared = hp.uniform("shared", 0, 1)
    draw = sample(build_space({"a": shared, "b": {"c": shared}}), rng=np.random.default_rng(0))
    assert draw["a"] == draw["b"]["c"]


def test_python_space_may_hold_any_constant() -> None:
    # Non-JSON constants are an error in a spec but trusted beside hp expressions.
    when = datetime.date(2021, 1, 1)
    space = build_space({"x": hp.uniform("x", 0, 1), "when": when, "fn": len})
    draw = sample(space, rng=np.random.default_rng(0))
    assert draw["when"] == when
    assert draw["fn"] is len


# -- describe_space ---------------------------------------------------------------------------


def test_forms_describe_identically() -> None:
    string_form = {
        "max_depth": "quniform(4, 100, 1)",
        "booster": "choice(['gbtree', 'dart'])",
        "n": "randint(10)",
        "p": "pchoice([(0.3, 'a'), (0.7, 'b')])",
        "w": "normal(mu=0, sigma=2)",
    }
    list_form = {
        "max_depth": {"quniform": [4, 100, 1]},
        "booster": {"choice": ["gbtree", "dart"]},
        "n": {"randint": [0, 10]},
        "p": {"pchoice": [[0.3, "a"], [0.7, "b"]]},
        "w": {"normal": [0, 2]},
    }
    mapping_form = {
        "max_depth": {"quniform": {"low": 4, "high": 100, "q": 1}, "type": "int"},
        "booster": {"choice": ["gbtree", "dart"]},
        "n": {"randint": {"high": 10}},
        "p": {"pchoice": [[0.3, "a"], [0.7, "b"]]},
        "w": {"normal": {"mu": 0, "sigma": 2}, "type": "float"},
    }
    expected = {
        "max_depth": {"quniform": {"low": 4, "high": 100, "q": 1}, "type": "int"},
        "booster": {"choice": ["gbtree", "dart"]},
        "n": {"randint": {"low": 0, "high": 10}, "type": "int"},
        "p": {"pchoice": [[0.3, "a"], [0.7, "b"]]},
        "w": {"normal": {"mu": 0, "sigma": 2}, "type": "float"},
    }
    assert describe_space(string_form) == expected
    assert describe_space(list_form) == expected
    assert describe_space(mapping_form) == expected


ROUND_TRIP_SPECS = [
    yaml.safe_load(TUTORIAL_YAML),
    {
        "booster": {
            "choice": [
                "gbtree",
                {"name": "dart", "rate_drop": {"uniform": [0, 1]}, "skip": "choice([0, 1])"},
            ]
        },
        "p": {"pchoice": [[0.25, None], [0.75, {"qnormal": [10, 2, 1], "type": "float"}]]},
        "typed": {"uniform": [0, 10], "type": "int"},
        "q_float": {"quniform": [0, 1, 0.1]},
        "tree": {"depth": "randint(2, 5)", "tags": ["a", 1, True]},
        "lognormal": "lognormal(0, 1)",
        "qlog": "qloguniform(0, 3, 1)",
    },
]


@pytest.mark.parametrize("spec", ROUND_TRIP_SPECS)
def test_describe_build_round_trip(spec: dict[str, Any]) -> None:
    original = copy.deepcopy(spec)
    described = describe_space(spec)
    assert json.loads(json.dumps(described)) == described
    assert describe_space(build_space(described)) == described
    assert describe_space(described) == described
    assert spec == original  # never mutated


def test_describe_tutorial_python_space_matches_yaml() -> None:
    from_yaml = describe_space(yaml.safe_load(TUTORIAL_YAML))
    assert describe_space(tutorial_space(wrap_int=True)) == from_yaml
    assert describe_space(tutorial_space(wrap_int=False)) == from_yaml
    assert from_yaml["max_depth"] == {
        "quniform": {"low": 4, "high": 100, "q": 1},
        "type": "int",
    }


def test_describe_python_space_equivalents() -> None:
    python = {
        "booster": hp.choice("booster", ["gbtree", {"rate_drop": hp.uniform("rd", 0, 1)}]),
        "n": hp.randint("n", 2, 10),
        "m": hp.randint("m", 5),
        "k": hp.uniformint("k", 1, 10),
        "f": scope.float(hp.quniform("f", 0, 4, 1)),
        "p": hp.pchoice("p", [(0.4, "a"), (0.6, "b")]),
        "tags": ["x", "y"],
    }
    spec = {
        "booster": {"choice": ["gbtree", {"rate_drop": "uniform(0, 1)"}]},
        "n": "randint(2, 10)",
        "m": "randint(5)",
        "k": "quniform(1, 10, 1)",
        "f": {"quniform": [0, 4, 1], "type": "float"},
        "p": "pchoice([(0.4, 'a'), (0.6, 'b')])",
        "tags": ["x", "y"],
    }
    assert describe_space(python) == describe_space(spec)


def test_describe_bare_apply_uses_its_label() -> None:
    described = describe_space(hp.choice("model", [{"a": 1}, {"b": hp.uniform("b", 0, 1)}]))
    assert described == {
        "model": {"choice": [{"a": 1}, {"b": {"uniform": {"low": 0, "high": 1}, "type": "float"}}]}
    }
    assert describe_space(build_space(described)) == described


def test_describe_rejects_expressions_it_cannot_represent() -> None:
    with pytest.raises(SearchSpaceError, match=r"space\.x"):
        describe_space({"x": hp.uniform("x", 0, 1) + 1})


def test_param_kinds() -> None:
    kinds = param_kinds(tutorial_space())
    assert kinds == {
        "max_depth": "quniform",
        "learning_rate": "loguniform",
        "reg_alpha": "loguniform",
        "reg_lambda": "loguniform",
        "min_child_weight": "loguniform",
    }
    assert param_kinds({"p": "pchoice([(0.5, 1), (0.5, 2)])", "c": 3}) == {"p": "pchoice"}


# -- validation -------------------------------------------------------------------------------


BAD_SPECS = [
    pytest.param({"lr": "unifrom(0, 1)"}, "space.lr:", "'uniform'", id="unknown-string"),
    pytest.param({"lr": {"unifrom": [0, 1]}}, "space.lr:", "valid names", id="unknown-mapping"),
    pytest.param({"lr": "foo(1, 2)"}, "space.lr:", "valid names: uniform", id="unknown-name"),
    pytest.param(
        {"max_depth": "quniform(100, 4, 1)"},
        "space.max_depth:",
        "quniform needs low < high, got low=100, high=4; swap or fix the bounds",
        id="low-ge-high",
    ),
    pytest.param({"x": "loguniform(0, 0)"}, "space.x:", "low < high", id="low-eq-high"),
    pytest.param({"x": "quniform(0, 10, 0)"}, "space.x:", "q > 0", id="q-zero"),
    pytest.param({"x": {"qnormal": [0, 1, -1]}}, "space.x:", "q > 0", id="q-negative"),
    pytest.param({"x": "normal(0, 0)"}, "space.x:", "sigma > 0", id="sigma-zero"),
    pytest.param({"x": "lognormal(0, -1)"}, "space.x:", "sigma > 0", id="sigma-negative"),
    pytest.param({"x": {"uniform": ["a", 1]}}, "space.x:", "must be a number", id="str-arg"),
    pytest.param({"x": {"uniform": [True, 2]}}, "space.x:", "(bool)", id="bool-arg"),
    pytest.param({"x": {"loguniform": ["1e-3", 1]}}, "space.x:", "1.0e-3", id="yaml-exponent"),
    pytest.param({"x": {"uniform": [0, float("inf")]}}, "space.x:", "finite", id="inf-arg"),
    pytest.param({"x": "quniform(4, 100)"}, "space.x:", "takes 3 arguments", id="too-few"),
    pytest.param({"x": {"uniform": [0, 1, 2]}}, "space.x:", "takes 2 arguments", id="too-many"),
    pytest.param(
        {"x": {"quniform": {"low": 4, "hi": 100, "q": 1}}},
        "space.x:",
        "unknown argument 'hi'",
        id="unknown-arg",
    ),
    pytest.param({"x": "quniform(4, 100, 1, low=3)"}, "space.x:", "twice", id="duplicate-arg"),
    pytest.param({"x": {"normal": {"mu": 0}}}, "space.x:", "missing argument sigma", id="missing"),
    pytest.param({"x": {"choice": []}}, "space.x:", "at least one option", id="empty-choice"),
    pytest.param({"x": "choice([])"}, "space.x:", "at least one option", id="empty-choice-str"),
    pytest.param({"x": {"choice": "a"}}, "space.x:", "list of options", id="choice-not-list"),
    pytest.param(
        {"x": {"pchoice": [[0.3, "a"], [0.6, "b"]]}}, "space.x:", "sum to 1", id="pchoice-sum"
    ),
    pytest.param(
        {"x": {"pchoice": [[-0.5, "a"], [1.5, "b"]]}},
        "space.x.pchoice[0]:",
        ">= 0",
        id="pchoice-negative",
    ),
    pytest.param({"x": {"pchoice": [[0.3], [0.7, 1]]}}, "space.x.pchoice[0]:", "pairs", id="pair"),
    pytest.param({"x": {"pchoice": []}}, "space.x:", "at least one", id="pchoice-empty"),
    pytest.param({"x": {"randint": [5, 5]}}, "space.x:", "randint needs low < high", id="ri-eq"),
    pytest.param({"x": "randint(0)"}, "space.x:", "randint needs low < high", id="ri-zero"),
    pytest.param({"x": "randint(2.5, 10)"}, "space.x:", "whole number", id="ri-float"),
    pytest.param({1: 5}, "space:", "not a string", id="int-key"),
    pytest.param(
        {"booster": {"choice": ["a", {True: 1}]}},
        "space.booster.choice[1]:",
        "not a string",
        id="bool-key-nested",
    ),
    pytest.param({"": 1}, "space:", "empty parameter name", id="empty-key"),
    pytest.param({"x": "uniform(0, x)"}, "space.x:", "cannot parse", id="unparsable"),
    pytest.param({"x": "quniform(4, 100"}, "space.x:", "cannot parse", id="unclosed"),
    pytest.param({"x": "uniform(0, 1) + 1"}, "space.x:", "cannot parse", id="expression"),
    pytest.param(
        {"x": {"uniform": [0, 1], "type": "double"}}, "space.x:", "'int' or 'float'", id="type"
    ),
    pytest.param({"x": {"choice": [1, 2], "type": "int"}}, "space.x:", "no 'type'", id="ch-type"),
    pytest.param(
        {"x": {"uniform": [0, 1], "step": 1}}, "space.x:", "unknown key 'step'", id="extra-key"
    ),
    pytest.param(
        {"x": {"uniform": [0, 1], "normal": [0, 1]}}, "space.x:", "one distribution", id="two"
    ),
    pytest.param(
        {"booster": {"choice": ["gbtree", {"rate_drop": "uniform(1, 0)"}]}},
        "space.booster.choice[1].rate_drop:",
        "low < high",
        id="nested-choice-path",
    ),
    pytest.param(
        {"p": {"pchoice": [[0.5, "a"], [0.5, {"r": {"randint": [3, 1]}}]]}},
        "space.p.pchoice[1].r:",
        "randint",
        id="nested-pchoice-path",
    ),
    pytest.param(
        {"tree": {"depth": "quniform(1, 5, 0)"}}, "space.tree.depth:", "q > 0", id="nested-path"
    ),
    pytest.param({"d": datetime.date(2021, 1, 1)}, "space.d:", "unsupported", id="date"),
    pytest.param(
        {"booster": {"choice": [{"uniform": [0, 1]}]}, "booster.0": "uniform(0, 1)"},
        "space:",
        "label 'booster.0'",
        id="duplicate-label",
    ),
    pytest.param(
        {"a": hp.uniform("x", 0, 1), "b": hp.uniform("x", 0, 1)},
        "space:",
        "label 'x'",
        id="duplicate-python-label",
    ),
    pytest.param([1, 2], "space:", "expected a mapping", id="list"),
    pytest.param(None, "space:", "expected a mapping", id="none"),
    pytest.param(42, "space:", "expected a mapping", id="int"),
    pytest.param("uniform(0, 1)", "space:", "expected a mapping", id="str"),
]


@pytest.mark.parametrize(("spec", "path", "fragment"), BAD_SPECS)
def test_bad_input_raises_one_line(spec: Any, path: str, fragment: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        build_space(spec)
    message = str(info.value)
    assert message.startswith(path), message
    assert fragment in message, message
    assert "\n" not in message


def test_error_path_uses_given_prefix() -> None:
    with pytest.raises(SearchSpaceError, match=r"^study\.space\.x: quniform needs q > 0"):
        build_space({"x": "quniform(0, 5, -1)"}, path="study.space")


def test_yaml_spec_loads() -> None:
    spec = yaml.safe_load(
        """
        booster: choice(['gbtree', 'dart'])
        max_depth: quniform(4, 100, 1)
        gamma: {uniform: {low: 0, high: 5}}
        sub:
          choice:
            - {name: a}
            - {name: b, eta: "loguniform(-3, 0)"}
        """
    )
    assert set(param_kinds(spec)) == {"booster", "max_depth", "gamma", "sub", "sub.1.eta"}


def test_yaml_flow_style_comma_gets_a_hint() -> None:
    # Unquoted in a flow mapping, YAML splits "loguniform(-3, 0)" at the comma.
    spec = yaml.safe_load("sub: {eta: loguniform(-3, 0)}")
    with pytest.raises(SearchSpaceError, match=r"^space\.sub\.eta: .*put the call in quotes"):
        build_space(spec)


# -- flatten_params ---------------------------------------------------------------------------


def test_flatten_params_plain_values_and_merge() -> None:
    flat = flatten_params(
        {
            "max_depth": np.int64(7),
            "eta": np.float64(0.1),
            "flag": np.bool_(True),
            "name": np.str_("hist"),
            "seed": 42,
            "booster": {"booster_name": "dart", "rate_drop": np.float32(0.5), "deep": {"k": 1}},
            "pair": (np.int32(1), np.float64(2.5)),
            "items": [np.int64(3), "a"],
            "array": np.array([1, 2]),
        }
    )
    assert flat == {
        "max_depth": 7,
        "eta": 0.1,
        "flag": True,
        "name": "hist",
        "seed": 42,
        "booster_name": "dart",
        "rate_drop": 0.5,
        "k": 1,
        "pair": [1, 2.5],
        "items": [3, "a"],
        "array": [1, 2],
    }
    assert type(flat["max_depth"]) is int
    assert type(flat["eta"]) is float
    assert type(flat["flag"]) is bool
    assert type(flat["name"]) is str
    assert all(type(v) in (int, float) for v in flat["pair"])
    assert "booster" not in flat


@pytest.mark.parametrize(
    "sample_",
    [
        {"rate": 1, "booster": {"rate": 2}},
        {"booster": {"rate": 2}, "rate": 1},
        {"a": {"rate": 1}, "b": {"c": {"rate": 2}}},
    ],
)
def test_flatten_params_collision(sample_: dict[str, Any]) -> None:
    with pytest.raises(SearchSpaceError, match="rate") as info:
        flatten_params(sample_)
    message = str(info.value)
    assert "'rate'" in message
    assert "." in message.split("both")[0]  # names the nested path
    assert "\n" not in message


def test_flatten_params_rejects_non_mapping() -> None:
    with pytest.raises(SearchSpaceError, match="mapping"):
        flatten_params(3.5)  # type: ignore[arg-type]
