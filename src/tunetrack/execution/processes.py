"""Trials side by side in local worker processes (``search.executor: processes``).

Each of the ``parallelism`` workers is a process of its own, forked from
multiprocessing's fork server (no copy of the driver's threads or open store
connections). A worker is
given the study's data source once, when it starts, builds the prepared training data
from it once, then runs one task at a time: a task goes down its pipe, the result comes
back up another. Workers never write to the tracking store (DESIGN principle 7).

The pool is managed here, not by ``concurrent.futures.ProcessPoolExecutor``: there, one
dead worker breaks the whole pool. Here a monitor thread watches every worker's result
pipe and process sentinel; a worker that dies (kill -9, the kernel's out-of-memory killer)
fails only the trial it was running, with the reason ("worker process died (signal 9)"),
and a fresh worker takes its place. ``shutdown`` stops every worker (SIGTERM, then
SIGKILL after a grace period), so Ctrl-C or SIGTERM of the driver leaves none behind;
a worker whose driver is killed outright notices and exits on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from typing import Any

from tunetrack._core import TrialState
from tunetrack.execution.base import Executor
from tunetrack.trial import DataHandle, DataSource, TrialResult, TrialTask, evaluate, install

# Seconds a worker gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 5.0
# Workers that die before they are ready, in a row, before the executor gives up
# (an import or data error that a fresh worker would only repeat).
MAX_START_FAILURES = 3


def _worker_main(tasks: Connection, results: Connection, handle: DataHandle) -> None:
    """A worker's life: build the data once, then run tasks until told to stop."""
    # Ctrl-C in a terminal reaches the whole process group: the driver decides what
    # happens to the trials (it stops the workers itself). Workers are forked from a
    # server that ignores SIGINT from its first instruction (see ``start``); this keeps
    # it so whatever started the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    try:
        # The data comes as the first message, not among the process's arguments: a
        # driver stopped mid-send then leaves a worker that exits quietly here.
        source: DataSource = tasks.recv()
    except (EOFError, OSError, pickle.UnpicklingError):
        return
    install(handle, source)
    results.send(("ready", os.getpid()))
    while True:
        try:
            task = tasks.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if task is None:
            return
        results.send(("result", evaluate(task)))


def _exit_with_parent() -> None:
    """Exit as soon as the driver dies (kill -9 gives it no chance to stop us)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="tunetrack-parent-watch", daemon=True).start()


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    tasks: Connection  # driver -> worker
    results: Connection  # worker -> driver
    ready: bool = False
    future: Future[TrialResult] | None = field(default=None)


def death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, in words: its signal, else its exit code."""
    if exitcode is not None and exitcode < 0:
        return f"worker process died (signal {-exitcode})"
    return f"worker process died (exit code {exitcode})"


