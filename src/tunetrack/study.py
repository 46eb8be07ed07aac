"""Frozen records of a finished study, rebuilt from the tracking store alone."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunetrack.config import DEFAULT_EXPERIMENT
from tunetrack.exceptions import TrackingError
from tunetrack.tracking import (
    CONFIG_ARTIFACT,
    ROLE_STUDY,
    SPACE_ARTIFACT,
    TAG_ERROR,
    TAG_MODEL,
    TAG_PARAMS,
    TAG_ROLE,
    TAG_STATE,
    TAG_STOP_REASON,
    TAG_TRIAL,
    RunData,
    Tracker,
)

# ok/failed/pruned trials are finished; killed ones were cut off by a crash or Ctrl-C
# and running ones are in flight (or their process died and no resume has seen them yet).
FINISHED_STATES = ("ok", "failed", "pruned")
STATES = (*FINISHED_STATES, "killed", "running")


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its sampled params with real types, metrics, state (see ``STATES``),
    MLflow run id and times in ms."""

    number: int
    run_id: str
    state: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    start_time: int
    end_time: int | None
    error: str | None = None

    def value(self, metric: str) -> float | None:
        got = self.metrics.get(metric)
        return None if got is None or math.isnan(got) else got


@dataclass(frozen=True, repr=False)
class Study:
    """A tuning study: the parent run and its trials, ordered by trial number."""

    run_id: str
    experiment_id: str
    experiment_name: str
    model: str
    metric: str
    trials: tuple[TrialRecord, ...]
    search_space: Mapping[str, Any]
    config: Mapping[str, Any]
    tracking_uri: str
    stop_reason: str | None = None  # max_evals, timeout, no_progress_evals, ...

    def __repr__(self) -> str:
        # A summary: the whole config and every trial would flood a notebook cell.
        best = f", best_{self.metric}={self.best_value:.6g}" if self.completed else ""
        return (
            f"Study(run_id={self.run_id!r}, experiment={self.experiment_name!r}, "
            f"model={self.model!r}, trials={len(self.trials)}{best})"
        )

    @property
    def completed(self) -> tuple[TrialRecord, ...]:
        return tuple(t for t in self.trials if t.state == "ok" and t.value(self.metric) is not None)

    @property
    def best(self) -> TrialRecord:
        """The trial with the lowest metric (ties go to the earlier trial)."""
        done = self.completed
        if not done:
            raise TrackingError(
                f"study {self.run_id} has no successful trial; see each trial's "
                f"{TAG_ERROR} tag for the reason"
            )
        return min(done, key=lambda t: (t.metrics[self.metric], t.number))

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params)

    @property
    def best_value(self) -> float:
        return self.best.metrics[self.metric]

    @property
    def n_failed(self) -> int:
        return sum(t.state == "failed" for t in self.trials)

    def to_frame(self) -> pd.DataFrame:
        """One row per trial: number, state, run id, params (``params.*``), metrics."""
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state, "run_id": t.run_id}
            row.update({f"params.{k}": v for k, v in t.params.items()})
            row.update({f"metrics.{k}": v for k, v in t.metrics.items()})
            row["start_time"] = pd.Timestamp(t.start_time, unit="ms", tz="UTC")
            row["end_time"] = (
                pd.Timestamp(t.end_time, unit="ms", tz="UTC") if t.end_time else pd.NaT
            )
            row["error"] = t.error
            rows.append(row)
        frame = pd.DataFrame(rows)
        return frame.set_index("number") if len(frame) else frame

    # -- exploring (figures display inline in notebooks; see tunetrack.report) -----------

    def plot_parallel_coordinates(self, top_k: int | None = 50) -> Any:
        """Plotly parallel coordinates of the best ``top_k`` trials (None: all)."""
        from tunetrack.report import figures

        return figures.parallel_coordinates(self, top_k=top_k)

    def plot_scatter(self, params: list[str] | None = None) -> Any:
        from tunetrack.report import figures

        return figures.scatter(self, params=params)

    def plot_contour(self, x: str | None = None, y: str | None = None) -> Any:
        """The metric over ``x`` and ``y``, or over the most important pairs."""
        from tunetrack.report import figures

        return figures.contour(self, x, y)

    def plot_history(self) -> Any:
        from tunetrack.report import figures

        return figures.history(self)

    def plot_importance(self) -> Any:
        from tunetrack.report import figures

        return figures.importance(self)

    def plot_tradeoffs(self) -> Any:
        from tunetrack.report import figures

        return figures.tradeoffs(self)

    def importance(self) -> pd.Series:
        """Share of the metric each hyperparameter explains (see ``report.data``)."""
        from tunetrack.report import data

        return data.importance(self)

    def report(self, out_dir: str | Path = "tunetrack-report", *, log: bool = True) -> Path:
        """Build the HTML + PNG report; with ``log``, also log it under the study run."""
        from tunetrack.report import build_report

        path = build_report(self, out_dir)
        if log:
            Tracker(self.tracking_uri).log_report(self.run_id, path.parent)
        return path

    @classmethod
    def from_mlflow(cls, run_id: str, *, tracking_uri: str | None = None) -> Study:
        tracker = Tracker(tracking_uri)
        parent = tracker.get_run(run_id)
        if parent.tags.get(TAG_ROLE) != ROLE_STUDY:
            raise TrackingError(
                f"run {run_id} is not a tunetrack study (tag {TAG_ROLE}="
                f"{parent.tags.get(TAG_ROLE)!r}); pass the study's parent run id"
            )
        trials = sorted(
            (trial_from_run(r) for r in tracker.trial_runs(run_id, parent.experiment_id)),
            key=lambda t: t.number,
        )
        config = tracker.load_json_artifact(run_id, CONFIG_ARTIFACT)
        return cls(
            run_id=run_id,
            experiment_id=parent.experiment_id,
            experiment_name=tracker.experiment_name(parent.experiment_id),
            model=parent.tags.get(TAG_MODEL, ""),
            metric=parent.params.get("metric", "rmse"),
            trials=tuple(trials),
            search_space=tracker.load_json_artifact(run_id, SPACE_ARTIFACT),
            config=config,
            tracking_uri=tracker.tracking_uri,
            stop_reason=parent.tags.get(TAG_STOP_REASON),
        )


def trial_from_run(run: RunData) -> TrialRecord:
    """Read a trial back; typed params come from the JSON tag, not MLflow's strings."""
    params_json = run.tags.get(TAG_PARAMS)
    params = json.loads(params_json) if params_json else dict(run.params)
    return TrialRecord(
        number=int(run.tags.get(TAG_TRIAL, "-1")),
        run_id=run.run_id,
        state=run.tags.get(TAG_STATE, "running"),
        params=params,
        metrics=dict(run.metrics),
        start_time=run.start_time,
        end_time=run.end_time,
        error=run.tags.get(TAG_ERROR),
    )


def load_study(
    run_id: str | None = None,
    *,
    experiment: str | None = None,
    tracking_uri: str | None = None,
) -> Study:
    """Rebuild a Study from the tracking store: by run id, else the experiment's latest."""
    if run_id is None:
        run_id = Tracker(tracking_uri).latest_study(experiment or DEFAULT_EXPERIMENT).run_id
    return Study.from_mlflow(run_id, tracking_uri=tracking_uri)
