"""The deployable model's core: recipe + fitted encoder + model, saved without pickle.

Two files make a predictor: the model in its family's own format (XGBoost UBJSON,
LightGBM text, skops for scikit-learn), and one JSON file with the recipe, the encoder's
vocabularies, the family and the task (with its class labels). The MLflow wrapper
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

from tunetrack.data import Recipe, recipe_from_json
from tunetrack.exceptions import DataError
from tunetrack.features import FeatureEncoder
from tunetrack.models import ModelFamily, Task, get_model

PREPROCESS_FILE = "preprocess.json"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Predictor:
    """Raw rows in, predictions out: the recipe's cleaning, the encoder, then the model.

    Regression predicts numbers; classification predicts class labels (as the training
    data spelled them), and :meth:`predict_proba` gives each class's probability.
    """

    recipe: Recipe
    encoder: FeatureEncoder
    family: ModelFamily
    task: Task
    model: Any

    @property
    def input_columns(self) -> tuple[str, ...]:
        return self.recipe.features

    def predict(self, rows: Any) -> np.ndarray:
        """One prediction per input row; ``rows`` is a DataFrame, a dict or a list of dicts.

        Extra columns are ignored, so raw files and filtered tables both work.
        """
        raw = self._raw(rows)
        if not self.task.is_classification:
            return raw
        labels = np.empty(len(raw), dtype=object)
        labels[:] = [self.task.classes[i] for i in raw.argmax(axis=1)] if len(raw) else []
        return labels

    def predict_proba(self, rows: Any) -> pd.DataFrame:
        """Classification only: one column per class label, rows summing to 1."""
        if not self.task.is_classification:
            raise DataError("predict_proba needs a classification model; use predict")
        return pd.DataFrame(self._raw(rows), columns=[str(c) for c in self.task.classes])

    def _raw(self, rows: Any) -> np.ndarray:
        frame = as_frame(rows, self.input_columns)
        features = self.recipe.prepare(frame, role="predict", with_target=False)
        if len(features) == 0:
            width = (0, self.task.n_classes) if self.task.is_classification else (0,)
            return np.empty(width, dtype="float64")
        encoded = self.encoder.transform(features)
        self.family.check_input(encoded, self.encoder.feature_names, "predict")
        return self.family.predict(self.model, encoded, self.task)

    def save(self, directory: str | os.PathLike[str]) -> dict[str, str]:
        """Write the two files into ``directory``; returns MLflow's ``artifacts`` mapping."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        model_path = out / self.family.model_file
        self.family.save(self.model, model_path)
        meta = {
            "format_version": FORMAT_VERSION,
            "family": self.family.name,
            "task": self.task.to_json(),
            "recipe": self.recipe.to_json(),
            "encoder": self.encoder.to_json(),
        }
        (out / PREPROCESS_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return {"model": str(model_path), "preprocess": str(out / PREPROCESS_FILE)}

    @classmethod
    def load(cls, model_path: str | os.PathLike[str], preprocess_path: str) -> Predictor:
        meta = json.loads(Path(preprocess_path).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{preprocess_path} has format version {meta.get('format_version')!r}, this "
                f"tunetrack reads {FORMAT_VERSION}; load the model with a matching tunetrack"
            )
        family = get_model(meta["family"])
        return cls(
            recipe=recipe_from_json(meta["recipe"]),
            encoder=FeatureEncoder.from_json(meta["encoder"]),
            family=family,
            task=Task.from_json(meta["task"]),
            model=family.load(Path(model_path)),
        )


def as_frame(rows: Any, columns: Sequence[str] = ()) -> pd.DataFrame:
    """A DataFrame from a DataFrame, one dict, or a list of dicts (JSON records)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    is_records = isinstance(rows, Sequence) and not isinstance(rows, str | bytes)
    if is_records and all(isinstance(r, Mapping) for r in rows):
        return pd.DataFrame(list(rows))
    needs = f" with {', '.join(columns)}" if columns else ""
    raise DataError(
        f"cannot predict from {type(rows).__name__}; pass a DataFrame or a list of dicts{needs}"
    )
