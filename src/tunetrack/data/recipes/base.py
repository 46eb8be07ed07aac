"""What every recipe is: a table in, exactly the feature columns and the target out.

A recipe owns what "clean" means for its data set (which rows are kept, how IDs are
spelled), so the train and validation months and later prediction inputs all pass
through the same rules.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.exceptions import DataError

_SHOWN_COLUMNS = 8
# XGBoost, LightGBM and scikit-learn's forests train in float32: a larger number becomes
# inf there, so the rule for every family is finite numbers within float32's range.
LARGEST_NUMBER = float(np.finfo(np.float32).max)


class Recipe(abc.ABC):
    """How one kind of table becomes model input: feature columns plus a target."""

    name: str
    target: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.categorical, *self.numeric)

    # Why a training or validation row is left out, by the key ``prepare_counted`` counts.
    drop_reasons: Mapping[str, str] = {}

    def to_json(self) -> dict[str, Any]:
        """What a packaged model stores to rebuild this recipe."""
        return {"name": self.name, **self.settings()}

    def settings(self) -> dict[str, Any]:
        """The recipe's own options (recorded on the study run); none by default."""
        return {}

    def prepare(
        self, frame: pd.DataFrame, *, role: str = "train", with_target: bool = True
    ) -> pd.DataFrame:
        """A new frame with exactly the feature columns (and the target, if asked)."""
        if not with_target:
            return self.features_only(frame, role=role)
        return self.prepare_counted(frame, role=role)[0]

    @abc.abstractmethod
    def features_only(self, frame: pd.DataFrame, *, role: str = "predict") -> pd.DataFrame:
        """The feature columns, one row per input row (prediction never drops a row)."""

    @abc.abstractmethod
    def prepare_counted(
        self, frame: pd.DataFrame, *, role: str = "train"
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """Training or validation rows with the target, and how many rows were left out
        for each of ``drop_reasons`` (every key, zeros included; a row counts once)."""


def shown_columns(columns: Sequence[object]) -> str:
    names = [str(c) for c in columns]
    if not names:
        return "no columns"
    shown = ", ".join(names[:_SHOWN_COLUMNS])
    extra = len(names) - _SHOWN_COLUMNS
    return f"{shown}, ... {extra} more" if extra > 0 else shown


def check_finite(values: pd.Series, column: str, role: str) -> None:
    """Refuse infinite numbers (and ones beyond float32's range) in a numeric column.

    Missing values (NaN) pass: every family takes them in features, and a row whose
    target is missing is left out and counted. An infinite value has no such meaning,
    and each library treated it differently, so it is refused the same way everywhere.
    """
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = np.abs(numbers) > LARGEST_NUMBER
    if bad.any():
        example = float(numbers[bad][0])
        raise DataError(
            f"{role} data column {column} has {int(bad.sum())} infinite value(s) (e.g. "
            f"{example:g}); the models take finite numbers within +-3.4e38 (float32): "
            "replace them, or empty those cells to mark them missing"
        )
