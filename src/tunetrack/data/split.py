"""Split one table into train and validation rows: seeded at random (stratified by a
class column when given), or by time."""

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
    table: Table,
    *,
    fraction: float,
    seed: int,
    split_column: str | None = None,
    stratify: str | None = None,
) -> tuple[Table, Table]:
    """Train and validation tables from one; the same seed gives the same rows.

    With ``split_column`` the rows are ordered by that column (times or numbers) and
    the latest ``fraction`` validates, as a model trained on the past is used on the
    future. With ``stratify`` (a class column) each class validates its own share of
    rows, and every class with two rows or more has at least one row on each side. The
    train part keeps the file's digest (it identifies the study's data); the validation
    part gets its content's.
    """
    frame = table.frame.reset_index(drop=True)
    n_valid = round(len(frame) * fraction)
    if n_valid < 1 or n_valid >= len(frame):
        raise DataError(
            f"cannot split {len(frame)} row(s) with valid_fraction={fraction:g}: each side "
            "needs at least one row; pass more rows or a --valid file"
        )
    if split_column is not None:
        keys = _order_keys(frame, split_column)
        order = np.argsort(keys.to_numpy(), kind="stable")
        train_rows, valid_rows = order[:-n_valid], order[-n_valid:]
    elif stratify is not None:
        valid_rows = _stratified_valid_rows(frame[stratify], n_valid, seed)
        if len(valid_rows) == 0:
            raise DataError(
                f"cannot split by class: every value of {stratify!r} occurs once, so no "
                "class can be both trained and validated; pass more rows or a --valid file"
            )
        train_rows = np.setdiff1d(np.arange(len(frame)), valid_rows)
    else:
        order = np.random.default_rng(seed).permutation(len(frame))
        valid_rows = np.sort(order[:n_valid])
        train_rows = np.sort(order[n_valid:])
    train = frame.iloc[train_rows].reset_index(drop=True)
    valid = frame.iloc[valid_rows].reset_index(drop=True)
    return (
        Table(frame=train, source=table.source, digest=table.digest, format=table.format),
        Table(frame=valid, source=table.source, digest=frame_digest(valid), format=table.format),
    )


def _stratified_valid_rows(labels: pd.Series, n_valid: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a validation set holding each class's share of ``n_valid``.

    Shares are rounded by largest remainder; a class with two rows or more keeps at least
    one row on each side, even when that moves the total a little off ``n_valid``
    (a missing label is a class of its own here: the recipe drops those rows later).
    """
    codes, _ = pd.factorize(labels, use_na_sentinel=False)
    counts = np.bincount(codes)
    quota = counts * (n_valid / len(labels))
    most = np.maximum(counts - 1, 0)  # a class keeps one row for training
    take = np.minimum(np.floor(quota).astype(np.int64), most)
    take = np.where((take == 0) & (most >= 1), 1, take)
    # The rounding leaves a few rows over or short (at most one per class): hand them
    # out by how far each class is from its exact share.
    while (short := n_valid - int(take.sum())) != 0:
        if short > 0:
            room = take < most
            if not room.any():
                break
            gap = np.where(room, quota - take, -np.inf)
            take[int(np.argmax(gap))] += 1
        else:
            spare = take > 1
            if not spare.any():
                break
            gap = np.where(spare, take - quota, -np.inf)
            take[int(np.argmax(gap))] -= 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(codes == code))[:n] for code, n in enumerate(take) if n > 0
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, dtype=np.int64)


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
