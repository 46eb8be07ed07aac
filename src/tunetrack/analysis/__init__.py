"""Analysis of trials as pure functions, shared by the report and model selection."""

from tunetrack.analysis.pareto import pareto_mask

__all__ = ["pareto_mask"]
