"""The Optuna engine behind the sampler seam: the hp vocabulary keeps its meaning."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.config import build_config
from tunetrack.exceptions import ConfigError, SearchSpaceError
from tunetrack.samplers import Suggestion, make_sampler
from tunetrack.samplers.optuna import OptunaSampler, optuna_seed
from tunetrack.space import describe_space

from .conftest import FAST

SPEC = {
    "n": "randint(5)",
    "max_depth": "quniform(4, 100, 1)",
    "leaves": "quniform(3, 18, 3)",
    "subsample": "quniform(0.05, 1, 0.1)",
    "gamma": "uniform(0, 2)",
    "learning_rate": "loguniform(-3, 0)",
    "min_child": "qloguniform(0, 3, 1)",
    "bins": "qloguniform(1.609438, 4.976734, 5)",  # log 5, log 145
    "alpha": "qloguniform(-0.693147, 1.94591, 0.5)",  # log 0.5, log 7
    "tree_method": {"choice": ["hist", "approx"]},
    "booster": {
        "choice": [{"booster": "gbtree"}, {"booster": "dart", "rate_drop": "uniform(0, 0.3)"}]
    },
    "cap": {"choice": [None, {"quniform": [4, 30, 1]}]},
    "objective": "reg:squarederror",
}
DESCRIBED = describe_space(SPEC)
E = math.exp
# name -> (type, low, high, step: values are its multiples; None: any value in range)
RULES: dict[str, tuple[type, float, float, float | None]] = {
    "n": (int, 0, 4, 1),
    "max_depth": (int, 4, 100, 1),
    "leaves": (int, 3, 18, 3),
    "subsample": (float, 0.1, 1.0, 0.1),
    "gamma": (float, 0, 2, None),
    "learning_rate": (float, E(-3), 1.0, None),
    "min_child": (int, 1, 20, 1),
    "bins": (int, 5, 145, 5),
    "alpha": (float, 0.5, 7.0, 0.5),
    "rate_drop": (float, 0, 0.3, None),
}
GOOD = {
    "n": 2,
    "max_depth": 10,
    "leaves": 6,
    "subsample": 0.5,
    "gamma": 1.0,
    "learning_rate": 0.1,
    "min_child": 3,
    "bins": 10,
    "alpha": 1.5,
    "tree_method": "hist",
    "booster": "dart",
    "rate_drop": 0.1,
    "cap": 12,
    "objective": "reg:squarederror",
}


def _loss(params: dict[str, Any]) -> float:
    return (params["max_depth"] - 20) ** 2 / 100 + abs(math.log(params["learning_rate"]) + 2)


def _run(sampler: OptunaSampler, n: int) -> list[dict[str, Any]]:
    asked = []
    for _ in range(n):
        suggestion = sampler.ask()
        asked.append(dict(suggestion.params))
        sampler.tell(suggestion, _loss(suggestion.params))
    return asked


def _check_point(params: dict[str, Any]) -> None:
    expected = set(GOOD) - {"rate_drop"} | ({"rate_drop"} if params["booster"] == "dart" else set())
    assert set(params) == expected  # a conditional key only in its branch
    for name, (type_, low, high, step) in RULES.items():
        if name not in params:
            continue
        value = params[name]
        assert type(value) is type_, (name, value)
        assert low - 1e-9 <= value <= high + 1e-9, (name, value)
        if step is not None:
            assert abs(value / step - round(value / step)) < 1e-9, (name, value)
    assert params["tree_method"] in {"hist", "approx"}
    assert params["cap"] is None or (type(params["cap"]) is int and 4 <= params["cap"] <= 30)
    assert params["objective"] == "reg:squarederror"


@pytest.mark.parametrize(("algo", "n"), [("random", 2000), ("tpe", 60)])
def test_asks_stay_in_range_with_the_right_types(algo: str, n: int) -> None:
    asked = _run(OptunaSampler(DESCRIBED, algo=algo, seed=0), n)
    for params in asked:
        _check_point(params)
    assert {p["booster"] for p in asked} == {"gbtree", "dart"}
    if algo == "random":
        # every combination of branches is taken
        assert {(p["booster"], p["cap"] is None, p["tree_method"]) for p in asked} == {
            (b, c, t) for b in ("gbtree", "dart") for c in (True, False) for t in ("hist", "approx")
        }
        # log scales stay log: half the draws fall below the bounds' geometric mean
        below = sum(p["learning_rate"] < E(-1.5) for p in asked) / n
        assert 0.45 < below < 0.55
        assert {p["leaves"] for p in asked} == {3, 6, 9, 12, 15, 18}
        assert {p["n"] for p in asked} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    ("algo", "spec"),
    [
        ("tpe", SPEC),
        ("random", SPEC),
        ("cmaes", {"x": "uniform(-1, 1)", "d": "quniform(2, 9, 1)", "lr": "loguniform(-3, 0)"}),
    ],
)
def test_same_seed_same_points(algo: str, spec: dict[str, Any]) -> None:
    described = describe_space(spec)

    def points(seed: Any) -> list[dict[str, Any]]:
        sampler = OptunaSampler(described, algo=algo, seed=seed)
        asked = []
        for _ in range(15):
            suggestion = sampler.ask()
            asked.append(dict(suggestion.params))
            sampler.tell(suggestion, sum(v for v in suggestion.params.values() if _num(v)))
        return asked

    assert points(7) == points(7)
    assert points([7, 3]) == points([7, 3])
    assert points(7) != points(8)
    assert points([7, 3]) != points(7)


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.mark.parametrize(("seed", "expected"), [(5, 5), (2**40, None), ([5, 3], None)])
def test_seeds_become_one_32_bit_int(seed: Any, expected: int | None) -> None:
    got = optuna_seed(seed)
    assert got == optuna_seed(seed)
    assert 0 <= got < 2**32
    if expected is not None:
        assert got == expected


def test_enqueued_points_come_first_and_history_counts() -> None:
    sampler = make_sampler("optuna", "tpe", DESCRIBED, seed=1)
    sampler.enqueue(GOOD)
    first = sampler.ask()
    assert first.params == GOOD
    sampler.tell(first, 1.0)
    other = {**GOOD, "booster": "gbtree", "cap": None}
    del other["rate_drop"]
    sampler.tell(Suggestion(other), 0.5)  # history from the store
    sampler.tell(Suggestion({**GOOD, "max_depth": 11}), None)  # a failed trial
    sampler.tell(Suggestion({**GOOD, "max_depth": 12}), float("nan"))  # NaN: failed
    asked = _run(sampler, 5)  # type: ignore[arg-type]
    assert all(p != GOOD for p in asked)
    for params in asked:
        _check_point(params)


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("a value the space has no option for", {"tree_method": "exact"}),
        ("a parameter missing", {"learning_rate": None}),
        ("text where a number goes", {"max_depth": "ten"}),
        ("a float where an int goes", {"max_depth": 10.5}),
        ("a constant changed", {"objective": "reg:absoluteerror"}),
        ("a value outside its range", {"max_depth": 700}),
        ("below a log range", {"learning_rate": 0.01}),
        ("off the q grid", {"leaves": 7}),
        ("off a float q grid", {"subsample": 0.55}),
        ("a key the space does not have", {"colsample_bytree": 0.5}),
        ("a key of the branch not taken", {"booster": "gbtree"}),
    ],
)
def test_a_point_outside_the_space_is_refused(case: str, params: dict[str, Any]) -> None:
    sampler = OptunaSampler(DESCRIBED, seed=1)
    sampler.enqueue(GOOD)
    with pytest.raises(SearchSpaceError, match="not a point of the search space"):
        sampler.enqueue({**GOOD, **params})
    with pytest.raises(SearchSpaceError, match="not a point of the search space"):
        sampler.tell(Suggestion({**GOOD, **params}), 1.0)


@pytest.mark.parametrize(
    ("case", "spec", "algo", "words"),
    [
        ("pchoice", {"k": {"pchoice": [[0.7, "a"], [0.3, "b"]]}}, "tpe", ["'k'", "pchoice"]),
        ("normal", {"x": "normal(0, 1)"}, "tpe", ["'x'", "normal", "hyperopt"]),
        ("lognormal", {"x": "lognormal(0, 1)"}, "random", ["'x'", "hyperopt"]),
        (
            "normal in a branch",
            {"b": {"choice": [{"k": "a"}, {"k": "b", "x": "qnormal(0, 1, 1)"}]}},
            "tpe",
            ["'b.1.x'", "hyperopt"],
        ),
        (
            "cmaes on a choice",
            {"x": "uniform(0, 1)", "b": {"choice": ["a", "b"]}},
            "cmaes",
            ["cmaes", "'b'", "tpe"],
        ),
        ("no q multiple in range", {"x": "quniform(0.1, 0.2, 0.5)"}, "tpe", ["space.x", "q=0.5"]),
        ("unknown algorithm", {"x": "uniform(0, 1)"}, "rand", ["search.algo", "random"]),
    ],
)
def test_refusals_are_one_line(case: str, spec: Any, algo: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        make_sampler("optuna", algo, describe_space(spec), seed=0)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_gp_without_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match="pip install torch"):
        make_sampler("optuna", "gp", describe_space({"x": "uniform(0, 1)"}), seed=0)


def test_missing_optuna_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError, match=r"pip install 'tunetrack\[optuna\]'"):
        make_sampler("optuna", "tpe", DESCRIBED, seed=0)


@pytest.mark.parametrize(
    ("engine", "algo", "words"),
    [
        ("optuna", "rand", ["search.algo 'rand'", "'optuna'", "tpe, random, cmaes, gp"]),
        ("hyperopt", "random", ["search.algo 'random'", "tpe, rand, anneal, atpe"]),
        ("optuna", "random", None),
        ("hyperopt", "anneal", None),
    ],
)
def test_algorithms_are_checked_per_engine(engine: str, algo: str, words: list[str] | None):
    raw = {"search": {"engine": engine, "algo": algo}}
    if words is None:
        assert build_config(raw).search.engine == engine
        return
    with pytest.raises(ConfigError) as info:
        build_config(raw)
    for word in words:
        assert word in str(info.value)


def test_tune_on_optuna_and_resume(sample_paths: tuple[str, str], tracking_uri: str) -> None:
    train, valid = sample_paths
    kwargs: dict[str, Any] = {"engine": "optuna", "overrides": FAST, "progress": False}
    study = tunetrack.tune(train=train, valid=valid, max_evals=4, **kwargs)
    client = MlflowClient(tracking_uri)
    parent = client.get_run(study.run_id)
    assert parent.data.tags["tunetrack.engine"] == "optuna"
    assert len(study.trials) == 4
    for trial in study.trials:
        assert type(trial.params["max_depth"]) is int
        assert 2 <= trial.params["max_depth"] <= 6
        assert type(trial.params["learning_rate"]) is float
    resumed = tunetrack.tune(train=train, valid=valid, max_evals=6, resume=True, **kwargs)
    assert resumed.run_id == study.run_id
    assert len(resumed.trials) == 6
    assert client.get_run(study.run_id).data.tags["tunetrack.engine"] == "optuna"


def test_a_refused_space_writes_nothing(sample_paths: tuple[str, str], tracking_uri: str) -> None:
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from tunetrack.cli import app

    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--engine", "optuna", "--quiet"]
    args += ["--set", "space.subsample={pchoice: [[0.5, 0.8], [0.5, 1.0]]}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "pchoice" in result.output
    assert "Traceback" not in result.output
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs == []


def test_a_study_keeps_its_engine_on_resume(sample_paths: tuple[str, str]) -> None:
    from tunetrack.storage.in_memory import InMemoryStorage

    train, valid = sample_paths
    storage = InMemoryStorage()
    common = {"train": train, "valid": valid, "overrides": FAST, "progress": False}
    first = tunetrack.tune(max_evals=1, engine="hyperopt", algo="anneal", storage=storage, **common)
    for other in ({"algo": "random"}, {"engine": "optuna", "algo": "random"}):
        with pytest.raises(ConfigError, match=r"cannot resume study .*search\.(engine|algo) was"):
            tunetrack.tune(max_evals=2, resume=True, storage=storage, **common, **other)
    assert len(tunetrack.load_study(first.run_id, storage=storage).trials) == 1
    # Named by neither flag, the engine is the study's own, not today's default.
    resumed = tunetrack.tune(max_evals=2, resume=True, storage=storage, **common)
    assert len(resumed.trials) == 2
    run = storage.get_run(first.run_id)
    assert run.tags["tunetrack.engine"] == "hyperopt"
    assert resumed.config["search"]["engine"] == "hyperopt"
    assert resumed.config["search"]["algo"] == "anneal"
