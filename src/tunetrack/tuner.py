"""``tune``: the tutorial's loop as one call.

config -> data -> features -> search space -> engine loop -> trial (fit, early stop,
metrics) -> tracking. Everything that can be wrong with the user's input is checked
before the first write to the tracking store, so a bad study leaves no trace.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunetrack import config as config_mod
from tunetrack.config import StudyConfig, model_names
from tunetrack.data.loaders import Table
from tunetrack.exceptions import ConfigError, StudyFailedError, StudyInterrupted
from tunetrack.metrics import default_metric, score
from tunetrack.models import (
    FAMILY_KEY,
    ModelFamily,
    TrainingData,
    default_space_for,
    family_branches,
    get_model,
)
from tunetrack.preparation import StudyData, load_tables, prepare_study_data
from tunetrack.progress import TrialProgress
from tunetrack.search import PastTrial, TrialOutcome, check_algorithm, run_hyperopt
from tunetrack.search.pruning import make_pruner
from tunetrack.space import Leaf, build_space, describe_space, flatten_params, space_leaves
from tunetrack.study import FINISHED_STATES, Study, TrialRecord, trial_from_run
from tunetrack.tracking import (
    CONFIG_ARTIFACT,
    TAG_ALGO,
    TAG_ENGINE,
    TAG_PRUNED_AT,
    TAG_STOP_REASON,
    TAG_STOPPED_BY,
    TAG_TRIAL,
    TAG_VALS,
    DatasetRecord,
    StudyRef,
    Tracker,
)

ConfigLike = StudyConfig | Mapping[str, Any] | str | os.PathLike[str] | None
DataLike = str | os.PathLike[str] | pd.DataFrame | None


def tune(
    config: ConfigLike = None,
    *,
    train: DataLike = None,
    valid: DataLike = None,
    space: Any = None,
    model: str | None = None,
    target: str | None = None,
    task: str | None = None,
    valid_fraction: float | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    algo: str | None = None,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    overrides: Iterable[str] = (),
    progress: bool = True,
    resume: bool = False,
) -> Study:
    """Tune a model and track every trial in MLflow; returns the finished Study.

    ``config`` is a YAML path, a mapping in the YAML's shape, or a ``StudyConfig``.
    Keyword arguments win over it: ``train``/``valid`` take paths, URLs or DataFrames,
    ``target`` names the column to predict in your own data (``task`` is inferred unless
    given; without ``valid``, ``valid_fraction`` of the rows validate), ``model`` names a
    family, several comma-separated, or ``"all"`` to search across families,
    ``space`` a spec mapping or a Hyperopt ``hp`` space, and ``overrides`` takes
    ``key.path=value`` strings like the CLI's ``--set``. ``resume=True`` continues the
    experiment's latest study (after a crash or Ctrl-C) up to ``max_evals`` trials.
    """
    started = time.monotonic()
    study_config = resolve_config(
        config,
        overrides=overrides,
        train=None if isinstance(train, pd.DataFrame) else train,
        valid=None if isinstance(valid, pd.DataFrame) else valid,
        space=space,
        model=model,
        target=target,
        task=task,
        valid_fraction=valid_fraction,
        max_evals=max_evals,
        timeout=timeout,
        seed=seed,
        algo=algo,
        experiment=experiment,
        tracking_uri=tracking_uri,
    )
    return run_study(
        study_config,
        train_frame=train if isinstance(train, pd.DataFrame) else None,
        valid_frame=valid if isinstance(valid, pd.DataFrame) else None,
        progress=progress,
        started=started,
        resume=resume,
    )


def resolve_config(
    config: ConfigLike, *, overrides: Iterable[str] = (), **kwargs: Any
) -> StudyConfig:
    """Merge a config source, ``--set`` overrides and keyword arguments, then validate."""
    if isinstance(config, StudyConfig):
        raw = config.to_raw()
    elif isinstance(config, Mapping):
        raw = dict(config)
    elif config is None:
        raw = {}
    else:
        raw = config_mod.load_yaml(config)
    # The model, task and space go in first, so ``space.<param>`` overrides edit the
    # space of the model and task named here (or the space given). The other arguments
    # then win over --set, as the model and task do.
    first = {k: v for k, v in kwargs.items() if k in ("model", "task", "space")}
    raw = config_mod.apply_overrides(_place(raw, first), overrides)
    rest = {k: v for k, v in kwargs.items() if k != "space"}
    return config_mod.build_config(_place(raw, rest))


_PLACEMENT = {
    "train": ("data", "train"),
    "valid": ("data", "valid"),
    "model": ("model", "name"),
    "target": ("data", "target"),
    "task": ("data", "task"),
    "valid_fraction": ("data", "valid_fraction"),
    "max_evals": ("search", "max_evals"),
    "timeout": ("search", "timeout"),
    "seed": ("search", "seed"),
    "algo": ("search", "algo"),
    "experiment": ("tracking", "experiment"),
    "tracking_uri": ("tracking", "tracking_uri"),
}


def _place(raw: dict[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with keyword arguments put where the config keeps them (None: unset)."""
    raw = dict(raw)
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "space":
            raw["space"] = value
            continue
        section, name = _PLACEMENT[key]
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        current = raw.get(section) or {}
        if isinstance(current, Mapping):  # else build_config names the broken section
            raw[section] = {**current, name: value}
    return raw


