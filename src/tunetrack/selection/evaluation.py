"""Score a model on a table it never trained on: ``select --test`` and ``tunetrack evaluate``.

Raw rows go through the model's own recipe (its cleaning and row filters) and encoder,
as ``predict`` sends them, and the task's metrics are computed on the rows the recipe
keeps (``metrics.score``: every metric a trial logs). A table is checked in full before
anything is written, so a bad one is a one-line error with the store unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunetrack.data import Recipe, read_table
from tunetrack.data.loaders import Table
from tunetrack.data.target import encode_target
from tunetrack.exceptions import DataError
from tunetrack.metrics import score
from tunetrack.models import Task
from tunetrack.predictor import Predictor
from tunetrack.selection import registry

TableLike = str | os.PathLike[str] | pd.DataFrame


@dataclass(frozen=True)
class Evaluation:
    """A model's metrics on a table: ``rows`` scored of ``read`` (the recipe left out
    the rest, e.g. trips outside 1-60 minutes), and which table (source, sha256)."""

    metrics: Mapping[str, float]
    rows: int
    read: int
    source: str
    sha256: str

    @property
    def left_out(self) -> int:
        return self.read - self.rows


@dataclass(frozen=True)
class ModelEvaluation:
    """``evaluate``'s answer: the model, its metrics on the table and, with ``log``, the
    run they were logged to (linked to the model)."""

    model: registry.ModelSource
    evaluation: Evaluation
    run_id: str | None = None
    metrics: Mapping[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", dict(self.evaluation.metrics))


def read_test_table(source: TableLike, role: str = "test") -> Table:
    """The table (path, URL or DataFrame); DataError when it cannot be read."""
    return read_table(source, role=role)


def labelled_rows(
    recipe: Recipe, task: Task, table: Table, role: str = "test"
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows a model's recipe keeps, with their targets as a model of ``task`` scores
    them (values, or class codes).

    Raises DataError, naming the table, for missing columns, a target that does not fit
    the task (a class the training rows lack, text for a number) or no usable row."""
    rows = recipe.prepare(table.frame, role=role)  # the recipe names missing columns
    if len(rows) == 0:
        raise DataError(
            f"{role} data {table.source} has no usable row for this model ({len(table.frame)} "
            f"read, all left out by the {recipe.name} recipe); pass a table with rows to score"
        )
    target = encode_target(rows[recipe.target], task, role, recipe.target)
    return rows, target


def evaluate_predictor(predictor: Predictor, table: Table, role: str = "test") -> Evaluation:
    """Every metric of the model's task on ``table`` (see the module docstring)."""
    rows, target = labelled_rows(predictor.recipe, predictor.task, table, role)
    if predictor.task.is_classification:
        predicted = predictor.predict_proba(rows).to_numpy()
    else:
        predicted = predictor.predict(rows)
    metrics = score(predictor.task, target, predicted)
    return Evaluation(
        metrics=metrics,
        rows=len(rows),
        read=len(table.frame),
        source=table.source,
        sha256=table.digest,
    )


def evaluate(
    model_uri: str,
    table: TableLike,
    *,
    log: bool = False,
    tracking_uri: str | None = None,
) -> ModelEvaluation:
    """The metrics of a tunetrack model (``models:/NAME@ALIAS``, ``models:/NAME/3``,
    ``runs:/RUN_ID/tunetrack-model``, ``models:/m-...``) on ``table`` (path, URL or
    DataFrame), raw rows through the model's own recipe and encoder.

    With ``log``, the metrics go to a new run in the experiment of the run that logged the
    model, linked to the model (MLflow's ``model_id``) and tagged with its URI, name and
    version. Raises ModelError for a URI that does not load a tunetrack model, DataError
    for a table the model cannot score; nothing is written then.
    """
    data = read_test_table(table, role="evaluation")
    predictor = registry.load_predictor(model_uri, tracking_uri)
    source = registry.model_source(model_uri, tracking_uri)
    evaluation = evaluate_predictor(predictor, data, role="evaluation")
    run_id = registry.log_evaluation(source, evaluation, tracking_uri) if log else None
    return ModelEvaluation(model=source, evaluation=evaluation, run_id=run_id)
