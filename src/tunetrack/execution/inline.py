"""Trials one at a time, in the study's own process (the default executor)."""

from __future__ import annotations

from concurrent.futures import Future

from tunetrack.execution.base import Executor
from tunetrack.trial import TrialResult, TrialTask, evaluate


class InlineExecutor(Executor):
    """Runs each task inside ``submit``; the returned future is already done.

    Ctrl-C during a trial raises KeyboardInterrupt from ``submit``, so the loop can close
    the trial's run as killed and stop."""

    parallelism = 1
    blocking = True

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        future: Future[TrialResult] = Future()
        future.set_result(evaluate(task))
        return future
