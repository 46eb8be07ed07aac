"""The tabular recipe: any table with a target column, its features typed from the data.

Typing happens once, on the training rows only, and the result (which columns are
numeric, categorical or datetime) is part of the packaged model, so a file scored later
is read exactly as the training file was. Rows are never dropped at prediction time;
training and validation rows without a target value are left out, and counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tunetrack.data.recipes.base import Recipe, check_finite, shown_columns
from tunetrack.exceptions import DataError

# Text columns with more distinct values than this share of the rows (and more than
# MIN_ID_VALUES) look like identifiers or free text: they cannot generalise.
ID_SHARE = 0.5
MIN_ID_VALUES = 50
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")
_DATE_PROBE_ROWS = 200


@dataclass(frozen=True)
class ColumnChoice:
    """What automatic typing decided, and why a column was left out (said to the user)."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    left_out: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TabularRecipe(Recipe):
    """Predict ``target`` from typed columns; datetime columns become their parts."""

    name: ClassVar[str] = "tabular"
    drop_reasons: ClassVar[Mapping[str, str]] = {"missing_target": "with no target value"}
    target: str
    categorical: tuple[str, ...]
    raw_numeric: tuple[str, ...]
    datetime: tuple[str, ...] = ()

    @property
    def numeric(self) -> tuple[str, ...]:  # type: ignore[override]
        """Model-facing numeric columns: the numbers, then each datetime's parts."""
        parts = tuple(f"{col}_{part}" for col in self.datetime for part in DATETIME_PARTS)
        return (*self.raw_numeric, *parts)

    @property
    def features(self) -> tuple[str, ...]:
        """The input columns a row must carry."""
        return (*self.categorical, *self.raw_numeric, *self.datetime)

    def features_only(self, frame: pd.DataFrame, *, role: str = "predict") -> pd.DataFrame:
        return self._features(frame, role, with_target=False)

    def prepare_counted(
        self, frame: pd.DataFrame, *, role: str = "train"
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        out = self._features(frame, role, with_target=True)
        target = frame[self.target].reset_index(drop=True)
        known = target.notna().to_numpy()
        if not known.any():
            raise DataError(
                f"{role} data has no row with a value in the target column "
                f"{self.target!r}; pass a file whose target is filled in"
            )
        if ptypes.is_numeric_dtype(target) and not ptypes.is_bool_dtype(target):
            check_finite(target, self.target, role)
        out[self.target] = target
        dropped = {"missing_target": int((~known).sum())}
        return out[known].reset_index(drop=True), dropped

    def _features(self, frame: pd.DataFrame, role: str, *, with_target: bool) -> pd.DataFrame:
        needed = [*self.features, *([self.target] if with_target else [])]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"{role} data lacks column(s) {', '.join(map(str, missing))} (it has "
                f"{shown_columns(frame.columns)}); pass a file with the training columns"
            )
        frame = frame.reset_index(drop=True)
        columns: dict[str, Any] = {}
        for col in self.categorical:
            columns[col] = _as_text(frame[col])
        for col in self.raw_numeric:
            columns[col] = _as_numbers(frame[col], col, role)
        for col in self.datetime:
            stamps = _as_datetimes(frame[col], col, role)
            # The column itself stays too: prepared rows are valid input rows again.
            columns[col] = stamps
            for part in DATETIME_PARTS:
                columns[f"{col}_{part}"] = getattr(stamps.dt, part).astype("float64")
        return pd.DataFrame(columns, index=frame.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "categorical": list(self.categorical),
            "numeric": list(self.raw_numeric),
            "datetime": list(self.datetime),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TabularRecipe:
        return cls(
            target=str(data["target"]),
            categorical=tuple(data["categorical"]),
            raw_numeric=tuple(data["numeric"]),
            datetime=tuple(data.get("datetime", ())),
        )


def choose_columns(
    frame: pd.DataFrame,
    *,
    target: str,
    numeric: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    datetime: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
) -> ColumnChoice:
    """Type the training frame's columns: as listed, or automatically when none is listed."""
    if target not in frame.columns:
        raise DataError(
            f"train data has no target column {target!r} (it has "
            f"{shown_columns(frame.columns)}); pass --target with one of its columns"
        )
    listed = {"numeric": numeric, "categorical": categorical, "datetime": datetime}
    if any(v is not None for v in listed.values()):
        for kind, cols in listed.items():
            for col in cols or ():
                if col not in frame.columns:
                    raise DataError(
                        f"features.{kind} names column {col!r}, which the train data lacks "
                        f"(it has {shown_columns(frame.columns)}); fix the name"
                    )
                if col == target:
                    raise DataError(
                        f"features.{kind} lists the target {target!r}; a model cannot "
                        "learn from its own answer, so remove it"
                    )
                if _nested(frame[col]):
                    raise DataError(
                        f"features.{kind} names column {col!r}, whose values are lists or "
                        "records; flatten it into plain columns or leave it out"
                    )
        if not any(listed.values()):
            raise DataError(
                "the features lists name no column to train on; list at least one under "
                "features.numeric, features.categorical or features.datetime"
            )
        return _checked(
            frame,
            target,
            ColumnChoice(
                categorical=tuple(categorical or ()),
                numeric=tuple(numeric or ()),
                datetime=tuple(datetime or ()),
            ),
        )
    skip = set(drop or ())
    unknown = sorted(skip - set(map(str, frame.columns)))
    if unknown:
        raise DataError(
            f"features.drop names column {unknown[0]!r}, which the train data lacks; fix the name"
        )
    chosen: dict[str, list[str]] = {"categorical": [], "numeric": [], "datetime": []}
    left_out: dict[str, str] = {}
    for col in frame.columns:
        if col == target or col in skip:
            continue
        kind, why = _column_kind(frame[col])
        if kind is None:
            left_out[str(col)] = why
        else:
            chosen[kind].append(str(col))
    if not any(chosen.values()):
        raise DataError(
            f"train data has no usable feature column besides the target {target!r}; "
            "pass a table with feature columns or list them under features"
        )
    return _checked(
        frame,
        target,
        ColumnChoice(
            categorical=tuple(chosen["categorical"]),
            numeric=tuple(chosen["numeric"]),
            datetime=tuple(chosen["datetime"]),
            left_out=left_out,
        ),
    )


def _checked(frame: pd.DataFrame, target: str, choice: ColumnChoice) -> ColumnChoice:
    """``choice``, once no datetime part (``ts`` -> ``ts_year``) would take the name of
    a column the table already has: it would silently replace that column."""
    existing = set(map(str, frame.columns))
    for col in choice.datetime:
        for part in DATETIME_PARTS:
            derived = f"{col}_{part}"
            if derived in existing:
                raise DataError(
                    f"datetime column {col!r} gives a feature {derived!r}, but the table "
                    f"already has a column {derived!r}; rename one of them (or list "
                    f"{col!r} under features.drop)"
                )
    return choice


_NESTED = (list, tuple, dict, set, np.ndarray)


def _nested(values: pd.Series) -> bool:
    """Lists or records in cells (parquet list/struct columns): no model takes them."""
    if not ptypes.is_object_dtype(values):
        return False
    return bool(values.dropna().map(lambda v: isinstance(v, _NESTED)).any())


def _column_kind(values: pd.Series) -> tuple[str | None, str]:
    if values.notna().sum() == 0:
        return None, "empty"
    if _nested(values):
        return None, "lists or records, not plain values"
    if ptypes.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return "categorical", ""
    if ptypes.is_datetime64_any_dtype(values):
        return "datetime", ""
    if ptypes.is_numeric_dtype(values):
        return "numeric", ""
    if ptypes.is_string_dtype(values) or ptypes.is_object_dtype(values):
        if _looks_like_dates(values):
            return "datetime", ""
        distinct = values.nunique(dropna=True)
        if distinct > MIN_ID_VALUES and distinct > ID_SHARE * len(values):
            return None, (
                f"{distinct} distinct values in {len(values)} rows, an identifier or free text"
            )
        return "categorical", ""
    return None, f"unsupported dtype {values.dtype}"


def _looks_like_dates(values: pd.Series) -> bool:
    """Text that parses as ISO dates throughout a sample ("2024-01-31", "2024-01-31 08:15")."""
    probe = values.dropna().astype("str").head(_DATE_PROBE_ROWS)
    if probe.empty or not probe.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    parsed = pd.to_datetime(probe, errors="coerce", format="ISO8601")
    return bool(parsed.notna().all())


def _as_text(values: pd.Series) -> pd.Series:
    """Categories as text, so 1, "1" and 1.0 (a CSV round trip) are the same value."""
    if ptypes.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            return values.astype("Int64").astype("string")
    return values.astype("string")


def _as_numbers(values: pd.Series, column: str, role: str) -> pd.Series:
    if ptypes.is_bool_dtype(values) or ptypes.is_numeric_dtype(values):
        numbers = values.astype("float64")
        check_finite(numbers, column, role)
        return numbers
    parsed = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = values.notna() & parsed.isna() & (values.astype("string").str.strip() != "")
    if bad.any():
        raise DataError(
            f"{role} data column {column} is numeric in training but has "
            f"{int(bad.sum())} value(s) that are not numbers, e.g. {str(values[bad].iloc[0])!r}; "
            "write plain numbers"
        )
    check_finite(parsed, column, role)
    return parsed


def _as_datetimes(values: pd.Series, column: str, role: str) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(values):
        return values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    bad = values.notna() & parsed.isna()
    if bad.any():
        raise DataError(
            f"{role} data column {column} has {int(bad.sum())} value(s) that are not "
            f"timestamps, e.g. {str(values[bad].iloc[0])!r}; write times as YYYY-MM-DD HH:MM:SS"
        )
    return parsed
