"""Median stopping (Golovin et al., "Google Vizier", KDD 2017; as Optuna's MedianPruner).

Stop a trial at round ``r`` when its best value so far is worse than the median of the
completed trials' best values so far at round ``r``. Both sides use the best so far (a
running minimum) so that one noisy round does not stop a good trial, and a completed
trial that stopped early (early stopping) keeps its final best for later rounds, so the
trials that converged fast still set the bar.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from tunetrack.pruners.base import CurveHistory, Pruner

# Defaults, chosen on the bundled taxi months (see bench/README.md):
# - 5 startup trials: enough curves for a median that is not one lucky trial, few
#   enough that pruning starts saving time within the first minute of a study.
# - 20 warm-up rounds at a learning rate of 0.3 or more, longer in proportion below it
#   (WARMUP_PROGRESS / learning_rate: 40 rounds at 0.15, 120 at 0.05). A fixed 20 judged
#   slow-converging low-rate trials before they could show their slope: in the default
#   50-trial study it stopped 27 of 28 of them at round 21, though the five best trials
#   all had a low rate (issue #17). Rounds of a low-rate trial move it less, so it is
#   judged after the same progress (rounds x rate), not the same round.
# - check every 5 rounds: checking at every round would stop on noise more often than it
#   saves rounds.
N_STARTUP_TRIALS = 5
N_WARMUP_ROUNDS = 20
WARMUP_PROGRESS = 6.0  # rounds x learning rate before a trial is judged: 20 x 0.3
INTERVAL = 5


class MedianPruner(Pruner):
    """Median stopping over the completed trials' curves (see the module docstring).

    A trial is judged at rounds ``n_warmup_rounds``, ``n_warmup_rounds + interval``, ...
    (0-based) once ``n_startup_trials`` completed curves are known; ``for_trial``
    lengthens the warm-up to ``warmup_progress / learning_rate`` rounds for a trial whose
    learning rate is below ``warmup_progress / n_warmup_rounds``. Raises ValueError for
    ``n_startup_trials < 1``, ``n_warmup_rounds < 0``, ``interval < 1`` or
    ``warmup_progress < 0``.
    """

    def __init__(
        self,
        n_startup_trials: int = N_STARTUP_TRIALS,
        n_warmup_rounds: int = N_WARMUP_ROUNDS,
        interval: int = INTERVAL,
        warmup_progress: float = WARMUP_PROGRESS,
    ) -> None:
        if n_startup_trials < 1 or n_warmup_rounds < 0 or interval < 1 or warmup_progress < 0:
            raise ValueError(
                "n_startup_trials >= 1, n_warmup_rounds >= 0, interval >= 1 and "
                "warmup_progress >= 0"
            )
        self.n_startup_trials = n_startup_trials
        self.n_warmup_rounds = n_warmup_rounds
        self.interval = interval
        self.warmup_progress = warmup_progress

    def for_trial(self, params: Mapping[str, Any]) -> MedianPruner:
        rate = learning_rate(params)
        if rate is None or self.warmup_progress <= 0:
            return self
        rounds = math.ceil(self.warmup_progress / rate - 1e-9)
        if rounds <= self.n_warmup_rounds:
            return self
        copy = _copy(self)
        copy.n_warmup_rounds = rounds
        return copy

    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        round_ = len(curve) - 1
        if len(history) < self.n_startup_trials or round_ < self.n_warmup_rounds:
            return False
        if (round_ - self.n_warmup_rounds) % self.interval:
            return False
        finite = [v for v in curve if math.isfinite(v)]
        if not finite:
            return False
        median = median_at(history, round_)
        return median is not None and min(finite) > median


def learning_rate(params: Mapping[str, Any]) -> float | None:
    """The trial's learning rate (XGBoost's ``learning_rate``/``eta``, LightGBM's
    ``learning_rate``/``shrinkage_rate``); None when it has none or it is not > 0."""
    for key in ("learning_rate", "eta", "shrinkage_rate"):
        value = params.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def _copy(pruner: MedianPruner) -> MedianPruner:
    return MedianPruner(
        pruner.n_startup_trials, pruner.n_warmup_rounds, pruner.interval, pruner.warmup_progress
    )


def median_at(history: CurveHistory, round_: int) -> float | None:
    """The median of the completed trials' best values up to ``round_`` (None: none)."""
    values = [v for v in history.best_at(round_) if math.isfinite(v)]
    return statistics.median(values) if values else None
