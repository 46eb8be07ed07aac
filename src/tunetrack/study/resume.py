"""Resuming a study: the same study, its dead trials closed, its history read back.

Everything comes from the tracking store (DESIGN principle 1): the stored config and
data digests prove it is the same study, the trials' typed params and losses feed the
sampler, and the finished trials' stored curves (pruned ones too) feed the pruner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tunetrack._core import FINISHED_STATES, TrialState
from tunetrack.config import SearchConfig, StudyConfig
from tunetrack.exceptions import ConfigError
from tunetrack.pruners import CurveHistory
from tunetrack.space import describe_space
from tunetrack.storage import RunData, StudyStorage, schema
from tunetrack.study.records import TrialRecord, check_study_run, trial_from_run
from tunetrack.study.rungs import curve_key, low_rows, partial_metric
from tunetrack.study.setup import StudyInputs, json_roundtrip

# Config keys a resumed study may change: the budget, not what a trial means.
RESUMABLE_CHANGES = {
    "search.max_evals",
    "search.timeout",
    "search.trial_timeout",
    "search.no_progress_evals",
    "search.stop_after_failures",
    "search.loss_threshold",
    "search.pruning",  # how much a trial may cost, not what it means; also lets studies
    # started before the key existed resume
    "search.start_points",  # only the first trials of a new study; resumes never rerun them
    # Where trials run, not what they mean: a study resumes on any executor.
    "search.executor",
    "search.parallelism",
    "search.spark_master",
    "data.train",
    "data.valid",  # the data is compared by content below
}
# What a resume that does not name a warm start takes from the study it resumes.
WARM_START_KEYS = {"search.warm_start", "search.warm_start_top_k"}
# A study keeps its engine: a resume that leaves the engine and algorithm at their
# defaults continues with the stored ones (a study created before optuna became the
# default engine resumes on hyperopt); a resume that names others is refused.
ENGINE_KEYS = {"search.engine", "search.algo"}


@dataclass
class Reopened:
    """A study to continue: its trials, the sampler's history (params, loss; None for a
    failure) in trial order, the round each pruned one stopped at (by its index in the
    history: the sampler is told it as pruned, not as a final loss), and the pruner's
    curves by family."""

    run_id: str
    experiment_id: str
    records: list[TrialRecord]
    history: list[tuple[Mapping[str, Any], float | None]] = field(default_factory=list)
    pruned_rounds: dict[int, int] = field(default_factory=dict)
    curves: dict[str, CurveHistory] = field(default_factory=dict)
    # Indices in the history of trials on part of the training rows (a fidelity rung
    # below the last): told to the sampler as partial, left out of the stopping rules.
    partial: set[int] = field(default_factory=set)

    def losses(self) -> list[float | None]:
        """The stopping rules' view of the history: full results only (None otherwise)."""
        return [None if i in self.partial else loss for i, (_, loss) in enumerate(self.history)]


def find_study(
    storage: StudyStorage, config: StudyConfig, inputs: StudyInputs, run_id: str | None
) -> RunData:
    """The study to resume (``run_id``, else the experiment's latest), checked to be the
    same study; nothing is written. Raises ConfigError for a config or data that differs
    in what a trial means, TrackingError when there is no study."""
    parent = storage.get_run(run_id) if run_id else storage.latest_study(config.tracking.experiment)
    check_study_run(parent)
    stored = _with_defaults(storage.load_json_artifact(parent.run_id, schema.CONFIG_ARTIFACT))
    current = json_roundtrip(config.to_dict(describe_space))
    # A resume without --warm-start continues the stored one (its points are stored).
    inherited = WARM_START_KEYS if _lookup(current, "search.warm_start") is None else set()
    if _engine_left_at_default(config):
        inherited = inherited | ENGINE_KEYS
    for key in _differing_keys(stored, current):
        if key not in RESUMABLE_CHANGES and key not in inherited:
            raise ConfigError(
                f"cannot resume study {parent.run_id}: {key} was "
                f"{_lookup(stored, key)!r}, now {_lookup(current, key)!r}; drop the change "
                "or start a new study without --resume"
            )
    for record in inputs.datasets:
        was = parent.params.get(f"data.{record.role}_sha256")
        if was != record.sha256:
            raise ConfigError(
                f"cannot resume study {parent.run_id}: the {record.role} data differs from "
                "the data it was started on; pass the same files or start a new study"
            )
    return parent


