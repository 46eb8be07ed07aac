"""The sampler seam: the study loop drives a search engine by ask and tell.

``ask()`` returns the next point to try, as the flat, typed params a trial fits with;
``tell(suggestion, loss)`` reports how it went (``None``: the trial failed;
``pruned_at=r``: a pruner stopped it at 0-based round ``r``, so ``loss`` is a partial
result that must not read as a final one);
``enqueue(params)`` puts a known point first in line (a family's start point).
A point the sampler never asked for (a resumed study's history) is told with
``Suggestion(params)``, so every engine learns from history the same way.

Several suggestions may be in flight at once (parallel executors): an engine must accept
``ask`` before the earlier asks are told.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Suggestion:
    """A point to evaluate: flat params with real types (ints as int, choices as values)
    and the engine's own handle for it (None for a point from elsewhere)."""

    params: Mapping[str, Any]
    token: Any = field(default=None, compare=False)


class Sampler(ABC):
    """A search engine behind the study loop (see the module docstring)."""

    @abstractmethod
    def ask(self) -> Suggestion:
        """The next point: the oldest enqueued one, else the engine's suggestion."""

    @abstractmethod
    def tell(
        self, suggestion: Suggestion, loss: float | None, *, pruned_at: int | None = None
    ) -> None:
        """The finished trial's loss (lower is better); None when it failed. With
        ``pruned_at``, ``loss`` is the pruned trial's value at that round: each engine
        ranks it behind every completed trial (as Optuna's TPE ranks PRUNED trials),
        never as a final result."""

    @abstractmethod
    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Evaluate ``params`` (flat, typed, every parameter of the space) before sampling.

        Raises SearchSpaceError when the point does not belong to the space."""
