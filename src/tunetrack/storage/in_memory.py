"""Studies kept in a Python dict: the storage contract without MLflow, for fast tests.

Runs, tags, params and metrics are stored as MLflow would show them (params as text,
the same tag names), so code written against ``StudyStorage`` cannot tell the two apart
except by speed. Nothing survives the process.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunetrack.exceptions import TrackingError
from tunetrack.storage import schema
from tunetrack.storage.base import (
    Lease,
    RunData,
    StudyRecord,
    StudyRef,
    StudyStorage,
    TrialWrite,
    lease_from_tags,
    lease_tags,
)
from tunetrack.storage.uris import MEMORY_URI


@dataclass
class _Run:
    run_id: str
    experiment_id: str
    start_time: int
    status: str = "RUNNING"
    end_time: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)
    order: int = 0  # creation order: breaks start-time ties as a store's row order would


class InMemoryStorage(StudyStorage):
    """A ``StudyStorage`` in memory (see the module docstring)."""

    def __init__(self) -> None:
        self.location = MEMORY_URI
        self._experiments: dict[str, str] = {}  # id -> name
        self._runs: dict[str, _Run] = {}
        self._counter = itertools.count()
        self._reports = Path(tempfile.mkdtemp(prefix="tunetrack-memory-"))

    def check_reachable(self) -> None:
        return None

    def experiment_id(self, name: str, *, create: bool = True) -> str:
        for experiment_id, known in self._experiments.items():
            if known == name:
                return experiment_id
        if not create:
            raise TrackingError(
                f"no experiment named {name!r} in {self.location}; "
                "run `tunetrack tune` first or pass --experiment"
            )
        experiment_id = str(len(self._experiments) + 1)
        self._experiments[experiment_id] = name
        return experiment_id

    def experiment_name(self, experiment_id: str) -> str:
        return self._experiments[experiment_id]

    def _new_run(self, experiment_id: str, start_ms: int, tags: Mapping[str, str]) -> _Run:
        if experiment_id not in self._experiments:
            raise TrackingError(f"no experiment with id {experiment_id!r} in {self.location}")
        run = _Run(uuid.uuid4().hex, experiment_id, start_ms, tags=dict(tags))
        run.order = next(self._counter)
        self._runs[run.run_id] = run
        return run

    def _run(self, run_id: str) -> _Run:
        try:
            return self._runs[run_id]
        except KeyError:
            raise TrackingError(
                f"no run {run_id!r} in {self.location}; check the study's run id"
            ) from None

    def create_study(self, experiment_id: str, record: StudyRecord) -> str:
        tags = {
            schema.TAG_ROLE: schema.ROLE_STUDY,
            schema.TAG_MODEL: record.model,
            **record.tags,
            schema.TAG_NOTE: schema.study_note(record.model, record.engine),
        }
        start_ms = _now_ms()
        tags[schema.TAG_RUN_NAME] = schema.study_run_name(record.model, start_ms)
        run = self._new_run(experiment_id, start_ms, tags)
        params = dict(record.params)
        params.update({f"data.{d.role}_sha256": d.sha256 for d in record.datasets})
        run.params = {k: schema.param_text(v) for k, v in params.items()}
        # Stored as JSON text, so a reader gets what MLflow's load_dict would give.
        run.artifacts[schema.CONFIG_ARTIFACT] = json.dumps(dict(record.config))
        run.artifacts[schema.SPACE_ARTIFACT] = json.dumps(dict(record.space))
        for path, value in record.artifacts.items():
            run.artifacts[path] = json.dumps(value)
        return run.run_id

    def start_trial(
        self, study: StudyRef, number: int, *, model: str, start_ms: int | None = None
    ) -> tuple[str, int]:
        start_ms = _now_ms() if start_ms is None else start_ms
        tags = schema.trial_start_tags(study.run_id, number, model)
        tags[schema.TAG_RUN_NAME] = schema.trial_run_name(number)  # MLflow sets it from the name
        return self._new_run(study.experiment_id, start_ms, tags).run_id, start_ms

    def finish_trial(self, run_id: str, write: TrialWrite, *, end_ms: int | None = None) -> int:
        run = self._run(run_id)
        if run.status != "RUNNING":
            raise TrackingError(f"run {run_id} is already {run.status}; a trial ends once")
        end_ms = _now_ms() if end_ms is None else end_ms
        run.tags[schema.TAG_STATE] = str(write.state)
        run.tags[schema.TAG_PARAMS] = schema.params_tag(write.params)
        if write.error:
            run.tags[schema.TAG_ERROR] = write.error
        run.tags.update(write.tags)
        run.params.update({k: schema.param_text(v) for k, v in write.ui_params.items()})
        pruned = write.tags.get(schema.TAG_PRUNED_AT)
        stored = schema.stored_metrics(
            write.state, write.metrics, int(pruned) if pruned is not None else None
        )
        run.metrics.update({name: _stored(value) for name, value, _ in stored})
        run.curve = sorted((int(step), _stored(v)) for step, v in write.curve)
        if run.curve:
            run.metrics[schema.CURVE_METRIC] = run.curve[-1][1]
        run.status, run.end_time = schema.RUN_STATUS[write.state], end_ms
        return end_ms

    def finish_study(
        self, run_id: str, *, metrics: Mapping[str, float], status: str, tags: Mapping[str, str]
    ) -> None:
        run = self._run(run_id)
        run.metrics.update({k: _stored(v) for k, v in metrics.items()})
        run.tags.update(tags)
        run.status, run.end_time = status, _now_ms()

    def reopen_study(self, run_id: str) -> None:
        self._run(run_id).status = "RUNNING"

    def update_study(
        self, run_id: str, *, tags: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> None:
        run = self._run(run_id)
        run.tags.update(tags)
        if config is not None:
            run.artifacts[schema.CONFIG_ARTIFACT] = json.dumps(dict(config))

    def read_lease(self, run_id: str) -> Lease | None:
        return lease_from_tags(self._run(run_id).tags)

    def write_lease(self, run_id: str, lease: Lease) -> None:
        self._run(run_id).tags.update(lease_tags(lease))

    def drop_lease(self, run_id: str) -> None:
        tags = self._run(run_id).tags
        tags.pop(schema.TAG_LEASE_OWNER, None)
        tags.pop(schema.TAG_LEASE_EXPIRES, None)

    def mark_killed(self, run_id: str, reason: str) -> None:
        run = self._run(run_id)
        run.tags[schema.TAG_STATE] = str(schema.TrialState.KILLED)
        run.tags[schema.TAG_ERROR] = reason
        run.status, run.end_time = "KILLED", _now_ms()

    def log_report(self, run_id: str, directory: str | Path) -> str:
        target = self._reports / run_id / schema.REPORT_ARTIFACT_DIR
        shutil.copytree(directory, target, dirs_exist_ok=True)
        return str(target)

    def get_run(self, run_id: str) -> RunData:
        return _run_data(self._run(run_id))

    def trial_runs(self, study_run_id: str, experiment_id: str) -> list[RunData]:
        return [
            _run_data(run)
            for run in self._runs.values()
            if run.experiment_id == experiment_id
            and run.tags.get(schema.TAG_PARENT) == study_run_id
            and run.tags.get(schema.TAG_ROLE) == schema.ROLE_TRIAL
        ]

    def latest_study(self, experiment: str) -> RunData:
        experiment_id = self.experiment_id(experiment, create=False)
        studies = [
            run
            for run in self._runs.values()
            if run.experiment_id == experiment_id
            and run.tags.get(schema.TAG_ROLE) == schema.ROLE_STUDY
        ]
        if not studies:
            raise TrackingError(
                f"experiment {experiment!r} has no tunetrack study; run `tunetrack tune` first"
            )
        return _run_data(max(studies, key=lambda run: (run.start_time, run.order)))

    def load_json_artifact(self, run_id: str, path: str) -> Any:
        text = self._run(run_id).artifacts.get(path)
        if text is None:
            raise TrackingError(f"cannot read {path} of run {run_id}: no such artifact")
        return json.loads(text)

    def curve(self, run_id: str) -> list[tuple[int, float]]:
        return list(self._run(run_id).curve)


_SHARED: list[InMemoryStorage] = []


def shared_memory_storage() -> InMemoryStorage:
    """The one store ``memory:`` names in this process (so ``load_study`` finds what
    ``tune`` wrote there)."""
    if not _SHARED:
        _SHARED.append(InMemoryStorage())
    return _SHARED[0]


def _run_data(run: _Run) -> RunData:
    return RunData(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        status=run.status,
        start_time=run.start_time,
        end_time=run.end_time,
        tags=copy.deepcopy(run.tags),
        params=dict(run.params),
        metrics=dict(run.metrics),
    )


def _stored(value: float) -> float:
    """A metric as MLflow's stores keep it: infinities become the largest finite float."""
    value = float(value)
    return math.copysign(sys.float_info.max, value) if math.isinf(value) else value


def _now_ms() -> int:
    return int(time.time() * 1000)
