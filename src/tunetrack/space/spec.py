"""The hp vocabulary: YAML/JSON specs and Python Hyperopt spaces, built into one pyll space.

A spec is a mapping ``name -> parameter``. A parameter is one of:

* a constant: any scalar (``objective: reg:squarederror``, ``seed: 42``) or a list;
* a string call: ``"quniform(4, 100, 1)"``, ``"choice(['gbtree', 'dart'])"``;
* a distribution mapping: ``{quniform: [4, 100, 1]}``, ``{quniform: {low: 4, high: 100, q: 1}}``,
  optionally with ``type: int|float`` beside the distribution key;
* a sub-space: a mapping without a distribution key (a dict of parameters).

Values that are already Hyperopt expressions (``hp.*`` / pyll ``Apply`` nodes) are taken as they
are, so a Python Hyperopt space, or a mix of both, works too. Integer-valued parameters (randint,
and q-distributions whose q is a whole number) reach the objective as ``int``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from hyperopt import hp
from hyperopt.pyll import Apply, Literal, as_apply, dfs, scope

from tunetrack.space.grammar import (
    _EXAMPLES,
    _PCHOICE_TOLERANCE,
    _Q_DISTS,
    _TYPES,
    DISTRIBUTIONS,
    _bind,
    _check_bounds,
    _check_keys,
    _error,
    _is_json_like,
    _is_whole,
    _number,
    _parse_call,
    _reject_near_miss,
    _short,
)

__all__ = ["DISTRIBUTIONS", "build_space"]


def _contains_apply(value: Any) -> bool:
    if isinstance(value, Apply):
        return True
    if isinstance(value, Mapping):
        return any(_contains_apply(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_apply(item) for item in value)
    return False


def _numeric_node(dist: str, args: dict[str, int | float], label: str, type_: str | None) -> Apply:
    # Positional arguments on purpose: TPE's randint offset fix reads randint.pos_args.
    param = scope.hyperopt_param(label, getattr(scope, dist)(*args.values()))
    default = "int" if dist == "randint" or (dist in _Q_DISTS and _is_whole(args["q"])) else "float"
    node = scope.int(param) if default == "int" else scope.float(param)
    if type_ is not None and type_ != default:
        # An outer conversion survives later rebuilds (the inner one may be rewritten).
        node = scope.int(node) if type_ == "int" else scope.float(node)
    return node


class _Builder:
    """Turns spec values into pyll nodes; ``trusted`` allows any constant (Python spaces)."""

    def __init__(self, trusted: bool) -> None:
        self.trusted = trusted

    def value(self, obj: Any, label: str, path: str) -> Any:
        if isinstance(obj, Apply):
            return obj
        if isinstance(obj, Mapping):
            return self.mapping(obj, label, path)
        if isinstance(obj, str):
            call = _parse_call(obj, path)
            if call is None:
                return obj
            name, positional, named = call
            type_ = named.pop("type", None) if name not in ("choice", "pchoice") else None
            return self.distribution(name, positional, named, type_, label, path)
        if isinstance(obj, (list, tuple)) and _contains_apply(obj):
            items = [self.value(item, f"{label}.{i}", f"{path}[{i}]") for i, item in enumerate(obj)]
            return as_apply(items)
        return self.constant(obj, path)

    def constant(self, obj: Any, path: str) -> Any:
        if not self.trusted and not _is_json_like(obj):
            raise _error(
                path,
                f"unsupported value of type {type(obj).__name__}; use a number, string, "
                "bool, null, list or mapping (quote dates and other special YAML values)",
            )
        # A Literal keeps lists as lists; pyll would turn a bare list into a tuple node.
        return Literal(obj) if isinstance(obj, (list, tuple, dict)) else obj

    def mapping(self, obj: Mapping[Any, Any], label: str, path: str) -> Any:
        _check_keys(obj, path)
        dists = [key for key in obj if key in DISTRIBUTIONS]
        if len(dists) > 1:
            raise _error(
                path, f"one distribution per parameter, got {', '.join(dists)}; keep one of them"
            )
        if dists:
            dist = dists[0]
            extra = [key for key in obj if key not in (dist, "type")]
            if extra:
                raise _error(
                    path,
                    f"unknown key {extra[0]!r} beside {dist}; only 'type' (int or float) "
                    "may sit beside the distribution",
                )
            raw = obj[dist]
            positional: list[Any]
            named: dict[str, Any] = {}
            if isinstance(raw, Mapping):
                positional, named = [], dict(raw)
            elif isinstance(raw, (list, tuple)):
                positional = list(raw)
            elif dist in ("choice", "pchoice"):
                raise _error(
                    path,
                    f"{dist} needs a list of options, got {_short(raw)}; e.g. {_EXAMPLES[dist]}",
                )
            else:
                positional = [raw]
            if dist in ("choice", "pchoice") and named:
                raise _error(
                    path, f"{dist} needs a list of options, got a mapping; e.g. {_EXAMPLES[dist]}"
                )
            if dist in ("choice", "pchoice"):
                positional = [positional]
            return self.distribution(dist, positional, named, obj.get("type"), label, path)
        _reject_near_miss(obj, path)
        named_args = [
            (key, as_apply(self.value(item, f"{label}.{key}", f"{path}.{key}")))
            for key, item in obj.items()
        ]
        # Built by hand (not as_apply) so the sampled dict keeps the user's key order.
        return Apply("dict", [], named_args, o_len=len(named_args))

    def distribution(
        self,
        dist: str,
        positional: list[Any],
        named: dict[str, Any],
        type_: Any,
        label: str,
        path: str,
    ) -> Apply:
        if dist in ("choice", "pchoice"):
            if type_ is not None:
                raise _error(path, f"{dist} takes no 'type'; it returns the chosen value as is")
            if named:
                raise _error(path, f"{dist} takes a list of options only; e.g. {_EXAMPLES[dist]}")
            # choice([a, b]) and choice(a, b) both mean the options a, b.
            if len(positional) == 1 and isinstance(positional[0], (list, tuple)):
                options = list(positional[0])
            else:
                options = list(positional)
            if dist == "choice":
                return self.choice(options, label, path)
            return self.pchoice(options, label, path)
        if type_ is not None and type_ not in _TYPES:
            raise _error(path, f"type must be 'int' or 'float', got {_short(type_)}")
        args = _bind(dist, positional, named, path)
        _check_bounds(dist, args, path)
        return _numeric_node(dist, args, label, type_)

    def choice(self, options: list[Any], label: str, path: str) -> Apply:
        if not options:
            raise _error(path, f"choice needs at least one option; e.g. {_EXAMPLES['choice']}")
        built = [
            self.value(option, f"{label}.{i}", f"{path}.choice[{i}]")
            for i, option in enumerate(options)
        ]
        return hp.choice(label, built)

    def pchoice(self, pairs: list[Any], label: str, path: str) -> Apply:
        if not pairs:
            raise _error(path, f"pchoice needs at least one option; e.g. {_EXAMPLES['pchoice']}")
        built = []
        for i, pair in enumerate(pairs):
            where = f"{path}.pchoice[{i}]"
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise _error(
                    where,
                    f"pchoice options are [probability, value] pairs, got {_short(pair)}; "
                    f"e.g. {_EXAMPLES['pchoice']}",
                )
            p = _number(pair[0], where, "pchoice", "probability")
            if p < 0:
                raise _error(
                    where, f"pchoice probability must be >= 0, got {p}; use a value between 0 and 1"
                )
            built.append((p, self.value(pair[1], f"{label}.{i}", where)))
        total = math.fsum(p for p, _ in built)
        if abs(total - 1.0) > _PCHOICE_TOLERANCE:
            raise _error(path, f"pchoice probabilities must sum to 1, got {total:g}; rescale them")
        return hp.pchoice(label, built)


# ---------------------------------------------------------------------------------------------
# Building


def _rewrite_and_check(root: Apply, path: str) -> None:
    """Make integer-step q-distributions produce ints; reject duplicate labels."""
    labels: dict[str, Apply] = {}
    for node in dfs(root):
        if node.name == "hyperopt_param":
            label = node.arg["label"].obj
            if labels.setdefault(label, node) is not node:
                raise _error(
                    path,
                    f"label {label!r} is used by two different hyperparameters; "
                    "give each a unique label",
                )
        elif node.name == "float" and len(node.pos_args) == 1 and not node.named_args:
            param = node.pos_args[0]
            if param.name != "hyperopt_param":
                continue
            dist = param.arg["obj"]
            if dist.name not in _Q_DISTS:
                continue
            q = dist.arg["q"]
            if isinstance(q, Literal) and _is_whole(q.obj):
                # hp.q* wraps draws in float(); renaming the node on our copy makes it int().
                node.name = "int"


def build_space(space: Any, path: str = "space") -> Any:
    """Return a Hyperopt space for ``fmin`` from a spec mapping or a Python Hyperopt space.

    A mapping gives a dict (parameter -> pyll node or constant); a bare pyll node gives a node.
    The caller's object is never changed.
    """
    if not isinstance(space, (Mapping, Apply)):
        raise _error(
            path,
            f"expected a mapping of parameters or a Hyperopt expression, got "
            f"{type(space).__name__}; write the space as name: parameter pairs",
        )
    trusted = _contains_apply(space)
    try:
        # One deepcopy keeps nodes shared between parameters shared in the copy.
        space = copy.deepcopy(space)
    except Exception as exc:
        raise _error(path, f"cannot copy the search space ({exc}); use plain values") from None
    builder = _Builder(trusted)
    if isinstance(space, Apply):
        _rewrite_and_check(space, path)
        return space
    _check_keys(space, path)
    built = {key: builder.value(value, key, f"{path}.{key}") for key, value in space.items()}
    _rewrite_and_check(as_apply(built), path)
    return built
