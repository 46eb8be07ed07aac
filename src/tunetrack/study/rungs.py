"""Fidelity rungs over training rows: asynchronous successive halving (ASHA).

With ``search.fidelity.rows`` set, a new point from the sampler trains on the smallest
rung's rows (a seeded subset of the training rows, ``trial.DataHandle.get_rows``); when a
slot frees, a trial in the best 1/factor of the finished trials of its rung that has not
been promoted yet is run again, same params, on the next rung's rows (Li et al., "A
System for Massively Parallel Hyperparameter Tuning", MLSys 2020). Each run is a trial of
its own. Only the last rung (all rows) measures a trial in full: the others' scores are
stored as ``<metric>_at_rows`` (storage.schema.AT_ROWS), so no best, selection or shipped
model can be one of them, and the sampler is told them as partial (like a pruned trial).

The table is rebuilt from the stored trials' tags on resume, so promotions continue and
nothing is promoted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunetrack._core import FINISHED_STATES, TrialState
from tunetrack.config import RowRungs, row_rungs
from tunetrack.storage import schema
from tunetrack.study.records import TrialRecord


@dataclass(frozen=True)
class Promotion:
    """A finished trial's params to run on the next rung."""

    source: int  # the trial number promoted
    rung: int  # the rung it now runs at
    params: Mapping[str, Any]


@dataclass
class _Entry:
    rung: int
    loss: float | None  # None: failed or pruned (ranked last, never promoted)
    params: Mapping[str, Any]


@dataclass
class RungTable:
    """The rungs' rows (``sizes``, smallest first, the last all training rows), the
    finished trials at each rung and the trial numbers already promoted (finished or in
    flight)."""

    sizes: list[int]
    factor: int
    entries: dict[int, _Entry] = field(default_factory=dict)
    promoted: set[int] = field(default_factory=set)
    full_started: int = 0  # trials started at the last rung by this process

    @classmethod
    def build(
        cls, setting: RowRungs, n_rows: int, metric: str, records: Iterable[TrialRecord] = ()
    ) -> RungTable | None:
        """The table for ``n_rows`` training rows, with a resumed study's ``records``
        entered; None when the rows are too few for more than one rung."""
        sizes = setting.sizes(n_rows)
        if len(sizes) < 2:
            return None
        table = cls(sizes, setting.factor)
        for record in sorted(records, key=lambda r: r.number):
            if record.rung is None or record.state not in FINISHED_STATES:
                continue  # a killed promotion is promoted again
            table.add(record, metric)
        return table

    @property
    def top(self) -> int:
        return len(self.sizes) - 1

    def rows(self, rung: int) -> int | None:
        """The training rows a trial at ``rung`` uses (None at the last rung: all)."""
        return None if rung >= self.top else self.sizes[rung]

    def add(self, record: TrialRecord, metric: str) -> None:
        """Enter a finished trial (its ``rung`` and ``promoted_from`` set)."""
        rung = record.rung if record.rung is not None else self.top
        loss = None
        if record.state == TrialState.OK:
            loss = record.value(metric if rung >= self.top else partial_metric(metric))
        self.entries[record.number] = _Entry(rung, loss, record.params)
        if record.promoted_from is not None:
            self.promoted.add(record.promoted_from)

    @property
    def has_full(self) -> bool:
        """Whether a trial at the last rung finished with a result or is in flight."""
        done = any(e.rung >= self.top and e.loss is not None for e in self.entries.values())
        return done or self.full_started > 0

    def last_chance(self) -> Promotion | None:
        """For the study's last trial (or, with a timeout, any trial after half of it)
        when no trial has all rows yet: the best trial of the highest rung with a result,
        straight to the last rung, so a study whose budget ends mid-ladder still has a
        full result to be its best."""
        if self.has_full:
            return None
        for rung in range(self.top - 1, -1, -1):
            best = sorted((e.loss, n) for n, e in self.entries.items() if e.rung == rung
                          and e.loss is not None)  # fmt: skip
            if best:
                number = best[0][1]
                return Promotion(number, self.top, self.entries[number].params)
        return None

    def next_promotion(self) -> Promotion | None:
        """The next trial to promote, highest rung first: one in the best
        floor(n/factor) of the n finished trials of its rung (failed and pruned ones
        ranked last), not promoted yet. None when no rung has one."""
        for rung in range(self.top - 1, -1, -1):
            at_rung = [(n, e) for n, e in self.entries.items() if e.rung == rung]
            best = sorted((e.loss, n) for n, e in at_rung if e.loss is not None)
            for _, number in best[: len(at_rung) // self.factor]:
                if number not in self.promoted:
                    return Promotion(number, rung + 1, self.entries[number].params)
        return None


def partial_metric(metric: str) -> str:
    """The name a low-rung trial's score is stored under (``rmse_at_rows``)."""
    return metric + schema.AT_ROWS


def curve_key(family: str, rows: int | None) -> str:
    """The pruner's curve history a trial is judged against and joins: its family's, per
    rung (a curve on fewer rows is not comparable to one on all of them)."""
    return family if rows is None else f"{family}@{rows}rows"


def low_rows(record: TrialRecord, n_rows: int) -> int | None:
    """The rows a stored trial trained on when it is below the last rung, else None."""
    if record.rows is None or record.rows >= n_rows:
        return None
    return record.rows


def rungs_note(fidelity: Mapping[str, Any], n_rows: int) -> str | None:
    """What to tell a user whose rows rungs cannot apply (too few training rows)."""
    setting = row_rungs(fidelity)
    if setting is None or len(setting.sizes(n_rows)) > 1:
        return None
    return (
        f"search.fidelity.rows: {n_rows} training rows are fewer than min_rows x factor, "
        "so every trial trains on all of them (no rungs)"
    )
