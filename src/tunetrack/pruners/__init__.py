"""Pruners behind one stateless seam, looked up by the name ``search.pruning`` gives.

A new pruner is a ``Pruner`` subclass (``prune(history, curve) -> bool``) and an entry in
``PRUNERS``. ``median`` is the project's own; ``successive_halving`` and ``hyperband`` are
Optuna's (the ``optuna`` extra), on either engine.
"""

from __future__ import annotations

from collections.abc import Callable

from tunetrack.exceptions import ConfigError
from tunetrack.pruners.base import CurveHistory, NoPruner, Pruner
from tunetrack.pruners.median import MedianPruner
from tunetrack.pruners.optuna import (
    OPTUNA_PRUNERS,
    HyperbandPruner,
    SuccessiveHalvingPruner,
    optuna_module,
)

PRUNERS: dict[str, Callable[[], Pruner]] = {
    "median": MedianPruner,
    "none": NoPruner,
    **OPTUNA_PRUNERS,
}


def check_pruner(name: str) -> None:
    """Raise ConfigError (one line, before anything is written) when ``name`` is no
    pruner or its library is not installed."""
    if name not in PRUNERS:
        raise ConfigError(f"unknown search.pruning {name!r}; choose one of: {', '.join(PRUNERS)}")
    if name in OPTUNA_PRUNERS:
        optuna_module()


def make_pruner(name: str) -> Pruner:
    """The pruner ``search.pruning`` names; raises as ``check_pruner``."""
    check_pruner(name)
    return PRUNERS[name]()


__all__ = [
    "PRUNERS",
    "CurveHistory",
    "HyperbandPruner",
    "MedianPruner",
    "NoPruner",
    "Pruner",
    "SuccessiveHalvingPruner",
    "check_pruner",
    "make_pruner",
]
