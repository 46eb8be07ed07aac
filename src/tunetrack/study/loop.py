"""The study loop: ask the sampler, hand trials to the executor, record each result.

The loop is the only writer (DESIGN principle 7): it creates each trial's run (RUNNING)
before the trial starts and writes the result when the executor hands it back. It keeps
up to ``executor.parallelism`` trials in flight and asks for a new point as soon as one
finishes (asynchronous, never in lock-step batches).

Stopping rules, checked before each new trial: ``max_evals`` finished trials (a resumed
study's included), the study's deadline, ``loss_threshold`` reached, or
``no_progress_evals`` trials without a new best.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from tunetrack._core import FAMILY_KEY, FINISHED_STATES, TrialState
from tunetrack.config import StudyConfig, row_rungs
from tunetrack.execution import Executor
from tunetrack.pruners import CurveHistory, Pruner
from tunetrack.samplers import Sampler, Suggestion
from tunetrack.space import space_leaves
from tunetrack.storage import StudyRef, StudyStorage, TrialWrite, schema
from tunetrack.study.lease import Claim
from tunetrack.study.records import TrialRecord
from tunetrack.study.rungs import RungTable, curve_key
from tunetrack.study.setup import StudyInputs, json_roundtrip
from tunetrack.trial import Budget, DataHandle, TrialResult, TrialTask, evaluate


@dataclass
class _InFlight:
    suggestion: Suggestion
    number: int
    family: str
    run_id: str
    start_ms: int
    rung: int | None = None  # fidelity rungs: its rung, its rows (None: all), its source
    rows: int | None = None
    promoted_from: int | None = None


class HeadStart:
    """A new study's first trial, started before the tracking store is ready.

    Opening a fresh SQLite store runs MLflow's schema migrations (2-5 s on 2 cores,
    measured with ``bench/startup.py``), and the first trial waited for them. A head
    start fits trial 0 in a thread of its own (the fit releases the GIL) while the main
    thread sets up the store; the loop then creates the trial's run with the time the fit
    really started, and waits on it as on any trial in flight. Only the inline executor
    gets one (parallel executors start workers first anyway)."""

    def __init__(self, suggestion: Suggestion, task: TrialTask) -> None:
        self.suggestion, self.task = suggestion, task
        self.start_ms = int(time.time() * 1000)
        self.future: Future[TrialResult] = Future()
        # A daemon thread: a study stopped during set-up does not wait for this fit.
        threading.Thread(target=self._fit, name="tunetrack-head-start", daemon=True).start()

    def _fit(self) -> None:
        try:
            self.future.set_result(evaluate(self.task))
        except BaseException as err:  # evaluate raises only what a bug raises
            self.future.set_exception(err)


def trial_family(params: Mapping[str, object], inputs: StudyInputs) -> str:
    """The family a trial's params route to (the study's only one when they name none)."""
    return str(params.get(FAMILY_KEY, next(iter(inputs.families))))


def study_budget(config: StudyConfig, deadline: float | None) -> Budget:
    """What each trial of a study may spend (see ``Budget``)."""
    search, model = config.search, config.model
    return Budget(
        num_boost_round=model.num_boost_round,
        early_stopping_rounds=model.early_stopping_rounds,
        fixed_params=dict(model.params),
        study_deadline=deadline,
        trial_timeout=search.trial_timeout,
    )


@dataclass
class StudyLoop:
    """One run of the loop over a study (see the module docstring).

    ``records`` starts with a resumed study's trials; ``losses`` with what the sampler
    was told about them (None for a failure), in order; ``curves`` with the stored curves
    of its completed trials, by family."""

    storage: StudyStorage
    ref: StudyRef
    inputs: StudyInputs
    config: StudyConfig
    data: DataHandle
    pruner: Pruner
    deadline: float | None  # epoch seconds
    records: list[TrialRecord] = field(default_factory=list)
    losses: list[float | None] = field(default_factory=list)
    curves: dict[str, CurveHistory] = field(default_factory=dict)
    on_trial: Callable[[TrialRecord], None] | None = None
    on_running: Callable[[int], None] | None = None  # told how many trials are in flight
    claim: Claim | None = None  # this process's claim on the study run; none: not checked
    head_start: HeadStart | None = None  # trial 0, already fitting

    def __post_init__(self) -> None:
        self.stop_reason: str | None = None  # the rule that ended the loop, when one did
        self.next_number = max((r.number for r in self.records), default=-1) + 1
        self.leaves = space_leaves(self.inputs.described_space)
        for name in self.inputs.families:
            self.curves.setdefault(name, CurveHistory())
        self.budget = study_budget(self.config, self.deadline)
        self.rungs = self._rung_table()
        self._first_new = self.next_number  # trials numbered from here started here
        self._resumed = len(self.records)

    @property
    def n_finished(self) -> int:
        return sum(r.state in FINISHED_STATES for r in self.records)

    def run(self, sampler: Sampler, executor: Executor) -> None:
        """Trials until a stopping rule says stop; KeyboardInterrupt closes the trials
        in flight as killed and propagates.

        A finished trial is told to the sampler at once, but written to the store only
        after the freed worker has its next trial: a worker never waits on the store
        (the write is most of the driver's work per trial). An executor that runs the
        trial inside ``submit`` (inline) gets the plain order: write, then start."""
        in_flight: dict[Future[TrialResult], _InFlight] = {}
        # Finished and told, not yet written (each with its record's index): a Ctrl-C
        # writes them.
        unwritten: list[tuple[_InFlight, TrialResult, int]] = []
        if executor.threads is not None:
            self.budget = dataclasses.replace(self.budget, threads=executor.threads)
        try:
            if self.head_start is not None:
                # Fitting already, so in flight whatever the stopping rules say now: a set-up
                # slower than a short timeout still records its first trial.
                future, trial = self._start(sampler, executor)
                in_flight[future] = trial
                if self.on_running is not None:
                    self.on_running(len(in_flight))
            while True:
                if executor.blocking:
                    self._write_all(unwritten)
                while len(in_flight) < executor.parallelism and self._may_start(len(in_flight)):
                    future, trial = self._start(sampler, executor)
                    in_flight[future] = trial
                    if self.on_running is not None:
                        self.on_running(len(in_flight))
                self._write_all(unwritten)
                if not in_flight:
                    return
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: in_flight[f].number):
                    trial, result = in_flight[future], future.result()
                    unwritten.append((trial, result, self._finish(sampler, trial, result)))
                    del in_flight[future]
                    if self.on_running is not None:
                        self.on_running(len(in_flight))
        except KeyboardInterrupt:
            # Finished trials keep their results; those still running are killed.
            self._write_all(unwritten)
            for trial in in_flight.values():
                self._write(trial, TrialResult(TrialState.KILLED, error="interrupted"))
            raise

    def _write_all(self, unwritten: list[tuple[_InFlight, TrialResult, int]]) -> None:
        """Write the finished trials, in order; each leaves the list once written. A
        run's end time is when it is written (its record's too)."""
        while unwritten:
            trial, result, index = unwritten[0]
            end_ms = self._store(trial, result)
            record = dataclasses.replace(self.records[index], end_time=end_ms)
            self.records[index] = record
            unwritten.pop(0)
            if self.on_trial is not None:
                self.on_trial(record)

    def _may_start(self, n_running: int) -> bool:
        """Whether another trial may start; when not, ``stop_reason`` says which rule."""
        search = self.config.search
        finite = [loss for loss in self.losses if loss is not None]
        rules = (
            # Another process took the study over: it runs the next trials, not this one.
            ("claim_lost", self.claim is not None and self.claim.lost),
            ("max_evals", self.n_finished + n_running >= search.max_evals),
            ("timeout", self.deadline is not None and time.time() >= self.deadline),
            (
                "loss_threshold",
                search.loss_threshold is not None
                and bool(finite)
                and min(finite) <= search.loss_threshold,
            ),
            (
                "no_progress_evals",
                bool(search.no_progress_evals)
                and trials_since_best(self.losses) >= (search.no_progress_evals or 0),
            ),
            ("same_failure", same_failures(self.records, search.stop_after_failures)),
        )
        for reason, applies in rules:
            if applies:
                self.stop_reason = self.stop_reason or reason
                return False
        return True

    def _rung_table(self) -> RungTable | None:
        """Fidelity rungs over training rows (study.rungs), with a resumed study's trials."""
        setting = row_rungs(self.config.search.fidelity)
        if setting is None:
            return None
        n_rows = len(self.inputs.study_data.y_train)
        return RungTable.build(setting, n_rows, self.inputs.metric, self.records)

    def _next_point(self, sampler: Sampler) -> tuple[Suggestion, int | None, int | None]:
        """The next point, its rung and the trial it is promoted from: a promotion when
        one is due (its params run again, told to the sampler as a point it never asked
        for), else the sampler's next point at the first rung."""
        if self.rungs is None:
            return sampler.ask(), None, None
        started = self.next_number - self._first_new
        running = started - (len(self.records) - self._resumed)
        last = self.n_finished + running + 1 >= self.config.search.max_evals
        timeout = self.config.search.timeout
        if self.deadline is not None and timeout:
            # A study bounded by time: by half of it, a full result must be on its way.
            last = last or time.time() >= self.deadline - timeout / 2
        promotion = (self.rungs.last_chance() if last else None) or self.rungs.next_promotion()
        if promotion is not None and promotion.rung >= self.rungs.top:
            self.rungs.full_started += 1
        if promotion is None:
            return sampler.ask(), 0, None
        self.rungs.promoted.add(promotion.source)
        return Suggestion(dict(promotion.params)), promotion.rung, promotion.source

    def _start(self, sampler: Sampler, executor: Executor) -> tuple[Future[TrialResult], _InFlight]:
        head, self.head_start = self.head_start, None
        if head is not None:  # trial 0, fitting on all rows (no head start with rungs)
            suggestion, rung, promoted_from = head.suggestion, None, None
        else:
            suggestion, rung, promoted_from = self._next_point(sampler)
        rows = self.rungs.rows(rung) if self.rungs is not None and rung is not None else None
        params = dict(suggestion.params)
        family = trial_family(params, self.inputs)
        number = self.next_number
        self.next_number += 1
        run_id, start_ms = self.storage.start_trial(
            self.ref, number, model=family, start_ms=head.start_ms if head else None
        )
        trial = _InFlight(suggestion, number, family, run_id, start_ms, rung, rows, promoted_from)
        if head is not None:
            return head.future, trial
        task = TrialTask(
            number=number,
            family=family,
            params=params,
            data=self.data,
            budget=self.budget,
            metric=self.inputs.metric,
            pruner=self.pruner,
            history=self.curves.setdefault(curve_key(family, rows), CurveHistory()).snapshot(),
            rows=rows,
            rows_seed=self.config.search.seed,
        )
        try:
            return executor.submit(task), trial
        except KeyboardInterrupt:
            self._write(trial, TrialResult(TrialState.KILLED, error="interrupted"))
            raise

    def _finish(self, sampler: Sampler, trial: _InFlight, result: TrialResult) -> int:
        """Tell the sampler, the rungs and the stopping rules how ``trial`` went; returns
        the index of its record, whose end time ``_write_all`` fills in when it writes
        the run."""
        loss = result.loss(self.inputs.metric) if result.state != TrialState.FAILED else None
        # A pruned trial's loss is partial: the sampler ranks it behind completed ones.
        pruned_at = result.pruned_at if result.state == TrialState.PRUNED else None
        partial_rows = trial.rows is not None  # a rung below all rows: partial too
        if partial_rows and pruned_at is None:
            pruned_at = trial.rung
        sampler.tell(trial.suggestion, loss, pruned_at=pruned_at)
        # Stopping rules (loss_threshold, no_progress_evals) count full results only.
        self.losses.append(None if partial_rows else loss)
        record = self._record(trial, result, None)
        if self.rungs is not None:
            self.rungs.add(record, self.inputs.metric)
        if result.stopped_by is None and result.curve:
            # A curve cut by a deadline sets no bar: it would look worse than it is at
            # its later rounds and never existed past them. Pruned curves are kept
            # apart (see CurveHistory).
            complete = result.state == TrialState.OK
            if complete or result.state == TrialState.PRUNED:
                points = schema.curve_points(result.curve)
                key = curve_key(trial.family, trial.rows)
                self.curves.setdefault(key, CurveHistory()).add(points, complete=complete)
        return len(self.records) - 1

    def _write(self, trial: _InFlight, result: TrialResult) -> TrialRecord:
        """Store and record ``trial`` at once (a trial closed without being told)."""
        end_ms = self._store(trial, result)
        return self._record(trial, result, end_ms)

    def _outcome(
        self, trial: _InFlight, result: TrialResult
    ) -> tuple[dict[str, float], dict[str, str]]:
        """The metrics and tags ``trial``'s run gets: a score measured on part of the rows
        under its ``_at_rows`` name, and the rung tags."""
        tags: dict[str, str] = {}
        if result.pruned_at is not None:
            tags[schema.TAG_PRUNED_AT] = str(result.pruned_at)
        if result.stopped_by:
            tags[schema.TAG_STOPPED_BY] = result.stopped_by
        metrics = dict(result.metrics)
        if self.rungs is not None and trial.rung is not None:
            tags.update(self._rung_tags(trial))
            if trial.rows is not None and result.state == TrialState.OK:
                metrics = schema.at_rows(metrics)  # measured on part of the rows
        return metrics, tags

    def _store(self, trial: _InFlight, result: TrialResult) -> int:
        params = dict(trial.suggestion.params)
        metrics, tags = self._outcome(trial, result)
        write = TrialWrite(
            state=result.state,
            params=params,
            ui_params=schema.ui_params(params, self.leaves),
            metrics=metrics,
            tags=tags,
            error=result.error,
            curve=schema.curve_points(result.curve),
        )
        return self.storage.finish_trial(trial.run_id, write)

    def _record(self, trial: _InFlight, result: TrialResult, end_ms: int | None) -> TrialRecord:
        metrics, tags = self._outcome(trial, result)
        record = TrialRecord(
            number=trial.number,
            run_id=trial.run_id,
            state=result.state,
            params=json_roundtrip(dict(trial.suggestion.params)),
            metrics=metrics,
            start_time=trial.start_ms,
            end_time=end_ms,
            error=result.error,
            family=trial.family,
            rows=int(tags[schema.TAG_FIDELITY_ROWS]) if schema.TAG_FIDELITY_ROWS in tags else None,
            rung=trial.rung,
            promoted_from=trial.promoted_from,
        )
        self.records.append(record)
        return record

    def _rung_tags(self, trial: _InFlight) -> dict[str, str]:
        assert self.rungs is not None
        assert trial.rung is not None
        tags = {
            schema.TAG_FIDELITY_ROWS: str(self.rungs.sizes[trial.rung]),
            schema.TAG_FIDELITY_RUNG: str(trial.rung),
        }
        if trial.promoted_from is not None:
            tags[schema.TAG_PROMOTED_FROM] = str(trial.promoted_from)
        return tags


def same_failures(records: list[TrialRecord], limit: int | None) -> bool:
    """True when the study's first ``limit`` trials (or more) all failed, all with the same
    reason (numbers aside): a setting no trial can run with, so the rest of the budget
    would fail the same way."""
    if not limit or len(records) < limit:
        return False
    if any(r.state != TrialState.FAILED for r in records):
        return False
    reasons = {re.sub(r"\d+(\.\d+)?", "N", r.error or "") for r in records}
    return len(reasons) == 1


def trials_since_best(losses: list[float | None]) -> int:
    """How many trials have finished since the best loss so far was found.

    Hyperopt's own ``no_progress_loss`` breaks on failed trials (they have no loss);
    this counts them as trials without progress, which is what a user means.
    """
    best_index, best = -1, math.inf
    for index, loss in enumerate(losses):
        if loss is not None and math.isfinite(loss) and loss < best:
            best_index, best = index, loss
    return len(losses) - 1 - best_index