def run_study(
    config: StudyConfig,
    *,
    train_frame: pd.DataFrame | None = None,
    valid_frame: pd.DataFrame | None = None,
    progress: bool = True,
    started: float | None = None,
    resume: bool = False,
) -> Study:
    """Run a validated study. Input is checked in full before anything is tracked.

    With ``resume``, the experiment's latest study continues: its finished trials feed
    the optimizer's history, trials left RUNNING by a killed process are marked
    KILLED, and new trials are numbered after the last one until ``max_evals``
    trials have finished.
    """
    started = time.monotonic() if started is None else started
    inputs = _prepare_inputs(config, train_frame, valid_frame)
    if progress:
        for note in inputs.study_data.notes:
            print(f"tunetrack: {note}", file=sys.stderr)
    tracker = Tracker(config.tracking.tracking_uri)
    tracker.check_reachable()
    experiment_id = tracker.experiment_id(config.tracking.experiment, create=not resume)
    config_json = _json_roundtrip(config.to_dict())
    if resume:
        study_run_id, previous, history = _reopen(tracker, config, inputs)
    else:
        study_run_id = tracker.start_study(
            experiment_id,
            model=inputs.model_label,
            tags={TAG_ENGINE: config.search.engine, TAG_ALGO: config.search.algo},
            params=_study_params(config, inputs),
            config=config_json,
            space=inputs.described_space,
            datasets=inputs.datasets,
        )
        previous, history = [], []
    ref = StudyRef(run_id=study_run_id, experiment_id=experiment_id, model=inputs.model_label)
    deadline = None if config.search.timeout is None else started + config.search.timeout
    loop = _TrialLoop(tracker, ref, inputs, config, deadline, previous)

    status = "FAILED"
    try:
        with TrialProgress(
            config.search.max_evals, inputs.metric, enabled=progress, done=previous
        ) as bar:
            loop.on_trial = bar.trial_done
            run_hyperopt(
                loop,
                inputs.hp_space,
                config.search,
                deadline=deadline,
                history=history,
                start_points=inputs.start_points,
            )
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise StudyInterrupted(study_run_id, len(_finished(loop.records))) from None
    finally:
        study = Study(
            run_id=study_run_id,
            experiment_id=experiment_id,
            experiment_name=config.tracking.experiment,
            model=inputs.model_label,
            metric=inputs.metric,
            trials=tuple(loop.records),
            search_space=inputs.described_space,
            config=config_json,
            tracking_uri=tracker.tracking_uri,
        )
        if status == "FINISHED" and not study.completed:
            status = "FAILED"
        study = dataclasses.replace(
            study, stop_reason=_stop_reason(study, config, deadline, status)
        )
        tags = {TAG_STOP_REASON: str(study.stop_reason)}
        if study.completed:
            tags["tunetrack.best_trial_run_id"] = study.best.run_id
        tracker.finish_study(study_run_id, metrics=_study_metrics(study), status=status, tags=tags)
    if not study.completed:
        first = next((t.error for t in study.trials if t.error), "no reason recorded")
        raise StudyFailedError(
            f"every trial failed (study run {study_run_id}); the first said: {first}"
        )
    return study


