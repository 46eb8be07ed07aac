"""Contract tests every registered model family passes (a new family is tested by being
registered): fit, predict, early stopping, deadline and pruner for boosted families, its
default space, and a round trip through its own file format without pickle.

The data is scikit-learn's bundled datasets, small, plus a pandas category column whose
validation rows hold a value unseen in training (missing after encoding).
"""

from __future__ import annotations

import math
import os
import time
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hyperopt.pyll.stochastic import sample
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from tunetrack.exceptions import ConfigError, ModelError
from tunetrack.models import CLASSIFICATION, MODELS, REGRESSION, ModelFamily, Task, get_model
from tunetrack.models.base import FitResult, TrainingData
from tunetrack.space import build_space, describe_space, flatten_params, space_leaves

FAMILIES = list(MODELS)
BOOSTED = [name for name, family in MODELS.items() if family.boosted]
NOT_BOOSTED = [name for name, family in MODELS.items() if not family.boosted]
ROUNDS = {"num_boost_round": 40, "early_stopping_rounds": 10}


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread per fit: on tiny data, threads only wait on each other (and on a shared
    test machine an idle-spinning OpenMP team makes a fit many times slower)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 1)


@dataclass(frozen=True)
class Case:
    x_train: Any
    y_train: np.ndarray
    x_valid: Any
    y_valid: np.ndarray
    task: Task


def _split(x: pd.DataFrame, y: np.ndarray, task: Task, n_train: int) -> Case:
    order = np.random.default_rng(0).permutation(len(x))
    train, valid = order[:n_train], order[n_train:]
    return Case(
        x.iloc[train].reset_index(drop=True),
        y[train],
        x.iloc[valid].reset_index(drop=True),
        y[valid],
        task,
    )


def _with_category(x: pd.DataFrame, source: str) -> pd.DataFrame:
    """A category column as the encoder leaves it: the training vocabulary as categories,
    values unseen in training as missing (here, every 7th row)."""
    x = x.copy()
    labels = pd.qcut(x[source], 3, labels=["low", "mid", "high"]).astype(str)
    codes = pd.Index(["low", "mid", "high"]).get_indexer(labels)
    codes[::7] = -1
    x["band"] = pd.Categorical.from_codes(codes, categories=["low", "mid", "high"])
    return x


@cache
def case(name: str) -> Case:
    if name in ("regression", "sparse"):
        x, y = load_diabetes(return_X_y=True, as_frame=True)
        built = _split(_with_category(x, "bmi"), y.to_numpy(dtype="float64"), Task(), 300)
        if name == "regression":
            return built
        # One-hot input as the encoder's `onehot` encoding gives it: CSR, float64.
        return Case(
            sp.csr_matrix(built.x_train.drop(columns="band").to_numpy()),
            built.y_train,
            sp.csr_matrix(built.x_valid.drop(columns="band").to_numpy()),
            built.y_valid,
            built.task,
        )
    if name == "binary":
        x, y = load_breast_cancer(return_X_y=True, as_frame=True)
        x = _with_category(x.iloc[:, :8], "mean radius")
        return _split(x, y.to_numpy(dtype="float64"), Task(CLASSIFICATION, ("0", "1")), 350)
    if name == "multiclass":
        x, y = load_wine(return_X_y=True, as_frame=True)
        x = _with_category(x, "alcohol")
        return _split(x, y.to_numpy(dtype="float64"), Task(CLASSIFICATION, ("0", "1", "2")), 110)
    if name == "noise":  # nothing to learn: the validation loss can only get worse
        rng = np.random.default_rng(1)
        x = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"f{i}" for i in range(5)])
        return _split(x, rng.normal(size=400), Task(), 300)
    raise KeyError(name)


_PREPARED: dict[tuple[str, str], TrainingData] = {}


def prepared(family: ModelFamily, name: str) -> TrainingData:
    """Training structures are built once per study; here, once per family and case."""
    key = (family.name, name)
    if key not in _PREPARED:
        c = case(name)
        _PREPARED[key] = family.prepare(c.x_train, c.y_train, c.x_valid, c.y_valid, c.task)
    return _PREPARED[key]


def fit(
    family: ModelFamily, name: str, params: dict[str, Any] | None = None, **kwargs: Any
) -> FitResult:
    options: dict[str, Any] = {**ROUNDS, "fixed_params": {}, **kwargs}
    return family.fit(params or {}, prepared(family, name), **options)


