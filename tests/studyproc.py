"""A `tunetrack tune` process driven from a test: start it, wait for its trials to run,
find its workers, signal them or it, wait for processes to go.

Shared by test_parallel.py (the processes executor) and test_spark.py (Spark local mode
and a loopback standalone cluster). Every wait ends on its event (a run appearing in the
store, a process gone); ``BACKSTOP`` only stops a hang, it is never a speed check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli.app import app

BACKSTOP = 900
FINISHED = ("ok", "pruned", "failed")

# Trials slow enough (a second or more each) to be caught in flight.
SLOW = [
    "model.num_boost_round=1000",
    "model.early_stopping_rounds=1000",
    "search.pruning=none",
    "space.learning_rate=loguniform(-9, -8)",
    "space.max_depth=quniform(6, 8, 1)",
    "space.min_child_weight=loguniform(-1, 0)",
]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tunetrack.cli", *args]


def sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def running_trials(client: MlflowClient) -> list:
    """Every trial run of the store that is RUNNING."""
    runs = []
    for experiment in client.search_experiments():
        runs += client.search_runs(
            [experiment.experiment_id],
            "tags.`tunetrack.trial` != '' and attributes.status = 'RUNNING'",
        )
    return runs


# -- processes, read from /proc -----------------------------------------------------------


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: fields follow the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of ``pid`` so far, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + BACKSTOP
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived their driver"
        time.sleep(0.1)


def fork_workers(driver: int) -> list[int]:
    """The processes executor's workers: the children of the driver's fork server."""
    servers = [p for p in children(driver) if b"multiprocessing.forkserver" in cmdline(p)]
    return [pid for server in servers for pid in children(server)]


def spark_jvms(driver: int) -> list[int]:
    """The JVM pyspark started for the driver (its gateway and, in local mode, the
    executor too)."""
    return [p for p in children(driver) if cmdline(p).split(b"\0")[0].endswith(b"/java")]


def spark_python_workers(root: int) -> list[int]:
    """Python workers below ``root`` (the driver in local mode, a standalone worker's
    JVM on a cluster): the processes pyspark's daemon forks, one per running task."""
    below = descendants(root)
    daemons = [p for p in below if b"pyspark.daemon" in cmdline(p)]
    return [p for d in daemons for p in children(d) if b"pyspark.daemon" in cmdline(p)]


def spark_processes(driver: int) -> list[int]:
    """The driver's JVM and every process below it (daemon, Python workers)."""
    jvms = spark_jvms(driver)
    return [*jvms, *(p for j in jvms for p in descendants(j))]


# -- the study process ----------------------------------------------------------------------


class StudyProcess:
    """``tunetrack <args>`` in its own process group (as a terminal's foreground job:
    Ctrl-C reaches the whole group), its output in files (no pipe to fill up). Leaving
    the block kills whatever of the group is left."""

    def __init__(self, args: list[str], tracking_uri: str, *, name: str = "study") -> None:
        self.client = MlflowClient(tracking_uri)
        self.stdout = Path(f"{name}.out").resolve()
        self.stderr = Path(f"{name}.err").resolve()
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.proc = subprocess.Popen(cli(*args), stdout=out, stderr=err, start_new_session=True)
        self.pid = self.proc.pid

    def __enter__(self) -> StudyProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=BACKSTOP)

    def output(self) -> str:
        return self.stderr.read_text()

    def wait_running(self, n: int) -> list:
        """The trial runs RUNNING, once there are ``n`` at once (the driver creates a
        trial's run just before it hands the trial out)."""
        return self.wait_for(lambda runs: len(runs) >= n, f"{n} trials never ran at once")

    def wait_for(self, ready: Callable[[list], bool], what: str) -> list:
        deadline = time.monotonic() + BACKSTOP
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"it ended ({self.proc.returncode}): {self.output()}"
            runs = running_trials(self.client)
            if ready(runs):
                return runs
            time.sleep(0.1)
        raise AssertionError(what)

    def wait_until(self, found: Callable[[], Any], what: str) -> Any:
        """Poll ``found`` until it returns something true, while the study still runs."""
        deadline = time.monotonic() + BACKSTOP
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"it ended ({self.proc.returncode}): {self.output()}"
            value = found()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(what)

    def signal_group(self, sig: int) -> None:
        os.killpg(self.pid, sig)

    def finish(self) -> tuple[int, str]:
        """Wait for the process to end: its exit code and stderr."""
        code = self.proc.wait(timeout=BACKSTOP)
        return code, self.output()

    def kill_worker_holding_a_trial(self, worker: int, parallelism: int) -> set[str]:
        """Kill -9 ``worker`` while it holds a trial; the ids of the runs RUNNING then.

        The worker is stopped first (SIGSTOP): from then on it can neither finish its
        trial nor hand one back. Once ``parallelism`` trial runs are RUNNING the driver has
        handed every worker a trial (it creates a run just before it hands the trial out),
        the stopped one included, so the kill lands on a trial, never between two."""
        os.kill(worker, signal.SIGSTOP)
        try:
            runs = self.wait_for(
                lambda found: len(found) >= parallelism, "the stopped worker got no trial"
            )
            # Twice: a run created in the instant before its hand-out is handed out now.
            runs = self.wait_for(lambda found: len(found) >= parallelism, "trials ended")
        finally:
            os.kill(worker, signal.SIGKILL)
        return {r.info.run_id for r in runs}


def busy(pids: list[int]) -> list[int]:
    """Those of ``pids`` using CPU now (training, not waiting for a task): their CPU time
    grew over a short look."""
    before = {p: cpu_ticks(p) for p in pids}
    time.sleep(0.5)
    return [p for p in pids if cpu_ticks(p) > before[p]]


def resume_finishes_exactly(args: list[str], max_evals: int, tracking_uri: str) -> None:
    """After a driver's kill -9: `--resume` (``args`` include the executor to resume on)
    closes the runs the kill left RUNNING as KILLED, and no other, and finishes at exactly
    ``max_evals`` finished trials, each number once."""

    stale = tunetrack.load_study()
    # The runs in flight at the kill (2, or 1 if a trial ended just before it).
    left_running = [t.state for t in stale.trials].count("running")
    assert left_running in (1, 2)
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    loaded = tunetrack.load_study()
    assert loaded.run_id == stale.run_id
    numbers = [t.number for t in loaded.trials]
    assert numbers == list(range(len(numbers)))  # each number once
    states = [t.state for t in loaded.trials]
    assert sum(s in FINISHED for s in states) == max_evals
    assert states.count("killed") == left_running  # --resume closed them, no other
    assert "running" not in states
    assert MlflowClient(tracking_uri).get_run(loaded.run_id).info.status == "FINISHED"
