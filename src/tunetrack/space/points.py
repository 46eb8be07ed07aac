"""Which branches and values of a space a flat point of params came from.

A resumed study tells its engine the trials it ran as flat, typed params (what a trial
stores); an engine needs them in its own terms: which option each choice took and what
each sampled leaf drew. ``match_point`` walks a space tree once for every engine; the
engine says how its tree marks a choice and a leaf (``SpaceShape``). Labels are key
paths, as the engines name parameters: ``booster.1.rate_drop`` is the key ``rate_drop``
inside option 1 of the choice ``booster``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What ``SpaceShape.leaf_value`` returns for a value its leaf could not have drawn.
NO_MATCH = object()


@dataclass(frozen=True)
class SpaceShape:
    """How an engine's space tree marks its nodes.

    ``choice_options(node)``: a choice's options, None for any other node.
    ``is_leaf(node)``: whether the node is sampled (a numeric distribution).
    ``leaf_value(node, value)``: what the engine keeps for ``value`` drawn at that leaf,
    or ``NO_MATCH`` when the leaf could not have drawn it (range, type, step).
    Any other mapping is a sub-space whose keys merge into the flat params; anything else
    is a constant.
    """

    choice_options: Callable[[Any], Sequence[Any] | None]
    is_leaf: Callable[[Any], bool]
    leaf_value: Callable[[Any, Any], Any]


@dataclass
class Match:
    """A point in an engine's terms: ``choices`` maps a choice's label to its node and
    the index of the option taken; ``leaves`` maps a sampled leaf's label to its node and
    ``leaf_value``'s result. Labels of branches not taken appear in neither."""

    choices: dict[str, tuple[Any, int]] = field(default_factory=dict)
    leaves: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def match_point(space: Mapping[str, Any], params: Mapping[str, Any], shape: SpaceShape) -> Match:
    """The branches and leaf values ``params`` (flat, typed) came from.

    Every key of ``params`` must be explained by the branches taken. Of a choice's options
    that fit, the one explaining the most keys wins (an empty option fits anything but
    explains nothing). Raises ValueError when ``params`` are not a point of ``space``.
    """
    match = Match()
    used = _match_mapping(space, "", params, shape, match)
    if used is None or used != set(params):
        raise ValueError(f"params {dict(params)!r} are not a point of the search space")
    return match


def _join(label: str, key: Any) -> str:
    return f"{label}.{key}" if label else str(key)


def _match_mapping(
    node: Mapping[str, Any], label: str, params: Mapping[str, Any], shape: SpaceShape, match: Match
) -> set[str] | None:
    used: set[str] = set()
    for key, child in node.items():
        got = _match(child, _join(label, key), str(key), params, shape, match)
        if got is None:
            return None
        used |= got
    return used


def _match(
    node: Any, label: str, key: str, params: Mapping[str, Any], shape: SpaceShape, match: Match
) -> set[str] | None:
    """Fill ``match`` for the node at ``label`` whose value lands in ``params[key]`` (a
    sub-space's keys merged in); the param keys it explains, None when ``params``
    disagree."""
    options = shape.choice_options(node)
    if options is not None:
        best: tuple[set[str], int, Match] | None = None
        for index, option in enumerate(options):
            tried = Match()
            used = _match(option, f"{label}.{index}", key, params, shape, tried)
            if used is not None and (best is None or len(used) > len(best[0])):
                best = (used, index, tried)
        if best is None:
            return None
        used, index, tried = best
        match.choices.update(tried.choices)
        match.leaves.update(tried.leaves)
        match.choices[label] = (node, index)
        return used
    if shape.is_leaf(node):
        value = shape.leaf_value(node, params.get(key))
        if value is NO_MATCH:
            return None
        match.leaves[label] = (node, value)
        return {key}
    if isinstance(node, Mapping):
        return _match_mapping(node, label, params, shape, match)
    return {key} if key in params and params[key] == node else None