@dataclass(frozen=True)
class _Inputs:
    """Everything a study needs before its first tracked write, validated."""

    families: dict[str, ModelFamily]  # by name, in model.name's order
    hp_space: Any
    described_space: dict[str, Any]
    study_data: StudyData
    training: dict[str, TrainingData]  # each family's structures, built once
    metric: str
    datasets: list[DatasetRecord]
    start_points: list[dict[str, float]]  # evaluated first; only in a default space

    @property
    def model_label(self) -> str:
        """The study's ``model`` tag: the family, or the families searched, comma-joined."""
        return ",".join(self.families)


def _prepare_inputs(
    config: StudyConfig, train_frame: pd.DataFrame | None, valid_frame: pd.DataFrame | None
) -> _Inputs:
    names = model_names(config.model.name)
    families = {name: get_model(name) for name in names}
    check_algorithm(config.search.algo)
    train_table, valid_table, notes = load_tables(config, train_frame, valid_frame)
    study_data = prepare_study_data(config, train_table, valid_table, notes)
    task = study_data.task
    encoding = config.features.encoding
    default_spec = default_space_for(names, task, encoding)
    space_spec = config.space if config.space is not None else default_spec
    hp_space = build_space(space_spec)
    described_space = _json_roundtrip(describe_space(space_spec))
    # A family's start points belong to its own default space: in any other space (even
    # one edited by a single --set space.x) they might lie outside it.
    start_points: list[dict[str, float]] = []
    if len(names) == 1 and described_space == _json_roundtrip(describe_space(default_spec)):
        start_points = families[names[0]].start_points(task, encoding)
    for name, params in family_branches(described_space, names).items():
        families[name].check_param_names(params, where="space")
    for family in families.values():
        family.check_param_names(config.model.params, where="model.params")
    x_train, x_valid = study_data.x_train(), study_data.x_valid()
    training = {
        name: family.prepare(x_train, study_data.y_train, x_valid, study_data.y_valid, task)
        for name, family in families.items()
    }
    target = study_data.target
    datasets = [
        _dataset(train_table, study_data.train, "train", target),
        _dataset(valid_table, study_data.valid, "valid", target),
    ]
    metric = config.search.metric or default_metric(task)
    return _Inputs(
        families, hp_space, described_space, study_data, training, metric, datasets, start_points
    )


# Config keys a resumed study may change: the budget, not what a trial means.
_RESUMABLE_CHANGES = {
    "search.max_evals",
    "search.timeout",
    "search.trial_timeout",
    "search.no_progress_evals",
    "search.loss_threshold",
    "search.pruning",  # how much a trial may cost, not what it means; also lets studies
    # started before the key existed resume
    "data.train",
    "data.valid",  # the data is compared by content below
}


def _reopen(
    tracker: Tracker, config: StudyConfig, inputs: _Inputs
) -> tuple[str, list[TrialRecord], list[PastTrial]]:
    """Find the study to resume, check it is the same study, close its dead trials."""
    parent = tracker.latest_study(config.tracking.experiment)
    stored = tracker.load_json_artifact(parent.run_id, CONFIG_ARTIFACT)
    current = _json_roundtrip(config.to_dict())
    for key in _differing_keys(stored, current):
        if key not in _RESUMABLE_CHANGES:
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
    runs = tracker.trial_runs(parent.run_id, parent.experiment_id)
    previous, history = [], []
    for run in sorted(runs, key=lambda r: int(r.tags.get(TAG_TRIAL, "-1"))):
        if run.status == "RUNNING":
            tracker.mark_killed(run.run_id, "the process running this trial ended mid-trial")
            run = tracker.get_run(run.run_id)
        record = trial_from_run(run)
        previous.append(record)
        vals = run.tags.get(TAG_VALS)
        if record.state in FINISHED_STATES and vals:
            history.append(PastTrial(vals=json.loads(vals), loss=record.value(inputs.metric)))
    tracker.reopen_study(parent.run_id)
    return parent.run_id, previous, history


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


