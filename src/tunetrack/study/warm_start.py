"""Warm start: a new study's first trials are another study's best ones.

``search.warm_start`` names the study (its run id, or ``experiment:NAME`` for that
experiment's latest study). Its best ``search.warm_start_top_k`` finished trials, by its
own metric, become the new study's start points, in the place of the family's default
ones and through the same path (the engine's ``enqueue``, on either engine). A point is
kept only if the new study's engine takes it as a point of the new space (every value
inside its range or among its options); the others are dropped and counted.

The source must be a study of the same task over the same model families. It is read
and checked before anything is written; the points are stored on the new study run
(``schema.WARM_START_ARTIFACT``), so a resume continues with them and never redoes the
warm start, whatever the source study has done since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunetrack.config import StudyConfig
from tunetrack.exceptions import ConfigError, SearchSpaceError, TrackingError
from tunetrack.samplers import make_sampler
from tunetrack.storage import RunData, StudyStorage, schema
from tunetrack.study.handle import Study
from tunetrack.study.setup import StudyInputs, json_roundtrip

EXPERIMENT_PREFIX = "experiment:"


@dataclass(frozen=True)
class WarmStart:
    """The start points taken from a study: ``points`` (best first) of its ``considered``
    best trials (``trials``: their numbers), ``dropped`` of them not in the new space."""

    given: str  # what the user wrote: a run id or experiment:NAME
    source_run_id: str
    top_k: int
    points: tuple[Mapping[str, Any], ...]
    trials: tuple[int, ...]
    considered: int

    @property
    def dropped(self) -> int:
        return self.considered - len(self.points)

    def to_json(self) -> dict[str, Any]:
        return json_roundtrip(
            {
                "given": self.given,
                "source_run_id": self.source_run_id,
                "top_k": self.top_k,
                "points": [dict(p) for p in self.points],
                "trials": list(self.trials),
                "considered": self.considered,
            }
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WarmStart:
        return cls(
            given=str(data["given"]),
            source_run_id=str(data["source_run_id"]),
            top_k=int(data["top_k"]),
            points=tuple(data["points"]),
            trials=tuple(int(n) for n in data["trials"]),
            considered=int(data["considered"]),
        )

    def note(self) -> str:
        """What the user reads on stderr."""
        dropped = (
            f"; {self.dropped} dropped: outside this study's search space" if self.dropped else ""
        )
        return (
            f"warm start: {len(self.points)} start point(s) from the best {self.considered} "
            f"trial(s) of study {self.source_run_id} (trials {', '.join(map(str, self.trials))})"
            f"{dropped}"
        )


def source_study(store: StudyStorage, given: str) -> RunData:
    """The study run ``given`` names; TrackingError/ConfigError (one line) when none."""
    name = given[len(EXPERIMENT_PREFIX) :].strip() if given.startswith(EXPERIMENT_PREFIX) else None
    if name == "":
        raise ConfigError(
            f"--warm-start {given!r} names no experiment; pass experiment:NAME or a study run id"
        )
    try:
        run = store.latest_study(name) if name is not None else store.get_run(given)
    except TrackingError as err:
        # The store's own words, with the fix that fits this flag.
        reason = str(err).split("; ")[0]
        raise TrackingError(
            f"--warm-start {given}: {reason}; pass a study run id or experiment:NAME of an "
            "experiment holding a study (in this tracking store)"
        ) from None
    if run.tags.get(schema.TAG_ROLE) != schema.ROLE_STUDY:
        role = run.tags.get(schema.TAG_ROLE)
        what = f"a {role} run" if role else "not a tunetrack run"
        raise ConfigError(
            f"--warm-start {given}: run {run.run_id} is {what}, not a study; pass a study's "
            "run id (the parent run) or experiment:NAME"
        )
    return run


def resolve_warm_start(store: StudyStorage, config: StudyConfig, inputs: StudyInputs) -> WarmStart:
    """The start points ``config.search.warm_start`` gives this study (see the module
    docstring). Reads only. Raises TrackingError for a study that is not there, and
    ConfigError for one of another task or other families, one without a finished
    trial, or one none of whose best trials fits this study's space."""
    search = config.search
    given = str(search.warm_start)
    run = source_study(store, given)
    source = Study.from_storage(store, run.run_id)
    task = inputs.study_data.task.kind
    source_task = run.params.get("task")
    if source_task != task:
        raise ConfigError(
            f"--warm-start {given}: study {run.run_id} is a {source_task} study and this one "
            f"is {task}; warm-start from a study of the same task"
        )
    families = set(inputs.families)
    source_families = {name.strip() for name in source.model.split(",") if name.strip()}
    if source_families != families:
        raise ConfigError(
            f"--warm-start {given}: study {run.run_id} tuned {', '.join(sorted(source_families))} "
            f"and this one tunes {', '.join(sorted(families))}; warm-start from a study of the "
            "same model families (or pass the same --model)"
        )
    best = sorted(source.completed, key=lambda t: (t.metrics[source.metric], t.number))
    best = best[: search.warm_start_top_k]
    if not best:
        raise ConfigError(
            f"--warm-start {given}: study {run.run_id} has no finished trial to start from; "
            "pass a study with at least one ok trial"
        )
    # The engine itself says what is a point of the new space: the same check it makes
    # when the points are queued.
    probe = make_sampler(search.engine, search.algo, inputs.described_space, search.seed)
    kept: list[tuple[int, Mapping[str, Any]]] = []
    for trial in best:
        try:
            probe.enqueue(trial.params)
        except SearchSpaceError:
            continue
        kept.append((trial.number, dict(trial.params)))
    if not kept:
        raise ConfigError(
            f"--warm-start {given}: none of the best {len(best)} trial(s) of study "
            f"{run.run_id} is a point of this study's search space (a value outside a range "
            "or options, or other parameters); widen the space or drop --warm-start"
        )
    return WarmStart(
        given=given,
        source_run_id=run.run_id,
        top_k=search.warm_start_top_k,
        points=tuple(point for _, point in kept),
        trials=tuple(number for number, _ in kept),
        considered=len(best),
    )


def stored_warm_start(store: StudyStorage, run: RunData) -> WarmStart | None:
    """The warm start a study run was created with; None when it had none."""
    if schema.TAG_WARM_START_FROM not in run.tags:
        return None
    return WarmStart.from_json(store.load_json_artifact(run.run_id, schema.WARM_START_ARTIFACT))
