"""Choose a trial by its trade-offs: pure policies over a study's finished trials.

Policies (lexicographic objectives with a tolerance, the FLAML idea):
- ``best``: the lowest metric.
- ``smallest-within``: among trials within ``tolerance`` (relative) of the best metric,
  the smallest model, then the fastest to fit.
- ``pareto``: the Pareto front over (metric, fit_cpu_seconds, model_bytes); among its members
  within the tolerance, the most balanced one: the lowest geometric mean of each
  objective's ratio to that set's minimum.

Or the user names the trial (``trial=N`` or ``run_id=...``, instead of a policy): it must
be one of the study's finished (``ok``) trials.

A Study in, a Selection out: nothing here reads or writes MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunetrack._core import FAMILY_KEY, TrialState
from tunetrack.analysis import pareto_mask
from tunetrack.exceptions import ConfigError
from tunetrack.study import Study, TrialRecord

POLICIES = ("best", "pareto", "smallest-within")
PICKED = "picked"  # the Selection.policy of a trial the user named
DEFAULT_TOLERANCE = 0.01
# The fit is costed in CPU seconds: wall seconds grow with whatever else the machine runs.
COST_METRICS = ("fit_cpu_seconds", "model_bytes")


@dataclass(frozen=True)
class Candidate:
    """One successful trial seen by a policy."""

    trial: TrialRecord
    value: float
    fit_cpu_seconds: float
    model_bytes: float
    gap: float  # relative distance to the best metric
    within: bool
    on_front: bool


@dataclass(frozen=True)
class Selection:
    """What a policy chose and why."""

    policy: str
    tolerance: float
    metric: str
    chosen: TrialRecord
    candidates: tuple[Candidate, ...]
    reason: str
    # With test rows (``select(test=...)``): each refit trial's metrics on them, by run id,
    # and what judged the pick: ``validation`` (the policy) or ``test``.
    test_metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by: str = "validation"
    # The shipped models of the refit trials, and how an alias move was decided.
    shipped: tuple[Any, ...] = ()
    promotion: Any = None

    def ranked(self) -> tuple[Candidate, ...]:
        """The candidates in the policy's order of preference (its pick first): ``best``
        by metric; ``smallest-within`` the trials within the tolerance by size, then fit
        time, then the rest by metric; ``pareto`` the front within the tolerance by
        balance, then the rest by metric. A named trial comes first, the rest by metric."""
        pool = [c for c in self.candidates if c.within]
        if self.policy == "smallest-within":
            first = sorted(
                pool, key=lambda c: (c.model_bytes, c.fit_cpu_seconds, c.value, c.trial.number)
            )
        elif self.policy == "pareto":
            front = [c for c in pool if c.on_front]
            first = sorted(front, key=lambda c: (_balance(c, front), c.value, c.trial.number))
        else:
            first = []
        picked = [c for c in self.candidates if c.trial.run_id == self.chosen.run_id]
        unique: dict[str, Candidate] = {}
        for c in (*picked, *first, *self.candidates):  # candidates are sorted by metric
            unique.setdefault(c.trial.run_id, c)
        return tuple(unique.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per successful trial, best metric first; ``chosen`` marks the pick.
        A study across families adds each trial's ``family``; with test rows, each
        ``test_<metric>`` (empty for trials not refit)."""
        across = any(FAMILY_KEY in c.trial.params for c in self.candidates)
        tested = sorted({m for ms in self.test_metrics.values() for m in ms})
        rows = [
            {
                "trial": c.trial.number,
                **({"family": c.trial.params.get(FAMILY_KEY)} if across else {}),
                self.metric: c.value,
                "gap_pct": 100 * c.gap,
                "fit_cpu_seconds": c.fit_cpu_seconds,
                "model_bytes": c.model_bytes,
                "within_tolerance": c.within,
                "pareto": c.on_front,
                **{
                    f"test_{m}": self.test_metrics.get(c.trial.run_id, {}).get(m, math.nan)
                    for m in tested
                },
                "chosen": c.trial.run_id == self.chosen.run_id,
                "run_id": c.trial.run_id,
            }
            for c in self.candidates
        ]
        return pd.DataFrame(rows)


