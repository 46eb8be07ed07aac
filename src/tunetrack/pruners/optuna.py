"""Optuna's successive halving and Hyperband pruners behind the stateless seam.

Asynchronous successive halving (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020) lets a trial past rung ``k`` (round ``min_resource *
reduction_factor**k``) only when its loss there is in the best ``1 / reduction_factor``
of the losses every trial had at that rung; Hyperband (Li et al., JMLR 2018) runs several
such brackets with different first rungs, hedging against curves that start slow.
Optuna implements both; its pruners keep their rung bookkeeping in an Optuna study.

The seam's pruner is stateless (its history comes from the tracking store), so this
module rebuilds that bookkeeping: once per trial it replays the stored curves, complete
and pruned, into an in-memory Optuna study through Optuna's public API (``ask``,
``report``, ``should_prune``, ``tell``), each reporting its best loss so far at the rung
rounds and its last round, then it reports the running trial round by round. Stored
curves keep every ``CURVE_EVERY``-th round, so the rung rounds here (20, 60, 180, 540 with
the defaults) are all stored: the replayed values are the ones the trials had.

What does not carry over: Optuna's Hyperband also narrows its own sampler to the trial's
bracket; tunetrack's samplers see every trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tunetrack.extras import require
from tunetrack.pruners.base import CurveHistory, Pruner

# The first rung sits where the median pruner starts judging (pruners/median.py): before
# round 20 the curves of different learning rates have not separated on the bundled
# study. A multiple of the stored curve's step (5), as are all the rungs after it.
MIN_RESOURCE = 20
# Optuna's default: keep the best third at each rung.
REDUCTION_FACTOR = 3
# The study name Hyperband hashes with a trial number to pick its bracket; fixed, so a
# trial keeps its bracket from one check to the next.
_REPLAY_STUDY = "tunetrack-replay"


def optuna_module() -> Any:
    return require("optuna", extra="optuna", purpose="search.pruning successive_halving/hyperband")


class _OptunaReplayPruner(Pruner):
    """An Optuna pruner judged on a replay of the stored curves (see the module
    docstring). The replay is built at a trial's first check and kept while the same
    history snapshot (one per trial) is passed."""

    def __init__(
        self, min_resource: int = MIN_RESOURCE, reduction_factor: int = REDUCTION_FACTOR
    ) -> None:
        if min_resource < 1 or reduction_factor < 2:
            raise ValueError("min_resource >= 1 and reduction_factor >= 2")
        self.min_resource, self.reduction_factor = min_resource, reduction_factor
        self._for: CurveHistory | None = None
        self._trial: Any = None
        self._reported = 0

    def _make(self, optuna: Any) -> Any:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        # What travels to a worker process is the configuration, never a replay.
        return {**self.__dict__, "_for": None, "_trial": None, "_reported": 0}

    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        if history is not self._for or len(curve) <= self._reported:
            self._trial, self._reported = self._replay(history), 0
            self._for = history
        best = min((v for v in curve[: self._reported] if math.isfinite(v)), default=math.inf)
        for step in range(self._reported, len(curve)):
            if math.isfinite(curve[step]):
                best = min(best, curve[step])
            if math.isfinite(best):
                self._trial.report(best, step)
        self._reported = len(curve)
        return math.isfinite(best) and bool(self._trial.should_prune())

    def _replay(self, history: CurveHistory) -> Any:
        """A live Optuna trial in a study that has seen every stored curve."""
        optuna = optuna_module()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=_REPLAY_STUDY, direction="minimize", pruner=self._make(optuna)
        )
        finished = optuna.trial.TrialState
        for curves, state in (
            (history.curves(complete=True), finished.COMPLETE),
            (history.curves(complete=False), finished.PRUNED),
        ):
            for running in curves:
                trial = study.ask()
                for step in self._steps(len(running)):
                    if math.isfinite(running[step]):
                        trial.report(running[step], step)
                        trial.should_prune()  # records the rung values, as when it ran
                value = running[-1] if state == finished.COMPLETE else None
                study.tell(trial, value, state=state)
        return study.ask()

    def _steps(self, length: int) -> list[int]:
        """The rung rounds below ``length``, and the last round (the trial's length,
        which Hyperband's automatic maximum resource reads)."""
        steps, rung = [], self.min_resource
        while rung < length - 1:
            steps.append(rung)
            rung *= self.reduction_factor
        return [*steps, length - 1]


class SuccessiveHalvingPruner(_OptunaReplayPruner):
    """``search.pruning: successive_halving``: Optuna's asynchronous successive halving
    with its first rung at round ``min_resource`` (0-based) and ``reduction_factor``.
    Raises ValueError for ``min_resource < 1`` or ``reduction_factor < 2``; ConfigError
    (with the install command) when Optuna is missing, at the first check."""

    def _make(self, optuna: Any) -> Any:
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=self.min_resource, reduction_factor=self.reduction_factor
        )


class HyperbandPruner(_OptunaReplayPruner):
    """``search.pruning: hyperband``: Optuna's Hyperband over successive-halving
    brackets from round ``min_resource`` up to the longest complete curve (Optuna's
    ``max_resource="auto"``); a trial's bracket follows from its number. Raises as
    ``SuccessiveHalvingPruner``."""

    def _make(self, optuna: Any) -> Any:
        return optuna.pruners.HyperbandPruner(
            min_resource=self.min_resource, reduction_factor=self.reduction_factor
        )


OPTUNA_PRUNERS: dict[str, Callable[[], Pruner]] = {
    "successive_halving": SuccessiveHalvingPruner,
    "hyperband": HyperbandPruner,
}
