"""Write a shipped model's run and its packaged pyfunc model into the study's MLflow store.

Writing model runs is selection's job (trials and studies are written by
``tunetrack.storage``): a model run is nested under the study run and tagged
``tunetrack.role=model``, so it never counts as a trial. The model it logs is MLflow's
models-from-code pyfunc (``packaged_model.py``): the model in its family's own format plus
the preprocessing as JSON, the tunetrack code that reads them, an input signature and
exactly pinned requirements; nothing is pickled. This module also reads back which data
files the study run logged, so a refit reads the same rows.

MLflow is used through its public API only, imported inside the functions that need it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunetrack.data.loaders import DATAFRAME_SOURCE
from tunetrack.storage.schema import TAG_MODEL, TAG_PARENT, TAG_ROLE, trial_run_name
from tunetrack.study import Study, TrialRecord

if TYPE_CHECKING:
    from tunetrack.selection.evaluation import Evaluation
    from tunetrack.selection.refit import Refit

MODEL_NAME = "tunetrack-model"  # the one loadable model of a model run
ROLE_MODEL = "model"
TAG_STUDY_RUN = "tunetrack.study_run_id"
TAG_TRIAL_RUN = "tunetrack.trial_run_id"
TAG_POLICY = "tunetrack.policy"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/tunetrack
PACKAGED_MODEL_CODE = PACKAGE_DIR / "packaged_model.py"
# What a loaded model imports: the predictor and what it imports, lazily or not (the
# import layers below it that it uses); tests load a shipped model in a fresh process.
MODEL_CODE = (
    "__init__.py", "_core.py", "config.py", "exceptions.py", "extras.py", "features.py",
    "predictor.py", "data", "models", "space",
)  # fmt: skip
# The MLflow autologging module for each family: the boosters' own (params, the per-round
# validation curve, feature importance), scikit-learn's for the others (every estimator
# param, training metrics).
AUTOLOG_FLAVORS = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "random_forest": "sklearn",
    "linear": "sklearn",
}
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


@contextmanager
def fluent_store(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (runs, autologging, ``log_model``, ``register_model``) at
    ``uri`` for a while, then leave the caller's setting exactly as it was.

    When no tracking URI was set with ``mlflow.set_tracking_uri``, the fluent API reads
    ``MLFLOW_TRACKING_URI`` on every call, so setting and restoring that variable is
    enough and leaves MLflow's global setting unset. When one was set, it is switched with
    ``mlflow.set_tracking_uri`` and put back (that call also writes the variable, which is
    then restored, unset if it was unset).
    """
    import mlflow

    saved_env = os.environ.get(TRACKING_URI_ENV)
    saved_uri = mlflow.get_tracking_uri()
    os.environ[TRACKING_URI_ENV] = uri
    switched = mlflow.get_tracking_uri() != uri  # a global setting shadows the variable
    try:
        if switched:
            mlflow.set_tracking_uri(uri)
        yield
    finally:
        if switched:
            mlflow.set_tracking_uri(saved_uri)
        if saved_env is None:
            os.environ.pop(TRACKING_URI_ENV, None)
        else:
            os.environ[TRACKING_URI_ENV] = saved_env


