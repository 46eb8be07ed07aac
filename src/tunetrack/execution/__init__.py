"""Executors behind one seam, looked up by the name ``search.executor`` gives.

A new executor is an ``Executor`` subclass (``submit(task) -> Future``) and an entry in
``EXECUTORS``; it imports its library (multiprocessing, pyspark) inside its own module.
"""

from __future__ import annotations

from collections.abc import Callable

from tunetrack.exceptions import ConfigError
from tunetrack.execution.base import Executor
from tunetrack.execution.inline import InlineExecutor

EXECUTORS: dict[str, Callable[..., Executor]] = {"inline": InlineExecutor}


def make_executor(name: str = "inline") -> Executor:
    """The executor ``name`` refers to; ConfigError listing the valid names if none."""
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}"
        ) from None
    return factory()


__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "make_executor"]
