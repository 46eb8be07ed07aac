"""One trial, as a pure function: fit a family with sampled params, score it, say how it went.

``evaluate(task) -> TrialResult`` writes nothing: the study loop, the only writer, records
the result. A ``TrialTask`` is picklable (family name, params, a handle to the prepared
data, the budget, the pruner and the curves it judges against), so an executor can run it
in this process or elsewhere. A failing, NaN or timed-out trial is a result with its
reason, never an exception (DESIGN principle 4); only KeyboardInterrupt gets through.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunetrack._core import TrialState
from tunetrack.metrics import score
from tunetrack.models import FAMILY_KEY, TrainingData, get_model
from tunetrack.pruners import CurveHistory, Pruner

# Prepared training data by handle key, in each process that runs trials: built once per
# study (not once per trial) and looked up by the task's handle.
_PREPARED: dict[str, Mapping[str, TrainingData]] = {}
# What rebuilds it in another process, by the same key (see DataSource).
_SOURCES: dict[str, DataSource] = {}
# Fidelity rungs' training data, by (handle key, family, rows, seed): built on first use
# in each process from the DataSource, so every process trains a rung on the same rows.
_SUBSETS: dict[tuple[str, str, int, int], TrainingData] = {}


@dataclass(frozen=True)
class DataHandle:
    """A picklable reference to a study's prepared training data (one entry a family)."""

    key: str

    def get(self, family: str) -> TrainingData:
        return _PREPARED[self.key][family]

    def get_rows(self, family: str, rows: int | None, seed: int) -> TrainingData:
        """``family``'s data trained on ``rows`` training rows (None: all of them): the
        first ``rows`` of a seeded order of the training rows, so a rung's rows are the
        same in every process and each rung's rows hold the smaller rungs' rows. The
        validation rows stay all of them, so losses compare across rungs."""
        full = self.get(family)
        source = _SOURCES.get(self.key)
        if rows is None or source is None:
            return full
        s = source.families[family]
        if rows >= len(s.y_train):
            return full
        cache = (self.key, family, rows, seed)
        if cache not in _SUBSETS:
            take = np.sort(row_order(s.y_train, s.task, seed)[:rows])
            _SUBSETS[cache] = get_model(family).prepare(
                take_rows(s.x_train, take),
                np.asarray(s.y_train)[take],
                s.x_valid,
                s.y_valid,
                s.task,
                fixed_params=s.fixed_params,
                tuned=s.tuned,
            )
        return _SUBSETS[cache]


def row_order(y: Any, task: Any, seed: int) -> np.ndarray:
    """A seeded permutation of the training row indices. For classification the first
    row of each class comes first, so every rung, however small, has every class (a
    model that never saw a class cannot give it a probability)."""
    order = np.random.default_rng(seed).permutation(len(y))
    if not getattr(task, "is_classification", False):
        return order
    labels = np.asarray(y)[order]
    _, first = np.unique(labels, return_index=True)
    head = order[np.sort(first)]
    return np.concatenate([head, np.delete(order, np.sort(first))])