@contextmanager
def model_run(
    study: Study, trial: TrialRecord, family: str, policy: str | None = None
) -> Iterator[str]:
    """A fluent MLflow run for ``trial``'s model, nested under the study; yields its id.

    Enter it inside ``fluent_store(study.tracking_uri)``. If the body raises, the run is
    deleted: a model run without its model would mislead.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    tags = {
        TAG_PARENT: study.run_id,
        TAG_ROLE: ROLE_MODEL,
        TAG_MODEL: family,
        TAG_STUDY_RUN: study.run_id,
        TAG_TRIAL_RUN: trial.run_id,
        **({TAG_POLICY: policy} if policy else {}),
    }
    name = f"model-{trial_run_name(trial.number)}"  # after the trial it ships
    with mlflow.start_run(experiment_id=study.experiment_id, run_name=name, tags=tags) as run:
        try:
            yield run.info.run_id
        except BaseException:
            # The run is ended first so leaving the `with` does not touch a deleted run;
            # a model it began logging (left PENDING, without files) goes with it.
            mlflow.end_run("FAILED")
            client = MlflowClient(study.tracking_uri)
            for model in client.search_logged_models(
                experiment_ids=[study.experiment_id],
                filter_string=f"source_run_id = '{run.info.run_id}'",
            ):
                client.delete_logged_model(model.model_id)
            client.delete_run(run.info.run_id)
            raise


def log_params(params: dict[str, Any]) -> None:
    """Log params on the active model run."""
    import mlflow

    mlflow.log_params(params)


def log_metrics(metrics: dict[str, float]) -> None:
    """Log metrics on the active model run."""
    import mlflow

    mlflow.log_metrics(metrics)


TEST_PREFIX = "test_"


def test_metric(metric: str) -> str:
    """What a metric on the test rows is called on the model run: ``test_rmse``."""
    return f"{TEST_PREFIX}{metric}"


def log_test(evaluation: Evaluation) -> None:
    """Log the refit's metrics on the test rows (``test_<metric>``) and which rows they
    were (source, sha256, rows read and scored) on the active model run."""
    import mlflow

    mlflow.log_metrics({test_metric(k): v for k, v in evaluation.metrics.items()})
    mlflow.log_params(
        {
            "test.source": evaluation.source,
            "test.sha256": evaluation.sha256,
            "test.rows_read": evaluation.read,
            "test.rows_scored": evaluation.rows,
        }
    )


@contextmanager
def autologging(family: str) -> Iterator[None]:
    """The tutorial's one-line step, on the active run: MLflow's autologging for
    ``family`` (see ``AUTOLOG_FLAVORS``) records what the fit did, but no model. Its model
    would be a second one beside ours, loadable by mistake from ``runs:/<id>/model``: the
    raw booster, without the recipe and encoder, so it scores raw rows wrongly."""
    import importlib

    flavor = importlib.import_module(f"mlflow.{AUTOLOG_FLAVORS[family]}")
    flavor.autolog(log_models=False, log_input_examples=False, silent=True)
    try:
        yield
    finally:
        flavor.autolog(disable=True)


def log_model(refit: Refit, tmp: Path, metric: str) -> Any:
    """Log ``refit`` as a pickle-free pyfunc model on the active run; returns MLflow's
    ModelInfo. ``tmp`` is a scratch directory that must outlive the call."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    artifacts = refit.predictor.save(tmp / "predictor")
    code = tmp / "code" / "tunetrack"
    # The model carries the exact tunetrack code that prepares its input (not its data),
    # and only that: the code a model carries runs wherever it is loaded.
    code.mkdir(parents=True)
    for name in MODEL_CODE:
        source = PACKAGE_DIR / name
        if source.is_dir():
            shutil.copytree(
                source,
                code / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.parquet", "bundled"),
            )
        else:
            shutil.copy2(source, code / name)
    task = refit.predictor.task
    signature = ModelSignature(
        inputs=input_schema(refit),
        outputs=Schema(
            [ColSpec(_output_type(task.classes) if task.is_classification else "double")]
        ),
    )
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(PACKAGED_MODEL_CODE),
        artifacts=artifacts,
        code_paths=[str(code)],
        pip_requirements=pinned_requirements(),
        signature=signature,
        input_example=refit.example,
        metadata={
            "tunetrack": {
                "metric": metric,
                "refit_value": refit.refit_value,
                "input_kinds": input_kinds(refit),
            }
        },
    )
    _strip_build_paths(info, tmp / "mlmodel")
    return info


