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
from collections.abc import Sequence

from tunetrack.pruners.base import CurveHistory, Pruner

# Defaults, chosen on the bundled taxi months (see bench/README.md):
# - 5 startup trials: enough curves for a median that is not one lucky trial, few
#   enough that pruning starts saving time within the first minute of a study.
# - 20 warm-up rounds: before that, curves of different learning rates have not yet
#   separated; rounds are cheap early, so waiting costs little.
# - check every 5 rounds: checking at every round would stop on noise more often than it
#   saves rounds.
N_STARTUP_TRIALS = 5
N_WARMUP_ROUNDS = 20
INTERVAL = 5


class MedianPruner(Pruner):
    """Median stopping over the completed trials' curves (see the module docstring).

    A trial is judged at rounds ``n_warmup_rounds``, ``n_warmup_rounds + interval``, ...
    (0-based) once ``n_startup_trials`` completed curves are known. Raises ValueError for
    ``n_startup_trials < 1``, ``n_warmup_rounds < 0`` or ``interval < 1``.
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


def median_at(history: CurveHistory, round_: int) -> float | None:
    """The median of the completed trials' best values up to ``round_`` (None: none)."""
    values = [v for v in history.best_at(round_) if math.isfinite(v)]
    return statistics.median(values) if values else None
