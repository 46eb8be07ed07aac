"""The tracking contract: the names other tools read, and how a trial looks in MLflow.

DESIGN.md's "Tracking contract" in code. A study is a parent run tagged
``tunetrack.role=study``; a trial is a nested run tagged ``tunetrack.role=trial`` with its
number, family and state. Every storage backend writes these names and nothing else
decides them, so the MLflow UI, ``search_runs`` filters and other tools can rely on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tunetrack._core import TrialState

TAG_ROLE = "tunetrack.role"
TAG_TRIAL = "tunetrack.trial"
TAG_STATE = "tunetrack.state"
TAG_ENGINE = "tunetrack.engine"
TAG_ALGO = "tunetrack.algo"
TAG_ERROR = "tunetrack.error"
TAG_PARAMS = "tunetrack.params"  # the sampled params as typed JSON (MLflow params are strings)
TAG_STOPPED_BY = "tunetrack.stopped_by"
TAG_PRUNED_AT = "tunetrack.pruned_at"  # on a pruned trial: the round (0-based) it stopped at
# Fidelity rungs (search.fidelity): on every trial of a study with rungs, the training
# rows it used and its rung (0 = fewest rows); on a promoted trial, the trial number whose
# params it re-runs on more rows.
TAG_FIDELITY_ROWS = "tunetrack.fidelity.rows"
TAG_FIDELITY_RUNG = "tunetrack.fidelity.rung"
TAG_PROMOTED_FROM = "tunetrack.promoted_from"
TAG_STOP_REASON = "tunetrack.stop_reason"  # on the study: max_evals, timeout, ...
TAG_BEST_TRIAL_RUN = "tunetrack.best_trial_run_id"
# On the study: rows each side read and left out, per reason, as JSON
# ({"train": {"read": 600, "missing_target": 3}, "valid": {...}}).
TAG_DATA_ROWS = "tunetrack.data.rows"
# On the study, only when it happened: the training classes validation lacks (JSON list).
TAG_VALID_MISSING_CLASSES = "tunetrack.data.valid_missing_classes"
TAG_MODEL = "model"
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"
TAG_NOTE = "mlflow.note.content"

# MLflow 3's UI opens an experiment by its kind: without one it guesses a GenAI layout.
# Tuning is model training, so every experiment tunetrack writes to says so.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

ROLE_STUDY = "study"
# A study run whose set-up is still being written: readers skip it (see create_study).
ROLE_SETUP = "study-setup"
ROLE_TRIAL = "trial"
CONFIG_ARTIFACT = "tunetrack/config.json"
SPACE_ARTIFACT = "tunetrack/search_space.json"
REPORT_ARTIFACT_DIR = "report"
# MLflow keeps dataset digests in a 36-character column; the full hash goes in a param.
DATASET_DIGEST_CHARS = 32

# The claim on a study run by the one process running it (tunetrack.study.lease): who
# (host:pid:token) and until when (epoch seconds), renewed while it runs, removed at its end.
TAG_LEASE_OWNER = "tunetrack.lease.owner"
TAG_LEASE_EXPIRES = "tunetrack.lease.expires"
# The study's current trial budget: params.max_evals keeps the one it was created with
# (MLflow params never change), this tag and the config artifact the one a resume set.
TAG_MAX_EVALS = "tunetrack.max_evals"
# On a study started from another study's best trials (search.warm_start): that study's
# run id; the points it gave, and how many were dropped, are the artifact below.
TAG_WARM_START_FROM = "tunetrack.warm_start_from"
WARM_START_ARTIFACT = "tunetrack/warm_start.json"

# A trial's validation loss as MLflow metric history (step = the 0-based boosting round),
# every CURVE_EVERY rounds and at its last round. The pruner judges a running trial
# against the curves stored here, so pruning survives --resume and works across
# processes. Every round would cost a metric row each: 220 rounds added 39 ms to a
# trial's 41 ms of writes on local SQLite (bench/tracking_overhead.py).
CURVE_METRIC = "validation_loss"
CURVE_EVERY = 5

# The MLflow run status each trial state ends in.
RUN_STATUS = {
    TrialState.OK: "FINISHED",
    TrialState.PRUNED: "FINISHED",
    TrialState.FAILED: "FAILED",
    TrialState.KILLED: "KILLED",
    TrialState.RUNNING: "RUNNING",
}

# MLflow's charts drop a run that lacks a param, so every trial logs the same flat set: a
# param the trial did not sample is logged as ABSENT_NUMBER on a numeric axis, or as
# ABSENT_TEXT on a categorical one or one that can be None. A sampled None is a value
# (max_depth=None: no limit) and is logged as NONE_TEXT, as MLflow's autologging writes it,
# never as a marker. The typed truth (None is null, absent stays absent) is the
# tunetrack.params JSON tag, which is what load_study reads.
ABSENT_NUMBER = -1
ABSENT_TEXT = "(absent)"
NONE_TEXT = "None"


# A pruned trial's scores are losses at the round it stopped, not results: stored under
# the metric's name plus this suffix (``rmse_at_prune``, step = that round), so MLflow's
# charts of ``rmse`` show completed trials only. Costs keep their names.
AT_PRUNE = "_at_prune"
# A trial on a subset of the training rows (a fidelity rung below the last) is measured
# at that fidelity: its scores are stored as ``<name>_at_rows`` (``rmse_at_rows``) and read
# back under that name, so neither MLflow's sort by ``rmse`` nor the study's best, a
# selection or a shipped model ever take it for a full result. Costs keep their names.
AT_ROWS = "_at_rows"
COST_METRICS = frozenset(
    {"fit_seconds", "fit_cpu_seconds", "model_bytes", "rounds", "best_iteration"}
)


def stored_metrics(
    state: str, metrics: Mapping[str, float], pruned_at: int | None
) -> list[tuple[str, float, int]]:
    """A trial's metrics as (name, value, step) to store: step 0, except that a pruned
    trial's scores are renamed ``<name>_at_prune`` at step ``pruned_at``."""
    if state != TrialState.PRUNED:
        return [(k, float(v), 0) for k, v in metrics.items()]
    step = pruned_at or 0
    return [
        (k, float(v), 0) if k in COST_METRICS else (k + AT_PRUNE, float(v), step)
        for k, v in metrics.items()
    ]


