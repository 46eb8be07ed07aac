"""Hyperopt as the search engine: algorithm lookup, seeding and stopping rules.

The engine knows nothing about models or MLflow: it asks an objective for a loss and
tells Hyperopt whether the trial counted.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunetrack.config import ALGORITHMS, SearchConfig
from tunetrack.exceptions import ConfigError


@dataclass(frozen=True)
class TrialOutcome:
    """What the objective reports back: a finite loss, or none with the reason."""

    loss: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.loss is not None and math.isfinite(self.loss)


Objective = Callable[[Mapping[str, Any]], TrialOutcome]


def _suggest(algo: str) -> Any:
    from hyperopt import anneal, rand, tpe

    if algo == "atpe":
        try:
            from hyperopt import atpe
        except ImportError:
            raise ConfigError(
                "search.algo 'atpe' needs lightgbm and scikit-learn; "
                "pip install lightgbm, or pick tpe, rand or anneal"
            ) from None
        return atpe.suggest
    table = {"tpe": tpe.suggest, "rand": rand.suggest, "anneal": anneal.suggest}
    if algo not in table:
        raise ConfigError(f"unknown search.algo {algo!r}; choose one of: {', '.join(ALGORITHMS)}")
    return table[algo]


def run_hyperopt(
    objective: Objective,
    space: Any,
    search: SearchConfig,
    *,
    deadline: float | None = None,
) -> int:
    """Minimise ``objective`` over ``space``; returns how many trials ran.

    The same ``search.seed`` gives the same sequence of sampled params. ``deadline`` is a
    ``time.monotonic()`` value after which no new trial starts (the caller also hands it
    to the model so a trial in flight stops at it).
    """
    from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin
    from hyperopt.exceptions import AllTrialsFailed

    def wrapped(params: Mapping[str, Any]) -> dict[str, Any]:
        outcome = objective(params)
        if outcome.ok:
            return {"status": STATUS_OK, "loss": outcome.loss}
        return {"status": STATUS_FAIL, "error": outcome.error}

    def should_stop(trials: Any, *state: Any) -> tuple[bool, list[Any]]:
        if deadline is not None and time.monotonic() >= deadline:
            return True, []
        if search.no_progress_evals:
            return trials_since_best(trials.losses()) >= search.no_progress_evals, []
        return False, []

    trials = Trials()
    # fmin looks up the best point after its loop; the caller reports all-failed studies.
    with contextlib.suppress(AllTrialsFailed):
        fmin(
            wrapped,
            space,
            algo=_suggest(search.algo),
            max_evals=search.max_evals,
            trials=trials,
            rstate=np.random.default_rng(search.seed),
            loss_threshold=search.loss_threshold,
            early_stop_fn=should_stop,
            show_progressbar=False,
            catch_eval_exceptions=False,
            return_argmin=False,
        )
    return len(trials.trials)


def trials_since_best(losses: list[float | None]) -> int:
    """How many trials have finished since the best loss so far was found.

    Hyperopt's own ``no_progress_loss`` breaks on failed trials (they have no loss);
    this counts them as trials without progress, which is what a user means.
    """
    best_index, best = -1, math.inf
    for index, loss in enumerate(losses):
        if loss is not None and math.isfinite(loss) and loss < best:
            best_index, best = index, loss
    return len(losses) - 1 - best_index
