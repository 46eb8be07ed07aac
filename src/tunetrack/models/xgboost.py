"""XGBoost: the tutorial's model family.

The training matrix is built once per study as a ``QuantileDMatrix`` (binned with the
fixed ``max_bin``) and the validation matrix once as a ``DMatrix`` (see ``prepare``), so
a trial pays only for boosting. Settings a ``QuantileDMatrix`` cannot serve (the
``approx`` and ``exact`` tree methods, the ``gblinear`` booster, a custom updater) get a
plain ``DMatrix`` instead. xgboost is imported inside the functions so that importing
tunetrack stays cheap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunetrack.exceptions import ConfigError
from tunetrack.models.base import FitResult, ModelFamily, Pruner, Task, TrainingData, check_known
from tunetrack.space.distributions import Float, Int, to_spec
from tunetrack.space.ranges import Whole

# The tutorial's search space, verbatim: learning rate and regularisation on log scales.
# The default for ``features.encoding: onehot`` (the tutorial's own encoding).
TUTORIAL_SPACE: dict[str, Any] = {
    "max_depth": {"quniform": [4, 100, 1]},
    "learning_rate": {"loguniform": [-3, 0]},
    "reg_alpha": {"loguniform": [-5, -1]},
    "reg_lambda": {"loguniform": [-6, -1]},
    "min_child_weight": {"loguniform": [-1, 3]},
    "objective": "reg:squarederror",
    "seed": 42,
}

# The default for ``features.encoding: native`` (location IDs as two categories plus the
# distance), measured on the bundled months (bench/README.md). With three features,
# deep trees only memorise (depth 20: 6.10 in 46 s, depth 30: a 736 MB model) and
# shallow ones need hundreds of rounds; rates of 0.05-0.3 with early stopping end well
# inside 1,000 rounds; a min_child_weight of tens of rows smooths the rare
# pickup/dropoff categories and wins (10 -> 50: 6.005 -> 5.982 at depth 10). Against a
# wider space (depth 6-16, rate 0.02-0.3, weight 1-300, no subsample) it reached a
# better best (5.978 vs 5.987) with cheaper trials (151 vs 62 in 100 s, pruning on).
NATIVE_SPACE: dict[str, Any] = to_spec(
    {
        "max_depth": Int(6, 12),
        "learning_rate": Float(0.05, 0.3, log=True),
        "min_child_weight": Float(5.0, 200.0, log=True),
        "subsample": Float(0.7, 1.0),
        "reg_lambda": Float(0.0025, 10.0, log=True),
        "objective": "reg:squarederror",
        "seed": 42,
    }
)

# Evaluated first in the native default space (typed params of the space's tuned keys),
# cheap first (issue #17, FLAML's cost-frugal start): a rate near the top and a middle
# depth end in about 115 rounds (6.03 on the bundled months, 3.3 s of CPU on a loaded
# machine, against 195 rounds and 10.9 s for the next one), so a study has a tracked
# result within seconds; then a point that reached 5.98 in the probes, which TPE
# starts from.
NATIVE_START_POINTS: tuple[dict[str, Any], ...] = (
    {
        "max_depth": 8,
        "learning_rate": 0.29,
        "min_child_weight": 50.0,
        "subsample": 1.0,
        "reg_lambda": 1.0,
    },
    {
        "max_depth": 10,
        "learning_rate": 0.1,
        "min_child_weight": 50.0,
        "subsample": 1.0,
        "reg_lambda": 1.0,
    },
)

# The cheap start of the classification space: a rate near the top, a middle depth.
CLASSIFICATION_START_POINTS: tuple[dict[str, Any], ...] = (
    {
        "max_depth": 8,
        "learning_rate": 0.29,
        "min_child_weight": 1.0,
        "subsample": 1.0,
        "reg_lambda": 1.0,
    },
)

CLASSIFICATION_MIN_CHILD_WEIGHT: dict[str, Any] = to_spec({"w": Float(0.1, 10.0, log=True)})["w"]

# Settings no trial should have to repeat: the histogram method (what QuantileDMatrix is
# for), all cores, and quiet logs.
BASE_PARAMS: dict[str, Any] = {"tree_method": "hist", "verbosity": 0}
# XGBoost's own default bin count, what a QuantileDMatrix gets without model.params.max_bin.
DEFAULT_MAX_BIN = 256


# Parameters of XGBoost's native training API (3.x), with aliases naming the same one.
# XGBoost ignores unknown names without a word at verbosity 0, so a typo such as
# `max_dept` would be tuned for nothing: we check names against this list instead.
KNOWN_PARAMS = frozenset(
    [
        "booster",
        "device",
        "verbosity",
        "validate_parameters",
        "nthread",
        "disable_default_eval_metric",
        "seed",
        "seed_per_iteration",
        "random_state",
        "eta",
        "learning_rate",
        "gamma",
        "min_split_loss",
        "max_depth",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "sampling_method",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "lambda",
        "reg_lambda",
        "alpha",
        "reg_alpha",
        "tree_method",
        "scale_pos_weight",
        "updater",
        "refresh_leaf",
        "process_type",
        "grow_policy",
        "max_leaves",
        "max_bin",
        "num_parallel_tree",
        "monotone_constraints",
        "interaction_constraints",
        "multi_strategy",
        "max_cached_hist_node",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "sample_type",
        "normalize_type",
        "rate_drop",
        "one_drop",
        "skip_drop",
        "feature_selector",
        "top_k",
        "objective",
        "base_score",
        "eval_metric",
        "num_class",
        "huber_slope",
        "quantile_alpha",
        "tweedie_variance_power",
        "aft_loss_distribution",
        "aft_loss_distribution_scale",
        "lambdarank_pair_method",
        "lambdarank_num_pair_per_sample",
        "lambdarank_normalization",
        "lambdarank_score_normalization",
        "lambdarank_unbiased",
        "lambdarank_bias_norm",
        "ndcg_exp_gain",
    ]
)
# XGBoost's integer parameters and their ranges (its parameter docs). None is dropped
# (XGBoost's default applies), so it is a value here; 7.0 or "7" is an error at fit.
WHOLE_PARAMS: dict[str, Whole] = {
    "max_depth": Whole(0, none=True),
    "max_leaves": Whole(0, none=True),
    "max_bin": Whole(2, none=True),
    "num_parallel_tree": Whole(1, none=True),
    "max_cat_to_onehot": Whole(1, none=True),
    "max_cat_threshold": Whole(1, none=True),
    "max_cached_hist_node": Whole(1, none=True),
    "top_k": Whole(0, none=True),
    "num_class": Whole(1, none=True),
    "lambdarank_num_pair_per_sample": Whole(1, none=True),
    "verbosity": Whole(0, 3, none=True),
    "nthread": Whole(none=True),
    "seed": Whole(none=True),
    "random_state": Whole(none=True),
}
# Settings that choose or shape the training matrix, built once for all trials: fixed in
# model.params, never tuned (a trial with another max_bin than the QuantileDMatrix's, or
# with a tree method it cannot serve, fails in XGBoost). The booster may be tuned: the
# matrix is chosen for every booster the space can give (see prepare).
MATRIX_PARAMS = frozenset(["max_bin", "tree_method", "updater"])
TREE_METHODS = ("auto", "hist", "approx", "exact")
BOOSTERS = ("gbtree", "dart", "gblinear")
# What gblinear ignores (XGBoost lists them as "not used" at verbosity 1): tuning one
# under booster=gblinear would tune nothing.
TREE_ONLY_PARAMS = frozenset(
    [
        "max_depth",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "sampling_method",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "gamma",
        "min_split_loss",
        "grow_policy",
        "max_leaves",
        "max_bin",
        "num_parallel_tree",
        "monotone_constraints",
        "interaction_constraints",
        "max_cached_hist_node",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "refresh_leaf",
        "process_type",
        "tree_method",
        "sample_type",
        "normalize_type",
        "rate_drop",
        "one_drop",
        "skip_drop",
    ]
)
ALIASES = (
    ("eta", "learning_rate"),
    ("gamma", "min_split_loss"),
    ("lambda", "reg_lambda"),
    ("alpha", "reg_alpha"),
    ("seed", "random_state"),
)


class XGBoostFamily(ModelFamily):
    name = "xgboost"
    # the library's own rule (it raises mid-build otherwise)
    refused_name_characters = "[]<"
    classification_objectives = frozenset({"binary", "multi", "reg:logistic"})
    boosted = True
    thread_params = ("nthread",)
    libraries = ("xgboost",)
    model_file = "model.ubj"
    whole_params = WHOLE_PARAMS
    data_params = MATRIX_PARAMS
    data_label = "training matrix"

    def check_param_names(self, names: Iterable[str], *, where: str) -> None:
        names = list(names)
        check_known(
            names,
            KNOWN_PARAMS,
            where=where,
            what="an XGBoost parameter and would be ignored",
            docs="XGBoost's parameter docs",
        )
        for a, b in ALIASES:
            if a in names and b in names:
                raise ConfigError(
                    f"{where} sets both {a!r} and {b!r}, two names of one XGBoost parameter; "
                    "keep one"
                )

    def check_settings(self, fixed: Mapping[str, Any], tuned: Mapping[str, Sequence[Any]]) -> None:
        super().check_settings(fixed, tuned)
        unknown = [str(v) for v in tuned.get("booster", ()) if v not in BOOSTERS]
        if unknown:
            raise ConfigError(
                f"space.booster may give {unknown[0]!r}, not an XGBoost booster; choose "
                f"among: {', '.join(BOOSTERS)}"
            )
        for name, allowed in (("tree_method", TREE_METHODS), ("booster", BOOSTERS)):
            value = fixed.get(name)
            if value is not None and value not in allowed:
                raise ConfigError(
                    f"model.params.{name}={value} is not an XGBoost {name}; choose one "
                    f"of: {', '.join(allowed)}"
                )
        if fixed.get("booster") == "gblinear":
            ignored = sorted(set(tuned) & TREE_ONLY_PARAMS)
            if ignored:
                listed = ", ".join(f"space.{n}" for n in ignored)
                raise ConfigError(
                    f"model.params.booster=gblinear ignores {listed} (tree settings), so "
                    "trials would tune nothing there; give a space of gblinear's own "
                    "settings, e.g. --set 'space={learning_rate: {loguniform: [-3, 0]}, "
                    "reg_lambda: {loguniform: [-6, 1]}, reg_alpha: {loguniform: [-6, 1]}}'"
                )

    def start_points(self, task: Task, encoding: str = "native") -> list[dict[str, Any]]:
        if encoding == "onehot":
            return []
        points = CLASSIFICATION_START_POINTS if task.is_classification else NATIVE_START_POINTS
        return [dict(p) for p in points]

    def default_space(self, task: Task, encoding: str = "native") -> Mapping[str, Any]:
        space = TUTORIAL_SPACE if encoding == "onehot" else NATIVE_SPACE
        if task.is_classification:
            # The objective follows from the classes (see fit), so it is not in the space.
            # A log-loss hessian is p(1-p) <= 0.25 per row, so the regression space's
            # min_child_weight (5-200) would need 20-800 rows per leaf: far smaller here.
            out = {k: v for k, v in space.items() if k != "objective"}
            out["min_child_weight"] = CLASSIFICATION_MIN_CHILD_WEIGHT
            return out
        return space

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
        import xgboost as xgb

        fixed = dict(fixed_params or {})
        boosters = {fixed.get("booster", "gbtree"), *(tuned or {}).get("booster", ())}
        categorical = _has_categories(x_train)
        learner = _without_categories(fixed, boosters)
        if categorical and learner is not None:
            names = [str(c) for c, t in x_train.dtypes.items() if str(t) == "category"]
            raise ConfigError(
                f"{learner} cannot use categorical columns ({', '.join(names)}); set "
                "features.encoding=onehot, or leave it out"
            )
        if _quantile_matrix_serves(fixed, boosters):
            # Binned once here, so every trial must train with this max_bin: the space
            # cannot vary it (check_settings) and the fixed one reaches xgb.train too.
            train = xgb.QuantileDMatrix(
                x_train,
                y_train,
                enable_categorical=categorical,
                max_bin=int(fixed.get("max_bin", DEFAULT_MAX_BIN)),
            )
        else:
            train = xgb.DMatrix(x_train, y_train, enable_categorical=categorical)
        # The validation set stays a plain DMatrix: evaluating on a sparse one-hot
        # QuantileDMatrix recomputes every round's predictions in full (measured: 200
        # rounds, 20 % of the rows, 55 s against 1.7 s); on native categories both cost
        # the same. Both encoders give train and valid the same category vocabulary.
        valid = xgb.DMatrix(x_valid, y_valid, enable_categorical=categorical)
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
        import xgboost as xgb

        merged = {**task_params(data.task), **training_params(params, fixed_params)}
        stopper = _deadline_callback(deadline) if deadline is not None else None
        # Always attached: it records the validation curve (the pruner's input, and
        # what later trials are judged against) and asks the pruner, if any.
        watcher = _curve_callback(pruner)
        callbacks = [cb for cb in (stopper, watcher) if cb is not None]
        started = time.perf_counter()
        booster = xgb.train(
            merged,
            data.train,
            num_boost_round=num_boost_round,
            evals=[(data.valid, "validation")],
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
            callbacks=callbacks or None,
        )
        fit_seconds = time.perf_counter() - started
        best_iteration = _best_iteration(booster)
        if merged.get("booster") == "gblinear":
            # One weight vector updated in place: it cannot be sliced back to its best
            # round, so the model kept (and its round count) is the last one.
            best_iteration = booster.num_boosted_rounds() - 1
        # The model worth keeping ends at the best round; measure that one. A booster
        # sliced to all its rounds is the booster itself: skip the copy.
        whole = best_iteration + 1 == booster.num_boosted_rounds()
        kept = booster if whole else booster[: best_iteration + 1]
        return FitResult(
            predictions=_shaped(kept.predict(data.valid), data.task),
            fit_seconds=fit_seconds,
            model_bytes=len(kept.save_raw(raw_format="ubj")),
            model=kept,
            best_iteration=best_iteration,
            stopped_early_by="deadline" if stopper is not None and stopper.fired else None,
            pruned_at=watcher.pruned_at,
            curve=watcher.curve,
        )

    def predict(self, model: Any, x: Any, task: Task) -> np.ndarray:
        import xgboost as xgb

        matrix = xgb.DMatrix(x, enable_categorical=_has_categories(x))
        return _shaped(model.predict(matrix), task)

    def save(self, model: Any, path: Path) -> int:
        return save_booster(model, path)

    def load(self, path: Path) -> Any:
        return load_booster(path)


def task_params(task: Task) -> dict[str, Any]:
    """The objective and the early-stopping metric a task implies; user settings win.

    Classification watches the validation log loss, the default loss of a classifier."""
    if not task.is_classification:
        return {}
    if task.n_classes <= 2:
        return {"objective": "binary:logistic", "eval_metric": "logloss"}
    return {"objective": "multi:softprob", "num_class": task.n_classes, "eval_metric": "mlogloss"}


def _shaped(raw: Any, task: Task) -> np.ndarray:
    """Predictions in the base module's shapes: binary ``p`` becomes ``(1 - p, p)``."""
    out = np.asarray(raw, dtype="float64")
    if task.is_classification and out.ndim == 1:
        out = np.column_stack([1.0 - out, out])
    return out


