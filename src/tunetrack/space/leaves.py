"""The flat parameters a trial of a described space can carry, and how to show them.

Pure: reads the JSON form ``spec.describe_space`` returns (no Hyperopt), so the report,
the MLflow UI flattening and any engine can use it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunetrack.exceptions import SearchSpaceError

# The distribution names of the hp vocabulary (spec.DISTRIBUTIONS; repeated here so this
# module needs no Hyperopt).
DISTRIBUTION_KEYS = frozenset(
    {"uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal",
     "qlognormal", "randint", "choice", "pchoice"}
)  # fmt: skip

_LOG_DISTS = frozenset({"loguniform", "qloguniform", "lognormal", "qlognormal"})
SCALES = ("log", "linear", "categorical", "constant")


@dataclass(frozen=True)
class Leaf:
    """One flat parameter a trial can carry, as ``flatten_params`` names it.

    ``scale`` is ``log`` (log-distributed), ``linear``, ``categorical`` (non-numeric choice
    values) or ``constant``; ``options`` holds choice values or the constant; ``conditional``
    is true when some branch of a ``choice`` leaves it out. A None option is a value the
    parameter takes (``nullable``), not an absence: ``max_depth: choice([None, ...])`` is
    never conditional.
    """

    name: str
    scale: str
    options: tuple[Any, ...] = ()
    conditional: bool = False

    @property
    def nullable(self) -> bool:
        return None in self.options


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
    dist = next((k for k in value if k in DISTRIBUTION_KEYS), None)
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
    return Leaf(name, scale, options, conditional)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def plain_value(value: Any) -> Any:
    """Numpy scalars/arrays and tuples -> plain Python values (recursively)."""
    if isinstance(value, np.ndarray):
        return [plain_value(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain_value(item) for key, item in value.items()}
    return value


def flatten_params(sample: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a sampled (nested) point of a space into plain Python values for the model.

    A chosen sub-space (a nested dict) is merged into the top level; colliding keys are an error.
    """
    if not isinstance(sample, Mapping):
        raise SearchSpaceError(
            "params: "
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
                raise SearchSpaceError(
                    "params: "
                    f"{origin[key]!r} and {where!r} both flatten to {key!r}; "
                    "rename one of them in the search space",
                )
            flat[key] = plain_value(value)
            origin[key] = where

    merge(sample, "")
    return flat
