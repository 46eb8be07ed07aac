"""Refit a chosen trial and check that it reproduces the metric the trial logged.

The refit reads the study's own train and validation rows again (checked against the
sha256 digests the study logged), trains the trial's family once with its exact params
and kept rounds, and scores both the refit and the packaged path (raw rows -> recipe ->
encoder -> model) against the trial's logged metric. Nothing here talks to MLflow: the
caller passes in where the study's data came from and a context to fit inside (MLflow
autologging, say), and logs what the refit returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunetrack._core import FAMILY_KEY
from tunetrack.config import StudyConfig
from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, read_table
from tunetrack.data.loaders import DATAFRAME_SOURCE, Table, frame_digest
from tunetrack.exceptions import ModelError
from tunetrack.metrics import score
from tunetrack.models import ModelFamily
from tunetrack.predictor import Predictor
from tunetrack.preparation import StudyData, model_names, split, splits_train
from tunetrack.study import Study, TrialRecord
from tunetrack.study.setup import tuned_values

# A refit is the same computation as the trial; allow only float noise in the metric.
REPRODUCE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Refit:
    """The refit model, its score on the validation rows, and what it trained with."""

    predictor: Predictor
    refit_value: float
    example: pd.DataFrame  # a few raw input rows (the logged model's input example)
    params: dict[str, Any]  # fixed params, the trial's params and (boosted) the rounds


def study_tables(
    study: Study,
    config: StudyConfig,
    train: str | pd.DataFrame | None,
    valid: str | pd.DataFrame | None,
    run_params: Mapping[str, str],
    sources: Mapping[str, str | None],
) -> tuple[Table, Table]:
    """The study's train and validation tables, read (or split) as the study did.

    ``sources`` maps ``train``/``valid`` to the source the study run logged for it
    (``DATAFRAME_SOURCE`` for an in-memory frame, None when nothing was logged).
    """
    train_table = _study_table(study, "train", train, run_params, sources.get("train"))
    data = config.data
    if not splits_train(data, valid_given=valid is not None or data.valid is not None):
        return train_table, _study_table(study, "valid", valid, run_params, sources.get("valid"))
    train_part, valid_table, _ = split(train_table, data, config.search.seed)
    expected = run_params.get("data.valid_sha256")
    if expected and expected != valid_table.digest:
        # A classification study tuned before random splits kept each class's share.
        train_part, valid_table, _ = split(train_table, data, config.search.seed, by_class=False)
    if expected and expected != valid_table.digest:
        raise ModelError(
            f"splitting {train_table.source} again does not give study {study.run_id}'s "
            "validation rows (sha256 differs); pass --train with the study's original file"
        )
    return train_part, valid_table


def _study_table(
    study: Study,
    role: str,
    override: str | pd.DataFrame | None,
    run_params: Mapping[str, str],
    logged: str | None,
) -> Table:
    """The study's own train/valid data, checked against the digest it logged."""
    flag = f"--{role} PATH"
    if override is not None:
        table = read_table(override, role=role)
    else:
        configured = (study.config.get("data") or {}).get(role)
        if logged == DATAFRAME_SOURCE:
            raise ModelError(
                f"study {study.run_id} was tuned on an in-memory DataFrame, so its {role} "
                f"data cannot be read back; pass {flag} with the same rows"
            )
        if configured is None:
            source: Any = bundled_path(BUNDLED_TRAIN if role == "train" else BUNDLED_VALID)
        elif Path(configured).exists() or logged is None:
            source = configured
        else:
            source = logged  # the absolute path, when the study ran from another directory
        table = read_table(source, role=role)
    expected = run_params.get(f"data.{role}_sha256")
    if expected and expected not in (table.digest, frame_digest(table.frame)):
        raise ModelError(
            f"the {role} data {table.source} is not what study {study.run_id} was tuned on "
            f"(sha256 differs); pass {flag} with the study's original {role} file"
        )
    return table


def refit(
    study: Study,
    trial: TrialRecord,
    family: ModelFamily,
    prepared: StudyData,
    run_params: Mapping[str, str],
    *,
    around_fit: AbstractContextManager[Any] | None = None,
    version_changes: Sequence[str] | None = None,
) -> Refit:
    """The trial's exact training run again (its params, its kept rounds), then a check
    that both the refit and the packaged path score what the trial logged.

    ``around_fit`` is entered for the fit alone (e.g. MLflow autologging).
    ``version_changes`` lists the libraries whose versions differ from the study's
    (``package recorded -> running``; None when the study recorded none), so a failed
    check can say which cause it points to. Raises ModelError when either score differs
    from the trial's beyond float noise.
    """
    config = study.config
    task = prepared.task
    fixed = dict(config["model"].get("params") or {})
    # The study's own training structures: the same matrix kind its trials trained on.
    tuned = tuned_values(study.search_space, model_names(str(config["model"]["name"])))
    data = family.prepare(
        prepared.x_train(),
        prepared.y_train,
        prepared.x_valid(),
        prepared.y_valid,
        task,
        fixed_params=fixed,
        tuned=tuned.get(family.name, {}),
    )
    params = {k: v for k, v in trial.params.items() if k != FAMILY_KEY}
    best_iteration = trial.value("best_iteration")
    rounds = int(config["model"]["num_boost_round"])
    if family.boosted and best_iteration is not None:
        rounds = int(best_iteration) + 1
    nthread = run_params.get("nthread")
    if family.name == "xgboost" and nthread and nthread.isdigit():
        fixed.setdefault("nthread", int(nthread))  # the trials' threads: same floating sums
    with around_fit if around_fit is not None else nullcontext():
        fit = family.fit(
            params, data, num_boost_round=rounds, early_stopping_rounds=None, fixed_params=fixed
        )

    predictor = Predictor(prepared.recipe, prepared.encoder, family, task, fit.model)
    metric = study.metric
    logged = trial.metrics[metric]
    refit_value = score(task, prepared.y_valid, fit.predictions)[metric]
    packaged = (
        predictor.predict_proba(prepared.valid).to_numpy()
        if task.is_classification
        else (predictor.predict(prepared.valid))
    )
    raw_value = score(task, prepared.y_valid, packaged)[metric]
    for what, value in (("refit", refit_value), ("packaged model", raw_value)):
        if abs(value - logged) > REPRODUCE_TOLERANCE * max(1.0, abs(logged)):
            raise ModelError(
                f"the {what} scores {metric} {value:.9g} but trial {trial.number} logged "
                f"{logged:.9g}; {_likely_cause(version_changes)}"
            )
    example = prepared.valid[list(prepared.recipe.features)].head(3).reset_index(drop=True)
    trained = {**fixed, **params, **({"num_boost_round": rounds} if family.boosted else {})}
    return Refit(predictor=predictor, refit_value=refit_value, example=example, params=trained)


def _likely_cause(version_changes: Sequence[str] | None) -> str:
    """What a refit that does not reproduce points to, and the fix."""
    if version_changes:
        return (
            f"the libraries differ from the study's ({', '.join(version_changes)}), so "
            "install the study's versions or re-run the study with these"
        )
    if version_changes is None:
        return (
            "the data or library versions differ from the study's (it recorded no "
            "versions), so pass the study's original --train/--valid files or re-run it"
        )
    return (
        "the libraries are the versions the study recorded, so the data differ: pass the "
        "study's original --train/--valid files or re-run the study"
    )