def training_params(
    params: Mapping[str, Any], fixed_params: Mapping[str, Any], nthread: int | None = None
) -> dict[str, Any]:
    """What ``xgb.train`` gets: all cores (or ``nthread``), the base, fixed, then sampled."""
    threads = nthread if nthread is not None else os.cpu_count() or 1
    return {"nthread": threads, **BASE_PARAMS, **fixed_params, **params}


def predict(booster: Any, x: Any) -> np.ndarray:
    """Predictions for encoded rows (a frame with categories, or a sparse matrix)."""
    import xgboost as xgb

    matrix = xgb.DMatrix(x, enable_categorical=_has_categories(x))
    return np.asarray(booster.predict(matrix), dtype="float64")


def save_booster(booster: Any, path: str | os.PathLike[str]) -> int:
    """Write the booster in XGBoost's own UBJSON format (no pickle); returns its size."""
    booster.save_model(os.fspath(path))
    return os.path.getsize(path)


def load_booster(path: str | os.PathLike[str]) -> Any:
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(os.fspath(path))
    return booster


def _best_iteration(booster: Any) -> int:
    best = getattr(booster, "best_iteration", None)
    if best is None:  # no early stopping: every round counts
        return booster.num_boosted_rounds() - 1
    return int(best)


def _quantile_matrix_serves(fixed: Mapping[str, Any], boosters: Collection[Any]) -> bool:
    """Whether every trial trains trees with the histogram method, the one tree method a
    ``QuantileDMatrix`` serves; a plain ``DMatrix`` serves them all (at the cost of
    re-sketching the data, which ``approx`` does every round anyway)."""
    return (
        fixed.get("tree_method", "hist") in ("hist", "auto")
        and set(boosters) <= {"gbtree", "dart"}
        and "updater" not in fixed
    )


