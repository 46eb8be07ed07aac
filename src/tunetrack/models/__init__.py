"""Model families behind one base class, looked up by name."""

from __future__ import annotations

from tunetrack.exceptions import ConfigError
from tunetrack.models.base import FitResult, ModelFamily, TrainingData
from tunetrack.models.xgboost import XGBoostFamily

MODELS: dict[str, ModelFamily] = {"xgboost": XGBoostFamily()}


def get_model(name: str) -> ModelFamily:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}"
        ) from None


__all__ = ["MODELS", "FitResult", "ModelFamily", "TrainingData", "get_model"]