def take_rows(x: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` (positions) of encoded features: a DataFrame (categories kept) or a
    CSR matrix."""
    if hasattr(x, "iloc"):
        return x.iloc[rows]
    return x[rows]


@dataclass(frozen=True)
class FamilySource:
    """One family's ``prepare`` arguments: encoded rows, targets, task and settings."""

    x_train: Any
    y_train: Any
    x_valid: Any
    y_valid: Any
    task: Any
    fixed_params: Mapping[str, Any]
    tuned: Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class DataSource:
    """How a worker process rebuilds a study's prepared data: each family's ``prepare``
    arguments, picklable (XGBoost's matrices are not, so they are built where they are
    used, once per worker)."""

    families: Mapping[str, FamilySource]

    def build(self) -> dict[str, TrainingData]:
        return {
            name: get_model(name).prepare(
                s.x_train,
                s.y_train,
                s.x_valid,
                s.y_valid,
                s.task,
                fixed_params=s.fixed_params,
                tuned=s.tuned,
            )
            for name, s in self.families.items()
        }


def publish(training: Mapping[str, TrainingData], source: DataSource | None = None) -> DataHandle:
    """Make prepared data reachable by a new handle in this process; ``source`` lets an
    executor rebuild it in its workers (``source_of``, ``install``)."""
    handle = DataHandle(uuid.uuid4().hex)
    _PREPARED[handle.key] = training
    if source is not None:
        _SOURCES[handle.key] = source
    return handle


def source_of(handle: DataHandle) -> DataSource | None:
    """What rebuilds the data behind ``handle`` elsewhere (None: it was published without)."""
    return _SOURCES.get(handle.key)


def install(handle: DataHandle, source: DataSource) -> None:
    """Build the data behind ``handle`` in this (worker) process, once: later calls with
    the same handle do nothing."""
    if handle.key not in _PREPARED:
        _PREPARED[handle.key] = source.build()
        _SOURCES[handle.key] = source  # fidelity rungs build their row subsets from it


def withdraw(handle: DataHandle) -> None:
    """Forget the data behind ``handle`` in this process (the study is over)."""
    _PREPARED.pop(handle.key, None)
    _SOURCES.pop(handle.key, None)
    for cache in [c for c in _SUBSETS if c[0] == handle.key]:
        del _SUBSETS[cache]


@dataclass(frozen=True)
class Budget:
    """What one trial may spend: boosting rounds, early stopping, the study's deadline
    (epoch seconds, so it means the same in every process) and the trial's own limit
    (seconds)."""

    num_boost_round: int
    early_stopping_rounds: int | None
    fixed_params: Mapping[str, Any] = field(default_factory=dict)
    study_deadline: float | None = None
    trial_timeout: float | None = None
    # Threads one fit may use (None: the family's default, all cores). A parallel executor
    # sets cores // trials in flight, so trials share the cores instead of fighting.
    threads: int | None = None


@dataclass(frozen=True)
class TrialTask:
    """Everything ``evaluate`` needs; picklable."""

    number: int
    family: str
    params: Mapping[str, Any]
    data: DataHandle
    budget: Budget
    metric: str
    pruner: Pruner
    history: CurveHistory
    # Fidelity rungs: train on this many training rows (None: all), chosen by
    # DataHandle.get_rows with this seed.
    rows: int | None = None
    rows_seed: int = 0


@dataclass(frozen=True)
class TrialResult:
    """How a trial went: its state, metrics (``metric`` plus the task's others,
    ``fit_seconds`` wall and ``fit_cpu_seconds`` CPU time of the fit, ``model_bytes``,
    ...), the validation curve, and for a failure its reason on one line. ``pruned_at``
    is the 0-based round a pruner stopped it at; ``stopped_by`` says which deadline cut
    it short (``study_timeout``)."""

    state: TrialState
    metrics: Mapping[str, float] = field(default_factory=dict)
    curve: Sequence[float] = ()
    error: str | None = None
    pruned_at: int | None = None
    stopped_by: str | None = None

    def loss(self, metric: str) -> float | None:
        """What the sampler learns: the metric, for pruned trials too (at their round)."""
        value = self.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None


class _PruningMonitor:
    """What a family's fit loop asks after each round (``should_prune``): it keeps the
    curve so far and hands it, with the stored curves, to the stateless pruner."""

    def __init__(self, pruner: Pruner, history: CurveHistory) -> None:
        self._pruner, self._history = pruner, history
        self._curve: list[float] = []

    def should_prune(self, round_: int, value: float) -> bool:
        del self._curve[round_:]  # a family that restarts its rounds starts a new curve
        self._curve.append(value)
        return self._pruner.prune(self._history, self._curve)


def evaluate(task: TrialTask) -> TrialResult:
    """Fit, score and judge one trial (see the module docstring)."""
    try:
        return _evaluate(task)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # one trial never kills a study
        return TrialResult(state=TrialState.FAILED, error=one_line(err))


def _evaluate(task: TrialTask) -> TrialResult:
    budget = task.budget
    now = time.monotonic()
    deadlines: dict[str, float] = {}
    if budget.study_deadline is not None:
        deadlines["study_timeout"] = now + (budget.study_deadline - time.time())
    if budget.trial_timeout is not None:
        deadlines["trial_timeout"] = now + budget.trial_timeout
    deadline = min(deadlines.values()) if deadlines else None
    data = task.data.get_rows(task.family, task.rows, task.rows_seed)
    # The family key only routes the trial; the model never sees it.
    model_params = {k: v for k, v in task.params.items() if k != FAMILY_KEY}
    # CPU seconds of this process over the fit (all its threads): unlike the wall clock
    # it does not grow when other work shares the machine. Trials sharing one process
    # (threads) would count each other's work; the executors run one per process.
    cpu_start = time.process_time()
    family = get_model(task.family)
    fit = family.fit(
        model_params,
        data,
        num_boost_round=budget.num_boost_round,
        early_stopping_rounds=budget.early_stopping_rounds,
        fixed_params=with_threads(family.thread_params, budget, model_params),
        deadline=deadline,
        # Judged by rules fit for its own settings (the warm-up follows the learning rate).
        pruner=_PruningMonitor(
            task.pruner.for_trial({**budget.fixed_params, **model_params}), task.history
        ),
    )
    fit_cpu_seconds = time.process_time() - cpu_start
    metrics = score(data.task, data.y_valid, fit.predictions)
    if not math.isfinite(metrics[task.metric]):
        raise ValueError(f"validation {task.metric} is {metrics[task.metric]}")
    metrics.update(
        fit_seconds=fit.fit_seconds,
        fit_cpu_seconds=fit_cpu_seconds,
        model_bytes=float(fit.model_bytes),
    )
    if fit.best_iteration is not None:
        metrics["best_iteration"] = float(fit.best_iteration)
    if fit.curve is not None:
        # Rounds trained, past the best one too: what the trial cost (bench/speed.py
        # compares studies by it).
        metrics["rounds"] = float(len(fit.curve))
    stopped_by = None
    if fit.stopped_early_by == "deadline" and deadline is not None:
        stopped_by = min(deadlines, key=deadlines.__getitem__)
    if stopped_by == "trial_timeout":
        limit = budget.trial_timeout or 0.0
        raise TimeoutError(f"the trial ran past search.trial_timeout={limit:g} s")
    state = TrialState.PRUNED if fit.pruned_at is not None else TrialState.OK
    return TrialResult(
        state=state,
        metrics=metrics,
        curve=list(fit.curve or ()),
        pruned_at=fit.pruned_at,
        stopped_by=stopped_by,
    )


def with_threads(
    names: Sequence[str], budget: Budget, params: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The budget's fixed params with its thread count under the family's first thread
    parameter, unless the fixed or sampled params already set one (theirs win)."""
    fixed = budget.fixed_params
    if budget.threads is None or not names or any(n in fixed or n in params for n in names):
        return fixed
    return {**fixed, names[0]: budget.threads}


def one_line(err: BaseException) -> str:
    """An exception as one line of at most ~500 characters, prefixed by its type."""
    text = " ".join(str(err).split())
    text = text if len(text) <= 500 else text[:497] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
