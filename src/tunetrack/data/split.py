"""Split one table into train and validation rows: seeded at random, or by time."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tunetrack.data.loaders import Table, frame_digest
from tunetrack.data.recipes.base import shown_columns
from tunetrack.exceptions import DataError

DEFAULT_VALID_FRACTION = 0.2


def split_table(
    table: Table, *, fraction: float, seed: int, split_column: str | None = None
) -> tuple[Table, Table]:
    """Train and validation tables from one; the same seed gives the same rows.

    With ``split_column`` the rows are ordered by that column (times or numbers) and
    the latest ``fraction`` validates, as a model trained on the past is used on the
    future. The train part keeps the file's digest (it identifies the study's data);
    the validation part gets its content's.
    """
    frame = table.frame.reset_index(drop=True)
    n_valid = round(len(frame) * fraction)
    if n_valid < 1 or n_valid >= len(frame):
        raise DataError(
            f"cannot split {len(frame)} row(s) with valid_fraction={fraction:g}: each side "
            "needs at least one row; pass more rows or a --valid file"
        )
    if split_column is None:
        order = np.random.default_rng(seed).permutation(len(frame))
        valid_rows = np.sort(order[:n_valid])
        train_rows = np.sort(order[n_valid:])
    else:
        keys = _order_keys(frame, split_column)
        order = np.argsort(keys.to_numpy(), kind="stable")
        train_rows, valid_rows = order[:-n_valid], order[-n_valid:]
    train = frame.iloc[train_rows].reset_index(drop=True)
    valid = frame.iloc[valid_rows].reset_index(drop=True)
    return (
        Table(frame=train, source=table.source, digest=table.digest, format=table.format),
        Table(frame=valid, source=table.source, digest=frame_digest(valid), format=table.format),
    )


def _order_keys(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        raise DataError(
            f"data.split_column {column!r} is not a column of the train data (it has "
            f"{shown_columns(frame.columns)}); name the time column to split on"
        )
    values = frame[column]
    if ptypes.is_datetime64_any_dtype(values) or ptypes.is_numeric_dtype(values):
        keys = values
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            keys = pd.to_datetime(values, errors="coerce", format="ISO8601")
    if keys.isna().any():
        raise DataError(
            f"data.split_column {column!r} has {int(keys.isna().sum())} missing or unreadable "
            "value(s); a time split needs a time or number in every row"
        )
    return keys
