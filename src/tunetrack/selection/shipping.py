"""Ship a chosen trial: refit it, log it as one deployable MLflow model, register it.

The steps live beside this one: ``refit`` (train again, check the logged metric is
reproduced), ``flavor`` (the model run and the pickle-free pyfunc model) and ``registry``
(the model version and its alias). Every check that can fail on bad input runs before
the model run is created, and a failure after that deletes the run.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunetrack._core import FAMILY_KEY
from tunetrack.config import build_config
from tunetrack.data.loaders import Table
from tunetrack.exceptions import ConfigError
from tunetrack.models import get_model
from tunetrack.preparation import StudyData, prepare_study_data
from tunetrack.selection import flavor, registry
from tunetrack.selection.evaluation import Evaluation, evaluate_predictor
from tunetrack.selection.refit import refit, study_tables
from tunetrack.storage import open_storage
from tunetrack.storage.lineage import version_changes
from tunetrack.storage.schema import ROLE_STUDY, ROLE_TRIAL, TAG_PARENT, TAG_ROLE
from tunetrack.study import Study, TrialRecord


@dataclass(frozen=True)
class Shipped:
    """Where the shipped model lives and how its refit scored."""

    model_uri: str  # the logged model (models:/m-...)
    run_id: str  # the model run, nested under the study
    trial: TrialRecord
    metric: str
    logged_value: float  # the trial's metric
    refit_value: float  # the refit booster's metric on the same validation rows
    registered_name: str | None = None
    version: str | None = None
    alias: str | None = None
    previous_version: str | None = None  # where the alias pointed before
    # Libraries whose versions differ from the study's (``xgboost 3.1.0 -> 3.2.0``): the
    # refit reproduced the trial's metric all the same.
    version_changes: tuple[str, ...] = ()
    # The refit's metrics on the test rows (``select --test``); None without them.
    test: Evaluation | None = None

    @property
    def registry_uri(self) -> str | None:
        if self.registered_name is None:
            return None
        if self.alias:
            return f"models:/{self.registered_name}@{self.alias}"
        return f"models:/{self.registered_name}/{self.version}"


def study_of_trial(run_id: str, tracking_uri: str | None = None) -> str:
    """The study run a trial's run belongs to (``select --run-id`` without ``--study``)."""
    run = open_storage(tracking_uri, read_only=True).get_run(run_id)  # one line if unknown
    role = run.tags.get(TAG_ROLE)
    parent = run.tags.get(TAG_PARENT)
    if role != ROLE_TRIAL or not parent:
        what = f"a {role} run" if role else "not a tunetrack run"
        fix = f"--study {run_id} --trial N" if role == ROLE_STUDY else "a trial's run id"
        raise ConfigError(f"run {run_id} is {what}, not a trial; pass {fix}")
    return parent


def study_version_changes(study: Study) -> list[str] | None:
    """Libraries whose versions here differ from those ``study`` recorded (``package
    recorded -> running``); None when it recorded none (tuned before they were)."""
    return version_changes(
        open_storage(study.tracking_uri, read_only=True).get_run(study.run_id).tags
    )


@dataclass(frozen=True)
class RefitData:
    """What every refit of one study reads, read and checked once: the study run's
    params, the library versions that changed since, and the prepared data."""

    run_params: dict[str, str]
    changes: list[str] | None
    prepared: StudyData


def refit_data(
    study: Study,
    train: str | pd.DataFrame | None = None,
    valid: str | pd.DataFrame | None = None,
) -> RefitData:
    """The study's own train and validation rows, prepared as its trials saw them.
    Raises ModelError/DataError (nothing written) when they cannot be read back."""
    study_run = open_storage(study.tracking_uri, read_only=True).get_run(study.run_id)
    run_params = dict(study_run.params)
    config = build_config({**study.config, "space": None})
    sources = flavor.logged_sources(study)
    train_table, valid_table = study_tables(study, config, train, valid, run_params, sources)
    prepared = prepare_study_data(config, train_table, valid_table)
    return RefitData(run_params, version_changes(study_run.tags), prepared)


def ship(
    study: Study,
    trial: TrialRecord,
    *,
    train: str | pd.DataFrame | None = None,
    valid: str | pd.DataFrame | None = None,
    autolog: bool = False,
    register: str | None = None,
    alias: str | None = None,
    policy: str | None = None,
    test: Table | None = None,
    data: RefitData | None = None,
) -> Shipped:
    """Refit ``trial`` once, log it as a pickle-free pyfunc model under a run nested in the
    study, and register it as ``register`` (moving ``alias`` to the new version).

    With ``test`` (a table the caller checked with ``evaluation.labelled_rows``), the
    refit is also scored on those rows and ``test_<metric>`` for every metric of the task
    is logged on the model run. ``data`` reuses what ``refit_data`` read (several refits
    of one study)."""
    if alias is not None and register is None:
        raise ConfigError("--alias needs --register NAME: an alias names a registered model")
    registry.check_names(register, alias)
    family = get_model(str(trial.params.get(FAMILY_KEY, study.model)))
    data = data or refit_data(study, train, valid)

    # Fluent runs (needed by autologging) go to the study's store; the caller's
    # tracking URI setting is restored afterwards, unset if it was unset.
    with (
        flavor.fluent_store(study.tracking_uri),
        tempfile.TemporaryDirectory(prefix="tunetrack-ship-") as tmp,
        flavor.model_run(study, trial, family.name, policy) as run_id,
    ):
        around = flavor.autologging(family.name) if autolog else None
        refitted = refit(
            study,
            trial,
            family,
            data.prepared,
            data.run_params,
            around_fit=around,
            version_changes=data.changes,
        )
        if not autolog:
            flavor.log_params(refitted.params)
        info = flavor.log_model(refitted, Path(tmp), study.metric)
        model_bytes = Path(tmp, "predictor", family.model_file).stat().st_size
        flavor.log_metrics({study.metric: refitted.refit_value, "model_bytes": float(model_bytes)})
        tested = evaluate_predictor(refitted.predictor, test) if test is not None else None
        if tested is not None:
            flavor.log_test(tested)
    shipped = Shipped(
        model_uri=info.model_uri,
        run_id=run_id,
        trial=trial,
        metric=study.metric,
        logged_value=trial.metrics[study.metric],
        refit_value=refitted.refit_value,
        version_changes=tuple(data.changes or ()),
        test=tested,
    )
    if not register:
        return shipped
    return register_shipped(study, shipped, register, alias=alias, policy=policy)


def register_shipped(
    study: Study,
    shipped: Shipped,
    name: str,
    *,
    alias: str | None = None,
    policy: str | None = None,
) -> Shipped:
    """Register a shipped model as a new version of ``name``, pointing ``alias`` at it
    (and saying where the alias pointed before)."""
    previous = registry.previous_version(study.tracking_uri, name, alias) if alias else None
    version = registry.register(
        study,
        shipped.trial,
        model_uri=shipped.model_uri,
        model_run_id=shipped.run_id,
        logged_value=shipped.logged_value,
        name=name,
        alias=alias,
        policy=policy,
    )
    return dataclasses.replace(
        shipped, registered_name=name, version=version, alias=alias, previous_version=previous
    )
