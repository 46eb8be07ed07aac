"""Turn a recipe's prepared frame into model input, with vocabularies fitted on train only.

Two encodings:
- ``native``: each categorical column becomes a pandas category over the training
  vocabulary (unseen values become missing), numeric columns stay as they are. Tree
  models with native categorical support split on these directly.
- ``onehot``: the tutorial's encoding: a sparse matrix with one column per categorical
  value beside the numeric columns, as ``DictVectorizer`` does. With ``cross`` (the taxi
  recipe) the categorical columns are first crossed into one value (``PU_DO`` =
  ``"43_151"``), as the tutorial does.

The fitted state is plain JSON so a packaged model can carry it without pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tunetrack.config import ENCODINGS
from tunetrack.exceptions import ConfigError

CROSS_SEPARATOR = "_"


@dataclass(frozen=True)
class FeatureEncoder:
    """A fitted encoder: which columns, which encoding, and the training vocabularies."""

    encoding: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    vocabulary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cross: bool = True

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        encoding: str,
        categorical: Sequence[str],
        numeric: Sequence[str],
        cross: bool = True,
    ) -> FeatureEncoder:
        if encoding not in ENCODINGS:
            raise ConfigError(
                f"unknown features.encoding {encoding!r}; choose one of: {', '.join(ENCODINGS)}"
            )
        categorical, numeric = tuple(categorical), tuple(numeric)
        if encoding == "onehot" and categorical and cross:
            values = _cross(frame, categorical)
            vocabulary = {_cross_name(categorical): _sorted_unique(values)}
        else:
            vocabulary = {col: _sorted_unique(frame[col]) for col in categorical}
        return cls(encoding, categorical, numeric, vocabulary, cross)

    @property
    def _onehot_groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """(vocabulary name, source columns) per one-hot block."""
        if not self.categorical:
            return []
        if self.cross:
            return [(_cross_name(self.categorical), self.categorical)]
        return [(col, (col,)) for col in self.categorical]

    @property
    def feature_names(self) -> list[str]:
        if self.encoding == "native":
            return [*self.categorical, *self.numeric]
        names = [
            f"{name}={value}" for name, _ in self._onehot_groups for value in self.vocabulary[name]
        ]
        return names + list(self.numeric)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame | sp.csr_matrix:
        """Encode rows; values not seen in training become missing (native) or all-zero."""
        if self.encoding == "native":
            return self._native(frame)
        return self._onehot(frame)

    def _native(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for col in self.categorical:
            vocabulary = pd.Index(self.vocabulary[col])
            codes = vocabulary.get_indexer(frame[col].astype("string"))
            columns[col] = pd.Categorical.from_codes(codes, categories=vocabulary)
        for col in self.numeric:
            columns[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
        return pd.DataFrame(columns, index=frame.index)

    def _onehot(self, frame: pd.DataFrame) -> sp.csr_matrix:
        n_rows = len(frame)
        blocks: list[sp.csr_matrix] = []
        for name, columns in self._onehot_groups:
            vocabulary = pd.Index(self.vocabulary[name])
            codes = vocabulary.get_indexer(_cross(frame, columns))
            known = codes >= 0
            blocks.append(
                sp.csr_matrix(
                    (np.ones(int(known.sum())), (np.flatnonzero(known), codes[known])),
                    shape=(n_rows, len(vocabulary)),
                )
            )
        if self.numeric:
            dense = np.column_stack(
                [
                    pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64")
                    for c in self.numeric
                ]
            )
            blocks.append(sp.csr_matrix(dense))
        return sp.hstack(blocks, format="csr")

    def to_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
            "vocabulary": {k: list(v) for k, v in self.vocabulary.items()},
            "cross": self.cross,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureEncoder:
        return cls(
            encoding=data["encoding"],
            categorical=tuple(data["categorical"]),
            numeric=tuple(data["numeric"]),
            vocabulary={k: tuple(v) for k, v in data["vocabulary"].items()},
            cross=bool(data.get("cross", True)),
        )


def _cross_name(columns: Sequence[str]) -> str:
    """The tutorial's name for the crossed pickup/dropoff feature is ``PU_DO``."""
    short = [c.removesuffix("LocationID") or c for c in columns]
    return CROSS_SEPARATOR.join(short)


def _cross(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    crossed = frame[columns[0]].astype("string")
    for col in columns[1:]:
        crossed = crossed + CROSS_SEPARATOR + frame[col].astype("string")
    return crossed


def _sorted_unique(values: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(values.dropna().astype(str).unique()))
