"""Search spaces: YAML/JSON specs and Python Hyperopt spaces, in one form for ``fmin``.

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

import ast
import copy
import difflib
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import hp
from hyperopt.pyll import Apply, Literal, as_apply, dfs, scope
from hyperopt.pyll.base import MissingArgument

from tunetrack.exceptions import SearchSpaceError

__all__ = [
    "DISTRIBUTIONS",
    "Leaf",
    "build_space",
    "describe_space",
    "flatten_params",
    "param_kinds",
    "space_leaves",
]

DISTRIBUTIONS: tuple[str, ...] = (
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
    "randint",
    "choice",
    "pchoice",
)

# Argument names in Hyperopt's positional order (pyll's samplers take them positionally).
_ARGS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"),
}
_Q_DISTS = frozenset(name for name, args in _ARGS.items() if "q" in args)
_TYPES = ("int", "float")
_EXAMPLES = {
    "uniform": "uniform(0, 1)",
    "quniform": "quniform(4, 100, 1)",
    "loguniform": "loguniform(-3, 0)",
    "qloguniform": "qloguniform(0, 5, 1)",
    "normal": "normal(0, 1)",
    "qnormal": "qnormal(10, 2, 1)",
    "lognormal": "lognormal(0, 1)",
    "qlognormal": "qlognormal(2, 0.5, 1)",
    "randint": "randint(2, 10)",
    "choice": "choice(['gbtree', 'dart'])",
    "pchoice": "pchoice([(0.3, 'a'), (0.7, 'b')])",
}
_CALL_START = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_PCHOICE_TOLERANCE = 1e-6


def _error(path: str, message: str) -> SearchSpaceError:
    # The CLI prints errors as one line, so never let a newline through.
    return SearchSpaceError(f"{path}: {message}".replace("\r", " ").replace("\n", " "))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _valid_names() -> str:
    return ", ".join(DISTRIBUTIONS)


def _unknown_distribution(path: str, name: str) -> SearchSpaceError:
    close = difflib.get_close_matches(name.lower(), DISTRIBUTIONS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return _error(path, f"unknown distribution {name!r}; {hint}valid names: {_valid_names()}")


# ---------------------------------------------------------------------------------------------
# Plain values


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays and tuples -> plain Python values (recursively)."""
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _contains_apply(value: Any) -> bool:
    if isinstance(value, Apply):
        return True
    if isinstance(value, Mapping):
        return any(_contains_apply(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_apply(item) for item in value)
    return False


def _is_json_like(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, numbers.Real, np.bool_)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json_like(item) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json_like(v) for k, v in value.items())
    return False


def _number(value: Any, path: str, dist: str, arg: str) -> int | float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = "write a plain number"
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                pass
            else:
                # PyYAML reads 1e-3 (no dot) as text, which is the usual way to get here.
                hint = "write it unquoted, with a dot for exponents (1.0e-3, not 1e-3)"
        kind = type(value).__name__
        raise _error(
            path, f"{dist} argument {arg} must be a number, got {_short(value)} ({kind}); {hint}"
        )
    value = _plain(value)
    if not math.isfinite(value):
        raise _error(
            path, f"{dist} argument {arg} must be finite, got {value}; use a finite number"
        )
    return value


def _is_whole(value: Any) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        return False


# ---------------------------------------------------------------------------------------------
# Spec parsing


def _parse_call(text: str, path: str) -> tuple[str, list[Any], dict[str, Any]] | None:
    """``"quniform(4, 100, 1)"`` -> ``("quniform", [4, 100, 1], {})``; None for a constant."""
    match = _CALL_START.match(text)
    if match is None:
        return None
    name = match.group(1)
    known = name in DISTRIBUTIONS
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise ValueError("not a single call")
        # literal_eval per argument node: literals only, nothing is ever executed.
        args = [ast.literal_eval(node) for node in call.args]
        kwargs: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg is None:
                raise ValueError("**kwargs")
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        if known:
            hint = f"arguments must be literals, e.g. {_EXAMPLES[name]}"
            if text.count("(") != text.count(")"):
                # In YAML flow style ({...} / [...]) an unquoted comma cuts the string short.
                hint += "; inside YAML {...} or [...] put the call in quotes"
            raise _error(path, f"cannot parse {_short(text)}; {hint}") from None
        # An unknown name with non-literal arguments is just text (a constant).
        return None
    if not known:
        raise _unknown_distribution(path, name)
    return name, args, kwargs


