"""The optimizer loop."""

from tunetrack.search.engine import (
    Objective,
    PastTrial,
    TrialOutcome,
    check_algorithm,
    history_trials,
    run_hyperopt,
)

__all__ = [
    "Objective",
    "PastTrial",
    "TrialOutcome",
    "check_algorithm",
    "history_trials",
    "run_hyperopt",
]
