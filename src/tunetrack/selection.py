"""Choose a trial by its trade-offs, and make it one deployable MLflow model.

Policies (lexicographic objectives with a tolerance, the FLAML idea):
- ``best``: the lowest metric.
- ``smallest-within``: among trials within ``tolerance`` (relative) of the best metric,
  the smallest model, then the fastest to fit.
- ``pareto``: the Pareto front over (metric, fit_seconds, model_bytes); among its members
  within the tolerance, the most balanced one: the lowest geometric mean of each
  objective's ratio to that set's minimum.

Selecting is pure (a Study in, a Selection out). Shipping refits the chosen trial once
with its exact params and rounds, checks the refit reproduces the logged metric, logs a
pickle-free pyfunc model (models-from-code) and optionally registers it under an alias.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.config import StudyConfig, build_config
from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, read_table
from tunetrack.data.loaders import DATAFRAME_SOURCE, Table, frame_digest
from tunetrack.exceptions import ConfigError, ModelError, first_line
from tunetrack.metrics import score
from tunetrack.models import FAMILY_KEY, ModelFamily, get_model
from tunetrack.predictor import Predictor
from tunetrack.preparation import StudyData, prepare_study_data, split, splits_train
from tunetrack.report.data import pareto_mask
from tunetrack.study import Study, TrialRecord
from tunetrack.tracking import TAG_PARENT, TAG_ROLE, Tracker

POLICIES = ("best", "pareto", "smallest-within")
DEFAULT_TOLERANCE = 0.01
COST_METRICS = ("fit_seconds", "model_bytes")
# A refit is the same computation as the trial; allow only float noise in the metric.
REPRODUCE_TOLERANCE = 1e-6
MODEL_NAME = "tunetrack-model"  # autologging logs its own model as "model"
ROLE_MODEL = "model"
TAG_STUDY_RUN = "tunetrack.study_run_id"
TAG_TRIAL_RUN = "tunetrack.trial_run_id"
TAG_POLICY = "tunetrack.policy"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
PACKAGED_MODEL_CODE = Path(__file__).with_name("packaged_model.py")
# What the model needs at load time, pinned to the versions it was built with.
RUNTIME_PACKAGES = (
    "mlflow",
    "xgboost",
    "lightgbm",
    "scikit-learn",
    "skops",
    "pandas",
    "numpy",
    "scipy",
    "pyarrow",
    "hyperopt",
    "pyyaml",
    "typer",
    "rich",
)


@dataclass(frozen=True)
class Candidate:
    """One successful trial seen by a policy."""

    trial: TrialRecord
    value: float
    fit_seconds: float
    model_bytes: float
    gap: float  # relative distance to the best metric
    within: bool
    on_front: bool


@dataclass(frozen=True)
class Selection:
    """What a policy chose and why."""

    policy: str
    tolerance: float
    metric: str
    chosen: TrialRecord
    candidates: tuple[Candidate, ...]
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One row per successful trial, best metric first; ``chosen`` marks the pick.
        A study across families adds each trial's ``family``."""
        across = any(FAMILY_KEY in c.trial.params for c in self.candidates)
        rows = [
            {
                "trial": c.trial.number,
                **({"family": c.trial.params.get(FAMILY_KEY)} if across else {}),
                self.metric: c.value,
                "gap_pct": 100 * c.gap,
                "fit_seconds": c.fit_seconds,
                "model_bytes": c.model_bytes,
                "within_tolerance": c.within,
                "pareto": c.on_front,
                "chosen": c.trial.run_id == self.chosen.run_id,
                "run_id": c.trial.run_id,
            }
            for c in self.candidates
        ]
        return pd.DataFrame(rows)


