"""``Study``: a handle on one tuning study, rebuilt from the tracking store alone.

The handle holds a snapshot of the study's parent run and trials; ``optimize`` runs more
trials (in this process, through the same loop as ``tune``) and refreshes the snapshot,
``refresh`` re-reads it. Everything it shows comes from the store, so a study started
elsewhere, days ago, looks the same as one just run (DESIGN principle 1).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunetrack._core import TrialState
from tunetrack.exceptions import TrackingError
from tunetrack.storage import StudyStorage, open_storage, schema
from tunetrack.study.records import TrialRecord, check_study_run, trial_from_run


@dataclass(repr=False)
class Study:
    """A tuning study: the parent run and its trials, ordered by trial number.

    Two handles on the same stored study compare equal. ``trials`` includes every
    state; ``completed`` only trials measured in full (``ok``) with the metric.
    """

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
    storage: StudyStorage | None = field(default=None, compare=False)
    # DataFrames the study was created with (they are not in the store): optimize reuses
    # them in this process.
    frames: tuple[pd.DataFrame | None, pd.DataFrame | None] = field(
        default=(None, None), compare=False
    )
    # The checked inputs this process prepared for the study (data, space, families):
    # optimize reuses them instead of reading and preparing everything again.
    prepared: Any = field(default=None, compare=False)

    def __repr__(self) -> str:
        # A summary: the whole config and every trial would flood a notebook cell.
        best = f", best_{self.metric}={self.best_value:.6g}" if self.completed else ""
        return (
            f"Study(run_id={self.run_id!r}, experiment={self.experiment_name!r}, "
            f"model={self.model!r}, trials={len(self.trials)}{best})"
        )

    # -- reading --------------------------------------------------------------------------

    @property
    def completed(self) -> tuple[TrialRecord, ...]:
        return tuple(
            t for t in self.trials if t.state == TrialState.OK and t.value(self.metric) is not None
        )

    @property
    def best(self) -> TrialRecord:
        """The trial with the lowest metric (ties go to the earlier trial).

        Raises TrackingError when no trial succeeded."""
        done = self.completed
        if not done:
            raise TrackingError(
                f"study {self.run_id} has no successful trial; see each trial's "
                f"{schema.TAG_ERROR} tag for the reason"
            )
        return min(done, key=lambda t: (t.metrics[self.metric], t.number))

    @property
    def best_trial(self) -> TrialRecord:
        """The best trial (Optuna's name for ``best``)."""
        return self.best

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params)

    @property
    def best_value(self) -> float:
        return self.best.metrics[self.metric]

    @property
    def n_failed(self) -> int:
        return sum(t.state == TrialState.FAILED for t in self.trials)

    def get_trials(self, states: Collection[str] | None = None) -> tuple[TrialRecord, ...]:
        """The trials in ``states`` (``TrialState`` members or their text; None: all).

        Raises ValueError naming the valid states for an unknown one."""
        if states is None:
            return self.trials
        if isinstance(states, str):
            states = [states]
        wanted = set()
        for state in states:
            try:
                wanted.add(TrialState(state))
            except ValueError:
                valid = ", ".join(s.value for s in TrialState)
                raise ValueError(f"unknown trial state {state!r}; valid: {valid}") from None
        return tuple(t for t in self.trials if t.state in wanted)

    def to_frame(self) -> pd.DataFrame:
        """One row per trial, indexed by number: state, run id, ``params.*``,
        ``metrics.*``, start and end times (UTC), error."""
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": str(t.state), "run_id": t.run_id}
            row.update({f"params.{k}": v for k, v in t.params.items()})
            row.update({f"metrics.{k}": v for k, v in t.metrics.items()})
            row["start_time"] = pd.Timestamp(t.start_time, unit="ms", tz="UTC")
            row["end_time"] = (
                pd.Timestamp(t.end_time, unit="ms", tz="UTC") if t.end_time else pd.NaT
            )
            row["error"] = t.error
            rows.append(row)
        frame = pd.DataFrame(rows)
        # pandas reads None in a numeric column as NaN, the mark of a param a trial lacks;
        # a sampled None (max_depth=None: no limit) stays None in an object column.
        for key in sorted({k for t in self.trials for k, v in t.params.items() if v is None}):
            frame[f"params.{key}"] = pd.Series(
                [t.params.get(key, np.nan) for t in self.trials],
                index=frame.index,
                dtype=object,
            )
        return frame.set_index("number") if len(frame) else frame

    def trials_dataframe(self) -> pd.DataFrame:
        """``to_frame`` under Optuna's name."""
        return self.to_frame()

    # -- acting ---------------------------------------------------------------------------

    def optimize(
        self,
        n_trials: int | None = None,
        timeout: float | None = None,
        *,
        progress: bool = True,
    ) -> Study:
        """Run up to ``n_trials`` more trials (default: the study's ``max_evals`` in all)
        for at most ``timeout`` seconds, then refresh this handle; returns it.

        The study continues where it stopped, as ``tune(resume=True)`` does: the sampler
        learns from the stored trials first. A study tuned on DataFrames can continue only
        in the process that created it. Raises ConfigError/DataError as ``tune`` does."""
        from tunetrack.study.runner import continue_study

        continue_study(self, n_trials=n_trials, timeout=timeout, progress=progress)
        return self.refresh()

    def refresh(self) -> Study:
        """Re-read the study from its store (trials other processes finished included)."""
        fresh = Study.from_storage(self._storage(), self.run_id)
        for name in ("trials", "stop_reason", "search_space", "config"):
            setattr(self, name, getattr(fresh, name))
        return self

    def _storage(self) -> StudyStorage:
        if self.storage is None:
            self.storage = open_storage(self.tracking_uri)
        return self.storage

    def log_report(self, directory: Any) -> str:
        """Store a built report folder under the study run; returns where it went."""
        return self._storage().log_report(self.run_id, directory)

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def from_storage(cls, storage: StudyStorage, run_id: str) -> Study:
        """Rebuild the study whose parent run is ``run_id``.

        Raises TrackingError when the run is missing or is not a tunetrack study."""
        parent = storage.get_run(run_id)
        check_study_run(parent)
        trials = sorted(
            (trial_from_run(r) for r in storage.trial_runs(run_id, parent.experiment_id)),
            key=lambda t: t.number,
        )
        return cls(
            run_id=run_id,
            experiment_id=parent.experiment_id,
            experiment_name=storage.experiment_name(parent.experiment_id),
            model=parent.tags.get(schema.TAG_MODEL, ""),
            metric=parent.params.get("metric", "rmse"),
            trials=tuple(trials),
            search_space=storage.load_json_artifact(run_id, schema.SPACE_ARTIFACT),
            config=storage.load_json_artifact(run_id, schema.CONFIG_ARTIFACT),
            tracking_uri=storage.location,
            stop_reason=parent.tags.get(schema.TAG_STOP_REASON),
            storage=storage,
        )
