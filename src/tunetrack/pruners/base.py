"""The pruner seam: stop a trial whose validation curve trails the finished ones.

A pruner is stateless: it decides from the stored curves of completed trials (read from
the study's storage, so pruning survives ``--resume`` and works when trials run in other
processes) and the running trial's curve so far. ``CurveHistory`` prepares the stored
curves once per trial, so each check is cheap.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any


class CurveHistory:
    """The finished trials' validation curves as stored: (round, loss) points, lower is
    better, not necessarily every round. Kept as running minima: ``best_at(r)`` is each
    complete curve's best stored value up to round ``r``; a curve that ended before ``r``
    (early stopping) keeps its final best. Curves of pruned trials are kept apart
    (``curves(complete=False)``): a median over them would be biased to the bad ones,
    but successive halving compares every trial that reached a rung."""

    def __init__(self, curves: Sequence[Sequence[tuple[int, float]]] = ()) -> None:
        self._best_so_far: list[list[float]] = []
        self._cut_short: list[list[float]] = []
        for points in curves:
            self.add(points)

    def add(self, points: Sequence[tuple[int, float]], *, complete: bool = True) -> None:
        """Another finished trial's curve (one without a finite value is ignored);
        ``complete=False`` for a trial a pruner stopped."""
        if not points:
            return
        by_round = dict(points)
        running, best = [], math.inf
        for round_ in range(max(by_round) + 1):
            value = by_round.get(round_, math.inf)
            if math.isfinite(value):
                best = min(best, value)
            running.append(best)
        if math.isfinite(running[-1]):
            (self._best_so_far if complete else self._cut_short).append(running)

    def snapshot(self) -> CurveHistory:
        """A copy that later ``add`` calls leave as it is (what a trial task carries)."""
        copy = CurveHistory()
        # The curves themselves never change, only the lists of them.
        copy._best_so_far, copy._cut_short = list(self._best_so_far), list(self._cut_short)
        return copy

    def __len__(self) -> int:
        """The number of complete curves."""
        return len(self._best_so_far)

    def best_at(self, round_: int) -> list[float]:
        return [c[min(round_, len(c) - 1)] for c in self._best_so_far]

    def curves(self, *, complete: bool) -> list[list[float]]:
        """The complete (or the pruned) curves as running minima, index = round; a
        round before the first stored point is ``inf``."""
        return list(self._best_so_far if complete else self._cut_short)


class Pruner(ABC):
    """Decides whether a running trial should stop (see the module docstring)."""

    @abstractmethod
    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        """True when the trial whose losses so far are ``curve`` (index = 0-based round;
        the last one is the round just finished) should stop now."""

    def for_trial(self, params: Mapping[str, Any]) -> Pruner:
        """The pruner that judges a trial with these params (flat, typed, fixed params
        included); a pruner whose rule depends on them (the median pruner's warm-up
        scales with the learning rate) returns an adjusted copy. Default: itself."""
        return self


class NoPruner(Pruner):
    """``search.pruning: none``: never stops a trial."""

    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        return False
