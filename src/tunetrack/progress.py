"""A progress bar on stderr: trials done and running, best metric so far, time spent.

In a Jupyter kernel rich's live bar needs ipywidgets (else it warns and draws nothing), so
there the same line is one HTML output updated in place (IPython's display handles), which
needs nothing beyond IPython and stays in the saved notebook as its final state.
"""

from __future__ import annotations

import html
import math
import time
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
        self._notebook: Any = None  # an IPython display handle, in a Jupyter kernel
        self.total, self.done, self._started = total, 0, time.monotonic()
        self.in_flight = 0
        if enabled and _in_jupyter():
            from IPython.display import HTML, display

            self._notebook = display(HTML(self._html()), display_id=True)
        elif enabled:
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

    def _html(self) -> str:
        share = min(self.done / self.total, 1.0) if self.total else 1.0
        best = f"{self.best:.4f}" if math.isfinite(self.best) else "-"
        failed = f" &middot; {self.failed} failed" if self.failed else ""
        running = f" &middot; {self.in_flight} running" if self.in_flight else ""
        elapsed = time.strftime("%M:%S", time.gmtime(time.monotonic() - self._started))
        return (
            "<div style='font-family:monospace'>tuning "
            f"<progress value='{share:.3f}' max='1' style='width:14em'></progress> "
            f"{self.done}/{self.total} trials{running} &middot; best "
            f"{html.escape(self.metric)} <b>{best}</b>{failed} &middot; {elapsed}</div>"
        )

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
        self.in_flight = n
        if self._notebook is not None:
            from IPython.display import HTML

            self._notebook.update(HTML(self._html()))
        if self._progress is not None:
            self._progress.update(self._task, running=f"{n} running" if n else "")

    def trial_done(self, record: Any) -> None:
        value = record.value(self.metric) if record.state == "ok" else None
        if value is not None:
            self.best = min(self.best, value)
        if record.state == "failed":
            self.failed += 1
        self.done += 1
        if self._notebook is not None:
            from IPython.display import HTML

            self._notebook.update(HTML(self._html()))
        if self._progress is not None:
            self._progress.update(
                self._task,
                advance=1,
                best=f"{self.best:.4f}" if math.isfinite(self.best) else "-",
                failed=f"[red]{self.failed} failed" if self.failed else "",
            )


def _in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (not a terminal IPython, not plain Python)."""
    import sys

    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"