def _bind(
    dist: str, positional: list[Any], named: dict[str, Any], path: str
) -> dict[str, int | float]:
    names = _ARGS[dist]
    signature = f"{dist}({', '.join(names)})"
    if dist == "randint" and len(positional) == 1 and not {"low", "high"} & named.keys():
        # randint(upper) is Hyperopt's one-argument form: draws 0 .. upper-1.
        positional = [0, *positional]
    if len(positional) > len(names):
        raise _error(
            path,
            f"{dist} takes {len(names)} arguments {signature}, got {len(positional)}; "
            f"e.g. {_EXAMPLES[dist]}",
        )
    bound = dict(zip(names, positional, strict=False))
    for key, value in named.items():
        if not isinstance(key, str) or key not in names:
            raise _error(
                path,
                f"unknown argument {_short(key)} for {dist}; expected {', '.join(names)}",
            )
        if key in bound:
            raise _error(path, f"{dist} argument {key} is given twice; give it once")
        bound[key] = value
    if dist == "randint":
        bound.setdefault("low", 0)
    missing = [name for name in names if name not in bound]
    if missing:
        if named:
            detail = f"missing argument {', '.join(missing)}"
        else:
            detail = f"{dist} takes {len(names)} arguments {signature}, got {len(positional)}"
        raise _error(path, f"{detail}; e.g. {_EXAMPLES[dist]}")
    return {name: _number(bound[name], path, dist, name) for name in names}


def _check_bounds(dist: str, args: dict[str, int | float], path: str) -> None:
    if dist == "randint":
        for name in ("low", "high"):
            if not _is_whole(args[name]):
                raise _error(
                    path, f"randint {name} must be a whole number, got {args[name]}; use integers"
                )
            args[name] = int(args[name])
        if args["low"] >= args["high"]:
            raise _error(
                path,
                f"randint needs low < high, got low={args['low']}, high={args['high']}; "
                f"the upper bound is exclusive, e.g. randint(2, 10) draws 2..9",
            )
        return
    if "low" in args and args["low"] >= args["high"]:
        raise _error(
            path,
            f"{dist} needs low < high, got low={args['low']}, high={args['high']}; "
            "swap or fix the bounds",
        )
    if "sigma" in args and args["sigma"] <= 0:
        raise _error(
            path, f"{dist} needs sigma > 0, got sigma={args['sigma']}; use a positive spread"
        )
    if "q" in args and args["q"] <= 0:
        raise _error(path, f"{dist} needs q > 0, got q={args['q']}; use a positive step such as 1")


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


def _check_keys(obj: Mapping[Any, Any], path: str) -> None:
    for key in obj:
        if not isinstance(key, str):
            raise _error(
                path,
                f"key {_short(key)} ({type(key).__name__}) is not a string; quote it "
                "(YAML reads yes/no/on/off and numbers as non-strings)",
            )
        if not key:
            raise _error(path, "empty parameter name; give the parameter a name")


def _reject_near_miss(obj: Mapping[str, Any], path: str) -> None:
    # {unifrom: [0, 1]} would otherwise silently become a sub-space holding a list.
    keys = [key for key in obj if key != "type"]
    if len(keys) != 1 or not isinstance(obj[keys[0]], (list, tuple, Mapping)):
        return
    if difflib.get_close_matches(keys[0].lower(), DISTRIBUTIONS, n=1, cutoff=0.8):
        raise _unknown_distribution(path, keys[0])


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


# ---------------------------------------------------------------------------------------------
# Describing


def _describe_constant(value: Any, path: str) -> Any:
    value = _plain(value)
    if not _is_json_like(value):
        raise _error(path, f"constant of type {type(value).__name__} cannot be described as JSON")
    return value


def _literal(node: Any, path: str, what: str) -> Any:
    if not isinstance(node, Literal):
        raise _error(path, f"{what} must be a constant to be described, got a pyll expression")
    return _plain(node.obj)


