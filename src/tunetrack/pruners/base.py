"""The pruner seam: stop a trial whose validation curve trails the finished ones.

A pruner is stateless: it decides from the stored curves of completed trials (read from
the study's storage, so pruning survives ``--resume`` and works when trials run in other
processes) and the running trial's curve so far. ``CurveHistory`` prepares the stored
curves once per trial, so each check is cheap.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence


class CurveHistory:
    """The completed trials' validation curves as stored: (round, loss) points, lower is
    better, not necessarily every round. Kept as running minima: ``best_at(r)`` is each
    curve's best stored value up to round ``r``; a curve that ended before ``r`` (early
    stopping) keeps its final best."""

    def __init__(self, curves: Sequence[Sequence[tuple[int, float]]] = ()) -> None:
        self._best_so_far: list[list[float]] = []
        for points in curves:
            self.add(points)

    def add(self, points: Sequence[tuple[int, float]]) -> None:
        """Another completed trial's curve (one without a finite value is ignored)."""
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
            self._best_so_far.append(running)

    def snapshot(self) -> CurveHistory:
        """A copy that later ``add`` calls leave as it is (what a trial task carries)."""
        copy = CurveHistory()
        copy._best_so_far = list(self._best_so_far)  # the curves themselves never change
        return copy

    def __len__(self) -> int:
        return len(self._best_so_far)

    def best_at(self, round_: int) -> list[float]:
        return [c[min(round_, len(c) - 1)] for c in self._best_so_far]


class Pruner(ABC):
    """Decides whether a running trial should stop (see the module docstring)."""

    @abstractmethod
    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        """True when the trial whose losses so far are ``curve`` (index = 0-based round;
        the last one is the round just finished) should stop now."""


class NoPruner(Pruner):
    """``search.pruning: none``: never stops a trial."""

    def prune(self, history: CurveHistory, curve: Sequence[float]) -> bool:
        return False