def choose(
    study: Study,
    policy: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    trial: int | None = None,
    run_id: str | None = None,
) -> Selection:
    """Pick a trial of ``study`` by ``policy`` (default ``best``; see the module doc), or
    the one the user names by number (``trial``) or run id (``run_id``)."""
    named = [
        flag for flag, given in (("--trial", trial), ("--run-id", run_id)) if given is not None
    ]
    if len(named) > 1:
        raise ConfigError("--trial and --run-id both name the trial to ship; pass one of them")
    if named and policy is not None:
        raise ConfigError(
            f"{named[0]} names the trial to ship and --policy {policy} chooses one; "
            "pass one of them"
        )
    policy = policy or "best"
    if policy not in POLICIES:
        raise ConfigError(f"unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"--tolerance must be a fraction >= 0 like 0.02 (2%); got {tolerance!r}")
    picked = _named_trial(study, trial, run_id) if named else None
    metric = study.metric
    best = study.best  # raises a one-line error when no trial succeeded
    best_value = best.metrics[metric]
    limit = best_value + tolerance * abs(best_value)
    done = study.completed
    points = [(t.metrics[metric], *(_cost(t, name) for name in COST_METRICS)) for t in done]
    front = set(np.flatnonzero(pareto_mask(np.array(points, dtype=float, ndmin=2))))
    candidates = tuple(
        sorted(
            (
                Candidate(
                    trial=t,
                    value=p[0],
                    fit_cpu_seconds=p[1],
                    model_bytes=p[2],
                    gap=(p[0] - best_value) / abs(best_value) if best_value else 0.0,
                    within=p[0] <= limit,
                    on_front=i in front,
                )
                for i, (t, p) in enumerate(zip(done, points, strict=True))
            ),
            key=lambda c: (c.value, c.trial.number),
        )
    )
    within = [c for c in candidates if c.within]
    pct = f"{100 * tolerance:g}%"
    if picked is not None:
        policy = PICKED
        chosen = next(c for c in candidates if c.trial.run_id == picked.run_id)
        how = f"trial {picked.number}" if trial is not None else f"run id {picked.run_id}"
        gap = f"{100 * chosen.gap:.3g}% above" if chosen.gap else "equal to"
        reason = f"named by {how}; its {metric} is {gap} the best {best_value:.6g}"
    elif policy == "best":
        chosen = candidates[0]
        reason = f"lowest {metric}"
    elif policy == "smallest-within":
        chosen = min(
            within, key=lambda c: (c.model_bytes, c.fit_cpu_seconds, c.value, c.trial.number)
        )
        reason = (
            f"smallest model among the {len(within)} trial(s) within {pct} of the best "
            f"{metric} {best_value:.6g}, then fastest to fit"
        )
    else:
        pool = [c for c in within if c.on_front]  # never empty: the best is on the front
        chosen = min(pool, key=lambda c: (_balance(c, pool), c.value, c.trial.number))
        reason = (
            f"most balanced of the {len(pool)} Pareto-optimal trial(s) (over {metric}, "
            f"fit_cpu_seconds, model_bytes) within {pct} of the best {metric} {best_value:.6g}"
        )
    return Selection(policy, float(tolerance), metric, chosen.trial, candidates, reason)


def _named_trial(study: Study, number: int | None, run_id: str | None) -> TrialRecord:
    """The trial the user named; one-line errors for one that is not there or not done."""
    if number is not None:
        found = [t for t in study.trials if t.number == number]
        if not found:
            numbers = sorted(t.number for t in study.trials)
            have = f"{numbers[0]}-{numbers[-1]}" if numbers else "none yet"
            raise ConfigError(
                f"study {study.run_id} has no trial {number} (its trials: {have}); "
                "pass a trial number from its report or `select --dry-run`"
            )
    else:
        found = [t for t in study.trials if t.run_id == run_id]
        if not found:
            raise ConfigError(
                f"run {run_id} is not a trial of study {study.run_id}; pass the run id of "
                "one of its trials, or --run-id alone to use the study that ran it"
            )
    picked = found[0]
    if picked.state == TrialState.OK and picked.value(study.metric) is None and picked.rows:
        # A fidelity rung below all rows: its score is partial (<metric>_at_rows).
        raise ConfigError(
            f"trial {picked.number} trained on {picked.rows} rows only (fidelity rung "
            f"{picked.rung}), so it has no full {study.metric} to ship; pick a trial on all "
            f"rows, e.g. the best, trial {study.best.number}"
        )
    if picked.state != TrialState.OK or picked.value(study.metric) is None:
        why = f": {picked.error[:160]}" if picked.error else ""
        raise ConfigError(
            f"trial {picked.number} is {picked.state}{why}; only a finished (ok) trial has a "
            f"model to ship, e.g. the best, trial {study.best.number}"
        )
    return picked


def _cost(trial: TrialRecord, name: str) -> float:
    value = trial.fit_cost() if name == "fit_cpu_seconds" else trial.value(name)
    return math.inf if value is None else value  # unknown cost never wins


def _balance(candidate: Candidate, pool: Sequence[Candidate]) -> float:
    """Geometric mean of each objective's ratio to the pool's minimum (1.0 = best at all)."""
    total = 0.0
    for attr in ("value", "fit_cpu_seconds", "model_bytes"):
        low = min(getattr(c, attr) for c in pool)
        mine = getattr(candidate, attr)
        if math.isinf(mine):
            return math.inf
        total += math.log(mine / low) if low > 0 else 0.0
    return math.exp(total / 3)
