"""The optimizer loop."""

from tunetrack.search.engine import (
    Objective,
    PastTrial,
    TrialOutcome,
    history_trials,
    run_hyperopt,
)

__all__ = ["Objective", "PastTrial", "TrialOutcome", "history_trials", "run_hyperopt"]
