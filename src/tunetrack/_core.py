"""Shared vocabulary every layer may use: the task kinds, trial states, the family key.

Nothing here imports anything from tunetrack, so every layer (config and data at the
bottom, the study and the CLI at the top) can share these names without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

REGRESSION = "regression"
CLASSIFICATION = "classification"
TASKS = (REGRESSION, CLASSIFICATION)

# The constant key that tags each family's branch in a cross-family search space (and
# a trial's flattened params with the family it trained).
FAMILY_KEY = "family"


@dataclass(frozen=True)
class Task:
    """What is predicted: a number, or one of ``classes`` (the training labels, sorted;
    JSON scalars, so a packaged model answers with the labels' own type)."""

    kind: str = REGRESSION
    classes: tuple[Any, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "classes": list(self.classes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        return cls(kind=str(data["kind"]), classes=tuple(data.get("classes", ())))


class TrialState(StrEnum):
    """A trial's state, as the ``tunetrack.state`` tag stores it.

    ``ok``, ``pruned`` and ``failed`` trials are finished; ``killed`` ones were cut off by a
    crash or Ctrl-C; ``running`` ones are in flight (or their process died and no resume
    has closed them yet).
    """

    OK = "ok"
    PRUNED = "pruned"
    FAILED = "failed"
    KILLED = "killed"
    RUNNING = "running"


FINISHED_STATES = (TrialState.OK, TrialState.FAILED, TrialState.PRUNED)
