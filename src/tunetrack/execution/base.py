"""The executor seam: where trials run.

The study loop hands an executor a picklable ``TrialTask`` and gets a future of its
``TrialResult``; it keeps up to ``parallelism`` tasks in flight and asks the sampler for a
new point as soon as any one finishes. Executors never write to the tracking store: the
loop does, from the results (DESIGN principle 7).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from types import TracebackType

from tunetrack.trial import DataHandle, TrialResult, TrialTask


class Executor(ABC):
    """Runs trial tasks (see the module docstring). A context manager: leaving it frees
    the workers and the prepared data they hold."""

    #: How many trials may be in flight at once.
    parallelism: int = 1
    #: Threads each trial's fit may use (None: the family's default, every core).
    threads: int | None = None
    #: Whether ``submit`` runs the task to its end before it returns (inline): the loop
    #: then writes finished trials before starting the next, not after.
    blocking: bool = False

    def start(self, data: DataHandle) -> None:  # noqa: B027 (optional hook)
        """Called once before the first task, with the study's prepared data: an executor
        whose workers live elsewhere ships the data to them here, once."""

    @abstractmethod
    def submit(self, task: TrialTask) -> Future[TrialResult]:
        """Start ``task``; the future holds its result (``evaluate`` never raises but for
        KeyboardInterrupt, which an inline executor lets through at once)."""

    def shutdown(self) -> None:  # noqa: B027 (optional hook)
        """Stop the workers; tasks still running are abandoned."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.shutdown()
