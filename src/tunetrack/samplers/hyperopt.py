"""Hyperopt's algorithms (tpe, rand, anneal, atpe) behind the ask/tell seam.

The study loop, not ``fmin``, owns the loop: ``ask`` calls the algorithm's ``suggest``
for one new trial document, exactly as ``fmin`` does (one draw from the seeded generator
per suggestion, so a study asks the same points ``fmin`` would with the same seed), and
``tell`` completes the document. Points enqueued or told from elsewhere (start points,
a resumed study's history) are written into Hyperopt's trial documents here, from typed
params, so nothing outside this module knows Hyperopt's ``vals`` (choice indices, labels
of inactive branches).

Labels: the space is rebuilt from its description, where a parameter's label is its key
path (``booster.1.rate_drop`` for a key inside option 1 of the choice ``booster``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tunetrack.config import ALGORITHMS
from tunetrack.exceptions import ConfigError, SearchSpaceError
from tunetrack.samplers.base import Sampler, Suggestion
from tunetrack.space import build_space, flatten_params
from tunetrack.space.leaves import DISTRIBUTION_KEYS
from tunetrack.space.points import NO_MATCH, SpaceShape, match_point
from tunetrack.space.ranges import check_draws

Vals = dict[str, list[Any]]


def check_algorithm(algo: str) -> None:
    """Raise ConfigError, before anything is tracked, when ``algo`` cannot run here."""
    _suggest_fn(algo)


def _suggest_fn(algo: str) -> Any:
    from hyperopt import anneal, rand, tpe

    if algo == "atpe":
        # hyperopt imports lightgbm only when the first suggestion is asked for.
        from tunetrack.extras import require

        require("lightgbm", extra="lightgbm", purpose="search.algo 'atpe'")
        from hyperopt import atpe

        return atpe.suggest
    table = {"tpe": tpe.suggest, "rand": rand.suggest, "anneal": anneal.suggest}
    if algo not in table:
        raise ConfigError(
            f"unknown search.algo {algo!r}; choose one of: {', '.join(ALGORITHMS['hyperopt'])}"
        )
    return table[algo]


def _never_called(_: Any) -> float:
    raise RuntimeError("the study loop evaluates trials, not Hyperopt")


class HyperoptSampler(Sampler):
    """Hyperopt's ``algo`` over a described space (``space.describe_space`` JSON).

    ``seed`` seeds numpy's generator as ``fmin(rstate=np.random.default_rng(seed))``
    would: an int, or a sequence (a resumed study mixes in how far it got)."""

    def __init__(
        self, space: Mapping[str, Any], *, algo: str = "tpe", seed: int | Sequence[int] = 0
    ) -> None:
        from hyperopt import Domain, Trials

        self._described = dict(space)
        check_draws(self._described)  # no draw may round past its leaf's bounds
        self._space = build_space(self._described)
        self._domain = Domain(_never_called, self._space)
        self._trials = Trials()
        self._suggest = _suggest_fn(algo)
        self._rng = np.random.default_rng(seed)
        self._labels = sorted(_labels(self._described))
        self._queue: list[Vals] = []
        self._pruned: list[tuple[dict[str, Any], float]] = []  # docs, partial losses
        self._worst = -math.inf  # the worst completed loss told so far

    def enqueue(self, params: Mapping[str, Any]) -> None:
        self._queue.append(self.vals_for(params))

    def ask(self) -> Suggestion:
        from hyperopt import JOB_STATE_RUNNING

        [tid] = self._trials.new_trial_ids(1)
        if self._queue:
            doc = self._doc(tid, self._queue.pop(0))
        else:
            self._trials.refresh()
            seed = self._rng.integers(2**31 - 1)
            [doc] = self._suggest([tid], self._domain, self._trials, seed)
        doc["state"] = JOB_STATE_RUNNING
        self._trials.insert_trial_docs([doc])
        self._trials.refresh()
        return Suggestion(params=self._params(doc["misc"]["vals"]), token=tid)

    def tell(
        self, suggestion: Suggestion, loss: float | None, *, pruned_at: int | None = None
    ) -> None:
        from hyperopt import JOB_STATE_DONE

        pruned = pruned_at is not None and loss is not None and bool(np.isfinite(loss))
        if suggestion.token is None:
            [tid] = self._trials.new_trial_ids(1)
            doc = self._doc(tid, self.vals_for(suggestion.params))
            doc.update(state=JOB_STATE_DONE, result=_result(loss))
            self._trials.insert_trial_docs([doc])
        else:
            doc = next(d for d in self._trials.trials if d["tid"] == suggestion.token)
            doc.update(state=JOB_STATE_DONE, result=_result(loss))
        if pruned:
            self._pruned.append((doc, float(loss)))  # type: ignore[arg-type]
        elif doc["result"]["status"] == "ok":
            self._worst = max(self._worst, float(loss))  # type: ignore[arg-type]
        # Hyperopt knows no PRUNED state: a pruned trial reads as at least as bad as the
        # worst completed one (Optuna's TPE ranks pruned trials behind every completed
        # trial), so a partial loss at an early round never reads as a final result.
        for pruned_doc, partial in self._pruned:
            pruned_doc["result"]["loss"] = max(partial, self._worst)
        self._trials.refresh()

    def _doc(self, tid: int, vals: Vals) -> dict[str, Any]:
        misc = {
            "tid": tid,
            "cmd": ("domain_attachment", "FMinIter_Domain"),
            "workdir": None,
            "idxs": {label: [tid] if v else [] for label, v in vals.items()},
            "vals": vals,
        }
        [doc] = self._trials.new_trial_docs([tid], [None], [{"status": "new"}], [misc])
        return doc

    def _params(self, vals: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
        from hyperopt import space_eval

        assignment = {label: _plain(v[0]) for label, v in vals.items() if len(v)}
        return flatten_params(space_eval(self._space, assignment))

    def vals_for(self, params: Mapping[str, Any]) -> Vals:
        """Hyperopt's ``vals`` (label -> [value], [] when inactive; choice indices) for
        flat params. Raises SearchSpaceError when the point is not in the space."""
        try:
            match = match_point(self._described, params, _SHAPE)
        except ValueError as err:
            raise SearchSpaceError(
                f"{err}; give a value for every parameter, from each one's own range or options"
            ) from None
        vals: Vals = {label: [index] for label, (_, index) in match.choices.items()}
        vals.update({label: [value] for label, (_, value) in match.leaves.items()})
        return {label: vals.get(label, []) for label in self._labels}


def _result(loss: float | None) -> dict[str, Any]:
    if loss is None or not np.isfinite(loss):
        return {"status": "fail"}
    return {"status": "ok", "loss": float(loss)}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _distribution(node: Any) -> str | None:
    if isinstance(node, Mapping):
        return next((key for key in node if key in DISTRIBUTION_KEYS), None)
    return None


def _options(node: Mapping[str, Any], dist: str) -> list[Any]:
    return list(node[dist]) if dist == "choice" else [option for _, option in node[dist]]


def _labels(node: Any, label: str = "") -> Iterator[str]:
    """Every hyperopt label of a described (sub-)space."""
    dist = _distribution(node)
    if dist in ("choice", "pchoice"):
        yield label
        for i, option in enumerate(_options(node, dist)):
            yield from _labels(option, f"{label}.{i}")
    elif dist is not None:
        yield label
    elif isinstance(node, Mapping):
        for key, child in node.items():
            yield from _labels(child, f"{label}.{key}" if label else str(key))


def _choice_options(node: Any) -> list[Any] | None:
    dist = _distribution(node)
    return _options(node, dist) if dist in ("choice", "pchoice") else None


def _is_leaf(node: Any) -> bool:
    return _distribution(node) not in (None, "choice", "pchoice")


def _leaf_value(node: Mapping[str, Any], value: Any) -> Any:
    """``value`` as Hyperopt's vals keep it, or NO_MATCH when the leaf could not have
    drawn it (q-rounding may pass a bound by half a step)."""
    return value if _in_range(node, str(_distribution(node)), value) else NO_MATCH


def _in_range(node: Mapping[str, Any], dist: str, value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
        return False
    args = node[dist]
    if dist == "randint":
        return args["low"] <= value < args["high"]
    if "normal" in dist:
        return value > 0 if dist.startswith(("lognormal", "qlognormal")) else True
    low, high = args["low"], args["high"]
    if "log" in dist:
        low, high = math.exp(low), math.exp(high)
    slack = args.get("q", 0) / 2 + 1e-9 * max(1.0, abs(high))
    return low - slack <= value <= high + slack


# How a described space (the hp mapping form) marks choices and sampled leaves.
_SHAPE = SpaceShape(choice_options=_choice_options, is_leaf=_is_leaf, leaf_value=_leaf_value)
