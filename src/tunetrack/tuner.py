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
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tunetrack import config as config_mod
from tunetrack.config import StudyConfig
from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, get_recipe, read_table
from tunetrack.data.loaders import Table
from tunetrack.exceptions import StudyFailedError
from tunetrack.features import FeatureEncoder
from tunetrack.metrics import regression_metrics
from tunetrack.models import ModelFamily, TrainingData, get_model
from tunetrack.progress import TrialProgress
from tunetrack.search import TrialOutcome, run_hyperopt
from tunetrack.space import build_space, describe_space, flatten_params
from tunetrack.study import Study, TrialRecord
from tunetrack.tracking import (
    TAG_ALGO,
    TAG_ENGINE,
    TAG_STOPPED_BY,
    DatasetRecord,
    StudyRef,
    Tracker,
)

METRIC = "rmse"
ConfigLike = StudyConfig | Mapping[str, Any] | str | os.PathLike[str] | None
DataLike = str | os.PathLike[str] | pd.DataFrame | None


def tune(
    config: ConfigLike = None,
    *,
    train: DataLike = None,
    valid: DataLike = None,
    space: Any = None,
    model: str | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    algo: str | None = None,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    overrides: Iterable[str] = (),
    progress: bool = True,
) -> Study:
    """Tune a model and track every trial in MLflow; returns the finished Study.

    ``config`` is a YAML path, a mapping in the YAML's shape, or a ``StudyConfig``.
    Keyword arguments win over it: ``train``/``valid`` take paths, URLs or DataFrames,
    ``space`` a spec mapping or a Hyperopt ``hp`` space, and ``overrides`` takes
    ``key.path=value`` strings like the CLI's ``--set``.
    """
    started = time.monotonic()
    study_config = resolve_config(
        config,
        overrides=overrides,
        train=None if isinstance(train, pd.DataFrame) else train,
        valid=None if isinstance(valid, pd.DataFrame) else valid,
        space=space,
        model=model,
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
    )


def resolve_config(
    config: ConfigLike, *, overrides: Iterable[str] = (), **kwargs: Any
) -> StudyConfig:
    """Merge a config source, ``--set`` overrides and keyword arguments, then validate."""
    if isinstance(config, StudyConfig):
        raw = _raw_from_config(config)
    elif isinstance(config, Mapping):
        raw = dict(config)
    elif config is None:
        raw = {}
    else:
        raw = config_mod.load_yaml(config)
    raw = config_mod.apply_overrides(raw, overrides)
    placement = {
        "train": ("data", "train"),
        "valid": ("data", "valid"),
        "model": ("model", "name"),
        "max_evals": ("search", "max_evals"),
        "timeout": ("search", "timeout"),
        "seed": ("search", "seed"),
        "algo": ("search", "algo"),
        "experiment": ("tracking", "experiment"),
        "tracking_uri": ("tracking", "tracking_uri"),
    }
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "space":
            raw["space"] = value
            continue
        section, name = placement[key]
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        raw.setdefault(section, {})
        raw[section] = {**(raw[section] or {}), name: value}
    return config_mod.build_config(raw)


