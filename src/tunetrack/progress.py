"""A progress bar on stderr: trials done and running, best metric so far, time spent."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class TrialProgress:
    """Context manager fed one finished trial at a time by the tuning loop."""

    def __init__(
        self, total: int, metric: str, *, enabled: bool = True, done: Sequence[Any] = ()
    ) -> None:
        self.metric = metric
        self.best = math.inf
        self.failed = 0
        finished = [r for r in done if r.state != "killed"]  # a resumed study's trials
        self._progress: Progress | None = None
        self._task: Any = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]tuning"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[running]}"),
                TextColumn("best {task.fields[metric]} [bold green]{task.fields[best]}"),
                TextColumn("{task.fields[failed]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._progress.add_task(
                "tuning", total=total, metric=metric, best="-", failed="", running=""
            )
        for record in finished:
            self.trial_done(record)

    def __enter__(self) -> TrialProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def running(self, n: int) -> None:
        """How many trials are in flight now (shown beside the done count when any)."""
        if self._progress is not None:
            self._progress.update(self._task, running=f"{n} running" if n else "")

    def trial_done(self, record: Any) -> None:
        value = record.value(self.metric) if record.state == "ok" else None
        if value is not None:
            self.best = min(self.best, value)
        if record.state == "failed":
            self.failed += 1
        if self._progress is not None:
            self._progress.update(
                self._task,
                advance=1,
                best=f"{self.best:.4f}" if math.isfinite(self.best) else "-",
                failed=f"[red]{self.failed} failed" if self.failed else "",
            )
