"""Studies: run one (``tune``), or hold a handle on one (``create_study``, ``load_study``,
``Study.optimize``), with frozen trial records read back from the tracking store.

- ``api``: the notebook functions.  - ``handle``: ``Study``.  - ``records``: trials.
- ``setup``: checked inputs.  - ``runner``: one run end to end.  - ``loop``: ask/submit/
  tell.  - ``resume``: continuing a stored study.
"""

from tunetrack._core import FINISHED_STATES, TrialState
from tunetrack.study.api import create_study, load_study, tune
from tunetrack.study.handle import Study
from tunetrack.study.records import FrozenTrial, TrialRecord, trial_from_run
from tunetrack.study.setup import resolve_config

__all__ = [
    "FINISHED_STATES",
    "FrozenTrial",
    "Study",
    "TrialRecord",
    "TrialState",
    "create_study",
    "load_study",
    "resolve_config",
    "trial_from_run",
    "tune",
]
