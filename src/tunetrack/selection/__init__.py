"""Choose a trial by its trade-offs, and make it one deployable MLflow model.

- ``policies``: pure choice of a trial (best, pareto, smallest-within); no MLflow.
- ``refit``: train the chosen trial again and check it reproduces the logged metric.
- ``flavor``: the model run under the study and the pickle-free pyfunc model it logs.
- ``registry``: the registered model version, its tags and its alias.
- ``shipping``: ``ship`` runs refit -> flavor -> registry for one trial.
- ``evaluation``: a model's metrics on a table (``evaluate``, and the test rows of
  ``select``).
- ``testing``: ``select`` with test rows: refit the top K, score them, register the
  pick (moving an alias only if it beats the holder).

Selection writes model runs and registers model versions; studies and trials are written
by ``tunetrack.storage``. MLflow is imported only inside the functions that use it.
"""

from __future__ import annotations

from tunetrack.selection.evaluation import Evaluation, ModelEvaluation, evaluate
from tunetrack.selection.flavor import (
    AUTOLOG_FLAVORS,
    MODEL_NAME,
    PACKAGED_MODEL_CODE,
    ROLE_MODEL,
    RUNTIME_PACKAGES,
    TAG_POLICY,
    TAG_STUDY_RUN,
    TAG_TRIAL_RUN,
    pinned_requirements,
)
from tunetrack.selection.policies import (
    COST_METRICS,
    DEFAULT_TOLERANCE,
    POLICIES,
    Candidate,
    Selection,
    choose,
)
from tunetrack.selection.refit import REPRODUCE_TOLERANCE
from tunetrack.selection.shipping import Shipped, ship
from tunetrack.selection.testing import BY, Promotion, select

__all__ = [
    "AUTOLOG_FLAVORS",
    "BY",
    "COST_METRICS",
    "DEFAULT_TOLERANCE",
    "MODEL_NAME",
    "PACKAGED_MODEL_CODE",
    "POLICIES",
    "REPRODUCE_TOLERANCE",
    "ROLE_MODEL",
    "RUNTIME_PACKAGES",
    "TAG_POLICY",
    "TAG_STUDY_RUN",
    "TAG_TRIAL_RUN",
    "Candidate",
    "Evaluation",
    "ModelEvaluation",
    "Promotion",
    "Selection",
    "Shipped",
    "choose",
    "evaluate",
    "pinned_requirements",
    "select",
    "ship",
]
