"""Search engines behind one ask/tell seam, looked up by name.

``make_sampler(engine, algo, space, seed)`` builds the engine ``search.engine`` names for
a described space (``space.describe_space``'s JSON). An engine is one module here with a
``Sampler`` subclass and an entry in ``ENGINES``; the engine's library is imported inside
that module only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunetrack.exceptions import ConfigError
from tunetrack.samplers.base import Sampler, Suggestion


def _hyperopt(space: Mapping[str, Any], algo: str, seed: int | Sequence[int]) -> Sampler:
    from tunetrack.samplers.hyperopt import HyperoptSampler

    return HyperoptSampler(space, algo=algo, seed=seed)


def _check_hyperopt(algo: str) -> None:
    from tunetrack.samplers.hyperopt import check_algorithm

    check_algorithm(algo)


def _optuna(space: Mapping[str, Any], algo: str, seed: int | Sequence[int]) -> Sampler:
    from tunetrack.samplers.optuna import OptunaSampler

    return OptunaSampler(space, algo=algo, seed=seed)


def _check_optuna(algo: str) -> None:
    from tunetrack.samplers.optuna import check_algorithm

    check_algorithm(algo)


# engine name -> (factory, check of an algorithm name before anything is written)
ENGINES: dict[str, tuple[Callable[..., Sampler], Callable[[str], None]]] = {
    "hyperopt": (_hyperopt, _check_hyperopt),
    "optuna": (_optuna, _check_optuna),
}


def check_engine(engine: str, algo: str) -> None:
    """Raise ConfigError when ``engine`` or its ``algo`` cannot run here."""
    if engine not in ENGINES:
        raise ConfigError(
            f"unknown search.engine {engine!r}; choose one of: {', '.join(sorted(ENGINES))}"
        )
    ENGINES[engine][1](algo)


def make_sampler(
    engine: str, algo: str, space: Mapping[str, Any], seed: int | Sequence[int]
) -> Sampler:
    """The sampler for a described ``space``; the same seed gives the same points."""
    check_engine(engine, algo)
    return ENGINES[engine][0](space, algo, seed)


__all__ = ["ENGINES", "Sampler", "Suggestion", "check_engine", "make_sampler"]
