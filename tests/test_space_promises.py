"""A parameter's type and range are a promise (issue 18, item 1).

Every value a space draws for a family's integer parameter is an ``int`` inside the
family's range and inside the leaf's own bounds, on both engines; a space that cannot
promise it is refused in one line before anything is written. Tables: every distribution
form over every integer parameter every family declares; the refusals through ``tune``
(every case) and the CLI (one case per engine).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tunetrack import tune
from tunetrack.cli import app
from tunetrack.exceptions import ConfigError, SearchSpaceError, TunetrackError
from tunetrack.models import MODELS, Task, default_space_for, family_spaces
from tunetrack.samplers import make_sampler
from tunetrack.space import describe_space
from tunetrack.space.ranges import Whole, check_draws, check_whole_params

# Per engine and form: 20 points x every integer param of the family (hundreds of draws;
# a two-valued choice repeats one value 20 times with odds of 2**-19).
ASKS = 20


def _bounds(need: Whole) -> tuple[int, int]:
    low = max(need.low if need.low is not None else 1, 1)
    high = low + 30 if need.high is None else min(low + 30, need.high)
    return low, high


def _log(x: float) -> float:
    return round(math.log(x), 6)


# form -> (the leaf for bounds [lo, hi], whether a family needing ``need`` may take it)
Form = tuple[Callable[[int, int], Any], Callable[[Whole], bool]]
ALWAYS: Callable[[Whole], bool] = lambda need: True  # noqa: E731
NEVER: Callable[[Whole], bool] = lambda need: False  # noqa: E731
FORMS: dict[str, Form] = {
    "uniform": (lambda lo, hi: f"uniform({lo}, {hi})", NEVER),
    "quniform": (lambda lo, hi: f"quniform({lo}, {hi}, 1)", ALWAYS),
    "quniform off the q grid": (lambda lo, hi: f"quniform({lo + 0.4}, {hi}, 1)", NEVER),
    "loguniform": (lambda lo, hi: f"loguniform({_log(lo)}, {_log(hi)})", NEVER),
    "qloguniform": (lambda lo, hi: f"qloguniform({_log(lo)}, {_log(hi)}, 1)", ALWAYS),
    "qloguniform off the q grid": (
        lambda lo, hi: f"qloguniform({_log(lo + 0.4)}, {_log(hi)}, 1)",
        NEVER,
    ),
    "normal": (lambda lo, hi: f"normal({(lo + hi) / 2}, 2)", NEVER),
    "qnormal": (
        lambda lo, hi: f"qnormal({(lo + hi) / 2}, 2, 1)",
        lambda need: need.low is None and need.high is None,
    ),
    "lognormal": (lambda lo, hi: f"lognormal({_log((lo + hi) / 2)}, 0.3)", NEVER),
    "qlognormal": (
        lambda lo, hi: f"qlognormal({_log((lo + hi) / 2)}, 0.3, 1)",
        lambda need: (need.low is None or need.low <= 0) and need.high is None,
    ),
    "randint": (lambda lo, hi: f"randint({lo}, {hi + 1})", ALWAYS),
    "choice": (lambda lo, hi: {"choice": [lo, hi]}, ALWAYS),
    "choice with a real": (lambda lo, hi: {"choice": [lo, lo + 0.5]}, NEVER),
    "nested choice": (
        lambda lo, hi: {"choice": [f"quniform({lo}, {hi}, 1)", {"choice": [hi, lo]}]},
        ALWAYS,
    ),
    "nested choice with None": (
        lambda lo, hi: {"choice": [{"choice": [None, f"randint({lo}, {hi + 1})"]}, lo]},
        lambda need: need.none,
    ),
    "uniform with type int": (lambda lo, hi: {"uniform": [lo, hi], "type": "int"}, ALWAYS),
    "quniform with type float": (
        lambda lo, hi: {"quniform": [lo, hi, 1], "type": "float"},
        NEVER,
    ),
}
UNBOUNDED = {"normal", "qnormal", "lognormal", "qlognormal"}


def _check(family: str, spec: dict[str, Any]) -> None:
    """What the study setup checks of a one-family space."""
    described = describe_space(spec)
    check_draws(described)
    check_whole_params(described, MODELS[family].whole_params, family=family)


def test_every_family_declares_its_integer_params() -> None:
    for family in MODELS.values():
        assert family.whole_params, family.name
    assert "max_depth" in MODELS["xgboost"].whole_params
    assert "num_leaves" in MODELS["lightgbm"].whole_params
    assert "n_estimators" in MODELS["random_forest"].whole_params
    assert "max_iter" in MODELS["linear"].whole_params


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("family", sorted(MODELS))
def test_every_form_on_every_integer_param(family: str, form: str) -> None:
    """Refused in one line naming the param, or every draw an int in range (both engines)."""
    make, allowed = FORMS[form]
    needs = MODELS[family].whole_params
    taken: dict[str, Any] = {}
    for name, need in needs.items():
        spec = {name: make(*_bounds(need))}
        if allowed(need):
            _check(family, spec)
            taken[name] = spec[name]
            continue
        with pytest.raises(SearchSpaceError) as info:
            _check(family, spec)
        message = str(info.value)
        assert message.startswith(f"space.{name}"), message
        assert "\n" not in message
        assert "use " in message or "keep " in message or "drop " in message or "write " in message
    if not taken:
        return
    described = describe_space(taken)
    for engine, algo in (("hyperopt", "rand"), ("optuna", "random")):
        if engine == "optuna" and form in UNBOUNDED:
            with pytest.raises(ConfigError, match="hyperopt"):
                make_sampler(engine, algo, described, seed=0)
            continue
        sampler = make_sampler(engine, algo, described, seed=0)
        seen: dict[str, set[Any]] = {name: set() for name in taken}
        for _ in range(ASKS):
            params = sampler.ask().params
            for name in taken:
                value = params[name]
                seen[name].add(value)
                need = needs[name]
                if value is None:
                    assert need.none, (engine, name)
                    continue
                assert type(value) is int, (engine, name, value)
                assert need.low is None or value >= need.low, (engine, name, value)
                assert need.high is None or value <= need.high, (engine, name, value)
                if form not in UNBOUNDED:
                    low, high = _bounds(need)
                    assert low <= value <= high, (engine, name, value)
        # Not a constant in disguise: the draws vary.
        assert all(len(values) > 1 for values in seen.values()), seen


@pytest.mark.parametrize("name", ["min_samples_leaf", "min_samples_split", "max_samples"])
def test_a_share_in_0_1_is_a_value_where_scikit_learn_takes_one(name: str) -> None:
    _check("random_forest", {name: "uniform(0.1, 0.9)"})
    with pytest.raises(SearchSpaceError, match=rf"space.{name}: .*share in \(0, 1\]"):
        _check("random_forest", {name: "uniform(0.5, 1.5)"})


@pytest.mark.parametrize(
    ("spec", "drawn", "fix"),
    [
        ("quniform(1, 20, 4)", "0", "quniform(4, 20, 4)"),
        ("quniform(4, 23, 4)", "24", "quniform(4, 20, 4)"),
        ("qloguniform(0, 3, 5)", "0", "qloguniform(1.609438, 2.995732, 5)"),
        ("quniform(0.05, 0.36, 0.1)", "0.4", "quniform(0.1, 0.3, 0.1)"),
        ({"uniform": [2.5, 10], "type": "int"}, "2", "quniform(3, 10, 1)"),
        ("quniform(0.1, 0.2, 0.5)", "0", "no multiple of q=0.5"),
    ],
)
def test_a_draw_past_its_bounds_is_refused_with_the_bounds_that_fix_it(
    spec: Any, drawn: str, fix: str
) -> None:
    """Whatever the family: a q-rounding or a truncation may not step past the bounds."""
    described = describe_space({"x": spec})
    for engine, algo in (("hyperopt", "tpe"), ("optuna", "tpe")):
        with pytest.raises(SearchSpaceError) as info:
            make_sampler(engine, algo, described, seed=0)
        message = str(info.value)
        assert message.startswith("space.x: "), message
        assert f"can draw {drawn}," in message, message
        assert fix in message, message
    if fix.startswith(("quniform", "qloguniform")):
        fixed = describe_space({"x": fix.split(", whose")[0]})
        check_draws(fixed)
        for engine, algo in (("hyperopt", "rand"), ("optuna", "random")):
            sampler = make_sampler(engine, algo, fixed, seed=0)
            low, high = _declared(fixed["x"])
            for _ in range(200):
                value = sampler.ask().params["x"]
                assert low * (1 - 1e-6) <= value <= high * (1 + 1e-6), (engine, value)


def _declared(node: dict[str, Any]) -> tuple[float, float]:
    dist = next(k for k in node if k != "type")
    low, high = node[dist]["low"], node[dist]["high"]
    return (math.exp(low), math.exp(high)) if "log" in dist else (low, high)


@pytest.mark.parametrize(
    ("task", "encoding"),
    [(t, e) for t in ("regression", "classification") for e in ("native", "onehot")],
)
def test_every_default_space_keeps_the_promise(task: str, encoding: str) -> None:
    names = sorted(MODELS)
    for name in names:
        _check(name, dict(default_space_for([name], Task(task), encoding)))
    described = describe_space(default_space_for(names, Task(task), encoding))
    check_draws(described)
    for name, where, part in family_spaces(described, names):
        check_whole_params(part, MODELS[name].whole_params, family=name, path=where)


# -- the CLI: refused in one line, exit 2, nothing written ---------------------------------


def _clean_csv(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=120),
            "x2": rng.normal(size=120),
            "cat": rng.choice(["a", "b", "c"], 120),
        }
    )
    frame["y"] = 2 * frame["x1"] - frame["x2"] + rng.normal(scale=0.1, size=120)
    path = tmp / "clean.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _snapshot(uri: str) -> tuple[list[str], int]:
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    return sorted(e.name for e in experiments), len(
        client.search_runs([e.experiment_id for e in experiments])
    )


CLI_REFUSALS = [
    ("xgboost", "max_depth=uniform(3, 10)", ["space.max_depth", "quniform(3, 10, 1)"]),
    ("xgboost", "max_depth=normal(6, 2)", ["space.max_depth", "qnormal"]),
    ("lightgbm", "num_leaves=uniform(8, 64)", ["space.num_leaves", "whole"]),
    ("lightgbm", "min_data_in_leaf=loguniform(1, 4)", ["space.min_data_in_leaf", "qloguniform"]),
    ("random_forest", "n_estimators=uniform(10, 50)", ["space.n_estimators", "whole"]),
    ("random_forest", "n_estimators=quniform(1, 20, 4)", ["can draw 0", "quniform(4, 20, 4)"]),
    ("random_forest", "n_estimators=quniform(0, 100, 10)", ["n_estimators", ">= 1"]),
    ("random_forest", "max_depth=choice([None, 2.5])", ["space.max_depth.choice[1]", "2.5"]),
    ("random_forest", "min_samples_leaf={quniform: [1, 9, 1], type: float}", ["type: float"]),
    ("linear", "max_iter=uniform(100, 1000)", ["space.max_iter", "whole"]),
]


@pytest.mark.parametrize(("family", "setting", "words"), CLI_REFUSALS)
@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_setup_refuses_a_space_that_breaks_the_promise(
    family: str, setting: str, words: list[str], engine: str, tmp_path: Path, tracking_uri: str
) -> None:
    """Every case, in-process: the checks ``tune`` runs before its first write."""
    before = _snapshot(tracking_uri)
    overrides = [f"search.engine={engine}", f"space.{setting}"]
    with pytest.raises(TunetrackError) as info:
        tune(
            train=_clean_csv(tmp_path), target="y", model=family, max_evals=2,
            overrides=overrides, progress=False,
        )  # fmt: skip
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    assert _snapshot(tracking_uri) == before


# One case per engine through the CLI: exit 2, one line, nothing written.
CLI_CASES = [("hyperopt", CLI_REFUSALS[5]), ("optuna", CLI_REFUSALS[0])]


@pytest.mark.parametrize(("engine", "case"), CLI_CASES, ids=[e for e, _ in CLI_CASES])
def test_cli_refuses_a_space_that_breaks_the_promise(
    engine: str, case: tuple[str, str, list[str]], tmp_path: Path, tracking_uri: str
) -> None:
    family, setting, words = case
    before = _snapshot(tracking_uri)
    args = ["--train", _clean_csv(tmp_path), "--target", "y", "--model", family]
    args += ["--max-evals", "2", "--set", f"search.engine={engine}", "--set", f"space.{setting}"]
    result = CliRunner().invoke(app, ["tune", "--quiet", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert _snapshot(tracking_uri) == before


@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_cli_records_the_ints_it_promised(engine: str, tmp_path: Path, tracking_uri: str) -> None:
    args = ["--train", _clean_csv(tmp_path), "--target", "y", "--model", "random_forest"]
    args += ["--max-evals", "3", "--set", f"search.engine={engine}"]
    args += ["--set", "space.n_estimators=quniform(4, 20, 4)"]
    args += ["--set", "space.max_depth={choice: [null, {randint: [2, 5]}]}"]
    result = CliRunner().invoke(app, ["tune", "--quiet", *args])
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`tunetrack.role` = 'trial'"
    )
    assert len(runs) == 3
    for run in runs:
        assert run.data.tags["tunetrack.state"] == "ok"
        params = json.loads(run.data.tags["tunetrack.params"])
        assert type(params["n_estimators"]) is int
        assert params["n_estimators"] in {4, 8, 12, 16, 20}
        depth = params["max_depth"]
        assert depth is None or (type(depth) is int and 2 <= depth <= 4)
        assert run.data.params["n_estimators"] == str(params["n_estimators"])
