"""LightGBM: leaf-wise gradient boosting with native categorical splits.

Datasets are built once per study: pandas ``category`` columns become LightGBM
categorical features by themselves, CSR matrices are taken as they are, and the
validation set shares the training bins (``reference=train``). lightgbm is imported
inside the functions so that importing tunetrack stays cheap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunetrack.exceptions import ConfigError
from tunetrack.extras import require
from tunetrack.models.base import FitResult, ModelFamily, Pruner, Task, TrainingData, check_known
from tunetrack.space.distributions import Float, Int, to_spec
from tunetrack.space.ranges import Whole

# Leaf-wise trees: num_leaves is the main capacity knob; learning rate and the L1/L2
# penalties on log scales.
DEFAULT_SPACE: dict[str, Any] = to_spec(
    {
        "num_leaves": Int(8, 256),
        "learning_rate": Float(0.01, 0.5, log=True),
        "min_data_in_leaf": Int(5, 100),
        "feature_fraction": Float(0.5, 1.0),
        "bagging_fraction": Float(0.5, 1.0),
        "bagging_freq": 1,  # bagging_fraction does nothing unless rows are re-drawn
        "lambda_l1": Float(1e-4, 10.0, log=True),
        "lambda_l2": Float(1e-4, 10.0, log=True),
        "verbosity": -1,
        "seed": 42,
    }
)

# Evaluated first (issue #17, cheap first): a high rate and few leaves end in few rounds.
START_POINTS: tuple[dict[str, Any], ...] = (
    {
        "num_leaves": 31,
        "learning_rate": 0.3,
        "min_data_in_leaf": 20,
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "lambda_l1": 0.001,
        "lambda_l2": 0.001,
    },
)

# Dataset-level settings, fixed at construction: the same Dataset serves every trial,
# and LightGBM refuses to change binning afterwards. feature_pre_filter=False lets trials
# lower min_data_in_leaf on a built Dataset (LightGBM raises otherwise).
DATASET_PARAMS: dict[str, Any] = {"verbosity": -1, "feature_pre_filter": False}

# LightGBM's training parameters (4.x) a study may set: main names plus the aliases we
# accept. LightGBM only warns on unknown names (and not at verbosity -1), so a typo such
# as `num_leafs` would be tuned for nothing; we check names against this list instead.
# The round count and early stopping belong to model.num_boost_round /
# model.early_stopping_rounds, and file or network settings to no study, so they are absent.
PARAM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("objective",),
    ("boosting", "boosting_type"),
    ("data_sample_strategy",),
    ("learning_rate", "eta"),
    ("num_leaves", "max_leaves"),
    ("num_threads", "n_jobs", "nthread"),
    ("device_type", "device"),
    ("seed", "random_state"),
    ("deterministic",),
    ("force_col_wise",),
    ("force_row_wise",),
    ("max_depth",),
    ("min_data_in_leaf", "min_child_samples"),
    ("min_sum_hessian_in_leaf", "min_child_weight"),
    ("bagging_fraction", "subsample"),
    ("pos_bagging_fraction",),
    ("neg_bagging_fraction",),
    ("bagging_freq", "subsample_freq"),
    ("bagging_seed",),
    ("feature_fraction", "colsample_bytree"),
    ("feature_fraction_bynode", "colsample_bynode"),
    ("feature_fraction_seed",),
    ("extra_trees",),
    ("extra_seed",),
    ("max_delta_step",),
    ("lambda_l1", "reg_alpha"),
    ("lambda_l2", "reg_lambda"),
    ("linear_lambda",),
    ("min_gain_to_split", "min_split_gain"),
    ("drop_rate",),
    ("max_drop",),
    ("skip_drop",),
    ("xgboost_dart_mode",),
    ("uniform_drop",),
    ("drop_seed",),
    ("top_rate",),
    ("other_rate",),
    ("min_data_per_group",),
    ("max_cat_threshold",),
    ("cat_l2",),
    ("cat_smooth",),
    ("max_cat_to_onehot",),
    ("top_k",),
    ("monotone_constraints",),
    ("monotone_constraints_method",),
    ("monotone_penalty",),
    ("interaction_constraints",),
    ("path_smooth",),
    ("verbosity", "verbose"),
    ("use_quantized_grad",),
    ("num_grad_quant_bins",),
    ("quant_train_renew_leaf",),
    ("stochastic_rounding",),
    ("num_class",),
    ("is_unbalance",),
    ("scale_pos_weight",),
    ("sigmoid",),
    ("boost_from_average",),
    ("reg_sqrt",),
    ("alpha",),
    ("fair_c",),
    ("poisson_max_delta_step",),
    ("tweedie_variance_power",),
    ("metric",),
    ("first_metric_only",),
)
KNOWN_PARAMS = frozenset(name for group in PARAM_GROUPS for name in group)
# LightGBM's integer parameters and their ranges (its parameter docs), under every alias.
# None is dropped (LightGBM's default applies); 24.8 or 24.0 is an error at fit.
_WHOLE_GROUPS: dict[tuple[str, ...], Whole] = {
    ("num_leaves", "max_leaves"): Whole(2, 131072, none=True),
    ("max_depth",): Whole(none=True),
    ("min_data_in_leaf", "min_child_samples"): Whole(0, none=True),
    ("bagging_freq", "subsample_freq"): Whole(0, none=True),
    ("min_data_per_group",): Whole(1, none=True),
    ("max_cat_threshold",): Whole(1, none=True),
    ("max_cat_to_onehot",): Whole(1, none=True),
    ("top_k",): Whole(1, none=True),
    ("num_grad_quant_bins",): Whole(1, none=True),
    ("num_class",): Whole(1, none=True),
    ("max_drop",): Whole(none=True),
    ("num_threads", "n_jobs", "nthread"): Whole(none=True),
    ("seed", "random_state"): Whole(none=True),
    ("bagging_seed",): Whole(none=True),
    ("feature_fraction_seed",): Whole(none=True),
    ("extra_seed",): Whole(none=True),
    ("drop_seed",): Whole(none=True),
    ("verbosity", "verbose"): Whole(none=True),
}
WHOLE_PARAMS = {name: need for names, need in _WHOLE_GROUPS.items() for name in names}
# Binning and missing-value settings belong to the Dataset, built once for all trials:
# model.params may fix them (prepare builds the Dataset with them), but LightGBM refuses to
# change them afterwards ("Cannot change max_bin after constructed Dataset handle"), so a
# space over them could only fail (ModelFamily.check_settings refuses it).
DATASET_LEVEL_PARAMS = frozenset(
    [
        "max_bin",
        "max_bin_by_feature",
        "min_data_in_bin",
        "bin_construct_sample_cnt",
        "data_random_seed",
        "use_missing",
        "zero_as_missing",
        "linear_tree",
        "enable_bundle",
    ]
)
# Dataset settings tunetrack decides itself: the pre-filter stays off (trials lower
# min_data_in_leaf), categorical columns come from the feature encoder, and a study reads
# no side files.
RESERVED_DATASET_PARAMS = frozenset(
    ["feature_pre_filter", "categorical_feature", "forcedbins_filename"]
)
_THREAD_NAMES = ("num_threads", "n_jobs", "nthread")


class LightGBMFamily(ModelFamily):
    name = "lightgbm"
    # the library's own rule (it raises mid-build otherwise)
    refused_name_characters = '",:[]{}'
    classification_objectives = frozenset(
        {
            "binary",
            "multiclass",
            "softmax",
            "multiclassova",
            "multiclass_ova",
            "ova",
            "ovr",
            "cross_entropy",
            "xentropy",
            "cross_entropy_lambda",
            "xentlambda",
        }
    )
    boosted = True
    thread_params = _THREAD_NAMES
    libraries = ("lightgbm",)
    model_file = "model.txt"
    whole_params = WHOLE_PARAMS
    data_params = DATASET_LEVEL_PARAMS
    data_label = "Dataset"

    def check_param_names(self, names: Iterable[str], *, where: str) -> None:
        names = list(names)
        for name in names:
            if name in RESERVED_DATASET_PARAMS:
                raise ConfigError(
                    f"{where}.{name} is a LightGBM Dataset setting tunetrack sets itself "
                    "when it builds the data once for all trials; leave it out"
                )
            check_known(
                [name],
                KNOWN_PARAMS | DATASET_LEVEL_PARAMS,
                where=where,
                what="a LightGBM parameter tunetrack passes on",
                docs="LightGBM's parameter docs",
            )
        for group in PARAM_GROUPS:
            both = [name for name in group if name in names]
            if len(both) > 1:
                raise ConfigError(
                    f"{where} sets both {both[0]!r} and {both[1]!r}, two names of one "
                    "LightGBM parameter; keep one"
                )

    def start_points(self, task: Task, encoding: str = "native") -> list[dict[str, Any]]:
        return [dict(p) for p in START_POINTS]

    def default_space(self, task: Task, encoding: str = "native") -> Mapping[str, Any]:
        # The objective follows from the task (see fit), so one space serves both.
        return DEFAULT_SPACE

    def prepare(
        self,
        x_train: Any,
        y_train: np.ndarray,
        x_valid: Any,
        y_valid: np.ndarray,
        task: Task,
        *,
        fixed_params: Mapping[str, Any] | None = None,
        tuned: Mapping[str, Sequence[Any]] | None = None,
    ) -> TrainingData:
        lgb = require("lightgbm", extra="lightgbm", purpose="the lightgbm model")

        # The fixed Dataset settings (max_bin, ...) go into the build; every trial passes
        # the same values again (training_params), which LightGBM accepts.
        fixed = {k: v for k, v in (fixed_params or {}).items() if k in DATASET_LEVEL_PARAMS}
        params = {**DATASET_PARAMS, **fixed}
        train = lgb.Dataset(x_train, label=y_train, params=params, free_raw_data=True)
        # The validation rows stay on their Dataset (free_raw_data=False): a trial predicts
        # from them, and the Dataset only keeps a reference, not a copy.
        valid = lgb.Dataset(
            x_valid, label=y_valid, reference=train, params=params, free_raw_data=False
        )
        train.construct()
        valid.construct()
        return TrainingData(
            train=train, valid=valid, y_valid=np.asarray(y_valid, dtype="float64"), task=task
        )

    def fit(
        self,
        params: Mapping[str, Any],
        data: TrainingData,
        *,
        num_boost_round: int,
        early_stopping_rounds: int | None,
        fixed_params: Mapping[str, Any],
        deadline: float | None = None,
        pruner: Pruner | None = None,
    ) -> FitResult:
        lgb = require("lightgbm", extra="lightgbm", purpose="the lightgbm model")

        merged = training_params(params, fixed_params, data.task)
        watcher = _Watcher(deadline, pruner)
        callbacks: list[Any] = [watcher]
        if early_stopping_rounds:
            callbacks.append(
                lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)
            )
        started = time.perf_counter()
        booster = lgb.train(
            merged,
            data.train,
            num_boost_round=num_boost_round,
            valid_sets=[data.valid],
            valid_names=["validation"],
            callbacks=callbacks,
        )
        fit_seconds = time.perf_counter() - started
        # best_iteration counts rounds (1-based, 0 without early stopping); ours is the
        # 0-based index of the last kept round, as XGBoost's.
        rounds = booster.best_iteration or booster.current_iteration()
        # The model worth keeping ends at the best round; rebuild it from that text so
        # predict() and save() need no round argument.
        text = booster.model_to_string(num_iteration=rounds)
        kept = lgb.Booster(model_str=text)
        return FitResult(
            predictions=_shaped(kept.predict(data.valid.data), data.task),
            fit_seconds=fit_seconds,
            model_bytes=len(text.encode()),
            model=kept,
            best_iteration=rounds - 1,
            stopped_early_by="deadline" if watcher.deadline_fired else None,
            pruned_at=watcher.pruned_at,
            curve=watcher.curve,
        )

    def predict(self, model: Any, x: Any, task: Task) -> np.ndarray:
        return _shaped(model.predict(x), task)

    def save(self, model: Any, path: Path) -> int:
        # LightGBM's own text format (it keeps the pandas category mapping); no pickle.
        model.save_model(os.fspath(path))
        return os.path.getsize(path)

    def load(self, path: Path) -> Any:
        lgb = require("lightgbm", extra="lightgbm", purpose="the lightgbm model")

        return lgb.Booster(model_file=os.fspath(path))


def training_params(
    params: Mapping[str, Any], fixed_params: Mapping[str, Any], task: Task
) -> dict[str, Any]:
    """What ``lgb.train`` gets: the task's objective and validation loss, all cores, the
    dataset settings, then fixed, then sampled parameters (later ones win)."""
    merged: dict[str, Any] = {**_task_params(task), **DATASET_PARAMS, **fixed_params, **params}
    if not any(name in merged for name in _THREAD_NAMES):
        merged["num_threads"] = os.cpu_count() or 1
    return merged


def _task_params(task: Task) -> dict[str, Any]:
    # Early stopping watches the first metric: the validation loss of the objective.
    if not task.is_classification:
        return {"objective": "regression", "metric": "rmse"}
    if task.n_classes <= 2:
        return {"objective": "binary", "metric": "binary_logloss"}
    return {"objective": "multiclass", "num_class": task.n_classes, "metric": "multi_logloss"}


def _shaped(raw: Any, task: Task) -> np.ndarray:
    """Predictions in the base module's shapes: binary ``p`` becomes ``(1 - p, p)``."""
    out = np.asarray(raw, dtype="float64")
    if task.is_classification and out.ndim == 1:
        out = np.column_stack([1.0 - out, out])
    return out


