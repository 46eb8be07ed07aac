"""Running a study end to end: check, open the store, loop, close the study run.

Input is checked in full (``setup.prepare_inputs``) before the first write. The study run
is then created (or, resuming, reopened), the loop runs its trials, and the study run is
closed with its summary metrics and why it stopped, whatever happened in between.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tunetrack._core import FINISHED_STATES, TrialState
from tunetrack.config import StudyConfig, build_config
from tunetrack.exceptions import (
    ConfigError,
    SearchSpaceError,
    StudyFailedError,
    StudyInterrupted,
    TrackingLost,
    TrackingUnavailable,
    TunetrackError,
)
from tunetrack.execution import make_executor, warm_up
from tunetrack.metrics import preload
from tunetrack.progress import TrialProgress
from tunetrack.pruners import CurveHistory, make_pruner
from tunetrack.samplers import Sampler, Suggestion, make_sampler
from tunetrack.space import describe_space
from tunetrack.storage import (
    StudyRecord,
    StudyRef,
    StudyStorage,
    open_storage,
    schema,
)
from tunetrack.storage.base import RunData, lease_from_tags, lease_tags
from tunetrack.storage.uris import is_server, resolve_tracking_uri, sqlite_path
from tunetrack.study.handle import Study
from tunetrack.study.lease import (
    Claim,
    claim_study,
    is_live,
    lease_ttl,
    new_lease,
    new_owner,
    refuse,
)
from tunetrack.study.loop import HeadStart, StudyLoop, study_budget, trial_family
from tunetrack.study.records import TrialRecord, trial_from_run
from tunetrack.study.resume import Reopened, find_study, keep_engine, reopen
from tunetrack.study.rungs import rungs_note
from tunetrack.study.setup import (
    StudyInputs,
    json_roundtrip,
    prepare_inputs,
    study_params,
    study_tags,
)
from tunetrack.study.warm_start import WarmStart, resolve_warm_start, stored_warm_start
from tunetrack.trial import TrialTask, publish, withdraw


def run_study(
    config: StudyConfig,
    *,
    train_frame: pd.DataFrame | None = None,
    valid_frame: pd.DataFrame | None = None,
    progress: bool = True,
    started: float | None = None,
    resume: bool = False,
    run_id: str | None = None,
    storage: StudyStorage | str | None = None,
    inputs: StudyInputs | None = None,
    run_trials: bool = True,
) -> Study:
    """Run a validated study and return it, read from what was written.

    With ``resume``, the study ``run_id`` (else the experiment's latest) continues: its
    finished trials feed the sampler and the pruner, trials left RUNNING by a killed
    process are marked KILLED, and new trials are numbered after the last one until
    ``max_evals`` trials have finished. ``run_trials=False`` only creates the study run
    (``create_study``). ``started`` is the ``time.monotonic()`` the study's timeout counts
    from. Raises StudyInterrupted on Ctrl-C (the study can be resumed) and
    StudyFailedError when every trial failed.
    """
    started = time.monotonic() if started is None else started
    wall_start = time.time() - (time.monotonic() - started)
    _check_server_first(storage if storage is not None else config.tracking.tracking_uri)
    if resume and inputs is None:
        _refuse_if_claimed(config, run_id, storage)
    inputs = inputs or prepare_inputs(config, train_frame, valid_frame)
    search = config.search
    if run_trials:
        # Worker processes start beside the store's setup below, not after it.
        warm_up(search.executor, inputs.families)
    if not resume:
        # Built before anything is written: an engine may refuse the space.
        sampler = make_sampler(search.engine, search.algo, inputs.described_space, search.seed)
    if progress:
        for note in inputs.study_data.notes:
            print(f"tunetrack: {note}", file=sys.stderr)
    rows_note = rungs_note(search.fidelity, len(inputs.study_data.y_train))
    if progress and rows_note:
        print(f"tunetrack: {rows_note}", file=sys.stderr)
    for warning in inputs.study_data.warnings:  # said even with --quiet
        print(f"tunetrack: warning: {warning}", file=sys.stderr)
    deadline = None if search.timeout is None else wall_start + search.timeout
    head: HeadStart | None = None
    head_start = search.executor == "inline" and search.warm_start is None
    if not resume and run_trials and head_start and not search.fidelity:
        # Trial 0 fits on all rows while the store is set up (see HeadStart); with
        # fidelity rungs the first trials are meant to be cheap ones, on fewer rows.
        _feed(sampler, [], inputs.start_points[: search.max_evals])
        head = _head_start(config, inputs, sampler, deadline)
    try:  # a failed set-up stops the head start's trial from holding the data
        store = open_storage(storage if storage is not None else config.tracking.tracking_uri)
        store.check_reachable()
        warm: WarmStart | None = None
        if not resume:
            if search.warm_start is not None:
                # Read and checked before the first write; its points replace the defaults.
                warm = resolve_warm_start(store, config, inputs)
                inputs = dataclasses.replace(inputs, start_points=[dict(p) for p in warm.points])
                print(f"tunetrack: {warm.note()}", file=sys.stderr)
            if head is None:
                _feed(sampler, [], inputs.start_points[: search.max_evals])
        experiment_id = store.experiment_id(config.tracking.experiment, create=not resume)
        # Study runs a stopped process left half set up (no reader takes them for studies).
        for gone in store.discard_setups(experiment_id, _setup_is_dead):
            print(f"tunetrack: removed study run {gone}, left half set up by a stopped tune",
                  file=sys.stderr)  # fmt: skip
        config_json = json_roundtrip(config.to_dict(describe_space))
        claim: Claim
        if resume:
            parent = find_study(store, config, inputs, run_id)
            config = keep_engine(store, parent, config)
            search = config.search
            config_json = json_roundtrip(config.to_dict(describe_space))
            warm = stored_warm_start(store, parent)
            if warm is not None:
                # The points stored at the start, never the source study's best of today; a
                # resume without --warm-start keeps the stored setting in the config.
                inputs = dataclasses.replace(inputs, start_points=[dict(p) for p in warm.points])
                if search.warm_start is None:
                    search = dataclasses.replace(
                        search, warm_start=warm.given, warm_start_top_k=warm.top_k
                    )
                    config = dataclasses.replace(config, search=search)
                    config_json = json_roundtrip(config.to_dict(describe_space))
            # Claimed before anything is changed: a live runner's trials must not be closed.
            claim = claim_study(store, parent.run_id)
            try:
                reopened = reopen(store, parent, inputs, config_json)
            except BaseException:
                claim.release()
                raise
        else:
            # A new run is claimed in the tags it is created with: no other process can have
            # claimed it before it existed.
            owner, ttl = new_owner(), lease_ttl()
            record = StudyRecord(
                model=inputs.model_label,
                engine=search.engine,
                tags={
                    schema.TAG_ENGINE: search.engine,
                    schema.TAG_ALGO: search.algo,
                    **study_tags(inputs),
                    schema.TAG_MAX_EVALS: str(search.max_evals),
                    **lease_tags(new_lease(owner, ttl)),
                    **({schema.TAG_WARM_START_FROM: warm.source_run_id} if warm else {}),
                },
                params=study_params(config, inputs),
                config=config_json,
                space=inputs.described_space,
                datasets=inputs.datasets,
                artifacts={schema.WARM_START_ARTIFACT: warm.to_json()} if warm else {},
            )
            reopened = Reopened(store.create_study(experiment_id, record), experiment_id, [])
            claim = Claim(store, reopened.run_id, owner, ttl)
    except BaseException:
        if head is not None:
            withdraw(head.task.data)
        raise
    study_run_id, experiment_id = reopened.run_id, reopened.experiment_id
    ref = StudyRef(run_id=study_run_id, experiment_id=experiment_id, model=inputs.model_label)
    data = None
    try:  # an interrupt before the loop's own handling closes the study as interrupted
        data = head.task.data if head is not None else publish(inputs.training, inputs.source)
        loop = StudyLoop(
            storage=store,
            ref=ref,
            inputs=inputs,
            config=config,
            data=data,
            pruner=make_pruner(search.pruning),
            deadline=deadline,
            records=list(reopened.records),
            losses=reopened.losses(),
            curves=dict(reopened.curves),
            claim=claim,
            head_start=head,
        )
    except KeyboardInterrupt:
        if data is not None:
            withdraw(data)
        closed = _close_interrupted(store, claim, study_run_id)
        raise StudyInterrupted(study_run_id, len(reopened.records), closed=closed) from None
    status = "FAILED"
    lost: TrackingUnavailable | None = None  # the store stopped answering mid-study
    claim.start_renewing()
    try:  # from here on, the study run is closed whatever happens
        if resume:
            sampler = _resumed_sampler(config, inputs, reopened)
        if run_trials:
            with (
                TrialProgress(
                    search.max_evals, inputs.metric, enabled=progress, done=reopened.records
                ) as bar,
                make_executor(search.executor, search.parallelism, search.spark_master) as executor,
            ):
                executor.start(data)
                loop.on_trial = bar.trial_done
                loop.on_running = bar.running
                loop.run(sampler, executor)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        # The loop closed the trials it had in flight as KILLED (it appends them).
        killed = loop.records[len(reopened.records) :]
        n_killed = sum(r.state == TrialState.KILLED for r in killed)
        raise StudyInterrupted(study_run_id, loop.n_finished, n_killed=n_killed) from None
    except TrackingUnavailable as err:
        lost = err
    finally:
        withdraw(data)
        if lost is None:
            try:
                study = _close_study(
                    store, loop, claim, status, run_trials, config_json, inputs,
                    study_run_id, experiment_id, frames=(train_frame, valid_frame),
                )  # fmt: skip
            except TrackingUnavailable as err:
                lost = err
            except KeyboardInterrupt:  # a second Ctrl-C while closing: say what it left
                claim.abandon()
                raise StudyInterrupted(study_run_id, loop.n_finished, closed=False) from None
        if lost is not None:
            # Nothing more can be written: the study (and a trial in flight) stay RUNNING
            # for --resume to close and continue; no further request waits on the server.
            claim.abandon()
    if lost is not None:
        raise TrackingLost(
            f"study {study_run_id} stopped after {loop.n_finished} finished trial(s) because "
            f"{lost}; once it answers, resume with --resume --study {study_run_id} "
            f"(in Python: tune(..., resume={study_run_id!r}))",
            study_run_id,
        )
    if claim.lost:
        raise claim.lost_error()
    if run_trials and not study.completed:
        first = next((t.error for t in study.trials if t.error), "no reason recorded")
        partial = sum(t.state == "ok" and t.rows is not None for t in study.trials)
        if partial:
            raise StudyFailedError(
                f"no trial ran on all the training rows before the study stopped "
                f"({study.stop_reason}); {partial} trial(s) ran on part of them "
                f"(search.fidelity), which never count as a result: resume with more "
                f"--max-evals or --timeout (--resume --study {study_run_id})"
            )
        if study.stop_reason == "same_failure":
            raise StudyFailedError(
                f"the first {len(study.trials)} trials all failed the same way, so the study "
                f"stopped early (search.stop_after_failures; study run {study_run_id}): {first}"
            )
        raise StudyFailedError(
            f"every trial failed (study run {study_run_id}); the first said: {first}"
        )
    return study


def _close_study(
    store: StudyStorage,
    loop: StudyLoop,
    claim: Claim,
    status: str,
    run_trials: bool,
    config_json: Mapping[str, Any],
    inputs: StudyInputs,
    study_run_id: str,
    experiment_id: str,
    *,
    frames: tuple[pd.DataFrame | None, pd.DataFrame | None],
) -> Study:
    """The finished Study, read back, with its summary and status written on its run."""
    # The summary comes from the stored trials, not this process's view: the recorded
    # best is the best trial the study has, whoever wrote it.
    trials = loop.records if claim.lost else _stored_trials(store, study_run_id, experiment_id)
    study = Study(
        run_id=study_run_id,
        experiment_id=experiment_id,
        experiment_name=store.experiment_name(experiment_id),
        model=inputs.model_label,
        metric=inputs.metric,
        trials=tuple(sorted(trials, key=lambda r: r.number)),
        search_space=inputs.described_space,
        config=config_json,
        tracking_uri=store.location,
        storage=store,
        frames=frames,
        prepared=inputs,
    )
    if run_trials and status == "FINISHED" and not study.completed:
        status = "FAILED"
    study.stop_reason = _stop_reason(loop, status, run_trials)
    tags = {schema.TAG_STOP_REASON: study.stop_reason}
    if study.completed:
        tags[schema.TAG_BEST_TRIAL_RUN] = study.best.run_id
    if not claim.lost:  # else the study is the new owner's to close
        store.finish_study(study_run_id, metrics=_study_metrics(study), status=status, tags=tags)
    claim.release()
    return study


def _setup_is_dead(run: RunData) -> bool:
    """Whether the process that was setting up ``run`` is gone (its claim has lapsed)."""
    return not is_live(lease_from_tags(run.tags))


def _close_interrupted(store: StudyStorage, claim: Claim, study_run_id: str) -> bool:
    """Close a study interrupted before its loop started; False when that was cut short
    too (a second interrupt, a store that stopped answering): it stays RUNNING."""
    try:
        store.finish_study(
            study_run_id,
            metrics={},
            status="KILLED",
            tags={schema.TAG_STOP_REASON: "interrupted"},
        )
        claim.release()
    except (Exception, KeyboardInterrupt):
        claim.abandon()
        return False
    return True


def _check_server_first(where: StudyStorage | str | None) -> None:
    """A tracking server that is down, or refuses the login, is said before seconds go
    into reading the data (a local store is only opened once the input is checked: opening
    it may create its file)."""
    if isinstance(where, StudyStorage):
        return
    uri = where or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if is_server(uri):
        open_storage(uri).check_reachable()


def _refuse_if_claimed(
    config: StudyConfig, run_id: str | None, storage: StudyStorage | str | None
) -> None:
    """Refuse a resume of a study another process is running before spending seconds on
    reading and preparing the data. Only a live claim is reported here; anything else
    (no such study, an unreachable store) is left to the checks in their usual order."""
    where = storage if storage is not None else config.tracking.tracking_uri
    try:
        if not isinstance(where, StudyStorage):
            # Only look: a SQLite file that is not there is not made here.
            path = sqlite_path(resolve_tracking_uri(where, writing=False))
            if path is not None and not path.exists():
                return
        store = open_storage(where, read_only=True)
        parent = store.get_run(run_id) if run_id else store.latest_study(config.tracking.experiment)
        lease = store.read_lease(parent.run_id)
    except TunetrackError:
        return
    if is_live(lease):
        assert lease is not None
        raise refuse(parent.run_id, lease)


def _stored_trials(store: StudyStorage, run_id: str, experiment_id: str) -> list[TrialRecord]:
    return [trial_from_run(run) for run in store.trial_runs(run_id, experiment_id)]


def _resumed_sampler(config: StudyConfig, inputs: StudyInputs, reopened: Reopened) -> Sampler:
    """A sampler that has learnt the stored trials, with the start points not yet tried
    still queued (a study created without trials has them all ahead)."""
    search = config.search
    history = reopened.history
    # A resumed study must not replay the first run's random draws: mix in how far it got.
    seed = [search.seed, len(history)] if history else search.seed
    sampler = make_sampler(search.engine, search.algo, inputs.described_space, seed)
    tried = [json_roundtrip(dict(params)) for params, _ in history]
    pending = [p for p in inputs.start_points if json_roundtrip(p) not in tried]
    _feed(
        sampler,
        history,
        pending[: max(0, search.max_evals - len(history))],
        pruned_rounds=reopened.pruned_rounds,
    )
    return sampler


def _head_start(
    config: StudyConfig, inputs: StudyInputs, sampler: Sampler, deadline: float | None
) -> HeadStart | None:
    """Start trial 0 of a new study now (see ``HeadStart``); None when the study has no
    trial to run."""
    if config.search.max_evals < 1:
        return None
    preload(inputs.study_data.task.kind)
    suggestion = sampler.ask()
    params = dict(suggestion.params)
    family = trial_family(params, inputs)
    task = TrialTask(
        number=0,
        family=family,
        params=params,
        data=publish(inputs.training, inputs.source),
        budget=study_budget(config, deadline),
        metric=inputs.metric,
        pruner=make_pruner(config.search.pruning),
        history=CurveHistory(),
    )
    return HeadStart(suggestion, task)


def _feed(
    sampler: Sampler,
    history: Sequence[tuple[Mapping[str, Any], float | None]],
    start_points: Sequence[Mapping[str, Any]],
    *,
    pruned_rounds: Mapping[int, int] | None = None,
) -> None:
    """Tell the sampler a resumed study's finished trials (a pruned one as pruned, at
    its round), and queue the start points."""
    skipped = 0
    pruned_rounds = pruned_rounds or {}
    for index, (params, loss) in enumerate(history):
        try:
            sampler.tell(Suggestion(params), loss, pruned_at=pruned_rounds.get(index))
        except SearchSpaceError:  # e.g. a trial written by an older tunetrack
            skipped += 1
    if skipped:
        print(
            f"tunetrack: {skipped} earlier trial(s) do not fit the search space; "
            "the sampler starts without them",
            file=sys.stderr,
        )
    for point in start_points:
        sampler.enqueue(point)


def continue_study(
    study: Study, *, n_trials: int | None, timeout: float | None, progress: bool
) -> Study:
    """Run up to ``n_trials`` more trials of a stored study (``Study.optimize``)."""
    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 1):
        raise ConfigError(f"n_trials must be a whole number >= 1, got {n_trials!r}")
    if timeout is not None and (not isinstance(timeout, int | float) or not timeout > 0):
        raise ConfigError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    config = build_config(dict(study.config))
    finished = sum(t.state in FINISHED_STATES for t in study.trials)
    changes: dict[str, object] = {}
    if n_trials is not None:
        changes["max_evals"] = finished + n_trials
    if timeout is not None:
        changes["timeout"] = timeout
    config = dataclasses.replace(config, search=dataclasses.replace(config.search, **changes))
    train, valid = study.frames
    storage = study.storage
    if storage is None or getattr(storage, "read_only", False):  # opened by load_study
        storage = open_storage(study.tracking_uri)
    return run_study(
        config,
        train_frame=train,
        valid_frame=valid,
        progress=progress,
        resume=True,
        run_id=study.run_id,
        storage=storage,
        inputs=study.prepared,
    )


def _stop_reason(loop: StudyLoop, status: str, ran: bool) -> str:
    """Why the search ended, in words a user recognises from the config."""
    if not ran:
        return "created"
    if status == "KILLED":
        return "interrupted"
    if loop.stop_reason is not None:
        return loop.stop_reason
    return "error" if status == "FAILED" else "max_evals"


def _study_metrics(study: Study) -> dict[str, float]:
    metrics = {"n_trials": float(len(study.trials)), "n_failed": float(study.n_failed)}
    if study.completed:
        metrics[f"best_{study.metric}"] = study.best_value
    return metrics
