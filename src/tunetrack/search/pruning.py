"""Stopping trials whose validation curve trails the finished ones (family-neutral).

A model family's fit loop asks ``pruner.should_prune(round, value)`` after each
boosting round (``value``: the validation metric at that round, lower is better); the
study loop hands every completed trial's curve to ``pruner.record(curve)``. The
pruner holds curves in memory only: a resumed study starts with an empty pruner and
prunes nothing until it has seen ``n_startup_trials`` trials complete again.

Median stopping (Golovin et al., "Google Vizier", 2017; Optuna's ``MedianPruner``):
stop a trial when its best value so far at round ``r`` is worse than the median of
the completed trials' best values so far at round ``r``. Both sides use the best so
far (a running minimum) so that one noisy round does not stop a good trial, and a
completed trial that stopped early (early stopping) keeps its final best for later
rounds, so the trials that converged fast still set the bar.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Protocol

from tunetrack.config import PRUNING

# Defaults, chosen on the bundled taxi months (see bench/README.md):
# - 5 startup trials: enough curves for a median that is not one lucky trial, few
#   enough that pruning starts saving time within the first minute of a study.
# - 20 warm-up rounds: before that, curves of different learning rates have not yet
#   separated; rounds are cheap early, so waiting costs little.
# - check every 5 rounds: the check is a median over at most a few hundred floats, but
#   checking at every round would stop on noise more often than it saves rounds.
N_STARTUP_TRIALS = 5
N_WARMUP_ROUNDS = 20
INTERVAL = 5


class Pruner(Protocol):
    """What a model family's fit loop sees."""

    def should_prune(self, round: int, value: float) -> bool: ...

    def record(self, curve: Sequence[float]) -> None: ...


class NoPruner:
    """``search.pruning: none``: never stops a trial."""

    def should_prune(self, round: int, value: float) -> bool:
        return False

    def record(self, curve: Sequence[float]) -> None:
        return None


class MedianPruner:
    """Median stopping over the curves of completed trials (see the module docstring).

    ``round`` is 0-based (XGBoost's ``epoch``). A trial is judged at rounds
    ``n_warmup_rounds``, ``n_warmup_rounds + interval``, ... once ``n_startup_trials``
    completed curves are known.
    """

    def __init__(
        self,
        n_startup_trials: int = N_STARTUP_TRIALS,
        n_warmup_rounds: int = N_WARMUP_ROUNDS,
        interval: int = INTERVAL,
    ) -> None:
        if n_startup_trials < 1 or n_warmup_rounds < 0 or interval < 1:
            raise ValueError("n_startup_trials >= 1, n_warmup_rounds >= 0 and interval >= 1")
        self.n_startup_trials = n_startup_trials
        self.n_warmup_rounds = n_warmup_rounds
        self.interval = interval
        # Running minimum of each completed curve, so a lookup at round r is O(1).
        self._best_so_far: list[list[float]] = []
        # The running trial's best so far; reset when a new trial reports round 0.
        self._current_best = math.inf

    @property
    def n_curves(self) -> int:
        return len(self._best_so_far)

    def record(self, curve: Sequence[float]) -> None:
        running, best = [], math.inf
        for value in curve:
            if math.isfinite(value):
                best = min(best, value)
            running.append(best)
        if running and math.isfinite(running[-1]):
            self._best_so_far.append(running)

    def median_at(self, round: int) -> float | None:
        """The median of the completed trials' best values up to ``round``."""
        values = [c[min(round, len(c) - 1)] for c in self._best_so_far]
        values = [v for v in values if math.isfinite(v)]
        return statistics.median(values) if values else None

    def should_prune(self, round: int, value: float) -> bool:
        if round == 0:
            self._current_best = math.inf
        if math.isfinite(value):
            self._current_best = min(self._current_best, value)
        if len(self._best_so_far) < self.n_startup_trials or round < self.n_warmup_rounds:
            return False
        if (round - self.n_warmup_rounds) % self.interval:
            return False
        median = self.median_at(round)
        return median is not None and self._current_best > median


def make_pruner(kind: str) -> MedianPruner | NoPruner:
    """The pruner ``search.pruning`` names (validated by the config already)."""
    if kind == "median":
        return MedianPruner()
    if kind == "none":
        return NoPruner()
    raise ValueError(f"unknown pruning {kind!r}; choose one of: {', '.join(PRUNING)}")