def _describe_param(param: Apply, type_: str | None, path: str) -> dict[str, Any]:
    dist = param.arg["obj"]
    if dist.name not in _ARGS:
        raise _error(path, f"cannot describe distribution {dist.name!r}")
    binding = dist.arg
    if dist.name == "randint":
        low, high = binding["low"], binding["high"]
        if high is MissingArgument:
            low, high = Literal(0), low
        args = {"low": _literal(low, path, "low"), "high": _literal(high, path, "high")}
    else:
        args = {name: _literal(binding[name], path, name) for name in _ARGS[dist.name]}
    if type_ is None:
        type_ = "int" if dist.name == "randint" else "float"
    return {dist.name: args, "type": type_}


def _describe_choice(node: Apply, path: str) -> dict[str, Any]:
    index = node.pos_args[0]
    kind = index.arg["obj"].name if index.name == "hyperopt_param" else None
    options = node.pos_args[1:]
    if kind == "randint":
        return {
            "choice": [_describe(option, f"{path}.choice[{i}]") for i, option in enumerate(options)]
        }
    if kind == "categorical":
        p = index.arg["obj"].arg["p"]
        if isinstance(p, Literal):
            probs = np.ravel(np.asarray(p.obj, dtype=float)).tolist()
        else:
            probs = [float(_literal(item, path, "probability")) for item in p.pos_args]
        return {
            "pchoice": [
                [prob, _describe(option, f"{path}.pchoice[{i}]")]
                for i, (prob, option) in enumerate(zip(probs, options, strict=True))
            ]
        }
    raise _error(path, "cannot describe a switch that is not hp.choice or hp.pchoice")


def _describe(node: Any, path: str) -> Any:
    if not isinstance(node, Apply):
        return _describe_constant(node, path)
    name = node.name
    if name == "literal":
        return _describe_constant(node.obj, path)
    if name == "dict" and not node.pos_args:
        return {key: _describe(value, f"{path}.{key}") for key, value in node.named_args}
    if name == "pos_args" and all(isinstance(item, Literal) for item in node.pos_args):
        return [
            _describe_constant(item.obj, f"{path}[{i}]") for i, item in enumerate(node.pos_args)
        ]
    if name in _TYPES and len(node.pos_args) == 1:
        # int(float(param)): the outermost conversion decides what the objective sees.
        inner = node.pos_args[0]
        while inner.name in _TYPES and len(inner.pos_args) == 1:
            inner = inner.pos_args[0]
        if inner.name == "hyperopt_param":
            return _describe_param(inner, name, path)
    if name == "hyperopt_param":
        return _describe_param(node, None, path)
    if name == "switch":
        return _describe_choice(node, path)
    raise _error(path, f"cannot describe pyll expression {name!r}; use hp.* and plain values")


def _root_label(node: Apply) -> str | None:
    if node.name == "switch":
        node = node.pos_args[0]
    while node.name in _TYPES and len(node.pos_args) == 1:
        node = node.pos_args[0]
    if node.name == "hyperopt_param" and isinstance(node.arg["label"], Literal):
        return str(node.arg["label"].obj)
    return None


def describe_space(space: Any) -> dict[str, Any]:
    """Return the JSON-serialisable spec (mapping form) of a spec or a Python Hyperopt space."""
    built = build_space(space)
    if isinstance(built, Mapping):
        return {key: _describe(value, f"space.{key}") for key, value in built.items()}
    if built.name == "dict" and not built.pos_args:
        return _describe(built, "space")
    # A bare hp expression is described under its own label.
    label = _root_label(built)
    if label is None:
        raise _error("space", "a bare expression without a label cannot be described; use a dict")
    return {label: _describe(built, f"space.{label}")}


# ---------------------------------------------------------------------------------------------
# Samples and kinds


