"""Optuna's samplers (tpe, random, cmaes, gp) behind the ask/tell seam.

An in-memory Optuna study, driven by ask and tell (public API only), holds what the
engine has learnt; the MLflow store stays the only record (a resumed study tells its
history back in). The neutral space (``space.distributions``) is walked define-by-run, so
a conditional parameter is suggested only inside the branch that has it. Inside Optuna a
parameter is named by its key path, as in ``samplers/hyperopt.py``
(``booster.1.rate_drop``: the key inside option 1 of the choice ``booster``).

The hp vocabulary keeps its meaning:

- ``uniform``/``loguniform`` -> ``suggest_float`` (``log=True``); integers (``randint``,
  ``quniform``/``qloguniform`` with whole steps) -> ``suggest_int`` and arrive as ``int``;
- ``quniform`` with a step ``q`` gives the multiples of ``q`` inside the bounds (as Hyperopt
  does; a space whose rounding could step past a bound is refused for both engines first,
  ``space.ranges.check_draws``): an integer step index ``k`` is suggested and ``k * q``
  arrives;
- ``qloguniform`` with ``q`` > 1 (Optuna forbids a step on a log scale): a log-uniform
  draw rounded to the nearest multiple of ``q`` (Hyperopt's own definition), kept inside
  the bounds;
- ``choice``: a categorical over the option indices; the option arrives (a sub-space's
  keys merged in, a nested distribution sampled, a constant as is);
- ``pchoice`` and ``normal``/``lognormal`` (and their ``q`` forms) have no Optuna
  equivalent and are refused when the sampler is built, before anything is tracked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunetrack.config import ALGORITHMS
from tunetrack.exceptions import ConfigError, SearchSpaceError
from tunetrack.extras import require
from tunetrack.samplers.base import Sampler, Suggestion
from tunetrack.space import flatten_params
from tunetrack.space.distributions import Categorical, Float, Int, Normal, from_spec
from tunetrack.space.points import NO_MATCH, SpaceShape, match_point
from tunetrack.space.ranges import check_draws

# Optuna imports tqdm.auto, which in a Jupyter kernel without ipywidgets warns "IProgress
# not found" though tunetrack never draws a tqdm bar: imported here (this module loads only
# for the optuna engine) with that one warning silenced. Not installed: require() says so.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.filterwarnings("ignore", message="IProgress not found")
    import optuna  # noqa: F401

_OPTUNA_ALGORITHMS = ALGORITHMS["optuna"]


def check_algorithm(algo: str) -> None:
    """Raise ConfigError, before anything is tracked, when ``algo`` cannot run here."""
    if algo not in _OPTUNA_ALGORITHMS:
        raise ConfigError(
            f"unknown search.algo {algo!r} for search.engine 'optuna'; "
            f"choose one of: {', '.join(_OPTUNA_ALGORITHMS)}"
        )
    require("optuna", extra="optuna", purpose="search.engine 'optuna'")
    if algo == "cmaes":
        require("cmaes", extra="optuna", purpose="search.algo 'cmaes'")
    if algo == "gp" and importlib.util.find_spec("torch") is None:
        raise ConfigError(
            "search.algo 'gp' (Optuna's GPSampler) needs torch: pip install torch, "
            "or use search.algo tpe"
        )


def optuna_seed(seed: int | Sequence[int]) -> int:
    """One 32-bit seed for Optuna from an int or a sequence (a resumed study mixes in how
    far it got); the same input always gives the same seed."""
    if isinstance(seed, int) and 0 <= seed < 2**32:
        return seed
    entropy = [seed] if isinstance(seed, int) else [int(s) for s in seed]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@dataclass(frozen=True)
class _Leaf:
    """How one numeric parameter is suggested in Optuna and read back.

    ``kind``: ``int`` (suggest_int on [low, high] by ``step``, ``log``), ``float``
    (suggest_float), ``grid`` (suggest_int of the step index k in [low, high]; the value is
    k * q), ``qlog`` (suggest_float on the log scale, rounded to a multiple of q in
    [k_low, k_high])."""

    kind: str
    low: float
    high: float
    log: bool = False
    step: int = 1
    q: float = 1.0
    k_low: int = 0
    k_high: int = 0
    integer: bool = False

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "int":
            return trial.suggest_int(
                name, int(self.low), int(self.high), step=self.step, log=self.log
            )
        if self.kind == "float":
            return trial.suggest_float(name, self.low, self.high, log=self.log)
        if self.kind == "grid":
            return self._value(trial.suggest_int(name, int(self.low), int(self.high)))
        drawn = trial.suggest_float(name, self.low, self.high, log=True)
        return self._value(min(max(round(drawn / self.q), self.k_low), self.k_high))

    def _value(self, k: int) -> Any:
        return int(k * self.q) if self.integer else k * self.q

    def distribution(self) -> Any:
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=self.step)
        if self.kind == "grid":
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(self.low, self.high, log=self.kind == "qlog" or self.log)

    def internal(self, value: Any) -> Any:
        """Optuna's value for a told param, or NO_MATCH when this leaf could not have drawn
        it."""
        if not isinstance(value, int | float) or isinstance(value, bool):
            return NO_MATCH
        if not math.isfinite(value) or (self.integer and value != int(value)):
            return NO_MATCH
        if self.kind == "int":
            value = int(value)
            on_step = (value - int(self.low)) % self.step == 0
            return value if self.low <= value <= self.high and on_step else NO_MATCH
        if self.kind == "float":
            return float(value) if self.low <= value <= self.high else NO_MATCH
        k = round(value / self.q)
        if abs(k * self.q - value) > 1e-9 * max(1.0, abs(value)) or not (
            self.k_low <= k <= self.k_high
        ):
            return NO_MATCH
        return k if self.kind == "grid" else min(max(float(value), self.low), self.high)


def _leaf(node: Float | Int, label: str) -> _Leaf:
    integer = isinstance(node, Int)
    q = node.step if node.step is not None else None
    if q is None or (integer and q == 1 and (not node.log or node.low >= 1)):
        kind = "int" if integer else "float"
        return _Leaf(kind, node.low, node.high, log=node.log, integer=integer)
    k_low, k_high = math.ceil(node.low / q - 1e-9), math.floor(node.high / q + 1e-9)
    if k_low > k_high:
        raise ConfigError(
            f"search space: {label!r} has no multiple of q={q} between {node.low} and "
            f"{node.high}; widen the range or make q smaller"
        )
    if node.log:
        return _Leaf("qlog", node.low, node.high, q=q, k_low=k_low, k_high=k_high, integer=integer)
    if integer:
        return _Leaf("int", k_low * q, k_high * q, step=int(q), integer=True)
    return _Leaf("grid", k_low, k_high, q=q, k_low=k_low, k_high=k_high)


def _join(label: str, key: Any) -> str:
    return f"{label}.{key}" if label else str(key)


def _compile(node: Any, label: str) -> Any:
    """The space with numeric leaves replaced by ``_Leaf``; refuses what Optuna cannot
    express (pchoice, normal), naming the parameter."""
    if isinstance(node, Mapping):
        return {key: _compile(child, _join(label, key)) for key, child in node.items()}
    if isinstance(node, Categorical):
        if node.weights is not None:
            raise ConfigError(
                f"search space: {label!r} is a pchoice, and Optuna cannot weight options; "
                "use search.engine hyperopt for pchoice, or make it a plain choice"
            )
        options = tuple(_compile(o, f"{label}.{i}") for i, o in enumerate(node.options))
        return Categorical(options)
    if isinstance(node, Normal):
        raise ConfigError(
            f"search space: {label!r} is a normal/lognormal draw, which Optuna has no "
            "equivalent for; use search.engine hyperopt for normal, or a (log)uniform range"
        )
    if isinstance(node, Float | Int):
        return _leaf(node, label)
    return node


def _first_choice(node: Any, label: str = "") -> str | None:
    if isinstance(node, Categorical):
        return label
    if isinstance(node, Mapping):
        for key, child in node.items():
            found = _first_choice(child, _join(label, key))
            if found is not None:
                return found
    return None


def _suggest(trial: Any, node: Any, label: str) -> Any:
    """A nested sample of ``node``, define-by-run: only the chosen branch is suggested."""
    if isinstance(node, Mapping):
        return {key: _suggest(trial, child, _join(label, key)) for key, child in node.items()}
    if isinstance(node, Categorical):
        index = trial.suggest_categorical(label, list(range(len(node.options))))
        return _suggest(trial, node.options[index], f"{label}.{index}")
    if isinstance(node, _Leaf):
        return node.suggest(trial, label)
    return node


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while tunetrack drives it (restored after)."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _make_optuna_sampler(algo: str, seed: int) -> Any:
    import optuna

    if algo == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=True
        )
    if algo == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if algo == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.GPSampler(seed=seed)


class OptunaSampler(Sampler):
    """Optuna's ``algo`` over a described space (``space.describe_space`` JSON).

    Raises ConfigError at construction for what Optuna cannot express (see the module
    docstring) and for ``cmaes`` on a space with a choice."""

    def __init__(
        self, space: Mapping[str, Any], *, algo: str = "tpe", seed: int | Sequence[int] = 0
    ) -> None:
        check_algorithm(algo)
        check_draws(space)  # the same spaces as the Hyperopt engine, with the same draws
        self._space = _compile(from_spec(space), "")
        if algo == "cmaes":
            choice = _first_choice(self._space)
            if choice is not None:
                raise ConfigError(
                    f"search.algo 'cmaes' searches numeric params only, and {choice!r} is "
                    "a choice; use search.algo tpe for this space"
                )
        import optuna

        with _quiet():
            self._study = optuna.create_study(
                sampler=_make_optuna_sampler(algo, optuna_seed(seed)), direction="minimize"
            )

    def enqueue(self, params: Mapping[str, Any]) -> None:
        assigned = self._assigned(params)
        with _quiet():
            self._study.enqueue_trial({label: value for label, (value, _) in assigned.items()})

    def ask(self) -> Suggestion:
        with _quiet():
            trial = self._study.ask()
            sample = _suggest(trial, self._space, "")
        return Suggestion(params=flatten_params(sample), token=trial)

    def tell(
        self, suggestion: Suggestion, loss: float | None, *, pruned_at: int | None = None
    ) -> None:
        from optuna.trial import TrialState, create_trial

        ok = loss is not None and math.isfinite(loss)
        pruned = pruned_at is not None and ok
        with _quiet():
            if suggestion.token is not None:
                if pruned:
                    # Optuna's own way: the partial loss as an intermediate value, the
                    # trial PRUNED (TPE ranks it behind every completed trial).
                    suggestion.token.report(float(loss), pruned_at)  # type: ignore[arg-type]
                    self._study.tell(suggestion.token, state=TrialState.PRUNED)
                elif ok:
                    self._study.tell(suggestion.token, float(loss))  # type: ignore[arg-type]
                else:
                    self._study.tell(suggestion.token, state=TrialState.FAIL)
                return
            assigned = self._assigned(suggestion.params)
            state = TrialState.PRUNED if pruned else TrialState.COMPLETE if ok else TrialState.FAIL
            trial = create_trial(
                params={label: value for label, (value, _) in assigned.items()},
                distributions={label: dist for label, (_, dist) in assigned.items()},
                value=float(loss) if ok and not pruned else None,  # type: ignore[arg-type]
                intermediate_values={pruned_at: float(loss)} if pruned else None,  # type: ignore[arg-type,dict-item]
                state=state,
            )
            self._study.add_trial(trial)

    def _assigned(self, params: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """label -> (Optuna's value, its distribution) for flat params; SearchSpaceError
        when they are not a point of the space."""
        from optuna.distributions import CategoricalDistribution

        try:
            match = match_point(self._space, params, _SHAPE)
        except ValueError as err:
            raise SearchSpaceError(
                f"{err}; give a value for every parameter, from each one's own range or options"
            ) from None
        assigned = {
            label: (index, CategoricalDistribution(list(range(len(node.options)))))
            for label, (node, index) in match.choices.items()
        }
        assigned.update(
            {label: (value, node.distribution()) for label, (node, value) in match.leaves.items()}
        )
        return assigned


# How the compiled space marks choices and sampled leaves (for ``match_point``).
_SHAPE = SpaceShape(
    choice_options=lambda node: node.options if isinstance(node, Categorical) else None,
    is_leaf=lambda node: isinstance(node, _Leaf),
    leaf_value=lambda leaf, value: leaf.internal(value),
)