def _raw_from_config(config: StudyConfig) -> dict[str, Any]:
    raw = {
        f.name: dataclasses.asdict(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name != "space"
    }
    raw["space"] = config.space
    return raw


def run_study(
    config: StudyConfig,
    *,
    train_frame: pd.DataFrame | None = None,
    valid_frame: pd.DataFrame | None = None,
    progress: bool = True,
    started: float | None = None,
) -> Study:
    """Run a validated study. Input is checked in full before anything is tracked."""
    started = time.monotonic() if started is None else started
    family = get_model(config.model.name)
    recipe = get_recipe(config.data.recipe)
    space_spec = config.space if config.space is not None else family.default_space()
    hp_space = build_space(space_spec)
    described_space = _json_roundtrip(describe_space(space_spec))

    train_table = read_table(_source(train_frame, config.data.train, BUNDLED_TRAIN), role="train")
    valid_table = read_table(_source(valid_frame, config.data.valid, BUNDLED_VALID), role="valid")
    train_df = recipe.prepare(train_table.frame, role="train")
    valid_df = recipe.prepare(valid_table.frame, role="valid")
    encoder = FeatureEncoder.fit(
        train_df,
        encoding=config.features.encoding,
        categorical=recipe.categorical,
        numeric=recipe.numeric,
    )
    data = family.prepare(
        encoder.transform(train_df),
        train_df[recipe.target].to_numpy(dtype="float64"),
        encoder.transform(valid_df),
        valid_df[recipe.target].to_numpy(dtype="float64"),
    )

    tracker = Tracker(config.tracking.tracking_uri)
    tracker.check_reachable()
    experiment_id = tracker.experiment_id(config.tracking.experiment)
    config_json = _json_roundtrip(config.to_dict())
    datasets = [
        _dataset(table, frame, role, recipe.target)
        for table, frame, role in (
            (train_table, train_df, "train"),
            (valid_table, valid_df, "valid"),
        )
    ]
    study_run_id = tracker.start_study(
        experiment_id,
        model=family.name,
        tags={TAG_ENGINE: "hyperopt", TAG_ALGO: config.search.algo},
        params=_study_params(config, train_df, valid_df, encoder),
        config=config_json,
        space=described_space,
        datasets=datasets,
    )
    ref = StudyRef(run_id=study_run_id, experiment_id=experiment_id, model=family.name)
    deadline = None if config.search.timeout is None else started + config.search.timeout
    loop = _TrialLoop(tracker, ref, family, data, config, deadline)

    status = "FAILED"
    try:
        with TrialProgress(config.search.max_evals, METRIC, enabled=progress) as bar:
            loop.on_trial = bar.trial_done
            run_hyperopt(loop, hp_space, config.search, deadline=deadline)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        study = Study(
            run_id=study_run_id,
            experiment_id=experiment_id,
            experiment_name=config.tracking.experiment,
            model=family.name,
            metric=METRIC,
            trials=tuple(loop.records),
            search_space=described_space,
            config=config_json,
            tracking_uri=tracker.tracking_uri,
        )
        if status == "FINISHED" and not study.completed:
            status = "FAILED"
        tracker.finish_study(
            study_run_id,
            metrics=_study_metrics(study),
            status=status,
            tags={"tunetrack.best_trial_run_id": study.best.run_id} if study.completed else {},
        )
    if not study.completed:
        first = next((t.error for t in study.trials if t.error), "no reason recorded")
        raise StudyFailedError(
            f"every trial failed (study run {study_run_id}); the first said: {first}"
        )
    return study


class _TrialLoop:
    """The objective Hyperopt calls: one fit, one tracked run, one TrialRecord."""

    def __init__(
        self,
        tracker: Tracker,
        ref: StudyRef,
        family: ModelFamily,
        data: TrainingData,
        config: StudyConfig,
        deadline: float | None,
    ) -> None:
        self.tracker, self.ref, self.family, self.data = tracker, ref, family, data
        self.config, self.deadline = config, deadline
        self.records: list[TrialRecord] = []
        self.on_trial: Any = None

    def __call__(self, sampled: Mapping[str, Any]) -> TrialOutcome:
        number = len(self.records)
        params = flatten_params(sampled)
        run_id, start_ms = self.tracker.start_trial(self.ref, number)
        metrics: dict[str, float] = {}
        error: str | None = None
        extra_tags: dict[str, str] = {}
        try:
            fit = self.family.fit(
                params,
                self.data,
                num_boost_round=self.config.model.num_boost_round,
                early_stopping_rounds=self.config.model.early_stopping_rounds,
                fixed_params=self.config.model.params,
                deadline=self.deadline,
            )
            metrics = regression_metrics(self.data.y_valid, fit.predictions)
            if not math.isfinite(metrics[METRIC]):
                raise ValueError(f"validation {METRIC} is {metrics[METRIC]}")
            metrics.update(fit_seconds=fit.fit_seconds, model_bytes=float(fit.model_bytes))
            if fit.best_iteration is not None:
                metrics["best_iteration"] = float(fit.best_iteration)
            if fit.stopped_early_by:
                extra_tags[TAG_STOPPED_BY] = fit.stopped_early_by
        except Exception as err:  # one trial never kills a study (DESIGN principle 4)
            error = _one_line(err)
            metrics = {}
        state = "failed" if error else "ok"
        end_ms = self.tracker.finish_trial(
            run_id,
            state=state,
            params=params,
            metrics=metrics,
            error=error,
            extra_tags=extra_tags,
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
        if self.on_trial is not None:
            self.on_trial(record)
        return TrialOutcome(loss=metrics.get(METRIC), error=error)


def _source(frame: pd.DataFrame | None, configured: str | None, bundled: str) -> Any:
    if frame is not None:
        return frame
    return configured if configured is not None else bundled_path(bundled)


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


def _study_params(
    config: StudyConfig, train: pd.DataFrame, valid: pd.DataFrame, encoder: FeatureEncoder
) -> dict[str, Any]:
    search, model = config.search, config.model
    return {
        "metric": METRIC,
        "algo": search.algo,
        "max_evals": search.max_evals,
        "timeout": search.timeout,
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
