"""What the scikit-learn families share: skops storage instead of pickle, class
probabilities in the task's columns, and the encoded input as scikit-learn takes it.

A skops file is a zip of JSON and numpy arrays; loading it builds only the types it is
allowed to. skops trusts scikit-learn's estimators by itself; each family names the few
further types its models hold (``allowed``), and a file asking for anything else is
refused before anything is built.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from tunetrack.exceptions import ModelError
from tunetrack.models.base import Task


def dumps(model: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(model)


def save(model: Any, path: Path) -> int:
    """Write ``model`` as a skops file; returns its size in bytes."""
    import skops.io as sio

    sio.dump(model, os.fspath(path))
    return os.path.getsize(path)


def load(path: Path, allowed: Collection[str]) -> Any:
    """Read a skops file, building only skops' default types and the ``allowed`` ones."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=os.fspath(path))
    except Exception as err:  # a zip that is not a skops file, a truncated file
        raise ModelError(f"{path} is not a readable skops model file: {err}") from err
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise ModelError(
            f"{path} holds types this model family never saves ({', '.join(unexpected)}); "
            "refusing to load it: save it again with tunetrack"
        )
    return sio.load(os.fspath(path), trusted=list(untrusted))


def predictions(model: Any, x: Any, task: Task) -> np.ndarray:
    """Values, or probabilities with one column per class of ``task`` (a class absent
    from the training rows gets probability 0, so the shape never depends on the data)."""
    if not task.is_classification:
        return np.asarray(model.predict(x), dtype="float64")
    proba = np.asarray(model.predict_proba(x), dtype="float64")
    out = np.zeros((proba.shape[0], max(task.n_classes, 2)), dtype="float64")
    out[:, np.asarray(model.classes_, dtype=int)] = proba
    return out


def target(y: np.ndarray, task: Task) -> np.ndarray:
    """Class codes as ints for classifiers (so ``classes_`` are the codes), else floats."""
    return np.asarray(y, dtype="int64" if task.is_classification else "float64")