def _without_categories(fixed: Mapping[str, Any], boosters: Collection[Any]) -> str | None:
    """The setting, as a user wrote it, whose learner cannot split categorical columns."""
    if fixed.get("booster") == "gblinear":
        return "model.params.booster=gblinear"
    if "gblinear" in boosters:
        return "space.booster's choice 'gblinear'"
    if fixed.get("tree_method") == "exact":
        return "model.params.tree_method=exact"
    return None


def _has_categories(x: Any) -> bool:
    dtypes = getattr(x, "dtypes", None)
    return dtypes is not None and any(str(t) == "category" for t in dtypes)


def _deadline_callback(deadline: float) -> Any:
    """A callback that stops boosting once the study's time budget is spent; the rounds
    trained so far stand, so the trial still yields an honest model."""
    import xgboost as xgb

    class DeadlineCallback(xgb.callback.TrainingCallback):
        fired = False

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if time.monotonic() >= deadline:
                self.fired = True
            return self.fired

    return DeadlineCallback()


def _curve_callback(pruner: Pruner | None) -> Any:
    """A callback that keeps the validation metric of each round and stops the fit when
    ``pruner`` says the curve trails the completed trials' (``pruned_at``: that round).

    The metric is the last one XGBoost evaluates, the one early stopping watches too.
    """
    import xgboost as xgb

    class CurveCallback(xgb.callback.TrainingCallback):
        def __init__(self) -> None:
            super().__init__()
            self.curve: list[float] = []
            self.pruned_at: int | None = None

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            history = evals_log.get("validation") or {}
            if not history:
                return False
            value = float(list(history.values())[-1][-1])
            self.curve.append(value)
            if pruner is not None and pruner.should_prune(epoch, value):
                self.pruned_at = epoch
                return True
            return False

    return CurveCallback()
