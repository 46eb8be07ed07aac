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

from tunetrack.search.pruning import Pruner


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
    pruned_at: int | None = None  # the round (0-based) a pruner stopped the fit at
    curve: list[float] | None = None  # the validation metric after each round


class ModelFamily(ABC):
    """Base class for a model family; instances are stateless and shared."""

    name: str

    @abstractmethod
    def default_space(self, encoding: str = "native") -> Mapping[str, Any]:
        """The family's default search space as a spec mapping (see tunetrack.space),
        suited to the features' ``encoding`` (``native`` or ``onehot``)."""

    def start_points(self, encoding: str = "native") -> list[dict[str, float]]:
        """Points of the default space to evaluate before the optimizer samples (label ->
        raw Hyperopt value, every label); none by default."""
        return []

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
        pruner: Pruner | None = None,
    ) -> FitResult:
        """Train with ``params`` (sampled) over ``fixed_params``; stop at ``deadline``
        (a ``time.monotonic()`` value) if it comes first, or when ``pruner`` says the
        validation curve trails (``pruner.should_prune(round, value)`` after each round)."""
