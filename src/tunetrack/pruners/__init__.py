"""Pruners behind one stateless seam, looked up by the name ``search.pruning`` gives.

A new pruner is a ``Pruner`` subclass (``prune(history, curve) -> bool``) and an entry in
``PRUNERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from tunetrack.exceptions import ConfigError
from tunetrack.pruners.base import CurveHistory, NoPruner, Pruner
from tunetrack.pruners.median import MedianPruner

PRUNERS: dict[str, Callable[[], Pruner]] = {"median": MedianPruner, "none": NoPruner}


def make_pruner(name: str) -> Pruner:
    """The pruner ``search.pruning`` names; ConfigError listing the valid names if none."""
    try:
        return PRUNERS[name]()
    except KeyError:
        raise ConfigError(
            f"unknown search.pruning {name!r}; choose one of: {', '.join(PRUNERS)}"
        ) from None


__all__ = ["PRUNERS", "CurveHistory", "MedianPruner", "NoPruner", "Pruner", "make_pruner"]
