"""Model families behind one base class, looked up by name.

Each family module imports its library inside its functions, so importing this registry
(and tunetrack) stays cheap.
"""

from __future__ import annotations

from tunetrack.exceptions import ConfigError
from tunetrack.models.base import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    FitResult,
    ModelFamily,
    Pruner,
    Task,
    TrainingData,
)
from tunetrack.models.cross_family import (
    FAMILY_KEY,
    default_space_for,
    family_branches,
    family_spaces,
)
from tunetrack.models.lightgbm import LightGBMFamily
from tunetrack.models.linear import LinearFamily
from tunetrack.models.random_forest import RandomForestFamily
from tunetrack.models.xgboost import XGBoostFamily

MODELS: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        XGBoostFamily(),
        LightGBMFamily(),
        RandomForestFamily(),
        LinearFamily(),
    )
}


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
    "Pruner",
    "Task",
    "TrainingData",
    "default_space_for",
    "family_branches",
    "family_spaces",
    "get_model",
]