def choose(study: Study, policy: str = "best", tolerance: float = DEFAULT_TOLERANCE) -> Selection:
    """Pick a trial of ``study`` by ``policy``; see the module doc for the rules."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown policy {policy!r}; choose one of: {', '.join(POLICIES)}")
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"--tolerance must be a fraction >= 0 like 0.02 (2%); got {tolerance!r}")
    metric = study.metric
    best = study.best  # raises a one-line error when no trial succeeded
    best_value = best.metrics[metric]
    limit = best_value + tolerance * abs(best_value)
    done = study.completed
    points = [(t.metrics[metric], *(_cost(t, name) for name in COST_METRICS)) for t in done]
    front = set(np.flatnonzero(pareto_mask(np.array(points, dtype=float, ndmin=2))))
    candidates = tuple(
        sorted(
            (
                Candidate(
                    trial=t,
                    value=p[0],
                    fit_seconds=p[1],
                    model_bytes=p[2],
                    gap=(p[0] - best_value) / abs(best_value) if best_value else 0.0,
                    within=p[0] <= limit,
                    on_front=i in front,
                )
                for i, (t, p) in enumerate(zip(done, points, strict=True))
            ),
            key=lambda c: (c.value, c.trial.number),
        )
    )
    within = [c for c in candidates if c.within]
    pct = f"{100 * tolerance:g}%"
    if policy == "best":
        chosen = candidates[0]
        reason = f"lowest {metric}"
    elif policy == "smallest-within":
        chosen = min(within, key=lambda c: (c.model_bytes, c.fit_seconds, c.value, c.trial.number))
        reason = (
            f"smallest model among the {len(within)} trial(s) within {pct} of the best "
            f"{metric} {best_value:.6g}, then fastest to fit"
        )
    else:
        pool = [c for c in within if c.on_front]  # never empty: the best is on the front
        chosen = min(pool, key=lambda c: (_balance(c, pool), c.value, c.trial.number))
        reason = (
            f"most balanced of the {len(pool)} Pareto-optimal trial(s) (over {metric}, "
            f"fit_seconds, model_bytes) within {pct} of the best {metric} {best_value:.6g}"
        )
    return Selection(policy, float(tolerance), metric, chosen.trial, candidates, reason)


def _cost(trial: TrialRecord, name: str) -> float:
    value = trial.value(name)
    return math.inf if value is None else value  # unknown cost never wins


def _balance(candidate: Candidate, pool: Sequence[Candidate]) -> float:
    """Geometric mean of each objective's ratio to the pool's minimum (1.0 = best at all)."""
    total = 0.0
    for attr in ("value", "fit_seconds", "model_bytes"):
        low = min(getattr(c, attr) for c in pool)
        mine = getattr(candidate, attr)
        if math.isinf(mine):
            return math.inf
        total += math.log(mine / low) if low > 0 else 0.0
    return math.exp(total / 3)


# -- shipping: refit, package, log, register ------------------------------------------


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

    @property
    def registry_uri(self) -> str | None:
        if self.registered_name is None:
            return None
        if self.alias:
            return f"models:/{self.registered_name}@{self.alias}"
        return f"models:/{self.registered_name}/{self.version}"


@dataclass(frozen=True)
class _Refit:
    predictor: Predictor
    refit_value: float
    example: pd.DataFrame


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
) -> Shipped:
    """Refit ``trial`` once, log it as a pickle-free pyfunc model under a run nested in the
    study, and register it as ``register`` (moving ``alias`` to the new version)."""
    import mlflow

    if alias and not register:
        raise ConfigError("--alias needs --register NAME: an alias names a registered model")
    family = get_model(str(trial.params.get(FAMILY_KEY, study.model)))
    if autolog and family.name not in AUTOLOG_FLAVORS:
        raise ConfigError(
            f"--autolog records a boosting curve with MLflow's {'/'.join(AUTOLOG_FLAVORS)} "
            f"autologging; trial {trial.number} is a {family.name} model, so drop --autolog"
        )
    run_params = Tracker(study.tracking_uri).get_run(study.run_id).params
    config = build_config({**study.config, "space": None})
    train_table, valid_table = _study_tables(study, config, train, valid, run_params)

    # Fluent runs (needed by autologging) go to the study's store; the caller's
    # tracking URI setting is restored afterwards, unset if it was unset.
    with _tracking_uri_for(study.tracking_uri):
        with (
            tempfile.TemporaryDirectory(prefix="tunetrack-ship-") as tmp,
            mlflow.start_run(
                experiment_id=study.experiment_id,
                run_name=f"model-trial-{trial.number:04d}",
                tags={
                    TAG_PARENT: study.run_id,
                    TAG_ROLE: ROLE_MODEL,
                    "model": family.name,
                    TAG_STUDY_RUN: study.run_id,
                    TAG_TRIAL_RUN: trial.run_id,
                    **({TAG_POLICY: policy} if policy else {}),
                },
            ) as run,
        ):
            try:
                prepared = prepare_study_data(config, train_table, valid_table)
                refit = _refit(study, trial, family, prepared, run_params, autolog=autolog)
                info = _log_model(refit, Path(tmp), study.metric)
            except Exception:
                # A model run without its model would mislead: leave nothing behind. The
                # run is ended first so leaving the `with` does not touch a deleted run.
                mlflow.end_run("FAILED")
                mlflow.tracking.MlflowClient(study.tracking_uri).delete_run(run.info.run_id)
                raise
            metrics = {study.metric: refit.refit_value}
            metrics["model_bytes"] = float(Path(tmp, "predictor", family.model_file).stat().st_size)
            mlflow.log_metrics(metrics)
            shipped = Shipped(
                model_uri=info.model_uri,
                run_id=run.info.run_id,
                trial=trial,
                metric=study.metric,
                logged_value=trial.metrics[study.metric],
                refit_value=refit.refit_value,
            )
        if register:
            shipped = _register(shipped, study, register, alias, policy)
    return shipped


@contextmanager
def _tracking_uri_for(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for a while, then restore both the global
    setting and ``MLFLOW_TRACKING_URI`` exactly (MLflow's own helper unsets the variable,
    which silently moved later calls in the same process to another store)."""
    from mlflow.tracking._tracking_service import utils

    saved_global, saved_env = utils._tracking_uri, os.environ.get(TRACKING_URI_ENV)
    utils.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils.set_tracking_uri(saved_global)
        if saved_env is None:
            os.environ.pop(TRACKING_URI_ENV, None)
        else:
            os.environ[TRACKING_URI_ENV] = saved_env


