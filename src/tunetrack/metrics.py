"""Validation metrics, computed the same way for every model family.

Regression scores predicted values; classification scores class probabilities of shape
``(n, k)`` against class codes ``0..k-1`` (see ``tunetrack._core.Task``).
"""

from __future__ import annotations

import numpy as np

from tunetrack._core import CLASSIFICATION, REGRESSION, Task
from tunetrack.exceptions import ConfigError

# The metrics a search may minimise, per task; the first is the default.
LOSSES: dict[str, tuple[str, ...]] = {
    REGRESSION: ("rmse", "mae"),
    CLASSIFICATION: ("log_loss",),
}
# Probabilities are clipped so one confident mistake costs a large, finite log loss.
_EPS = 1e-15


def check_metric_name(name: str) -> None:
    """A ConfigError naming every loss when ``name`` (``search.metric``) is none of them."""
    losses = tuple(m for ms in LOSSES.values() for m in ms)
    if name not in losses:
        raise ConfigError(f"unknown search.metric {name!r}; choose one of: {', '.join(losses)}")


def default_metric(task: Task) -> str:
    return LOSSES[task.kind][0]


def score(task: Task, y_true: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Every metric a trial logs for ``task``."""
    if task.is_classification:
        return classification_metrics(y_true, predictions, task.n_classes)
    return regression_metrics(y_true, predictions)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE (the default loss), MAE and R²."""
    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    error = y_pred - y_true
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1.0 - np.sum(error**2) / total) if total > 0 else float("nan"),
    }


def preload(kind: str) -> None:
    """Import now what scoring a ``kind`` task imports lazily, so a trial fitting in a
    thread of its own never imports at the same time as the main thread (two threads
    importing modules that import each other can see one half initialised)."""
    if kind == CLASSIFICATION:
        import sklearn.metrics  # noqa: F401


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, n_classes: int
) -> dict[str, float]:
    """Log loss (the default loss), ROC AUC (one-vs-rest, macro, for multiclass),
    accuracy, and F1 (of the second class for binary tasks, macro for multiclass)."""
    from sklearn.metrics import f1_score, roc_auc_score

    codes = np.asarray(y_true).astype("int64")
    proba = np.asarray(proba, dtype="float64")
    if proba.ndim != 2 or proba.shape != (len(codes), n_classes):
        raise ValueError(
            f"expected class probabilities of shape ({len(codes)}, {n_classes}), got {proba.shape}"
        )
    if not np.all(np.isfinite(proba)):
        return {"log_loss": float("nan")}
    clipped = np.clip(proba, _EPS, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    log_loss = float(-np.mean(np.log(clipped[np.arange(len(codes)), codes])))
    predicted = proba.argmax(axis=1)
    present = np.unique(codes)
    metrics = {
        "log_loss": log_loss,
        "accuracy": float(np.mean(predicted == codes)),
        "f1": float(
            f1_score(
                codes,
                predicted,
                labels=list(range(n_classes)),
                average="binary" if n_classes == 2 else "macro",
                zero_division=0,
            )
        ),
    }
    # AUC needs both sides of every class present in the validation rows.
    if len(present) == n_classes and n_classes >= 2:
        if n_classes == 2:
            metrics["auc"] = float(roc_auc_score(codes, proba[:, 1]))
        else:
            metrics["auc"] = float(
                roc_auc_score(codes, clipped, multi_class="ovr", average="macro")
            )
    return metrics
