"""The deployable model's core: recipe + fitted encoder + booster, saved without pickle.

Three files make a predictor: the booster in XGBoost's own UBJSON format, and one JSON
file with the recipe name and the encoder's vocabularies. The MLflow wrapper
(``packaged_model.py``) only loads these and calls :meth:`Predictor.predict`, so the
same code scores rows in a notebook, in ``tunetrack predict`` and behind a server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.data import Recipe, get_recipe
from tunetrack.exceptions import DataError
from tunetrack.features import FeatureEncoder

BOOSTER_FILE = "booster.ubj"
PREPROCESS_FILE = "preprocess.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Predictor:
    """Raw rows in, minutes out: the recipe's cleaning, the encoder, then the booster."""

    recipe: Recipe
    encoder: FeatureEncoder
    booster: Any

    @property
    def input_columns(self) -> tuple[str, ...]:
        return self.recipe.features

    def predict(self, rows: Any) -> np.ndarray:
        """One prediction per input row; ``rows`` is a DataFrame, a dict or a list of dicts.

        Extra columns are ignored, so raw monthly files and filtered tables both work.
        """
        from tunetrack.models import xgboost as xgb_model

        frame = as_frame(rows)
        features = self.recipe.prepare(frame, role="predict", with_target=False)
        if len(features) == 0:
            return np.empty(0, dtype="float64")
        return xgb_model.predict(self.booster, self.encoder.transform(features))

    def save(self, directory: str | os.PathLike[str]) -> dict[str, str]:
        """Write the two files into ``directory``; returns MLflow's ``artifacts`` mapping."""
        from tunetrack.models import xgboost as xgb_model

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        xgb_model.save_booster(self.booster, out / BOOSTER_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "recipe": self.recipe.name,
            "encoder": self.encoder.to_json(),
        }
        (out / PREPROCESS_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return {"booster": str(out / BOOSTER_FILE), "preprocess": str(out / PREPROCESS_FILE)}

    @classmethod
    def load(cls, booster_path: str | os.PathLike[str], preprocess_path: str) -> Predictor:
        from tunetrack.models import xgboost as xgb_model

        meta = json.loads(Path(preprocess_path).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{preprocess_path} has format version {meta.get('format_version')!r}, this "
                f"tunetrack reads {FORMAT_VERSION}; load the model with a matching tunetrack"
            )
        return cls(
            recipe=get_recipe(meta["recipe"]),
            encoder=FeatureEncoder.from_json(meta["encoder"]),
            booster=xgb_model.load_booster(booster_path),
        )


def as_frame(rows: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, one dict, or a list of dicts (JSON records)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    is_records = isinstance(rows, Sequence) and not isinstance(rows, str | bytes)
    if is_records and all(isinstance(r, Mapping) for r in rows):
        return pd.DataFrame(list(rows))
    raise DataError(
        f"cannot predict from {type(rows).__name__}; pass a DataFrame or a list of dicts "
        "with PULocationID, DOLocationID and trip_distance"
    )
