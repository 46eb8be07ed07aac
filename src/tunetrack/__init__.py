"""tunetrack: tune tabular models and track every trial in MLflow.

The public names load lazily (PEP 562), so ``import tunetrack`` stays cheap: MLflow,
Hyperopt, XGBoost and pandas are imported by the first call that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "ConfigError": "tunetrack.exceptions",
    "DataError": "tunetrack.exceptions",
    "ModelError": "tunetrack.exceptions",
    "SearchSpaceError": "tunetrack.exceptions",
    "StudyFailedError": "tunetrack.exceptions",
    "TrackingError": "tunetrack.exceptions",
    "TunetrackError": "tunetrack.exceptions",
    "StudyConfig": "tunetrack.config",
    "build_config": "tunetrack.study.setup",
    "load_config": "tunetrack.study.setup",
    "TrialState": "tunetrack._core",
    "Study": "tunetrack.study",
    "TrialRecord": "tunetrack.study",
    "FrozenTrial": "tunetrack.study",
    "create_study": "tunetrack.study",
    "load_study": "tunetrack.study",
    "tune": "tunetrack.study",
    "Selection": "tunetrack.selection",
    "Shipped": "tunetrack.selection",
    "choose": "tunetrack.selection",
    "select": "tunetrack.selection",
    "ship": "tunetrack.selection",
    "evaluate": "tunetrack.selection",
    "load_model": "tunetrack.serving",
    "predict_file": "tunetrack.serving",
}

__all__ = [
    "ConfigError",
    "DataError",
    "FrozenTrial",
    "ModelError",
    "SearchSpaceError",
    "Selection",
    "Shipped",
    "Study",
    "StudyConfig",
    "StudyFailedError",
    "TrackingError",
    "TrialRecord",
    "TrialState",
    "TunetrackError",
    "__version__",
    "build_config",
    "choose",
    "create_study",
    "evaluate",
    "load_config",
    "load_model",
    "load_study",
    "predict_file",
    "select",
    "ship",
    "tune",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tunetrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and IDEs see
    from tunetrack._core import TrialState
    from tunetrack.config import StudyConfig
    from tunetrack.exceptions import (
        ConfigError,
        DataError,
        ModelError,
        SearchSpaceError,
        StudyFailedError,
        TrackingError,
        TunetrackError,
    )
    from tunetrack.selection import Selection, Shipped, choose, evaluate, select, ship
    from tunetrack.serving import load_model, predict_file
    from tunetrack.study import FrozenTrial, Study, TrialRecord, create_study, load_study, tune
    from tunetrack.study.setup import build_config, load_config