class ProcessExecutor(Executor):
    """``parallelism`` worker processes; each trial fits with ``threads`` threads
    (see the module docstring)."""

    def __init__(self, parallelism: int, *, threads: int | None = None) -> None:
        if parallelism < 1:
            raise ValueError(f"parallelism must be at least 1, got {parallelism}")
        self.parallelism = parallelism
        self.threads = threads
        # forkserver: a clean server process (no copy of the driver's threads or store
        # connections) with tunetrack and the families' libraries imported once; a
        # worker, first or replacement, is a fork of it, ready in a fraction of a spawn's
        # time.
        self._context = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._handle: DataHandle | None = None
        self._source: DataSource | None = None
        self._closed = False
        self._start_failures = 0
        self._broken: str | None = None  # why no worker can start, once that is clear
        self._monitor: threading.Thread | None = None

    @property
    def worker_pids(self) -> list[int]:
        """The live workers' process ids."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def start(self, data: DataHandle) -> None:
        from tunetrack.trial import source_of

        source = source_of(data)
        if source is None:
            raise RuntimeError("the processes executor needs data published with its source")
        self._handle, self._source = data, source
        start_fork_server(family_libraries(source.families))
        with self._lock:
            for _ in range(self.parallelism):
                self._workers.append(self._spawn())
        self._monitor = threading.Thread(target=self._watch, name="tunetrack-workers", daemon=True)
        self._monitor.start()

    def _spawn(self) -> _Worker:
        task_read, task_write = self._context.Pipe(duplex=False)
        result_read, result_write = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main,
            args=(task_read, result_write, self._handle),
            name="tunetrack-worker",
            daemon=True,
        )
        process.start()
        # The worker's ends belong to the worker now: closing ours lets each side see
        # the other's death as end-of-file.
        task_read.close()
        result_write.close()
        with contextlib.suppress(OSError):  # it died already: its sentinel says so
            task_write.send(self._source)
        return _Worker(process, task_write, result_read)

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        future: Future[TrialResult] = Future()
        with self._lock:
            if self._broken is not None:
                future.set_result(TrialResult(TrialState.FAILED, error=self._broken))
                return future
            worker = next((w for w in self._workers if w.future is None), None)
            if worker is None:
                raise RuntimeError("every worker is busy: submit at most `parallelism` tasks")
            worker.future = future
        with contextlib.suppress(OSError):  # a dead worker: the monitor fails the trial
            worker.tasks.send(task)
        return future

    def _watch(self) -> None:
        """The monitor thread: hand back results, replace dead workers."""
        while not self._closed:
            with self._lock:
                workers = list(self._workers)
            by_conn = {w.results: w for w in workers}
            by_sentinel = {w.process.sentinel: w for w in workers}
            try:
                ready = wait([*by_conn, *by_sentinel], timeout=0.2)
            except (OSError, ValueError):  # a pipe closed under us: look again
                continue
            for item in ready:
                if item in by_conn:
                    self._receive(by_conn[item])
            for item in ready:
                if item in by_sentinel:
                    self._bury(by_sentinel[item])

    def _receive(self, worker: _Worker) -> bool:
        """Take one message from the worker; False at end-of-file (it died: its sentinel
        says so)."""
        try:
            kind, payload = worker.results.recv()
        except (EOFError, OSError):
            return False
        with self._lock:
            if kind == "ready":
                worker.ready = True
                self._start_failures = 0
                return True
            future, worker.future = worker.future, None
        if future is not None and not future.done():
            future.set_result(payload)
        return True

    def _bury(self, worker: _Worker) -> None:
        """A worker's process ended: fail its trial and start a fresh worker first, so
        the slot is free again when the loop hears of the failure."""
        # A result it sent just before dying is still its result.
        while worker.future is not None and _poll(worker.results):
            if not self._receive(worker):
                break
        worker.process.join(timeout=1)
        reason = death_reason(worker.process.exitcode)
        with self._lock:
            if worker not in self._workers:
                return
            self._workers.remove(worker)
            for conn in (worker.tasks, worker.results):
                conn.close()
            if self._closed:
                return
            future, worker.future = worker.future, None
            if not worker.ready:
                self._start_failures += 1
                if self._start_failures >= MAX_START_FAILURES:
                    self._broken = f"worker processes cannot start: {reason}"
            if self._broken is None:
                self._workers.append(self._spawn())
            # else no fresh worker: submit fails each new trial with the reason
        if future is not None and not future.done():
            future.set_result(TrialResult(TrialState.FAILED, error=reason))

    def shutdown(self) -> None:
        """Stop every worker: a plain stop when idle, SIGTERM then SIGKILL otherwise."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        if self._monitor is not None:
            self._monitor.join(timeout=STOP_GRACE_S)
        for worker in workers:
            busy = worker.future is not None and not worker.future.done()
            if not busy:
                with contextlib.suppress(OSError):
                    worker.tasks.send(None)
            elif worker.process.is_alive():
                worker.process.terminate()
        for worker in workers:
            worker.process.join(timeout=STOP_GRACE_S)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=STOP_GRACE_S)
            for conn in (worker.tasks, worker.results):
                conn.close()


def start_fork_server(modules: Sequence[str] = ()) -> None:
    """Start multiprocessing's fork server now, with this module and ``modules`` (the
    families' libraries) imported in it, unless it runs already (the process's studies
    share it). Each worker is a fork of it, so the imports happen once, not once per
    worker; called while a study is still being set up (``warm_up``), they run on another
    core beside that work instead of after it."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *modules])
    with _sigint_ignored():
        forkserver.ensure_running()


def family_libraries(families: Iterable[str]) -> list[str]:
    """The modules the fits of ``families`` import (each named once, in order)."""
    from tunetrack.models import get_model

    names = [lib for family in families for lib in get_model(family).libraries]
    return list(dict.fromkeys(names))


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the fork server is launched (a fork and an exec: a few
    milliseconds). An ignored signal stays ignored across exec, and Python then installs
    no KeyboardInterrupt handler: the server, and every worker forked from it, never
    print a traceback for a Ctrl-C that reaches the process group while they import.
    (Only the main thread may change signal handlers; elsewhere this does nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _poll(conn: Connection) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False
