"""Run a server in the foreground and never leave it behind.

``mlflow server`` and ``mlflow models serve`` start worker processes of their own, and
killing the launcher alone leaves them serving. So the server gets its own process
group, and Ctrl-C, SIGTERM or any exit of ours ends that whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any

STOP_GRACE_S = 15


def run_foreground(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    started: Callable[[subprocess.Popen[bytes]], object] | None = None,
) -> int:
    """Run ``command`` until it exits or we are interrupted; returns its exit code
    (0 when stopped by Ctrl-C or SIGTERM, as a user stopping a server expects).

    ``started(proc)``, when given, runs once the process is started (e.g. to wait until
    a server answers and say how to reach it); whatever it raises stops the process
    group and propagates.
    """
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    proc = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, start_new_session=True
    )
    try:
        if started is not None:
            started(proc)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_group(proc)
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM ``proc``'s process group, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that ignored SIGTERM
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
