"""Run a server in the foreground and never leave it behind.

``mlflow server`` and ``mlflow models serve`` start worker processes of their own, and
killing the launcher alone leaves them serving. So the server runs under a small group
leader (``python -m tunetrack.processes COMMAND...``) in a process group of its own:
Ctrl-C, SIGTERM or any exit of ours stops that whole group, and so does our death by
``kill -9``, which no handler sees: Linux sends the leader SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), and the leader then stops every member of its group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunetrack.exceptions import ConfigError

STOP_GRACE_S = 15
# The pid of the process that started the leader: the leader checks that it is still
# its parent once the death signal is armed (the parent may die before that).
PARENT_ENV = "TUNETRACK_LEADER_PARENT"


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


def start_group(
    command: Sequence[str], *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` under a group leader in a new session (so a terminal's Ctrl-C
    reaches only us); the group dies with this process, however it ends. Stop it with
    ``stop_group``; its exit code is the command's."""
    environ = dict(os.environ if env is None else env)
    environ[PARENT_ENV] = str(os.getpid())
    return subprocess.Popen(
        [sys.executable, "-m", "tunetrack.processes", *command],
        env=environ,
        start_new_session=True,
    )


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
    proc = start_group(command, env=env)
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
    """SIGTERM the process group led by ``proc``, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that ignored SIGTERM
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_GRACE_S)


def lead_group(command: Sequence[str]) -> int:
    """The group leader's body: run ``command`` in this process group and, when this
    process is told to stop (SIGTERM, SIGINT, SIGHUP, or its parent's death), stop the
    whole group with it. Returns the command's exit code."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    _die_with_parent()
    child = subprocess.Popen(list(command))
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM is not for us
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgrp(), signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=STOP_GRACE_S)
        deadline = time.monotonic() + STOP_GRACE_S
        while _other_members() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _other_members():  # workers that ignored SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _other_members() -> list[int]:
    """The live processes of this process group but this one (Linux's /proc)."""
    group, found = os.getpgrp(), []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            # Field 5 of stat is the group; the name (field 2) may hold spaces: split after it.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and int(entry.name) != os.getpid() and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere a no-op:
    Ctrl-C and SIGTERM of the parent still stop the group). A parent already gone
    (re-parented before the request took effect) stops us at once."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    expected = os.environ.pop(PARENT_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        raise SystemExit(0)


if __name__ == "__main__":  # the group leader: python -m tunetrack.processes COMMAND...
    sys.exit(lead_group(sys.argv[1:]))
