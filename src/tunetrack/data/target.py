"""The target column: which task it is, and its values as the models train on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tunetrack._core import CLASSIFICATION, REGRESSION, Task
from tunetrack.exceptions import DataError

# Whole-number targets with at most this many distinct values read as classes.
MAX_INFERRED_CLASSES = 10
MAX_CLASSES = 200


def decide_task(target: pd.Series, requested: str, name: str) -> tuple[Task, str | None]:
    """The task for ``target`` (training rows) and, when inferred, a sentence saying why."""
    values = target.dropna()
    numeric = ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)
    note = None
    kind = requested
    if requested == "auto":
        whole = numeric and bool((values == np.floor(values)).all())
        distinct = values.nunique()
        if not numeric:
            kind = CLASSIFICATION
            note = f"classification: target {name!r} holds labels ({distinct} classes)"
        elif whole and distinct <= MAX_INFERRED_CLASSES:
            kind = CLASSIFICATION
            note = (
                f"classification: target {name!r} has {distinct} distinct whole numbers; "
                "pass --task regression to predict it as a number"
            )
        else:
            kind = REGRESSION
            note = f"regression: target {name!r} is numeric with {distinct} distinct values"
    if kind == REGRESSION:
        if not numeric:
            raise DataError(
                f"target {name!r} holds {target.dtype} values, not numbers, so it cannot be "
                "a regression target; pass --task classification"
            )
        return Task(REGRESSION), note
    classes = _sorted_labels(values)
    if len(classes) < 2:
        raise DataError(
            f"target {name!r} has {len(classes)} class(es) in the train data; "
            "classification needs at least two"
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"target {name!r} has {len(classes)} classes (more than {MAX_CLASSES}); if it is "
            "a number, pass --task regression"
        )
    return Task(CLASSIFICATION, classes), note


def encode_target(target: pd.Series, task: Task, role: str, name: str) -> np.ndarray:
    """Regression: float64 values. Classification: class codes ``0..k-1``."""
    if not task.is_classification:
        values = pd.to_numeric(target, errors="coerce")
        if values.isna().any():
            raise DataError(
                f"{role} data target {name!r} has {int(values.isna().sum())} value(s) that "
                "are not numbers; clean the column or pass --task classification"
            )
        return values.to_numpy(dtype="float64")
    labels = [_plain(v) for v in target]
    index = {label: code for code, label in enumerate(task.classes)}
    codes = np.fromiter((index.get(label, -1) for label in labels), dtype="int64")
    if (codes < 0).any():
        unseen = labels[int(np.flatnonzero(codes < 0)[0])]
        raise DataError(
            f"{role} data target {name!r} has class {unseen!r}, which the train data lacks "
            f"({int((codes < 0).sum())} row(s)); a model cannot predict a class it never saw, "
            "so drop those rows or add examples to the train data"
        )
    return codes


def _sorted_labels(values: pd.Series) -> tuple[Any, ...]:
    labels = {_plain(v) for v in values}
    try:
        return tuple(sorted(labels))
    except TypeError:  # mixed types: a stable order all the same
        return tuple(sorted(labels, key=lambda v: (type(v).__name__, str(v))))


def _plain(value: Any) -> Any:
    """A JSON scalar: numpy and pandas scalars become Python ones; 1.0 becomes 1."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
