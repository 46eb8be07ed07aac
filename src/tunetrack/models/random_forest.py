"""Random forest (scikit-learn): averaged deep trees, a strong baseline with few knobs.

Not boosted: a forest is fitted in one go, so the round arguments, early stopping, the
pruner and a deadline met mid-fit do not apply (a trial's time is bounded by the size
of the forest the space allows). Categorical columns are given to the trees as their
category codes with NaN for missing (scikit-learn's forests split on NaN since 1.4);
sparse (one-hot) input passes through, but scikit-learn's forests take no missing value
in sparse input, so one there is refused up front. Models are stored with skops, not
pickle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tunetrack.exceptions import DataError
from tunetrack.models import _sklearn
from tunetrack.models.base import FitResult, ModelFamily, Pruner, Task, TrainingData, check_known
from tunetrack.space.distributions import Categorical, Float, Int, to_spec
from tunetrack.space.ranges import Whole

DEFAULT_SPACE: dict[str, Any] = to_spec(
    {
        "n_estimators": Int(50, 400),
        # None grows trees until leaves are pure (min_samples_leaf still bounds them).
        "max_depth": Categorical((None, Int(4, 30))),
        "min_samples_leaf": Int(1, 20),
        "max_features": Float(0.2, 1.0),  # a fraction of the features per split
        "max_samples": Float(0.5, 1.0),  # a fraction of the rows per tree (bootstrap)
        "random_state": 42,
    }
)

# Evaluated first (issue #17, cheap first): the fewest trees, each on half the rows and
# half the features, with leaves of at least 5 rows.
START_POINTS: tuple[dict[str, Any], ...] = (
    {
        "n_estimators": 50,
        "max_depth": 12,
        "min_samples_leaf": 5,
        "max_features": 0.5,
        "max_samples": 0.5,
    },
)

# scikit-learn's integer parameters of a forest and their ranges: a float such as 42.5 or
# 42.0 is refused at fit. Several also take a share of the rows or features in (0, 1].
WHOLE_PARAMS: dict[str, Whole] = {
    "n_estimators": Whole(1),
    "max_depth": Whole(1, none=True),
    "min_samples_split": Whole(2, share=True),
    "min_samples_leaf": Whole(1, share=True),
    "max_features": Whole(1, none=True, share=True, words=("sqrt", "log2")),
    "max_leaf_nodes": Whole(2, none=True),
    "max_samples": Whole(1, none=True, share=True),
    "random_state": Whole(0, 2**32 - 1, none=True),
    "n_jobs": Whole(none=True),
    "verbose": Whole(0),
}

# The one type in a fitted forest that skops does not trust by default: the tree arrays.
SKOPS_TYPES = frozenset({"sklearn.tree._tree.Tree"})


class RandomForestFamily(ModelFamily):
    name = "random_forest"
    boosted = False
    thread_params = ("n_jobs",)
    libraries = ("sklearn.ensemble",)
    model_file = "model.skops"
    whole_params = WHOLE_PARAMS

    def check_param_names(self, names: Iterable[str], *, where: str) -> None:
        check_known(
            names,
            _known_params(),
            where=where,
            what="a random forest parameter",
            docs="scikit-learn's docs",
        )

    def start_points(self, task: Task, encoding: str = "native") -> list[dict[str, Any]]:
        return [dict(p) for p in START_POINTS]

    def default_space(self, task: Task, encoding: str = "native") -> Mapping[str, Any]:
        return DEFAULT_SPACE

    def check_input(self, x: Any, feature_names: Sequence[str], role: str) -> None:
        import scipy.sparse as sp

        if not sp.issparse(x):
            return
        csr = sp.csr_matrix(x)
        missing = np.isnan(csr.data)
        if not missing.any():
            return
        columns = csr.indices[missing]
        first = int(columns[0])
        name = feature_names[first] if first < len(feature_names) else f"#{first}"
        raise DataError(
            f"{role} data column {name} has {int((columns == first).sum())} missing value(s) "
            f"({int(missing.sum())} in all), which the {self.name} family cannot take with "
            "features.encoding=onehot (scikit-learn's forests take missing values only in "
            "dense input): set features.encoding=native, or fill them"
        )

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
        import scipy.sparse as sp

        train = trees_input(x_train)
        if sp.issparse(train):
            train = train.tocsc()  # what tree fitting takes without a copy per trial
        return TrainingData(
            train=(train, _sklearn.target(y_train, task)),
            valid=trees_input(x_valid),
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
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if data.task.is_classification else RandomForestRegressor
        # All cores, and a fixed seed unless the space sets one: a trial repeats exactly.
        merged: dict[str, Any] = {"n_jobs": -1, "random_state": 0, **fixed_params, **params}
        if not merged.get("bootstrap", True):
            merged.pop("max_samples", None)  # scikit-learn rejects it without bootstrap
        x, y = data.train
        started = time.perf_counter()
        model = cls(**merged).fit(x, y)
        fit_seconds = time.perf_counter() - started
        return FitResult(
            predictions=_sklearn.predictions(model, data.valid, data.task),
            fit_seconds=fit_seconds,
            model_bytes=len(_sklearn.dumps(model)),
            model=model,
        )

    def predict(self, model: Any, x: Any, task: Task) -> np.ndarray:
        return _sklearn.predictions(model, trees_input(x), task)

    def save(self, model: Any, path: Path) -> int:
        return _sklearn.save(model, path)

    def load(self, path: Path) -> Any:
        return _sklearn.load(path, SKOPS_TYPES)


def trees_input(x: Any) -> Any:
    """Encoded rows as the forest takes them: float32 (the trees' own dtype, so no copy per
    trial), category columns as their codes with NaN for missing; sparse stays sparse."""
    import pandas as pd
    import scipy.sparse as sp

    if sp.issparse(x):
        return sp.csr_matrix(x, dtype=np.float32)
    if not isinstance(x, pd.DataFrame):
        return np.asarray(x, dtype=np.float32)
    columns = []
    for _, col in x.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy(dtype=np.float32)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(col.to_numpy(dtype=np.float32, na_value=np.nan))
    if not columns:
        return np.empty((len(x), 0), dtype=np.float32)
    return np.column_stack(columns)


def _known_params() -> frozenset[str]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    return frozenset(RandomForestRegressor().get_params()) | frozenset(
        RandomForestClassifier().get_params()
    )