def keep_engine(storage: StudyStorage, parent: RunData, config: StudyConfig) -> StudyConfig:
    """``config`` with the stored study's engine and algorithm when the resume left both
    at their defaults (see ENGINE_KEYS); else ``config`` unchanged (find_study has
    already refused one that names others)."""
    if not _engine_left_at_default(config):
        return config
    stored = _with_defaults(storage.load_json_artifact(parent.run_id, schema.CONFIG_ARTIFACT))
    search = dataclasses.replace(
        config.search,
        engine=_lookup(stored, "search.engine") or config.search.engine,
        algo=_lookup(stored, "search.algo") or config.search.algo,
    )
    return dataclasses.replace(config, search=search)


def _engine_left_at_default(config: StudyConfig) -> bool:
    default = SearchConfig()
    return (config.search.engine, config.search.algo) == (default.engine, default.algo)


def reopen(
    storage: StudyStorage, parent: RunData, inputs: StudyInputs, config_json: Mapping[str, Any]
) -> Reopened:
    """Close the study's dead trials, read its history and mark it RUNNING again, with
    the budget of ``config_json`` (the current config) recorded on it. Only the process
    holding the study's claim may call this: a live runner's trials would be closed."""
    reopened = Reopened(parent.run_id, parent.experiment_id, [])
    runs = storage.trial_runs(parent.run_id, parent.experiment_id)
    for run in sorted(runs, key=lambda r: int(r.tags.get(schema.TAG_TRIAL, "-1"))):
        _read_trial(storage, run, inputs, reopened)
    stored = storage.load_json_artifact(parent.run_id, schema.CONFIG_ARTIFACT)
    # A resume may change the budget (RESUMABLE_CHANGES): the study run records the one it
    # now runs under, so its config and max_evals tag never show a stale budget.
    changed = dict(config_json) if json_roundtrip(config_json) != stored else None
    max_evals = str(config_json["search"]["max_evals"])
    storage.update_study(parent.run_id, tags={schema.TAG_MAX_EVALS: max_evals}, config=changed)
    storage.reopen_study(parent.run_id)
    return reopened


def _read_trial(
    storage: StudyStorage, run: RunData, inputs: StudyInputs, reopened: Reopened
) -> None:
    if run.status == "RUNNING":
        storage.mark_killed(run.run_id, "the process running this trial ended mid-trial")
        run = storage.get_run(run.run_id)
    record = trial_from_run(run)
    reopened.records.append(record)
    if record.state not in FINISHED_STATES:
        return
    rows = low_rows(record, len(inputs.study_data.y_train))
    metric = inputs.metric if rows is None or record.state != TrialState.OK else None
    loss = record.value(metric or partial_metric(inputs.metric))
    loss = loss if record.state != TrialState.FAILED else None
    cut_by_pruner = record.state == TrialState.PRUNED
    if cut_by_pruner:
        reopened.pruned_rounds[len(reopened.history)] = int(run.tags.get(schema.TAG_PRUNED_AT, 0))
    elif rows is not None:  # told as partial, at its rung (as the loop told it)
        reopened.pruned_rounds[len(reopened.history)] = record.rung or 0
    if rows is not None:
        reopened.partial.add(len(reopened.history))
    reopened.history.append((record.params, loss))
    if (record.state == TrialState.OK or cut_by_pruner) and schema.TAG_STOPPED_BY not in run.tags:
        family = record.family or next(iter(inputs.families))
        curves = reopened.curves.setdefault(curve_key(family, rows), CurveHistory())
        curves.add(storage.curve(run.run_id), complete=not cut_by_pruner)


def _with_defaults(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config with keys added to tunetrack since it was written set to their
    defaults (what that study ran with), so they do not read as a change."""
    defaults = json_roundtrip(StudyConfig().to_raw())
    out = dict(stored)
    for section, values in defaults.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section] = {**values, **out[section]}
    return out


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict) and prefix != "space.":
        keys = sorted(set(a) | set(b))
        return [
            k for key in keys for k in _differing_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        ]
    return [] if a == b else [prefix.rstrip(".")]


def _lookup(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree
