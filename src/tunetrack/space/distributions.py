"""Search spaces in an engine-neutral form: int, float, log, step, categorical, conditional.

The hp vocabulary (``space.spec``) is what users write; this is what an engine adapter
reads, and what model families declare their default spaces in (natural units: a
learning rate of 0.05 to 0.3 is ``Float(0.05, 0.3, log=True)``, not Hyperopt's
``loguniform(-3.0, -1.2)``). ``from_spec`` reads a described space (``describe_space``);
``to_spec`` writes the hp mapping form back, so a family's neutral space flows through the
same validation, description and storage as a user's.

A conditional parameter is an option of a ``Categorical`` that is itself a mapping: its
keys exist only when that option is chosen. ``Normal`` (Hyperopt's normal/lognormal
families) is unbounded; an engine without such a distribution refuses or maps it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunetrack.space.leaves import DISTRIBUTION_KEYS

# Log bounds written into the hp form are rounded to this many decimals (a relative
# error of at most 5e-7 in the natural bounds), so a space reads well as YAML and one
# declared as Float(exp(-3), 1, log=True) is written as loguniform(-3, 0), exactly.
_LOG_DECIMALS = 6


@dataclass(frozen=True)
class Float:
    """A real in ``[low, high]``; ``log`` samples its logarithm uniformly; ``step`` rounds
    to multiples of it."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both included), on multiples of ``step``."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class Normal:
    """A normal draw (``log``: its exponential), rounded to ``step`` when given."""

    mu: float
    sigma: float
    log: bool = False
    step: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class Categorical:
    """One of ``options`` (constants or sub-space mappings), with optional ``weights``."""

    options: tuple[Any, ...]
    weights: tuple[float, ...] | None = None


Distribution = Float | Int | Normal | Categorical


def to_spec(space: Mapping[str, Any]) -> dict[str, Any]:
    """The hp mapping form of a neutral space (constants and sub-spaces pass through)."""
    return {key: _node_to_spec(value) for key, value in space.items()}


def _node_to_spec(node: Any) -> Any:
    if isinstance(node, Mapping):
        return to_spec(node)
    if isinstance(node, Categorical):
        options = [_node_to_spec(option) for option in node.options]
        if node.weights is None:
            return {"choice": options}
        return {"pchoice": [[w, o] for w, o in zip(node.weights, options, strict=True)]}
    if isinstance(node, Float | Int):
        type_ = "int" if isinstance(node, Int) else "float"
        if node.log:
            low = round(math.log(node.low), _LOG_DECIMALS)
            high = round(math.log(node.high), _LOG_DECIMALS)
            args: dict[str, Any] = {"low": low, "high": high}
            name = "loguniform"
        else:
            args, name = {"low": node.low, "high": node.high}, "uniform"
        if node.step is not None:
            args["q"] = node.step
            name = f"q{name}"
        elif type_ == "int":
            args["q"], name = 1, f"q{name}"
        return {name: args, "type": type_}
    if isinstance(node, Normal):
        name = "lognormal" if node.log else "normal"
        args = {"mu": node.mu, "sigma": node.sigma}
        if node.step is not None:
            args["q"], name = node.step, f"q{name}"
        return {name: args, "type": "int" if node.integer else "float"}
    return node


def from_spec(described: Mapping[str, Any]) -> dict[str, Any]:
    """The neutral form of a described space (``describe_space``'s JSON)."""
    return {key: _node_from_spec(value) for key, value in described.items()}


def _node_from_spec(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    if "choice" in value:
        return Categorical(tuple(_node_from_spec(o) for o in value["choice"]))
    if "pchoice" in value:
        pairs = value["pchoice"]
        return Categorical(
            tuple(_node_from_spec(o) for _, o in pairs), tuple(float(p) for p, _ in pairs)
        )
    dist = next((key for key in value if key in DISTRIBUTION_KEYS), None)
    if dist is None:
        return from_spec(value)  # a sub-space
    args = value[dist]
    integer = value.get("type") == "int"
    step = args.get("q")
    if dist == "randint":
        return Int(int(args["low"]), int(args["high"]) - 1)
    if dist.endswith("normal"):
        return Normal(args["mu"], args["sigma"], log="log" in dist, step=step, integer=integer)
    log = "log" in dist
    low, high = args["low"], args["high"]
    if log:
        low, high = math.exp(low), math.exp(high)
    if integer:
        return Int(math.ceil(low - 1e-9), math.floor(high + 1e-9), log=log, step=int(step or 1))
    return Float(low, high, log=log, step=step)