@cache
def default_fit(name: str, case_name: str) -> FitResult:
    """The fit with default settings, made once: several tests only read it."""
    return fit(MODELS[name], case_name)


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    picked = proba[np.arange(len(y)), y.astype(int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


# ------------------------------------------------------------------------------------------
# Fit and predict


@pytest.mark.parametrize("case_name", ["regression", "sparse", "binary", "multiclass"])
@pytest.mark.parametrize("name", FAMILIES)
def test_fit_predicts_in_shape_and_beats_a_constant(name: str, case_name: str) -> None:
    family, c = MODELS[name], case(case_name)
    result = default_fit(name, case_name)
    n = c.y_valid.shape[0]
    if c.task.is_classification:
        assert result.predictions.shape == (n, c.task.n_classes)
        assert np.all((result.predictions >= 0) & (result.predictions <= 1))
        np.testing.assert_allclose(result.predictions.sum(axis=1), 1.0, atol=1e-6)
        prior = np.bincount(c.y_train.astype(int), minlength=c.task.n_classes) / len(c.y_train)
        baseline = log_loss(c.y_valid, np.tile(prior, (n, 1)))
        assert log_loss(c.y_valid, result.predictions) < 0.8 * baseline
    else:
        assert result.predictions.shape == (n,)
        assert result.predictions.dtype == np.float64
        rmse = math.sqrt(float(np.mean((result.predictions - c.y_valid) ** 2)))
        assert rmse < 0.9 * float(np.std(c.y_valid))
    assert result.model_bytes > 0
    assert result.fit_seconds >= 0
    again = family.predict(result.model, c.x_valid, c.task)
    np.testing.assert_allclose(again, result.predictions, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------------------------------
# Rounds: early stopping, deadline, pruner


@pytest.mark.parametrize("name", BOOSTED)
def test_boosted_family_stops_early_on_the_validation_loss(name: str) -> None:
    family, c = MODELS[name], case("noise")
    result = fit(family, "noise", num_boost_round=300, early_stopping_rounds=5)
    assert result.best_iteration is not None
    assert result.best_iteration < 300 - 5
    assert result.stopped_early_by is None
    assert result.pruned_at is None
    # The validation curve (the pruner's input) has a value per round trained, and its
    # best is at the best round.
    curve = result.curve or []
    assert result.best_iteration < len(curve) <= result.best_iteration + 1 + 5
    assert min(curve) == pytest.approx(curve[result.best_iteration])
    # The kept model ends at the best round: it predicts what the trial scored.
    np.testing.assert_allclose(
        family.predict(result.model, c.x_valid, c.task), result.predictions, rtol=1e-6
    )


@pytest.mark.parametrize("name", NOT_BOOSTED)
def test_not_boosted_family_ignores_rounds(name: str) -> None:
    family = MODELS[name]
    one = fit(family, "regression", num_boost_round=1, early_stopping_rounds=1)
    many = fit(family, "regression", num_boost_round=1000, early_stopping_rounds=None)
    np.testing.assert_array_equal(one.predictions, many.predictions)
    assert one.best_iteration is None
    assert one.pruned_at is None


@pytest.mark.parametrize("case_name", ["regression", "binary"])
@pytest.mark.parametrize("name", BOOSTED)
def test_passed_deadline_stops_a_boosted_family_after_a_round(name: str, case_name: str) -> None:
    family = MODELS[name]
    result = fit(
        family, case_name, num_boost_round=200, early_stopping_rounds=None,
        deadline=time.monotonic() - 1,
    )  # fmt: skip
    assert result.stopped_early_by == "deadline"
    assert result.best_iteration == 0
    assert result.predictions.shape[0] == case(case_name).y_valid.shape[0]


class PruneAt:
    def __init__(self, at: int) -> None:
        self.at = at
        self.seen: list[tuple[int, float]] = []

    def should_prune(self, round_: int, value: float) -> bool:
        self.seen.append((round_, value))
        return round_ == self.at


@pytest.mark.parametrize("case_name", ["regression", "multiclass"])
@pytest.mark.parametrize("name", BOOSTED)
def test_pruner_stops_a_boosted_family(name: str, case_name: str) -> None:
    family, pruner = MODELS[name], PruneAt(3)
    result = fit(family, case_name, num_boost_round=100, pruner=pruner)
    assert result.pruned_at == 3
    assert [r for r, _ in pruner.seen] == [0, 1, 2, 3]
    assert result.curve == [v for _, v in pruner.seen]
    assert all(math.isfinite(v) and v >= 0 for _, v in pruner.seen)
    assert result.best_iteration is not None
    assert result.best_iteration <= 3


# ------------------------------------------------------------------------------------------
# Default space and parameter names


@pytest.mark.slow
@pytest.mark.parametrize("case_name", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("name", FAMILIES)
def test_every_sample_of_the_default_space_is_valid_and_fits(name: str, case_name: str) -> None:
    family, c = MODELS[name], case(case_name)
    spec = family.default_space(c.task)
    family.check_param_names(space_leaves(describe_space(spec)), where="space")
    space = build_space(spec)
    rng = np.random.default_rng(7)
    draws = 10 if case_name == "binary" else 3  # every branch shows up within ten draws
    for _ in range(draws):
        params = flatten_params(sample(space, rng=rng))
        family.check_param_names(params, where="space")
        result = fit(family, case_name, params, num_boost_round=15, early_stopping_rounds=5)
        assert np.all(np.isfinite(result.predictions)), params


@pytest.mark.parametrize("name", FAMILIES)
def test_a_misspelt_parameter_is_refused_with_a_hint(name: str) -> None:
    family = MODELS[name]
    real = next(iter(space_leaves(describe_space(family.default_space(Task())))))
    typo = real[:-1]
    with pytest.raises(ConfigError, match=f"did you mean {real!r}"):
        family.check_param_names([typo], where="space")
    family.check_param_names([real], where="space")


@pytest.mark.parametrize("task", [Task(), Task(CLASSIFICATION, ("a", "b"))])
@pytest.mark.parametrize("name", FAMILIES)
def test_default_space_is_a_fresh_spec_per_task(name: str, task: Task) -> None:
    spec = MODELS[name].default_space(task)
    assert spec, "a family tunes something by default"
    build_space(spec)  # valid spec language


def test_registry_lists_the_four_families_and_refuses_others() -> None:
    assert FAMILIES[:4] == ["xgboost", "lightgbm", "random_forest", "linear"]
    assert all(MODELS[n].name == n for n in FAMILIES)
    assert {REGRESSION, CLASSIFICATION} <= {"regression", "classification"}
    with pytest.raises(ConfigError, match=r"choose one of: .*lightgbm.*xgboost"):
        get_model("catboost")


def test_xgboost_classification_space_leaves_the_objective_to_the_task() -> None:
    family = MODELS["xgboost"]
    assert family.default_space(Task())["objective"] == "reg:squarederror"
    assert "objective" not in family.default_space(Task(CLASSIFICATION, ("a", "b")))


# ------------------------------------------------------------------------------------------
# Storage: round trip, no pickle


def _assert_no_pickle(path: Path) -> None:
    raw = path.read_bytes()
    assert not raw.startswith(b"\x80"), "a pickle stream"
    if zipfile.is_zipfile(path):  # skops: JSON schema plus numpy arrays
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert "schema.json" in names
            assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
            for member in names:
                assert not archive.read(member).startswith(b"\x80"), member


@pytest.mark.parametrize("case_name", ["regression", "binary", "multiclass", "sparse"])
@pytest.mark.parametrize("name", FAMILIES)
def test_saved_model_round_trips_without_pickle(name: str, case_name: str, tmp_path: Path) -> None:
    family, c = MODELS[name], case(case_name)
    result = default_fit(name, case_name)
    path = tmp_path / family.model_file
    size = family.save(result.model, path)
    assert size == path.stat().st_size > 0
    _assert_no_pickle(path)
    loaded = family.load(path)
    np.testing.assert_array_equal(family.predict(loaded, c.x_valid, c.task), result.predictions)


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if f.model_file.endswith(".skops")])
def test_skops_file_with_an_unexpected_type_is_refused(name: str, tmp_path: Path) -> None:
    family = MODELS[name]
    path = tmp_path / family.model_file
    family.save({"task": Task()}, path)  # an object no family ever saves
    with pytest.raises(ModelError, match=r"tunetrack\._core\.Task"):
        family.load(path)


def test_lightgbm_refuses_dataset_settings_and_doubled_aliases() -> None:
    family = MODELS["lightgbm"]
    with pytest.raises(ConfigError, match="Dataset setting tunetrack sets itself"):
        family.check_param_names(["feature_pre_filter"], where="model.params")
    family.check_param_names(["max_bin"], where="model.params")  # built into the Dataset
    with pytest.raises(ConfigError, match=r"space\.max_bin is a setting of the lightgbm Dataset"):
        family.check_settings({}, ["max_bin"])
    with pytest.raises(ConfigError, match="two names of one LightGBM parameter"):
        family.check_param_names(["eta", "learning_rate"], where="space")
    family.check_param_names(["min_child_samples", "colsample_bytree"], where="space")


def test_linear_family_names_its_branch_in_the_sampled_params() -> None:
    family = MODELS["linear"]
    kinds = {o["kind"] for o in family.default_space(Task())["kind"]["choice"]}
    assert kinds == {"ridge", "lasso", "elastic_net"}
    result = fit(family, "regression", {"kind": "elastic_net", "alpha": 0.01, "l1_ratio": 0.5})
    assert type(result.model[-1]).__name__ == "ElasticNet"
    result = fit(family, "binary", {"penalty": "l1", "C": 1.0})
    assert result.model[-1].l1_ratio == 1.0
    with pytest.raises(ConfigError, match="kind must be one of"):
        fit(family, "regression", {"kind": "lars"})
