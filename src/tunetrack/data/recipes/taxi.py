"""The nyc-taxi recipe: NYC TLC trips in, the trip's duration in minutes out."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tunetrack.data.recipes.base import Recipe, check_finite, shown_columns
from tunetrack.exceptions import DataError

# "43.0" (float IDs, or floats written to CSV) and "43" must be the same location.
_WHOLE_NUMBER = r"^(-?\d+)\.0*$"
# Formats tried in order on a few rows before parsing a whole column: ISO is what pandas
# writes, the US ones are NYC Open Data's CSV exports. Without a format pandas may fall
# back to parsing row by row, which takes seconds on a month of trips.
_TIME_FORMATS = ("ISO8601", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")
_FORMAT_PROBE_ROWS = 100


class TaxiDurationRecipe(Recipe):
    """NYC TLC green or yellow trips: predict the trip's duration in minutes.

    Accepts the city's raw monthly files (integer location IDs, refunds, out-of-range
    trips) and tables already filtered by the tutorial (string IDs, a saved ``duration``).
    The duration is always recomputed from the timestamps so both forms agree. Refunds
    (a negative fare or total) are dropped unless ``drop_refunds`` is False; the
    tutorial's own cleaning keeps them, so its numbers are reproduced with it off.
    """

    name = "nyc-taxi"
    target = "duration"
    categorical = ("PULocationID", "DOLocationID")
    numeric = ("trip_distance",)
    min_minutes = 1.0
    max_minutes = 60.0
    # Green taxis use lpep_ (livery passenger enhancement program), yellow ones tpep_.
    time_prefixes = ("lpep_", "tpep_")
    amount_columns = ("total_amount", "fare_amount")
    # In the order the filters count them: a row is counted by the first that drops it.
    drop_reasons: Mapping[str, str] = {
        "duration_out_of_range": f"outside {min_minutes:g}-{max_minutes:g} minutes",
        "refund": "refunds (negative fare or total)",
        "missing_feature": "without a location or distance",
    }

    def __init__(self, *, drop_refunds: bool = True) -> None:
        self.drop_refunds = drop_refunds

    def settings(self) -> dict[str, Any]:
        return {"drop_refunds": self.drop_refunds}

    def features_only(self, frame: pd.DataFrame, *, role: str = "predict") -> pd.DataFrame:
        self._check_columns(frame, role, with_target=False)
        frame = frame.reset_index(drop=True)
        # One prediction per input row: no filtering, missing values stay missing.
        return pd.DataFrame(
            {
                "PULocationID": _location_ids(frame["PULocationID"]),
                "DOLocationID": _location_ids(frame["DOLocationID"]),
                "trip_distance": _numbers(frame["trip_distance"], "trip_distance", role),
            }
        )

    def prepare_counted(
        self, frame: pd.DataFrame, *, role: str = "train"
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        times = self._check_columns(frame, role, with_target=True)
        assert times is not None
        # A RangeIndex lets masks line up whatever index the caller's frame had.
        frame = frame.reset_index(drop=True)
        pickup_ids = _location_ids(frame["PULocationID"])
        dropoff_ids = _location_ids(frame["DOLocationID"])
        distance = _numbers(frame["trip_distance"], "trip_distance", role)
        minutes = _minutes(frame, *times, role=role)
        in_range = minutes.between(self.min_minutes, self.max_minutes).to_numpy()
        refund = np.zeros(len(frame), dtype=bool)
        if self.drop_refunds:
            for column in self.amount_columns:
                if column in frame.columns:
                    amount = pd.to_numeric(frame[column], errors="coerce")
                    refund |= (amount < 0).to_numpy()
        known = (pickup_ids.notna() & dropoff_ids.notna() & distance.notna()).to_numpy()
        keep = in_range & ~refund & known
        if not keep.any():
            refunds = f"{int(refund.sum())} are refunds (negative fare/total) and "
            raise DataError(
                f"no {role} rows left after the {self.name} recipe's filters: read "
                f"{len(frame)} rows, of which {int((~in_range).sum())} are outside "
                f"{self.min_minutes:g}-{self.max_minutes:g} minutes, "
                f"{refunds if self.drop_refunds else ''}{int((~known).sum())} lack a location "
                f"or distance; only {self.min_minutes:g}-{self.max_minutes:g} minute trips "
                "are kept, so check the pickup/dropoff times or pass another file"
            )
        dropped = {
            "duration_out_of_range": int((~in_range).sum()),
            "refund": int((in_range & refund).sum()),
            "missing_feature": int((in_range & ~refund & ~known).sum()),
        }
        prepared = pd.DataFrame(
            {
                "PULocationID": pickup_ids[keep],
                "DOLocationID": dropoff_ids[keep],
                "trip_distance": distance[keep],
                "duration": minutes[keep].astype("float64"),
            }
        ).reset_index(drop=True)
        return prepared, dropped

    def _check_columns(
        self, frame: pd.DataFrame, role: str, with_target: bool
    ) -> tuple[str, str] | None:
        """Raise if a needed column is missing; return the (pickup, dropoff) time columns."""
        columns = set(frame.columns)
        missing = [c for c in self.features if c not in columns]
        times: tuple[str, str] | None = None
        if with_target:
            times, missing_times = _time_columns(columns, self.time_prefixes)
            missing += missing_times
        if not missing:
            return times
        if with_target:
            needs = (
                "PULocationID, DOLocationID, trip_distance and lpep_/tpep_ pickup and dropoff times"
            )
        else:
            needs = "PULocationID, DOLocationID and trip_distance to predict"
        raise DataError(
            f"{role} data lacks column(s) {', '.join(missing)} "
            f"(it has {shown_columns(frame.columns)}); the {self.name} recipe needs {needs}"
        )


def _time_columns(
    columns: set[object], prefixes: Sequence[str]
) -> tuple[tuple[str, str] | None, list[str]]:
    """The first prefix with both pickup and dropoff columns, else what is missing."""
    for prefix in prefixes:
        pair = (f"{prefix}pickup_datetime", f"{prefix}dropoff_datetime")
        if all(c in columns for c in pair):
            return pair, []
    for prefix in prefixes:
        pair = (f"{prefix}pickup_datetime", f"{prefix}dropoff_datetime")
        if any(c in columns for c in pair):
            # Half a pair: name the exact partner that is missing.
            return None, [c for c in pair if c not in columns]
    return None, ["lpep_/tpep_ pickup and dropoff times"]


def _location_ids(values: pd.Series) -> pd.Series:
    """IDs as strings ("43", never "43.0"); missing IDs stay missing."""
    if ptypes.is_integer_dtype(values):
        return values.astype("str")
    text = values.astype("str").str.strip().str.replace(_WHOLE_NUMBER, r"\1", regex=True)
    return text.mask(text == "")


def _numbers(values: pd.Series, column: str, role: str) -> pd.Series:
    if ptypes.is_numeric_dtype(values):
        numbers = values.astype("float64")
        check_finite(numbers, column, role)
        return numbers
    parsed = pd.to_numeric(values, errors="coerce").astype("float64")
    _raise_unparsed(values, parsed, column, role, "numbers", "write plain numbers like 1.5")
    check_finite(parsed, column, role)
    return parsed


def _timestamps(values: pd.Series, column: str, role: str) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(values):
        return values
    fix = "write times as YYYY-MM-DD HH:MM:SS"
    if not (ptypes.is_string_dtype(values) or ptypes.is_object_dtype(values)):
        raise DataError(
            f"{role} data column {column} holds {values.dtype} values, not timestamps; {fix}"
        )
    try:
        with warnings.catch_warnings():
            # With no known format pandas warns that it parses row by row; it still works.
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(values, errors="coerce", format=_time_format(values))
    except (ValueError, TypeError, OverflowError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            f"{role} data column {column} cannot be read as timestamps ({reason}); {fix}"
        ) from exc
    _raise_unparsed(values, parsed, column, role, "timestamps", fix)
    return parsed


def _time_format(values: pd.Series) -> str | None:
    """The known format that reads most of a sample of the column; None lets pandas infer."""
    probe = values.dropna().head(_FORMAT_PROBE_ROWS)
    best, best_count = None, 0
    for fmt in _TIME_FORMATS:
        try:
            count = int(pd.to_datetime(probe, errors="coerce", format=fmt).notna().sum())
        except (ValueError, TypeError, OverflowError):
            continue
        if count > best_count:
            best, best_count = fmt, count
    return best


def _raise_unparsed(
    values: pd.Series, parsed: pd.Series, column: str, role: str, kind: str, fix: str
) -> None:
    present = values.notna() & (values.astype("str").str.strip() != "")
    bad = present & parsed.isna()
    if bad.any():
        example = str(values[bad].iloc[0])[:40]
        raise DataError(
            f"{role} data column {column} has {int(bad.sum())} value(s) that are not "
            f"{kind}, e.g. {example!r}; {fix}"
        )


def _minutes(frame: pd.DataFrame, pickup: str, dropoff: str, *, role: str) -> pd.Series:
    start = _timestamps(frame[pickup], pickup, role)
    end = _timestamps(frame[dropoff], dropoff, role)
    try:
        return (end - start).dt.total_seconds() / 60
    except TypeError as exc:
        raise DataError(
            f"{role} data columns {pickup} and {dropoff} mix time-zone-aware and naive "
            "times; write both with or both without a UTC offset"
        ) from exc
