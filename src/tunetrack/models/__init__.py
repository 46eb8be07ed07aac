"""Model families behind one base class, looked up by name."""

from __future__ import annotations

from tunetrack.exceptions import ConfigError
from tunetrack.models.base import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    FitResult,
    ModelFamily,
    Task,
    TrainingData,
)
from tunetrack.models.cross_family import FAMILY_KEY, default_space_for, family_branches
from tunetrack.models.xgboost import XGBoostFamily

MODELS: dict[str, ModelFamily] = {"xgboost": XGBoostFamily()}


def get_model(name: str) -> ModelFamily:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}"
        ) from None


__all__ = [
    "CLASSIFICATION",
    "FAMILY_KEY",
    "MODELS",
    "REGRESSION",
    "TASKS",
    "FitResult",
    "ModelFamily",
    "Task",
    "TrainingData",
    "default_space_for",
    "family_branches",
    "get_model",
]
