"""Run a server in the foreground and never leave it behind.

``mlflow server`` and ``mlflow models serve`` start worker processes of their own, and
killing the launcher alone leaves them serving. So the server gets its own process
group, and Ctrl-C, SIGTERM or any exit of ours ends that whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from tunetrack.exceptions import ConfigError

STOP_GRACE_S = 15


def check_port(host: str, port: int) -> None:
    """Raise ConfigError unless a server could listen on ``host``:``port`` now: a port
    out of range, an address this machine does not have, or a port already taken (the
    server would fail after saying it is ready, or another server would answer)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port; pass one from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise ConfigError(
            f"--host {host!r} is not an address here ({err}); pass e.g. 127.0.0.1"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)  # no SO_REUSEADDR: a port in use (or lingering) is refused
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {err.strerror}; stop what uses it or pass "
                "another --port"
            ) from None


def run_foreground(command: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
    """Run ``command`` until it exits or we are interrupted; returns its exit code
    (0 when stopped by Ctrl-C or SIGTERM, as a user stopping a server expects)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    proc = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, start_new_session=True
    )
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_group(proc)
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that ignored SIGTERM
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
