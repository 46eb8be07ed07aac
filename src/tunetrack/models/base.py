"""The small interface every model family implements.

A family owns its default search space (a spec, next to its fit code), how encoded
training data is turned into the form it trains on (done once per study, shared by all
trials), how one trial fits and predicts, and how a fitted model is written to disk in a
format that is not pickle.

Conventions every family follows, so the loop, the metrics and the packaged model need
no family-specific code:

* ``x`` is what :class:`tunetrack.features.FeatureEncoder` produced: a DataFrame whose
  categorical columns are pandas ``category`` over the training vocabulary (unseen values
  are missing) and whose other columns are float64, or a scipy CSR matrix (``onehot``).
* regression ``y`` is float64; classification ``y`` holds class codes ``0..k-1``
  (``Task.classes`` maps a code back to its label).
* predictions are ``(n,)`` float64 values for regression and ``(n, k)`` class
  probabilities for classification (binary included: ``k == 2``).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# The task vocabulary lives in tunetrack._core (data and metrics use it too); these names
# stay importable from here.
from tunetrack._core import CLASSIFICATION as CLASSIFICATION
from tunetrack._core import REGRESSION as REGRESSION
from tunetrack._core import TASKS as TASKS
from tunetrack._core import Task
from tunetrack.exceptions import ConfigError, DataError
from tunetrack.space.ranges import Whole


class Pruner(Protocol):
    """Asked after each boosting round whether the trial trails the finished ones."""

    def should_prune(self, round_: int, value: float) -> bool: ...


@dataclass(frozen=True)
class TrainingData:
    """Encoded train and validation sets as the family needs them, built once."""

    train: Any
    valid: Any
    y_valid: np.ndarray
    task: Task = field(default_factory=Task)


@dataclass(frozen=True)
class FitResult:
    """What one trial's fit produced: validation predictions and the model's vital signs."""

    predictions: np.ndarray
    fit_seconds: float
    model_bytes: int
    model: Any = None  # the kept model: what predict() and save() take
    best_iteration: int | None = None
    stopped_early_by: str | None = None  # "deadline" when the study's time ran out mid-fit
    pruned_at: int | None = None  # the round (0-based) a pruner stopped the fit at
    curve: list[float] | None = None  # boosted families: the validation loss each round


class ModelFamily(ABC):
    """Base class for a model family; instances are stateless and shared."""

    name: str
    # Trains in rounds with early stopping on the validation loss (num_boost_round,
    # early_stopping_rounds and pruning apply); the others fit in one go.
    boosted: bool = False
    # The file name a saved model gets inside a packaged model's directory.
    model_file: str
    # Parameters the library takes only as whole numbers (aliases included), with their
    # valid range: a space that could hand one a real number or an out-of-range value is
    # refused before the study is written (space.ranges.check_whole_params).
    whole_params: Mapping[str, Whole] = {}
    # Settings of the training data prepare() builds once for all trials (binning, the
    # matrix type). model.params may fix them and prepare() builds the data with them; a
    # space cannot vary them, since every trial shares that one build.
    data_params: frozenset[str] = frozenset()
    # The parameter names (aliases included) that set the threads one fit uses; the first
    # is the one a parallel executor sets, unless model.params or the space set any.
    thread_params: tuple[str, ...] = ()
    # The modules its fits import (inside functions, so tunetrack stays cheap to import):
    # a fork server whose workers will run many fits imports them once, ahead.
    libraries: tuple[str, ...] = ()
    # How the family's docs name that training data, for the one-line refusal.
    data_label: str = "training data"
    # Characters the family's library refuses in a feature name (checked before any write).
    refused_name_characters: str = ""

    # Objectives (model.params.objective, or a space's choice of them) per task kind: a
    # classification objective on a regression target (or the reverse) trains silently
    # wrong or fails each trial, so it is refused before any write. Empty: no objective.
    classification_objectives: frozenset[str] = frozenset()

    def check_objective(
        self, fixed: Mapping[str, Any], tuned: Mapping[str, Sequence[Any]], task: Task
    ) -> None:
        """Raise ConfigError for an objective of the other task (``task``: the study's)."""
        if not self.classification_objectives:
            return
        for objective in (fixed.get("objective"), *tuned.get("objective", ())):
            if not isinstance(objective, str):
                continue
            kind = objective.split(":", 1)[0] if ":" in objective else objective
            names = {objective.lower(), kind.lower()}
            classifying = bool(names & self.classification_objectives)
            if classifying != task.is_classification:
                wanted = "classification" if classifying else "regression"
                raise ConfigError(
                    f"objective {objective!r} is a {wanted} objective, but the study is "
                    f"{task.kind}; remove model.params.objective (the task sets it) or "
                    "pick one of its own task"
                )

    def check_feature_names(self, names: Sequence[str]) -> None:
        """Raise DataError naming the first feature name the library would refuse."""
        for name in names:
            bad = sorted({c for c in str(name) if c in self.refused_name_characters})
            if bad:
                raise DataError(
                    f"column {name!r}: the {self.name} family cannot take the character(s) "
                    f"{' '.join(bad)} in a feature name; rename the column (e.g. with "
                    "letters, digits and _)"
                )

    @abstractmethod
    def default_space(self, task: Task, encoding: str = "native") -> Mapping[str, Any]:
        """The family's default search space for ``task`` and the features' ``encoding``
        (``native`` or ``onehot``), as a spec mapping."""

    def start_points(self, task: Task, encoding: str = "native") -> list[dict[str, Any]]:
        """Points of the default space to evaluate before the sampler takes over: typed
        params (ints as int) for every tuned key; constants are filled in. None by
        default."""
        return []

    @abstractmethod
    def check_param_names(self, names: Iterable[str], *, where: str) -> None:
        """Raise ConfigError naming a parameter the family does not know (a typo would
        otherwise be tuned for nothing)."""

    def check_input(self, x: Any, feature_names: Sequence[str], role: str) -> None:
        """Raise DataError (one line, naming the column) for encoded rows the family
        cannot train on or predict; every family takes missing values unless it says so."""
        return None

    def check_settings(self, fixed: Mapping[str, Any], tuned: Mapping[str, Sequence[Any]]) -> None:
        """Raise a one-line ConfigError, before any write, for settings that cannot run:
        here a space naming a data setting (``tuned``: the space's parameter names, each
        with the values a choice or constant may give; empty for a distribution). Families
        add their own cases (settings that contradict each other or ``model.params``)."""
        for name in sorted(tuned):
            if name in self.data_params:
                raise ConfigError(
                    f"space.{name} is a setting of the {self.name} {self.data_label}, built "
                    f"once for all trials, so no trial can change it; fix it with "
                    f"model.params.{name} instead"
                )

    @abstractmethod
    def prepare(
        self,
        x_train: Any,
        y_train: np.ndarray,
        x_valid: Any,
        y_valid: np.ndarray,
        task: Task,
        *,
        fixed_params: Mapping[str, Any] | None = None,
        tuned: Mapping[str, Sequence[Any]] | None = None,
    ) -> TrainingData:
        """Build the training structures once per study, with the data settings
        (``data_params``) among ``fixed_params`` (the config's ``model.params``), for every
        value the space may give (``tuned``, as in ``check_settings``). Raises ConfigError
        for settings the data cannot serve (e.g. categorical columns to a learner that
        cannot split them)."""

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
        (a ``time.monotonic()`` value) if it comes first. Families that are not boosted
        ignore the round arguments and the pruner."""

    @abstractmethod
    def predict(self, model: Any, x: Any, task: Task) -> np.ndarray:
        """Predictions for encoded rows, in the shape conventions above."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> int:
        """Write ``model`` to ``path`` without pickle; returns the file's size in bytes."""

    @abstractmethod
    def load(self, path: Path) -> Any:
        """Read what :meth:`save` wrote."""


def check_known(
    names: Iterable[str], known: Collection[str], *, where: str, what: str, docs: str
) -> None:
    """Raise a one-line ConfigError for the first name not in ``known``, with the closest
    known name as a hint (a typo would otherwise be tuned for nothing)."""
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"see {docs}"
            raise ConfigError(f"{where}.{name} is not {what}; {hint}")
