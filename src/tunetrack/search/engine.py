"""Hyperopt as the search engine: algorithm lookup, seeding, stopping rules, history.

The engine knows nothing about models or MLflow: it asks an objective for a loss and
tells Hyperopt whether the trial counted. Each trial's raw Hyperopt values (``vals``:
label -> [value] or [] when inactive, choice *indices* included) go to the objective
so they can be stored, and come back as ``history`` when a study resumes: TPE then
continues from what it learned instead of starting over.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunetrack.config import ALGORITHMS, SearchConfig
from tunetrack.exceptions import ConfigError

Vals = Mapping[str, list[Any]]


@dataclass(frozen=True)
class TrialOutcome:
    """What the objective reports back: a finite loss, or none with the reason."""

    loss: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.loss is not None and math.isfinite(self.loss)


@dataclass(frozen=True)
class PastTrial:
    """A finished trial from an earlier run of the same study."""

    vals: Vals
    loss: float | None  # None: the trial failed


# Called with the sampled params (values, typed) and Hyperopt's raw vals.
Objective = Callable[[Mapping[str, Any], Vals], TrialOutcome]


def check_algorithm(algo: str) -> None:
    """Fail before anything is tracked when the algorithm cannot run here."""
    _suggest(algo)


def _suggest(algo: str) -> Any:
    from hyperopt import anneal, rand, tpe

    if algo == "atpe":
        # hyperopt imports lightgbm only when the first suggestion is asked for.
        if importlib.util.find_spec("lightgbm") is None:
            raise ConfigError(
                "search.algo 'atpe' needs lightgbm: pip install lightgbm, "
                "or pick tpe, rand or anneal"
            )
        from hyperopt import atpe

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
    history: Sequence[PastTrial] = (),
    start_points: Sequence[Mapping[str, Any]] = (),
) -> int:
    """Minimise ``objective`` over ``space`` until ``search.max_evals`` trials are done
    (``history`` counts); returns how many new trials ran.

    The same ``search.seed`` gives the same sequence of sampled params. ``deadline`` is a
    ``time.monotonic()`` value after which no new trial starts (the caller also hands it
    to the model so a trial in flight stops at it).

    ``start_points`` (label -> value, every label of the space) are evaluated first, in
    order, before the algorithm samples; a resumed study (``history``) has run them
    already, so they are skipped then. The order stays seed-reproducible.
    """
    from hyperopt import STATUS_FAIL, STATUS_OK, fmin
    from hyperopt.exceptions import AllTrialsFailed
    from hyperopt.pyll import rec_eval

    def wrapped(expr: Any, memo: Any, ctrl: Any) -> dict[str, Any]:
        params = rec_eval(expr, memo=memo)
        vals = {k: list(v) for k, v in ctrl.current_trial["misc"]["vals"].items()}
        outcome = objective(params, _plain_vals(vals))
        if outcome.ok:
            return {"status": STATUS_OK, "loss": outcome.loss}
        return {"status": STATUS_FAIL, "error": outcome.error}

    def should_stop(trials: Any, *state: Any) -> tuple[bool, list[Any]]:
        if deadline is not None and time.monotonic() >= deadline:
            return True, []
        if search.no_progress_evals:
            return trials_since_best(trials.losses()) >= search.no_progress_evals, []
        return False, []

    # fmin only evaluates queued points while it still has budget to sample, so start
    # points must leave it at least one trial (max_evals=1: no start point).
    start_points = list(start_points)[: max(0, search.max_evals - 1)]
    if history or not start_points:
        trials = history_trials(history)
    else:
        from hyperopt.fmin import generate_trials_to_calculate

        trials = generate_trials_to_calculate([dict(p) for p in start_points])
        trials.refresh()  # else fmin does not count them against max_evals
    # A resumed study must not replay the first run's random draws: mix in how far it got.
    seed = [search.seed, len(history)] if history else search.seed
    # fmin looks up the best point after its loop; the caller reports all-failed studies.
    with contextlib.suppress(AllTrialsFailed):
        fmin(
            wrapped,
            space,
            algo=_suggest(search.algo),
            max_evals=search.max_evals,
            trials=trials,
            rstate=np.random.default_rng(seed),
            loss_threshold=search.loss_threshold,
            early_stop_fn=should_stop,
            show_progressbar=False,
            catch_eval_exceptions=False,
            return_argmin=False,
            pass_expr_memo_ctrl=True,  # the objective needs the trial's raw vals
        )
    return len(trials.trials) - len(history)


def history_trials(history: Sequence[PastTrial]) -> Any:
    """A Hyperopt ``Trials`` holding finished trials, as if this process had run them."""
    from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials

    trials = Trials()
    if not history:
        return trials
    tids = trials.new_trial_ids(len(history))
    miscs, results = [], []
    for tid, past in zip(tids, history, strict=True):
        miscs.append(
            {
                "tid": tid,
                "cmd": ("domain_attachment", "FMinIter_Domain"),
                "workdir": None,
                "idxs": {label: [tid] if v else [] for label, v in past.vals.items()},
                "vals": {label: list(v) for label, v in past.vals.items()},
            }
        )
        ok = past.loss is not None and math.isfinite(past.loss)
        results.append({"status": STATUS_OK, "loss": past.loss} if ok else {"status": STATUS_FAIL})
    docs = trials.new_trial_docs(tids, [None] * len(tids), results, miscs)
    for doc in docs:
        doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def _plain_vals(vals: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """numpy scalars -> Python numbers, so the vals survive JSON exactly."""
    return {
        k: [v.item() if hasattr(v, "item") else v for v in values] for k, values in vals.items()
    }


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
