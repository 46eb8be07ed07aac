"""The optimizer loop."""

from tunetrack.search.engine import ALGORITHMS, Objective, TrialOutcome, run_hyperopt

__all__ = ["ALGORITHMS", "Objective", "TrialOutcome", "run_hyperopt"]