def _study_tables(
    study: Study,
    config: StudyConfig,
    train: str | pd.DataFrame | None,
    valid: str | pd.DataFrame | None,
    run_params: dict[str, str],
) -> tuple[Table, Table]:
    """The study's train and validation tables, read (or split) as the study did."""
    train_table = _study_table(study, "train", train, run_params)
    data = config.data
    if not splits_train(data, valid_given=valid is not None or data.valid is not None):
        return train_table, _study_table(study, "valid", valid, run_params)
    train_table, valid_table, _ = split(train_table, data, config.search.seed)
    expected = run_params.get("data.valid_sha256")
    if expected and expected != valid_table.digest:
        raise ModelError(
            f"splitting {train_table.source} again does not give study {study.run_id}'s "
            "validation rows (sha256 differs); pass --train with the study's original file"
        )
    return train_table, valid_table


def _study_table(
    study: Study, role: str, override: str | pd.DataFrame | None, run_params: dict[str, str]
) -> Table:
    """The study's own train/valid data, checked against the digest it logged."""
    flag = f"--{role} PATH"
    if override is not None:
        table = read_table(override, role=role)
    else:
        logged = _logged_source(study, role)
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


def _logged_source(study: Study, role: str) -> str | None:
    from mlflow.tracking import MlflowClient

    context = "training" if role == "train" else "validation"
    run = MlflowClient(study.tracking_uri).get_run(study.run_id)
    for item in run.inputs.dataset_inputs:
        if any(t.key == "mlflow.data.context" and t.value == context for t in item.tags):
            try:
                uri = json.loads(item.dataset.source).get("uri")
            except (ValueError, AttributeError):
                uri = item.dataset.source
            if uri and DATAFRAME_SOURCE in str(uri):
                return DATAFRAME_SOURCE
            return uri
    return None


def _refit(
    study: Study,
    trial: TrialRecord,
    family: ModelFamily,
    prepared: StudyData,
    run_params: dict[str, str],
    *,
    autolog: bool,
) -> _Refit:
    """The trial's exact training run again (its params, its kept rounds), then a check
    that both the refit and the packaged path (raw rows -> recipe -> encoder -> model)
    score what the trial logged."""
    import mlflow

    config = study.config
    task = prepared.task
    data = family.prepare(
        prepared.x_train(), prepared.y_train, prepared.x_valid(), prepared.y_valid, task
    )
    params = {k: v for k, v in trial.params.items() if k != FAMILY_KEY}
    best_iteration = trial.value("best_iteration")
    rounds = int(config["model"]["num_boost_round"])
    if family.boosted and best_iteration is not None:
        rounds = int(best_iteration) + 1
    fixed = dict(config["model"].get("params") or {})
    nthread = run_params.get("nthread")
    if family.name == "xgboost" and nthread and nthread.isdigit():
        fixed.setdefault("nthread", int(nthread))  # the trials' threads: same floating sums
    kwargs: dict[str, Any] = dict(
        num_boost_round=rounds, early_stopping_rounds=None, fixed_params=fixed
    )
    if autolog:
        fit = _autologged_refit(family, params, data, kwargs)
    else:
        fit = family.fit(params, data, **kwargs)
        mlflow.log_params(
            {**fixed, **params, **({"num_boost_round": rounds} if family.boosted else {})}
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
                f"{logged:.9g}; the data or library versions differ from the study's, so "
                "pass the study's original --train/--valid files or re-run the study"
            )
    example = prepared.valid[list(prepared.recipe.features)].head(3).reset_index(drop=True)
    return _Refit(predictor=predictor, refit_value=refit_value, example=example)


