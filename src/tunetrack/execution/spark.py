"""Trials as Spark tasks (``search.executor: spark``).

Each trial is a one-element RDD whose single task runs ``evaluate`` on an executor;
``parallelism`` driver threads submit them, so Spark schedules up to that many trials at
once and the loop asks for a new point as soon as one comes back. The study's data source
is broadcast once; each executor's Python worker builds the prepared data from it the
first time it runs a trial of the study and keeps it (``trial.install``), so the data
travels once, not once a trial. Results come back to the driver, the only writer.

The session is the active one when there is one (a Databricks notebook), else one built
on ``search.spark_master`` (default ``local[parallelism]``), stopped again at the end.
pyspark is the extra ``tunetrack[spark]``; Java comes from the system.

Faults. A trial runs at most once: a task whose Python worker or executor dies fails
that trial (``spark task failed: ...`` naming what was lost) and the study goes on, as
with the processes executor. A session built here sets ``spark.task.maxFailures=1``
(a cluster's default, 4, would re-run the whole trial, and an out-of-memory kill would
repeat); on a session that retries anyway (an active one, ``local[N,F]``) the retry
attempt does not train again but reports the loss. ``shutdown`` (the end of the study,
Ctrl-C, SIGTERM of the driver) cancels the study's job group until no job is left. A
driver killed outright takes its local JVM with it: pyspark's gateway JVM exits when its
stdin (a pipe from the driver) closes, and pyspark's worker daemon, when the JVM's pipe
to it closes, stops its workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tunetrack._core import TrialState
from tunetrack.exceptions import ConfigError
from tunetrack.execution.base import Executor
from tunetrack.trial import (
    DataHandle,
    DataSource,
    TrialResult,
    TrialTask,
    evaluate,
    install,
    one_line,
    source_of,
)

# How long shutdown keeps cancelling before it stops waiting for the study's jobs (a
# JVM that stopped answering): a backstop, a cancel takes well under a second.
CANCEL_BACKSTOP_S = 120.0

JAVA_HINT = (
    "--executor spark needs Java (17 or newer): apt-get install openjdk-17-jre-headless, "
    "or set JAVA_HOME"
)


def check_spark() -> None:
    """Raise ConfigError naming the install command when pyspark or Java is missing."""
    from tunetrack.extras import require

    require("pyspark", extra="spark", purpose="--executor spark")
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java") is None:
        raise ConfigError(JAVA_HINT)


# The reason a trial fails when Spark retried its task: the first attempt was lost.
RETRIED = (
    "spark task failed: its first attempt was lost (a Python worker or executor died) "
    "and a trial is not run twice"
)
# The reason when the Python worker running the trial died (kill -9, out of memory).
WORKER_DIED = "spark task failed: the Python worker running it died (exited unexpectedly)"


def _run_on_executor(shipped: Any, task: TrialTask) -> TrialResult:
    """One trial inside a Spark task: the data is built once per Python worker."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None and context.attemptNumber() > 0:
        # Spark re-ran a task it lost: a retry would train the whole trial again (and
        # an out-of-memory kill would repeat), so the trial fails once, here.
        return TrialResult(TrialState.FAILED, error=RETRIED)
    handle, source = shipped.value
    install(handle, source)
    return evaluate(task)