def read_metrics(state: str, stored: Mapping[str, float]) -> dict[str, float]:
    """A stored trial's metrics under the names tunetrack uses in memory (the inverse of
    ``stored_metrics``): a pruned trial's ``rmse_at_prune`` reads as its ``rmse``, which
    its state marks as partial. The curve metric is left out."""
    out = {k: v for k, v in stored.items() if k != CURVE_METRIC}
    if state == TrialState.PRUNED:
        for name in [k for k in out if k.endswith(AT_PRUNE)]:
            out[name.removesuffix(AT_PRUNE)] = out.pop(name)
    return out


def at_rows(metrics: Mapping[str, float]) -> dict[str, float]:
    """A low-rung trial's metrics: scores renamed ``<name>_at_rows``, costs kept."""
    return {k if k in COST_METRICS else k + AT_ROWS: v for k, v in metrics.items()}


def curve_points(curve: Sequence[float]) -> list[tuple[int, float]]:
    """The (round, loss) points of a per-round curve that are stored: every
    ``CURVE_EVERY``-th round from round 0, and the last round."""
    last = len(curve) - 1
    return [(r, float(v)) for r, v in enumerate(curve) if r % CURVE_EVERY == 0 or r == last]


def study_run_name(model: str, start_ms: int) -> str:
    """The study run's name in the UI: its family and UTC start time
    (``xgboost 2026-11-30 06:12:05 UTC``)."""
    from datetime import UTC, datetime

    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    return f"{model} {start:%Y-%m-%d %H:%M:%S} UTC"


def trial_run_name(number: int) -> str:
    return f"trial-{number:04d}"


def trial_start_tags(study_run_id: str, number: int, model: str) -> dict[str, str]:
    """The tags a trial's run is created with: its study, role, family, number and the
    ``running`` state (its run name is ``trial_run_name(number)``)."""
    return {
        TAG_PARENT: study_run_id,
        TAG_ROLE: ROLE_TRIAL,
        TAG_MODEL: model,
        TAG_TRIAL: str(number),
        TAG_STATE: str(TrialState.RUNNING),
    }


def trial_filter(study_run_id: str) -> str:
    """The ``search_runs`` filter for a study's trials (also what the UI hint shows)."""
    return f"tags.`{TAG_PARENT}` = '{study_run_id}' and tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'"


STUDY_FILTER = f"tags.`{TAG_ROLE}` = '{ROLE_STUDY}'"


def ui_params(params: Mapping[str, Any], leaves: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's params as MLflow shows them: every leaf of the space, none missing.

    ``leaves`` maps a flat parameter name to its ``space.Leaf`` (``scale`` and ``options``
    are read). A sampled None stays None (``param_text`` writes NONE_TEXT); only a param
    the trial lacks gets a marker.
    """
    out = dict(params)
    for name, leaf in leaves.items():
        if name not in out:
            text = leaf.scale == "categorical" or None in leaf.options
            out[name] = ABSENT_TEXT if text else ABSENT_NUMBER
    return out


def param_text(value: Any) -> str:
    """A param as MLflow stores it: ints as "12" (not "12.0"), floats exact (repr), None
    as NONE_TEXT."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def params_tag(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True)


def study_note(model: str, engine: str) -> str:
    """The study run's description in the MLflow UI."""
    return (
        f"tunetrack study: {model} tuned with {engine}. Each nested run is one trial; "
        f"filter with `tags.{TAG_ROLE} = '{ROLE_TRIAL}'` to compare them."
    )
