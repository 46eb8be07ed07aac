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
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
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


def _run_on_executor(shipped: Any, task: TrialTask) -> TrialResult:
    """One trial inside a Spark task: the data is built once per Python worker."""
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
        self._count_lock = threading.Lock()

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
            context.setJobGroup(self._group, f"tunetrack trial {task.number}", True)
            rdd = context.parallelize([task], 1)
            [result] = rdd.map(lambda t: _run_on_executor(shipped, t)).collect()
            return result
        except Exception as err:  # a lost executor, a killed Python worker
            if self._closed.is_set():
                return TrialResult(TrialState.KILLED, error="interrupted")
            return TrialResult(TrialState.FAILED, error=f"spark task failed: {_reason(err)}")
        finally:
            with self._count_lock:
                self._running -= 1

    def shutdown(self) -> None:
        """Cancel the study's Spark jobs still running and stop a session built here."""
        self._closed.set()
        if self._session is not None and self._running:
            with contextlib.suppress(Exception):
                self._session.sparkContext.cancelJobGroup(self._group)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._shipped is not None:
            with contextlib.suppress(Exception):
                self._shipped.destroy()
        if self._own_session and self._session is not None:
            self._session.stop()
        self._session = None


def _reason(err: BaseException) -> str:
    """A Spark failure on one line: the Python error raised in the task when there is
    one, not the JVM's stack trace."""
    text = str(err)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("RuntimeError", "MemoryError", "EOFError", "OSError")):
            return stripped[:300]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return one_line(Exception(first))
