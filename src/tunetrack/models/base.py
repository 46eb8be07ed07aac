"""The small interface every model family implements.

A family owns three things: its default search space (a spec, next to its fit code),
how training data is turned into the form it trains on (done once per study, shared by
all trials), and how one trial fits and predicts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrainingData:
    """Encoded train and validation sets as the family needs them, built once."""

    train: Any
    valid: Any
    y_valid: np.ndarray


@dataclass(frozen=True)
class FitResult:
    """What one trial's fit produced: validation predictions and the model's vital signs."""

    predictions: np.ndarray
    fit_seconds: float
    model_bytes: int
    best_iteration: int | None = None
    stopped_early_by: str | None = None  # "deadline" when the study's time ran out mid-fit


class ModelFamily(ABC):
    """Base class for a model family; instances are stateless and shared."""

    name: str

    @abstractmethod
    def default_space(self) -> Mapping[str, Any]:
        """The family's default search space as a spec mapping (see tunetrack.space)."""

    @abstractmethod
    def prepare(
        self, x_train: Any, y_train: np.ndarray, x_valid: Any, y_valid: np.ndarray
    ) -> TrainingData:
        """Build the training structures once per study."""

    @abstractmethod
    def fit(
        self,
        params: Mapping[str, Any],
        data: TrainingData,
        *,
        num_boost_round: int,
        early_stopping_rounds: int | None,
        fixed_params: Mapping[str, Any],
        deadline: float | None = None,
    ) -> FitResult:
        """Train with ``params`` (sampled) over ``fixed_params``; stop at ``deadline``
        (a ``time.monotonic()`` value) if it comes first."""
