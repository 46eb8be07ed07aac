"""Linear models (scikit-learn): ridge, lasso and elastic net for regression, logistic
regression with an L2, L1 or elastic-net penalty for classification.

The preprocessing is a scikit-learn pipeline fitted on the training rows only, once per
study: category columns are one-hot encoded over their pandas categories (a value unseen
in training, or missing, becomes all zeros), numeric columns get median imputation and
standardisation (the penalties assume comparable scales). Sparse (one-hot) input is
imputed and scaled without centring, which would make it dense. The saved model is that
pipeline with the fitted estimator after it, stored with skops, so it predicts from
encoded rows.

Not boosted: the round arguments, early stopping and the pruner do not apply.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunetrack.exceptions import ConfigError
from tunetrack.models import _sklearn
from tunetrack.models.base import FitResult, ModelFamily, Pruner, Task, TrainingData, check_known
from tunetrack.space.distributions import Categorical, Float, to_spec
from tunetrack.space.ranges import Whole

# The estimator is a conditional choice: each branch samples only its own parameters.
# alpha / C on log scales; the sampled `kind` / `penalty` name the branch.
REGRESSION_SPACE: dict[str, Any] = to_spec(
    {
        "kind": Categorical(
            (
                {"kind": "ridge", "alpha": Float(1e-3, 1e3, log=True)},
                {"kind": "lasso", "alpha": Float(1e-4, 10.0, log=True)},
                {
                    "kind": "elastic_net",
                    "alpha": Float(1e-4, 10.0, log=True),
                    "l1_ratio": Float(0.05, 0.95),
                },
            )
        )
    }
)
CLASSIFICATION_SPACE: dict[str, Any] = to_spec(
    {
        "penalty": Categorical(
            (
                {"penalty": "l2", "C": Float(1e-3, 100.0, log=True)},
                {"penalty": "l1", "C": Float(1e-2, 100.0, log=True)},
                {
                    "penalty": "elasticnet",
                    "C": Float(1e-2, 100.0, log=True),
                    "l1_ratio": Float(0.05, 0.95),
                },
            )
        )
    }
)
# scikit-learn's integer parameters of these estimators (a float is refused at fit).
WHOLE_PARAMS: dict[str, Whole] = {
    "max_iter": Whole(1),
    "random_state": Whole(0, 2**32 - 1, none=True),
    "n_jobs": Whole(none=True),
    "verbose": Whole(0),
}
KINDS = ("ridge", "lasso", "elastic_net")
PENALTIES = ("l2", "l1", "elasticnet")

# Beyond scikit-learn's own estimators (trusted by skops), a fitted pipeline holds numpy
# dtype objects (the one-hot encoder's output dtype).
SKOPS_TYPES = frozenset({"numpy.dtype"})


class LinearFamily(ModelFamily):
    name = "linear"
    boosted = False
    thread_params = ("n_jobs",)
    libraries = ("sklearn.linear_model", "sklearn.pipeline")
    model_file = "model.skops"
    whole_params = WHOLE_PARAMS

    def check_param_names(self, names: Iterable[str], *, where: str) -> None:
        check_known(
            names,
            _known_params(),
            where=where,
            what="a linear model parameter",
            docs="scikit-learn's docs",
        )

    def start_points(self, task: Task, encoding: str = "native") -> list[dict[str, Any]]:
        # Cheap first (issue #17): the L2 branch, closed form or the quickest to converge.
        if task.is_classification:
            return [{"penalty": "l2", "C": 1.0}]
        return [{"kind": "ridge", "alpha": 1.0}]

    def default_space(self, task: Task, encoding: str = "native") -> Mapping[str, Any]:
        return CLASSIFICATION_SPACE if task.is_classification else REGRESSION_SPACE

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
        pre = _preprocessor(x_train).fit(x_train)
        return TrainingData(
            train=(pre, pre.transform(x_train), _sklearn.target(y_train, task)),
            valid=pre.transform(x_valid),
            y_valid=np.asarray(y_valid, dtype="float64"),
            task=task,
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
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.pipeline import Pipeline

        pre, x, y = data.train
        estimator = _estimator({**fixed_params, **params}, data.task)
        started = time.perf_counter()
        with warnings.catch_warnings():
            # A penalty too weak to converge in max_iter is a poor trial, scored as such.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(x, y)
        fit_seconds = time.perf_counter() - started
        # The preprocessing was fitted once in prepare(); the pipeline only joins the two.
        model = Pipeline([("preprocess", pre), ("estimator", estimator)])
        return FitResult(
            predictions=_sklearn.predictions(estimator, data.valid, data.task),
            fit_seconds=fit_seconds,
            model_bytes=len(_sklearn.dumps(model)),
            model=model,
        )

    def predict(self, model: Any, x: Any, task: Task) -> np.ndarray:
        return _sklearn.predictions(model, x, task)

    def save(self, model: Any, path: Path) -> int:
        return _sklearn.save(model, path)

    def load(self, path: Path) -> Any:
        return _sklearn.load(path, SKOPS_TYPES)


def _estimator(params: Mapping[str, Any], task: Task) -> Any:
    """The estimator a trial's parameters name, given only the parameters it takes."""
    from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

    params = dict(params)
    if task.is_classification:
        params.pop("kind", None)
        penalty = params.pop("penalty", "l2")
        if penalty not in PENALTIES:
            raise ConfigError(f"penalty must be one of {', '.join(PENALTIES)}; got {penalty!r}")
        l1_ratio = {"l2": 0.0, "l1": 1.0}.get(penalty, params.get("l1_ratio", 0.5))
        # lbfgs is the fast solver for L2; only saga handles L1 and elastic net.
        # saga visits rows in a random order: a fixed seed lets a refit repeat the trial.
        settings = {
            "solver": "lbfgs" if penalty == "l2" else "saga",
            "max_iter": 1000,
            "random_state": 0,
        }
        settings["l1_ratio"] = l1_ratio
        if LogisticRegression().get_params()["penalty"] != "deprecated":
            # scikit-learn < 1.8 reads l1_ratio only under penalty="elasticnet".
            settings["penalty"] = "elasticnet" if penalty != "l2" else "l2"
        return LogisticRegression(**{**settings, **_accepted(LogisticRegression, params)})
    params.pop("penalty", None)
    kind = params.pop("kind", "ridge")
    classes = {"ridge": Ridge, "lasso": Lasso, "elastic_net": ElasticNet}
    if kind not in classes:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    cls = classes[kind]
    settings = {} if cls is Ridge else {"max_iter": 5000}
    return cls(**{**settings, **_accepted(cls, params)})


