"""Describing a built space as JSON (the study's ``search_space.json`` artifact) and
naming each hyperparameter's distribution.

The JSON form is the hp vocabulary's mapping form (``{"quniform": {"low": 4, "high": 100,
"q": 1}, "type": "int"}``); ``build_space`` reads it back to the same space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hyperopt.pyll import Apply, Literal, as_apply, dfs
from hyperopt.pyll.base import MissingArgument

from tunetrack.space.grammar import _ARGS, _TYPES, _error, _is_json_like
from tunetrack.space.leaves import plain_value as _plain
from tunetrack.space.spec import build_space


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
