"""Executors behind one seam, looked up by the name ``search.executor`` gives.

A new executor is an ``Executor`` subclass (``submit(task) -> Future``) and an entry in
``make_executor``; it imports its library (multiprocessing, pyspark) inside its own
module, so ``inline`` studies never load them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tunetrack.exceptions import ConfigError
from tunetrack.execution.base import Executor
from tunetrack.execution.inline import InlineExecutor

EXECUTORS = ("inline", "processes", "spark")


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def trial_threads(name: str, parallelism: int | None) -> int | None:
    """Threads one trial's fit gets under executor ``name`` (None: the family's default,
    every core): ``cores // parallelism`` (at least 1) for local worker processes; 1 for
    Spark, whose scheduler already runs one task per core (``spark.task.cpus``)."""
    if name == "processes":
        return max(1, cores() // (parallelism or cores()))
    if name == "spark":
        return 1
    return None


def check_executor(name: str) -> None:
    """Raise ConfigError, before anything is written, when executor ``name`` cannot run
    here (the spark executor without pyspark or Java)."""
    if name == "spark":
        from tunetrack.execution.spark import check_spark

        check_spark()


def warm_up(name: str, families: Iterable[str]) -> None:
    """Begin what executor ``name`` takes long to start, before the study's store is
    opened and its run created, so it runs beside that work: for ``processes``, the
    workers' fork server, with the libraries of ``families`` imported in it. Nothing is
    written; the other executors have nothing to begin."""
    if name == "processes":
        from tunetrack.execution.processes import family_libraries, start_fork_server

        start_fork_server(family_libraries(families))


def make_executor(
    name: str = "inline", parallelism: int | None = None, spark_master: str | None = None
) -> Executor:
    """The executor ``name`` refers to, for ``parallelism`` trials at once (None: the
    machine's cores, or Spark's default parallelism). Raises ConfigError for an unknown
    name and MissingDependency when the spark executor's pyspark or Java is missing."""
    if name == "inline":
        return InlineExecutor()
    if name == "processes":
        from tunetrack.execution.processes import ProcessExecutor

        return ProcessExecutor(parallelism or cores(), threads=trial_threads(name, parallelism))
    if name == "spark":
        from tunetrack.execution.spark import SparkExecutor

        return SparkExecutor(parallelism, master=spark_master, threads=trial_threads(name, 1))
    raise ConfigError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "check_executor",
    "cores",
    "make_executor",
    "trial_threads",
    "warm_up",
]