def _strip_build_paths(info: Any, scratch: Path) -> None:
    """Rewrite the logged ``MLmodel`` without the paths it was built from.

    MLflow records each artifact's source (``uri``: our scratch folder) and the absolute
    ``model_code_path`` (the source checkout or site-packages) though it loads both by
    their place inside the model; a shipped model should not tell where it was built."""
    import mlflow
    from mlflow.models import Model
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    where = client.get_logged_model(info.model_id).artifact_location
    scratch.mkdir()
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{where.rstrip('/')}/MLmodel", dst_path=str(scratch)
    )
    model = Model.load(local)
    pyfunc = model.flavors.get("python_function", {})
    if "model_code_path" in pyfunc:
        pyfunc["model_code_path"] = Path(pyfunc["model_code_path"]).name
    for entry in (pyfunc.get("artifacts") or {}).values():
        if isinstance(entry, dict) and "path" in entry:
            entry["uri"] = entry["path"]  # where it is in the model, not where it came from
    model.save(local)
    client.log_model_artifacts(info.model_id, str(scratch))


def load_copy(model_uri: str) -> tuple[Any, Path]:
    """Load ``model_uri`` with MLflow's pyfunc loader from a private copy; returns the
    model and the copy's folder (removed once the model is garbage-collected, or at exit).

    Loaded in place, a model of a local artifact store gets a ``registered_model_meta``
    file written into the store by MLflow (for ``models:/`` URIs): a read would change
    the store, and fail on a store this user may only read. Raises what MLflow raises."""
    import mlflow

    scratch = Path(tempfile.mkdtemp(prefix="tunetrack-model-"))
    try:
        copied = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(scratch))
        folder = Path(copied)
        model = mlflow.pyfunc.load_model(str(folder))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    weakref.finalize(model, shutil.rmtree, scratch, True)
    return model, folder


def input_schema(refit: Refit) -> Any:
    """The model's input columns, each typed ``Any``: the recipe, not MLflow, checks them.

    MLflow's schema enforcement converts only what it deems lossless (int8..int32 and
    float32 to double) and refuses int64, nullable Int64 and bool for a ``double`` column,
    while a ``long`` column refuses floats; a user's table (a CSV read by pandas, a
    parquet file, JSON sent to a server) can hold any of these for the same feature. The
    packaged model's recipe turns every numeric column into float64 itself and names a
    column that holds something else, and IDs arrive as ints or strings, so a typed
    schema would only refuse good rows. What each column is lives in ``input_kinds``.
    """
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    return Schema([ColSpec(AnyType(), c) for c in refit.predictor.input_columns])


def input_kinds(refit: Refit) -> dict[str, str]:
    """Each input column as the recipe reads it: numeric, datetime or categorical."""
    recipe = refit.predictor.recipe
    numeric, datetime = set(recipe.numeric), set(getattr(recipe, "datetime", ()))
    return {
        c: "numeric" if c in numeric else "datetime" if c in datetime else "categorical"
        for c in refit.predictor.input_columns
    }


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
    """``name==version`` for each runtime package installed here. An optional one that is
    missing (lightgbm without ``tunetrack[lightgbm]``) is left out: no model of the family
    that needs it can have been trained here."""
    pins = []
    for package in RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def logged_sources(study: Study) -> dict[str, str | None]:
    """Where the study run says its ``train`` and ``valid`` data came from (None when it
    logged no such dataset; ``DATAFRAME_SOURCE`` for an in-memory frame)."""
    from mlflow.tracking import MlflowClient

    run = MlflowClient(study.tracking_uri).get_run(study.run_id)
    sources: dict[str, str | None] = {}
    for role, context in (("train", "training"), ("valid", "validation")):
        sources[role] = None
        for item in run.inputs.dataset_inputs:
            if any(t.key == "mlflow.data.context" and t.value == context for t in item.tags):
                try:
                    uri = json.loads(item.dataset.source).get("uri")
                except (ValueError, AttributeError):
                    uri = item.dataset.source
                sources[role] = DATAFRAME_SOURCE if uri and DATAFRAME_SOURCE in str(uri) else uri
                break
    return sources