def flatten_params(sample: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten what ``fmin`` passes to the objective into plain Python values for the model.

    A chosen sub-space (a nested dict) is merged into the top level; colliding keys are an error.
    """
    if not isinstance(sample, Mapping):
        raise _error(
            "params",
            f"expected a mapping of parameters, got {type(sample).__name__}; "
            "make the search space a dict",
        )
    flat: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def merge(mapping: Mapping[str, Any], prefix: str) -> None:
        for key, value in mapping.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                merge(value, where)
                continue
            if key in flat:
                raise _error(
                    "params",
                    f"{origin[key]!r} and {where!r} both flatten to {key!r}; "
                    "rename one of them in the search space",
                )
            flat[key] = _plain(value)
            origin[key] = where

    merge(sample, "")
    return flat


def param_kinds(space: Any) -> dict[str, str]:
    """Map each hyperparameter label to its distribution name ("loguniform", "choice", ...)."""
    built = build_space(space)
    nodes = dfs(as_apply(built))
    kinds: dict[str, str] = {}
    switch_index = {
        id(node.pos_args[0]): "choice"
        if node.pos_args[0].arg["obj"].name == "randint"
        else "pchoice"
        for node in nodes
        if node.name == "switch" and node.pos_args[0].name == "hyperopt_param"
    }
    for node in nodes:
        if node.name == "hyperopt_param":
            kind = switch_index.get(id(node), node.arg["obj"].name)
            kinds[str(node.arg["label"].obj)] = kind
    return kinds


# ---------------------------------------------------------------------------------------------
# Leaves of a described space (what a flattened trial can contain)

_LOG_DISTS = frozenset({"loguniform", "qloguniform", "lognormal", "qlognormal"})
SCALES = ("log", "linear", "categorical", "constant")


@dataclass(frozen=True)
class Leaf:
    """One flat parameter a trial can carry, as ``flatten_params`` names it.

    ``scale`` is ``log`` (log-distributed), ``linear``, ``categorical`` (non-numeric choice
    values) or ``constant``; ``options`` holds choice values or the constant; ``conditional``
    is true when some branch of a ``choice`` leaves it out.
    """

    name: str
    scale: str
    options: tuple[Any, ...] = ()
    conditional: bool = False


def space_leaves(described: Mapping[str, Any]) -> dict[str, Leaf]:
    """The flat parameters of a ``describe_space`` result, in the space's order."""
    return _mapping_leaves(described)


def _mapping_leaves(mapping: Mapping[str, Any]) -> dict[str, Leaf]:
    out: dict[str, Leaf] = {}
    for key, value in mapping.items():
        out.update(_value_leaves(str(key), value))
    return out


def _value_leaves(key: str, value: Any) -> dict[str, Leaf]:
    if not isinstance(value, Mapping):
        return {key: Leaf(key, "constant", (value,))}
    dist = next((k for k in value if k in DISTRIBUTIONS), None)
    if dist is None:  # a sub-space: its keys are merged into the trial's params
        return _mapping_leaves(value)
    if dist not in ("choice", "pchoice"):
        return {key: Leaf(key, "log" if dist in _LOG_DISTS else "linear")}
    options = value[dist] if dist == "choice" else [opt for _, opt in value[dist]]
    branches = [_value_leaves(key, option) for option in options]
    names = list(dict.fromkeys(name for branch in branches for name in branch))
    merged: dict[str, Leaf] = {}
    for name in names:
        found = [branch[name] for branch in branches if name in branch]
        conditional = len(found) < len(branches) or any(leaf.conditional for leaf in found)
        merged[name] = _merge_leaves(name, found, conditional)
    return merged


def _merge_leaves(name: str, leaves: list[Leaf], conditional: bool) -> Leaf:
    options = tuple(dict.fromkeys(o for leaf in leaves for o in leaf.options if _hashable(o)))
    scales = {leaf.scale for leaf in leaves}
    sampled = scales & {"log", "linear"}
    numeric = all(
        o is None or (isinstance(o, numbers.Real) and not isinstance(o, bool)) for o in options
    )
    if sampled and numeric:
        scale = "log" if sampled == {"log"} else "linear"
    elif sampled:
        scale = "categorical"
    elif len(options) <= 1 and scales == {"constant"}:
        scale = "constant"
    else:
        scale = "linear" if numeric and any(o is not None for o in options) else "categorical"
    return Leaf(name, scale, options, conditional or None in options)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