def _finished(records: list[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.state in FINISHED_STATES]


class _TrialLoop:
    """The objective Hyperopt calls: one fit, one tracked run, one TrialRecord."""

    def __init__(
        self,
        tracker: Tracker,
        ref: StudyRef,
        inputs: _Inputs,
        config: StudyConfig,
        deadline: float | None,
        previous: list[TrialRecord],
    ) -> None:
        self.tracker, self.ref, self.inputs = tracker, ref, inputs
        self.config, self.deadline = config, deadline
        self.records: list[TrialRecord] = list(previous)
        self.next_number = max((r.number for r in previous), default=-1) + 1
        self.on_trial: Any = None
        self.leaves: Mapping[str, Leaf] = space_leaves(inputs.described_space)
        self.metric = inputs.metric
        # One pruner per family (their curves are not comparable). Curves live in memory
        # only: a resumed study starts with empty pruners, which prune nothing until
        # enough trials have completed again.
        self.pruners = {name: make_pruner(config.search.pruning) for name in inputs.families}

    def __call__(self, sampled: Mapping[str, Any], vals: Mapping[str, Any]) -> TrialOutcome:
        number = self.next_number
        self.next_number += 1
        params = flatten_params(sampled)
        family = str(params.get(FAMILY_KEY, next(iter(self.inputs.families))))
        run_id, start_ms = self.tracker.start_trial(self.ref, number, model=family)
        metrics: dict[str, float] = {}
        error: str | None = None
        extra_tags: dict[str, str] = {}
        state = "ok"
        try:
            metrics, stopped_by, pruned_at = self._fit(family, params)
            if pruned_at is not None:
                # Hyperopt still gets the loss at that round, so TPE learns the region
                # is poor; a pruned trial is never the study's best (Study.completed).
                state = "pruned"
                extra_tags[TAG_PRUNED_AT] = str(pruned_at)
            if stopped_by == "trial_timeout":
                limit = self.config.search.trial_timeout
                raise TimeoutError(f"the trial ran past search.trial_timeout={limit:g} s")
            if stopped_by:
                extra_tags[TAG_STOPPED_BY] = stopped_by
        except KeyboardInterrupt:
            self._record(number, run_id, start_ms, "killed", params, {}, "interrupted", {}, vals)
            raise
        except Exception as err:  # one trial never kills a study (DESIGN principle 4)
            state, error, metrics = "failed", _one_line(err), {}
        record = self._record(
            number, run_id, start_ms, state, params, metrics, error, extra_tags, vals
        )
        if self.on_trial is not None:
            self.on_trial(record)
        return TrialOutcome(loss=metrics.get(self.metric), error=error)

    def _fit(
        self, family: str, params: dict[str, Any]
    ) -> tuple[dict[str, float], str | None, int | None]:
        """Fit and score; says which deadline, if any, cut the boosting short, and the
        round the pruner stopped it at (None: not pruned)."""
        trial_deadline = None
        if self.config.search.trial_timeout is not None:
            trial_deadline = time.monotonic() + self.config.search.trial_timeout
        deadlines = [d for d in (self.deadline, trial_deadline) if d is not None]
        deadline = min(deadlines) if deadlines else None
        # The family key only routes the trial; the model never sees it.
        model_params = {k: v for k, v in params.items() if k != FAMILY_KEY}
        data = self.inputs.training[family]
        fit = self.inputs.families[family].fit(
            model_params,
            data,
            num_boost_round=self.config.model.num_boost_round,
            early_stopping_rounds=self.config.model.early_stopping_rounds,
            fixed_params=self.config.model.params,
            deadline=deadline,
            pruner=self.pruners[family],
        )
        metrics = score(data.task, data.y_valid, fit.predictions)
        if not math.isfinite(metrics[self.metric]):
            raise ValueError(f"validation {self.metric} is {metrics[self.metric]}")
        metrics.update(fit_seconds=fit.fit_seconds, model_bytes=float(fit.model_bytes))
        if fit.best_iteration is not None:
            metrics["best_iteration"] = float(fit.best_iteration)
        if fit.curve is not None:
            # Rounds trained, past the best one too: what the trial cost (bench/speed.py
            # compares studies by it).
            metrics["rounds"] = float(len(fit.curve))
        stopped_by = None
        if fit.stopped_early_by == "deadline":
            by_trial = trial_deadline is not None and deadline == trial_deadline
            stopped_by = "trial_timeout" if by_trial else "study_timeout"
        if fit.pruned_at is None and stopped_by is None and fit.curve:
            # Only whole curves set the bar: one cut by a deadline would look worse
            # than it is at its later rounds and never existed past them.
            self.pruners[family].record(fit.curve)
        return metrics, stopped_by, fit.pruned_at

    def _record(
        self,
        number: int,
        run_id: str,
        start_ms: int,
        state: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        error: str | None,
        extra_tags: dict[str, str],
        vals: Mapping[str, Any],
    ) -> TrialRecord:
        end_ms = self.tracker.finish_trial(
            run_id,
            state=state,
            params=params,
            metrics=metrics,
            error=error,
            extra_tags=extra_tags,
            vals=vals,
            ui_params=ui_params(params, self.leaves),
        )
        record = TrialRecord(
            number=number,
            run_id=run_id,
            state=state,
            params=_json_roundtrip(params),
            metrics=metrics,
            start_time=start_ms,
            end_time=end_ms,
            error=error,
        )
        self.records.append(record)
        return record


# MLflow's charts drop a run that lacks a param and treat a "None" as a category, so every
# trial logs the same flat set: an absent or None numeric param is logged as this sentinel
# and an absent categorical one as ABSENT_TEXT. The typed truth (absent stays absent) is the
# tunetrack.params JSON tag, which is what load_study reads.
ABSENT_NUMBER = -1
ABSENT_TEXT = "(absent)"


def ui_params(params: Mapping[str, Any], leaves: Mapping[str, Leaf]) -> dict[str, Any]:
    """The trial's params as MLflow shows them: every leaf of the space, none missing."""
    out = dict(params)
    for name, leaf in leaves.items():
        if out.get(name) is None:
            out[name] = ABSENT_TEXT if leaf.scale == "categorical" else ABSENT_NUMBER
    return out


def _stop_reason(study: Study, config: StudyConfig, deadline: float | None, status: str) -> str:
    """Why the search ended, in words a user recognises from the config."""
    if status == "KILLED":
        return "interrupted"
    finished = len(_finished(list(study.trials)))
    if finished >= config.search.max_evals:
        return "max_evals"
    if deadline is not None and time.monotonic() >= deadline:
        return "timeout"
    threshold = config.search.loss_threshold
    if threshold is not None and study.completed and study.best_value <= threshold:
        return "loss_threshold"
    if config.search.no_progress_evals:
        return "no_progress_evals"
    return "error" if status == "FAILED" else "max_evals"


def _dataset(table: Table, frame: pd.DataFrame, role: str, target: str) -> DatasetRecord:
    source = table.source
    name = Path(source).name if "://" not in source else source.rsplit("/", 1)[-1]
    return DatasetRecord(
        name=name or role,
        role=role,
        source=source,
        sha256=table.digest,
        frame=frame,
        target=target,
    )


def _study_params(config: StudyConfig, inputs: _Inputs) -> dict[str, Any]:
    search, model = config.search, config.model
    train, valid = (d.frame for d in inputs.datasets)
    encoder = inputs.study_data.encoder
    task = inputs.study_data.task
    return {
        "metric": inputs.metric,
        "task": task.kind,
        "target": inputs.study_data.target,
        **({"n_classes": task.n_classes} if task.is_classification else {}),
        "algo": search.algo,
        "max_evals": search.max_evals,
        "timeout": search.timeout,
        "trial_timeout": search.trial_timeout,
        "seed": search.seed,
        "no_progress_evals": search.no_progress_evals,
        "loss_threshold": search.loss_threshold,
        "num_boost_round": model.num_boost_round,
        "early_stopping_rounds": model.early_stopping_rounds,
        "encoding": encoder.encoding,
        "recipe": config.data.recipe,
        "n_train_rows": len(train),
        "n_valid_rows": len(valid),
        "n_features": len(encoder.feature_names),
        # Threads the trials trained with, so a refit elsewhere can match them exactly.
        "nthread": model.params.get("nthread", os.cpu_count() or 1),
    }


def _study_metrics(study: Study) -> dict[str, float]:
    metrics = {
        "n_trials": float(len(study.trials)),
        "n_failed": float(study.n_failed),
    }
    if study.completed:
        metrics[f"best_{study.metric}"] = study.best_value
    return metrics


def _json_roundtrip(value: Any) -> Any:
    """What the value will look like once read back from the store (tuples -> lists)."""
    return json.loads(json.dumps(value))


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 500 else text[:497] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
