"""One search over several model families: Hyperopt's conditional spaces.

The space is a ``choice`` whose options are the families' own default spaces, each
tagged with a constant ``family`` key. TPE then picks the family and its parameters
together, and a trial's flattened params say which family it trained (``family``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunetrack._core import FAMILY_KEY as FAMILY_KEY
from tunetrack.exceptions import ConfigError
from tunetrack.models.base import CLASSIFICATION, REGRESSION, Task

# The label of the family choice in a combined space (what the report shows).
CHOICE_LABEL = "model"


def task_of(task: Task | str) -> Task:
    """A Task from a Task or a config value; "auto" (not yet decided) reads as regression."""
    if isinstance(task, Task):
        return task
    return Task(CLASSIFICATION if task == CLASSIFICATION else REGRESSION)


def default_space_for(
    names: Sequence[str], task: Task | str, encoding: str = "native"
) -> dict[str, Any]:
    """The default space for one family, or a choice across several."""
    from tunetrack.models import get_model

    task = task_of(task)
    if len(names) == 1:
        return dict(get_model(names[0]).default_space(task, encoding))
    branches = [
        {FAMILY_KEY: name, **dict(get_model(name).default_space(task, encoding))} for name in names
    ]
    return {CHOICE_LABEL: {"choice": branches}}


def family_branches(described: Mapping[str, Any], names: Sequence[str]) -> dict[str, set[str]]:
    """Parameter names per family in a described space; one family owns a plain space.

    A cross-family space must be a ``choice`` of sub-spaces that each name their
    ``family``; anything else is a one-line ConfigError before any write.
    """
    if len(names) == 1:
        return {names[0]: set(_leaf_names(described)) - {FAMILY_KEY}}
    branches: dict[str, set[str]] = {}
    for key, value in described.items():
        options = value.get("choice") if isinstance(value, Mapping) else None
        if not isinstance(options, list) or not all(
            isinstance(o, Mapping) and FAMILY_KEY in o for o in options
        ):
            raise ConfigError(
                f"space.{key} sits outside the family branches, but with several families "
                f"(model.name {', '.join(names)}) every parameter belongs to one family's "
                f"branch: a choice of sub-spaces that each set '{FAMILY_KEY}: NAME'; write "
                "the space in a YAML config"
            )
        for option in options:
            if isinstance(option, Mapping) and FAMILY_KEY in option:
                family = str(option[FAMILY_KEY])
                if family not in names:
                    raise ConfigError(
                        f"the space has a branch for family {family!r}, which model.name "
                        f"({', '.join(names)}) does not list; add it to model.name or drop "
                        "the branch"
                    )
                branches.setdefault(family, set()).update(set(_leaf_names(option)) - {FAMILY_KEY})
    return branches


def family_spaces(
    described: Mapping[str, Any], names: Sequence[str]
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(family, path, the part of the space its trials draw from) for each family branch
    of a space ``family_branches`` accepted; one family owns a plain space."""
    if len(names) == 1:
        return [(names[0], "space", described)]
    return [
        (str(option[FAMILY_KEY]), f"space.{key}.choice[{i}]", option)
        for key, value in described.items()
        for i, option in enumerate(value["choice"])
    ]


def _leaf_names(described: Mapping[str, Any]) -> Iterable[str]:
    from tunetrack.space import space_leaves

    return space_leaves(described).keys()
