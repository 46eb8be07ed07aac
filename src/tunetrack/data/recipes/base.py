"""What every recipe is: a table in, exactly the feature columns and the target out.

A recipe owns what "clean" means for its data set (which rows are kept, how IDs are
spelled), so the train and validation months and later prediction inputs all pass
through the same rules.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import pandas as pd

_SHOWN_COLUMNS = 8


class Recipe(abc.ABC):
    """How one kind of table becomes model input: feature columns plus a target."""

    name: str
    target: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.categorical, *self.numeric)

    def to_json(self) -> dict[str, Any]:
        """What a packaged model stores to rebuild this recipe."""
        return {"name": self.name}

    @abc.abstractmethod
    def prepare(
        self, frame: pd.DataFrame, *, role: str = "train", with_target: bool = True
    ) -> pd.DataFrame:
        """A new frame with exactly the feature columns (and the target, if asked)."""


def shown_columns(columns: Sequence[object]) -> str:
    names = [str(c) for c in columns]
    if not names:
        return "no columns"
    shown = ", ".join(names[:_SHOWN_COLUMNS])
    extra = len(names) - _SHOWN_COLUMNS
    return f"{shown}, ... {extra} more" if extra > 0 else shown