class _Watcher:
    """A LightGBM callback for the study's deadline and the pruner. It tracks the best
    round of the first validation metric itself, so a fit cut short still keeps its best
    rounds (LightGBM's early-stopping callback keeps that state to itself)."""

    order = 40  # after LightGBM's early stopping (30): a normal stop is reported as one
    before_iteration = False

    def __init__(self, deadline: float | None, pruner: Pruner | None) -> None:
        self.deadline = deadline
        self.pruner = pruner
        self.deadline_fired = False
        self.pruned_at: int | None = None
        self.curve: list[float] = []  # the first validation metric, a value per round
        self._best: tuple[int, float, list[Any]] | None = None

    def __call__(self, env: Any) -> None:
        lgb = require("lightgbm", extra="lightgbm", purpose="the lightgbm model")

        results = env.evaluation_result_list or []
        round_ = env.iteration - env.begin_iteration
        if results:
            _, _, value, higher_better = results[0][:4]
            self.curve.append(float(value))
            score = -value if higher_better else value
            if self._best is None or score < self._best[1]:
                self._best = (env.iteration, score, list(results))
            if self.pruner is not None and self.pruner.should_prune(round_, float(value)):
                self.pruned_at = round_
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.deadline_fired = True
        if self.pruned_at is not None or self.deadline_fired:
            best_iteration, _, best_score = self._best or (env.iteration, 0.0, list(results))
            raise lgb.callback.EarlyStopException(best_iteration, best_score)