class SparkExecutor(Executor):
    """Trials as Spark tasks, ``parallelism`` at once (see the module docstring)."""

    def __init__(
        self, parallelism: int | None, *, master: str | None = None, threads: int | None = 1
    ) -> None:
        check_spark()
        self._requested = parallelism
        self.parallelism = parallelism or 1
        self.threads = threads
        self._master = master
        self._session: Any = None
        self._own_session = False
        self._pool: ThreadPoolExecutor | None = None
        self._shipped: Any = None
        self._group = f"tunetrack-{uuid.uuid4().hex[:12]}"
        self._closed = threading.Event()
        self._running = 0  # trials whose Spark job has not come back
        self._count_lock = threading.Condition()

    def start(self, data: DataHandle) -> None:
        from pyspark.sql import SparkSession

        source: DataSource | None = source_of(data)
        if source is None:
            raise RuntimeError("the spark executor needs data published with its source")
        session = SparkSession.getActiveSession() if self._master is None else None
        if session is None:
            master = self._master or f"local[{self._requested or os.cpu_count() or 1}]"
            builder = (
                SparkSession.builder.master(master)
                .appName("tunetrack")
                .config("spark.ui.showConsoleProgress", "false")  # the study has its own bar
                # A lost task fails its trial instead of re-running it (module docstring).
                # local[N] already tries once; local[N,F] keeps its F.
                .config("spark.task.maxFailures", "1")
                # A trial's failure is recorded on its run; Spark's WARN stack trace of
                # each lost or cancelled task would only bury the study's own output.
                .config("spark.log.level", "ERROR")
            )
            if master.startswith("local"):
                # Local workers run this interpreter, which has tunetrack installed
                # (pyspark reads the variable when it starts the context).
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            session = builder.getOrCreate()
            self._own_session = True
        self._session = session
        context = session.sparkContext
        if self._requested is None:
            self.parallelism = max(1, int(context.defaultParallelism))
        self._shipped = context.broadcast((data, source))
        self._pool = ThreadPoolExecutor(self.parallelism, thread_name_prefix="tunetrack-spark")

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        if self._pool is None:
            raise RuntimeError("start() the executor before submitting trials")
        return self._pool.submit(self._run, task)

    def _run(self, task: TrialTask) -> TrialResult:
        context = self._session.sparkContext
        shipped = self._shipped
        with self._count_lock:
            self._running += 1
        try:
            if self._closed.is_set():  # shut down before its job started: none starts
                return TrialResult(TrialState.KILLED, error="interrupted")
            context.setJobGroup(self._group, f"tunetrack trial {task.number}", True)
            rdd = context.parallelize([task], 1)
            [result] = rdd.map(lambda t: _run_on_executor(shipped, t)).collect()
            return result
        except Exception as err:  # a lost executor, a killed Python worker
            if self._closed.is_set():
                return TrialResult(TrialState.KILLED, error="interrupted")
            return TrialResult(TrialState.FAILED, error=_reason(err))
        finally:
            with self._count_lock:
                self._running -= 1
                self._count_lock.notify_all()

    def shutdown(self) -> None:
        """Cancel the study's Spark jobs still running and stop a session built here."""
        self._closed.set()
        stuck = False
        if self._session is not None:
            # Again until every submitting thread is back: a job submitted just after a
            # cancel would otherwise run its whole trial before the study could end.
            deadline = time.monotonic() + CANCEL_BACKSTOP_S
            with self._count_lock:
                while self._running and time.monotonic() < deadline:
                    with contextlib.suppress(Exception):
                        self._session.sparkContext.cancelJobGroup(self._group)
                    self._count_lock.wait(timeout=1.0)
                stuck = self._running > 0
        if self._pool is not None:
            self._pool.shutdown(wait=not stuck, cancel_futures=True)
        if self._shipped is not None:
            with contextlib.suppress(Exception):
                self._shipped.destroy()
        if self._own_session and self._session is not None:
            self._session.stop()
        self._session = None


def _reason(err: BaseException) -> str:
    """A Spark failure on one line, ``spark task failed: ...``: what was lost (the Python
    worker, the executor), else the Python error raised in the task, else Spark's own
    first line; never the JVM's stack trace."""
    text = str(err)
    if "Python worker exited unexpectedly" in text:
        return WORKER_DIED
    lost = re.search(r"ExecutorLostFailure \(([^)\n]*)\)", text)
    if lost:
        return f"spark task failed: its executor was lost ({lost.group(1)})"
    return f"spark task failed: {_first_error(text, err)}"


def _first_error(text: str, err: BaseException) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("RuntimeError", "MemoryError", "EOFError", "OSError")):
            return stripped[:300]
    # "Job aborted due to stage failure: ... most recent failure: <why>": the why.
    recent = re.search(r"most recent failure: (.+)", text)
    if recent:
        return one_line(Exception(recent.group(1)))[:300]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return one_line(Exception(first))
