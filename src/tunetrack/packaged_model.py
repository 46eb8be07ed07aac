"""MLflow models-from-code wrapper for a tunetrack model (this file is logged as the code).

MLflow executes this file when the model is loaded; nothing is unpickled. The wrapper
reads the model (in its family's own format) and the preprocessing (JSON) from the model's
artifacts and hands raw rows to :class:`tunetrack.predictor.Predictor`. Do not import
this module from tunetrack: it registers itself with ``mlflow.models.set_model``.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class TunetrackModel(PythonModel):
    """Raw rows (DataFrame or list of dicts) in, predictions (numbers or labels) out."""

    def load_context(self, context):
        from tunetrack.predictor import Predictor

        self._predictor = Predictor.load(
            context.artifacts["model"], context.artifacts["preprocess"]
        )

    @property
    def predictor(self):
        """The loaded predictor: ``tunetrack evaluate`` scores a table with it directly."""
        return self._predictor

    # A DataFrame hint tells MLflow not to infer a schema from it. The logged signature
    # names the input columns (each typed Any, so any numeric dtype gets through); the
    # recipe checks and converts their values.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return self._predictor.predict(model_input)


mlflow.models.set_model(TunetrackModel())
