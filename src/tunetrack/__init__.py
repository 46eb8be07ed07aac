"""tunetrack: tune tabular models with Hyperopt and track every trial in MLflow."""

from __future__ import annotations

from tunetrack.config import StudyConfig, build_config, load_config
from tunetrack.exceptions import (
    ConfigError,
    DataError,
    ModelError,
    SearchSpaceError,
    StudyFailedError,
    TrackingError,
    TunetrackError,
)
from tunetrack.selection import Selection, Shipped, choose, select, ship
from tunetrack.serving import load_model, predict_file
from tunetrack.study import Study, TrialRecord, load_study
from tunetrack.tuner import tune

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "SearchSpaceError",
    "Selection",
    "Shipped",
    "Study",
    "StudyConfig",
    "StudyFailedError",
    "TrackingError",
    "TrialRecord",
    "TunetrackError",
    "__version__",
    "build_config",
    "choose",
    "load_config",
    "load_model",
    "load_study",
    "predict_file",
    "select",
    "ship",
    "tune",
]