def _accepted(cls: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    # A setting that only some kinds take (l1_ratio, solver ...) is dropped for the others.
    names = cls().get_params()
    return {k: v for k, v in params.items() if k in names and k != "penalty"}


def _known_params() -> frozenset[str]:
    from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

    names = {"kind", "penalty"}
    for cls in (Ridge, Lasso, ElasticNet, LogisticRegression):
        names |= set(cls().get_params())
    return frozenset(names)


def _preprocessor(x: Any) -> Any:
    """An unfitted pipeline for rows shaped like ``x`` (a frame, or a sparse matrix)."""
    import pandas as pd
    import scipy.sparse as sp
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if sp.issparse(x) or not isinstance(x, pd.DataFrame):
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler(with_mean=not sp.issparse(x))),
            ]
        )
    categorical = [c for c, t in x.dtypes.items() if isinstance(t, pd.CategoricalDtype)]
    numeric = [c for c in x.columns if c not in categorical]
    transformers: list[tuple[str, Any, list[Any]]] = []
    if categorical:
        # The categories come from the dtype (the training vocabulary), not from the rows.
        vocab = [list(x[c].cat.categories) for c in categorical]
        onehot = OneHotEncoder(categories=vocab, handle_unknown="ignore", dtype=np.float64)
        transformers.append(("categorical", onehot, categorical))
    if numeric:
        numbers = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        transformers.append(("numeric", numbers, numeric))
    return ColumnTransformer(transformers, sparse_threshold=0.0)