# Families whose MLflow autologging records the per-round validation curve and a model in
# the library's own format (not pickle).
AUTOLOG_FLAVORS = ("xgboost", "lightgbm")


def _autologged_refit(family: ModelFamily, params: Any, data: Any, kwargs: dict[str, Any]) -> Any:
    """The tutorial's one-line step: MLflow's autologging records the params, the
    per-round validation metric, feature importance and a model in the library's flavor."""
    import mlflow

    flavor = getattr(mlflow, family.name)
    flavor.autolog(log_models=True, log_input_examples=False, silent=True)
    try:
        return family.fit(params, data, **kwargs)
    finally:
        flavor.autolog(disable=True)


def _log_model(refit: _Refit, tmp: Path, metric: str) -> Any:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    artifacts = refit.predictor.save(tmp / "predictor")
    code = tmp / "code" / "tunetrack"
    # The model carries the exact tunetrack code that prepares its input (not its data).
    shutil.copytree(
        Path(__file__).parent,
        code,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.parquet", "bundled"),
    )
    numeric = set(refit.predictor.recipe.numeric)
    task = refit.predictor.task
    signature = ModelSignature(
        inputs=Schema(
            [
                # IDs arrive as ints (raw files) or strings (filtered ones); the recipe
                # normalises both, so the schema must not coerce them.
                ColSpec("double", c) if c in numeric else ColSpec(AnyType(), c)
                for c in refit.predictor.input_columns
            ]
        ),
        outputs=Schema(
            [ColSpec(_output_type(task.classes) if task.is_classification else "double")]
        ),
    )
    return mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(PACKAGED_MODEL_CODE),
        artifacts=artifacts,
        code_paths=[str(code)],
        pip_requirements=pinned_requirements(),
        signature=signature,
        input_example=refit.example,
        metadata={"tunetrack": {"metric": metric, "refit_value": refit.refit_value}},
    )


def _output_type(classes: Sequence[Any]) -> str:
    """MLflow's column type for predicted labels, from the training labels' type."""
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "long"
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
        return "double"
    return "string"


def pinned_requirements() -> list[str]:
    return [f"{p}=={importlib.metadata.version(p)}" for p in RUNTIME_PACKAGES]


def _register(
    shipped: Shipped, study: Study, name: str, alias: str | None, policy: str | None
) -> Shipped:
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(study.tracking_uri)
    previous = None
    if alias:
        try:
            previous = client.get_model_version_by_alias(name, alias).version
        except Exception:  # no such model or alias yet
            previous = None
    tags = {
        TAG_STUDY_RUN: study.run_id,
        TAG_TRIAL_RUN: shipped.trial.run_id,
        "tunetrack.model_run_id": shipped.run_id,
        "tunetrack.metric": study.metric,
        f"tunetrack.{study.metric}": repr(shipped.logged_value),
        **({TAG_POLICY: policy} if policy else {}),
    }
    try:
        version = mlflow.register_model(shipped.model_uri, name, tags=tags)
        if alias:
            client.set_registered_model_alias(name, alias, version.version)
    except mlflow.exceptions.MlflowException as err:
        raise ModelError(
            f"cannot register model {name!r}: {first_line(err)}; check the name and alias"
        ) from None
    return dataclasses.replace(
        shipped,
        registered_name=name,
        version=str(version.version),
        alias=alias,
        previous_version=None if previous is None else str(previous),
    )


# The public name DESIGN.md promises (``tunetrack.select``); ``choose`` reads better inside.
select = choose
