"""Frozen trial records, read back from the tracking store."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunetrack._core import TrialState
from tunetrack.exceptions import TrackingError
from tunetrack.storage import RunData, schema


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its number, MLflow run id, state (a ``TrialState``, equal to its text),
    sampled params with real types, metrics (latest values), times in epoch ms, and for a
    failed or killed trial the reason."""

    number: int
    run_id: str
    state: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    start_time: int
    end_time: int | None
    error: str | None = None
    family: str | None = None
    # Fidelity rungs (search.fidelity): the training rows it used, its rung (0 = fewest
    # rows) and the trial it was promoted from; None in a study without rungs.
    rows: int | None = None
    rung: int | None = None
    promoted_from: int | None = None

    def fit_cost(self) -> float | None:
        """Seconds the fit cost: its CPU time (``fit_cpu_seconds``, steady under machine
        load), or the wall ``fit_seconds`` of a trial recorded before CPU time was."""
        cpu = self.value("fit_cpu_seconds")
        return cpu if cpu is not None else self.value("fit_seconds")

    def value(self, metric: str) -> float | None:
        """The metric, or None when the trial has none (failed) or it is NaN."""
        got = self.metrics.get(metric)
        return None if got is None or math.isnan(got) else got


# Optuna's name for the same thing, for users who come from it.
FrozenTrial = TrialRecord


def trial_from_run(run: RunData) -> TrialRecord:
    """Read a trial back; typed params come from the JSON tag, not MLflow's strings."""
    params_json = run.tags.get(schema.TAG_PARAMS)
    params = json.loads(params_json) if params_json else dict(run.params)
    raw_state = run.tags.get(schema.TAG_STATE, TrialState.RUNNING)
    try:
        state: str = TrialState(raw_state)
    except ValueError:  # written by a newer tunetrack: shown as it is
        state = raw_state
    return TrialRecord(
        number=int(run.tags.get(schema.TAG_TRIAL, "-1")),
        run_id=run.run_id,
        state=state,
        params=params,
        metrics=schema.read_metrics(state, run.metrics),
        start_time=run.start_time,
        end_time=run.end_time,
        error=run.tags.get(schema.TAG_ERROR),
        family=run.tags.get(schema.TAG_MODEL),
        rows=_int_tag(run.tags, schema.TAG_FIDELITY_ROWS),
        rung=_int_tag(run.tags, schema.TAG_FIDELITY_RUNG),
        promoted_from=_int_tag(run.tags, schema.TAG_PROMOTED_FROM),
    )


def _int_tag(tags: Mapping[str, str], name: str) -> int | None:
    text = tags.get(name)
    try:
        return int(text) if text is not None else None
    except ValueError:  # not written by tunetrack: no rung
        return None


def check_study_run(run: RunData) -> None:
    """Raise TrackingError unless ``run`` is a tunetrack study: one line for any other
    run, and for a study whose set-up was cut short (its process killed) how to go on."""
    role = run.tags.get(schema.TAG_ROLE)
    if role == schema.ROLE_SETUP:
        raise TrackingError(
            f"study run {run.run_id} was never finished setting up (its process was stopped "
            "while writing its config); it holds no trials: start a new study with "
            "`tunetrack tune` (without --resume), which also removes it"
        )
    if role != schema.ROLE_STUDY:
        raise TrackingError(
            f"run {run.run_id} is not a tunetrack study (tag {schema.TAG_ROLE}={role!r}); "
            "pass the study's parent run id"
        )
