"""Register a shipped model in MLflow's model registry and move an alias to it.

Registering model versions is selection's job (``tunetrack.storage`` writes only studies
and trials). A version is tagged with the study, trial and model runs it came from and
the trial's metric, so ``models:/NAME@ALIAS`` leads back to the trial that earned it;
the version the alias pointed at before is read first and reported. It also loads a
logged model back (``load_predictor``) and records a model's evaluation on a table as a
run linked to that model (``log_evaluation``).

MLflow is used through its public API only, imported inside the functions that need it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunetrack.exceptions import ConfigError, ModelError, first_line
from tunetrack.predictor import Predictor
from tunetrack.selection.flavor import (
    TAG_POLICY,
    TAG_STUDY_RUN,
    TAG_TRIAL_RUN,
    fluent_store,
    load_copy,
)
from tunetrack.storage.schema import TAG_ROLE
from tunetrack.storage.uris import resolve_tracking_uri
from tunetrack.study import Study, TrialRecord

if TYPE_CHECKING:
    from tunetrack.selection.evaluation import Evaluation

TAG_MODEL_RUN = "tunetrack.model_run_id"
TAG_METRIC = "tunetrack.metric"


def previous_version(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version ``name@alias`` points at now; None when the model or alias is new."""
    from mlflow.tracking import MlflowClient

    try:
        return str(MlflowClient(tracking_uri).get_model_version_by_alias(name, alias).version)
    except Exception:  # no such model or alias yet
        return None


def register(
    study: Study,
    trial: TrialRecord,
    *,
    model_uri: str,
    model_run_id: str,
    logged_value: float,
    name: str,
    alias: str | None = None,
    policy: str | None = None,
) -> str:
    """Register ``model_uri`` as a new version of ``name`` in the study's store and point
    ``alias`` at it; returns the version. Raises ModelError with MLflow's reason."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    tags = {
        TAG_STUDY_RUN: study.run_id,
        TAG_TRIAL_RUN: trial.run_id,
        TAG_MODEL_RUN: model_run_id,
        TAG_METRIC: study.metric,
        f"tunetrack.{study.metric}": repr(logged_value),
        **({TAG_POLICY: policy} if policy else {}),
    }
    try:
        with fluent_store(study.tracking_uri):
            version = mlflow.register_model(model_uri, name, tags=tags)
        if alias:
            MlflowClient(study.tracking_uri).set_registered_model_alias(
                name, alias, version.version
            )
    except MlflowException as err:
        raise ModelError(
            f"cannot register model {name!r}: {first_line(err)}; check the name and alias"
        ) from None
    return str(version.version)


# MLflow's registry rules (it checks them only when the version is being written).
_ALIAS = re.compile(r"^[\w\-]+$")
_VERSION_LIKE = re.compile(r"^[vV]\d+$")
MAX_ALIAS = 255


def check_names(name: str | None, alias: str | None) -> None:
    """Raise ConfigError, before anything is refit or logged, for a model name or alias
    the registry would refuse: empty, ``/`` or ``:`` in a name, a name that is not its
    own normal path, an alias that is not letters/digits/_/-, ``latest``, ``v3``."""
    if name is not None:
        norm = posixpath.normpath(name)
        if not name.strip():
            raise ConfigError("--register needs a model name; pass --register NAME")
        if (
            "/" in name
            or ":" in name
            or norm != name
            or norm in (".", "..")
            or norm.startswith("../")
        ):
            raise ConfigError(
                f"--register {name!r}: a registered model name cannot hold '/' or ':' or "
                "be a path such as '.' or '..'; pick a plain name such as taxi-duration"
            )
    if alias is None:
        return
    if alias.lower() == "latest" or _VERSION_LIKE.match(alias):
        raise ConfigError(
            f"--alias {alias!r} is reserved by the registry (it means a version); "
            "pick another, such as champion"
        )
    if not _ALIAS.match(alias) or len(alias) > MAX_ALIAS:
        raise ConfigError(
            f"--alias {alias!r}: an alias is 1-{MAX_ALIAS} letters, digits, _ or -; "
            "pick one such as champion"
        )


# -- a logged or registered model: load it, say where it came from, log its evaluation --

TAG_MODEL_URI = "tunetrack.model_uri"
TAG_MODEL_NAME = "tunetrack.model_name"
TAG_MODEL_VERSION = "tunetrack.model_version"
TAG_MODEL_ID = "tunetrack.model_id"
ROLE_EVALUATION = "evaluation"
_URI_HELP = (
    "pass models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-ID or runs:/RUN_ID/tunetrack-model"
)


@dataclass(frozen=True)
class ModelSource:
    """Where a model URI leads: MLflow's logged model id, the registered name and version
    (None for a model that is not registered through this URI), and the run that logged it."""

    uri: str
    model_id: str | None
    name: str | None
    version: str | None
    run_id: str | None

    @property
    def label(self) -> str:
        return f"{self.name} version {self.version}" if self.name else self.uri


def load_predictor(model_uri: str, tracking_uri: str | None = None) -> Predictor:
    """The tunetrack predictor (recipe, encoder, model) inside a logged model. Raises
    ModelError for a URI that does not load, or loads a model tunetrack did not log."""
    with fluent_store(resolve_tracking_uri(tracking_uri, writing=False)):
        try:
            model, _ = load_copy(model_uri)  # a copy: loading never writes to the store
        except Exception as err:  # MlflowException, OSError, bad URIs of every kind
            reason = " ".join(str(err).split())[:300] or type(err).__name__
            raise ModelError(f"cannot load model {model_uri!r}: {reason}; {_URI_HELP}") from None
    wrapper = (
        model.unwrap_python_model() if "tunetrack" in (model.metadata.metadata or {}) else None
    )
    predictor = getattr(wrapper, "predictor", None) or getattr(wrapper, "_predictor", None)
    if predictor is None:
        raise ModelError(
            f"model {model_uri!r} was not logged by tunetrack, so its recipe and metrics are "
            "unknown here; pass a model shipped by `tunetrack select`"
        )
    return predictor


def model_source(model_uri: str, tracking_uri: str | None = None) -> ModelSource:
    """What ``model_uri`` names (see ``ModelSource``); ModelError when it names nothing."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri, writing=False)
    name = version = None
    try:
        with fluent_store(uri):
            info = mlflow.models.get_model_info(model_uri)
        registered = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", model_uri)
        if registered:
            client = MlflowClient(uri)
            name, alias, number = registered.groups()
            found = (
                client.get_model_version_by_alias(name, alias)
                if alias
                else client.get_model_version(name, number)
            )
            version = str(found.version)
    except Exception as err:
        raise ModelError(
            f"cannot find model {model_uri!r}: {first_line(err)}; {_URI_HELP}"
        ) from None
    return ModelSource(model_uri, info.model_id, name, version, info.run_id)


def log_evaluation(
    source: ModelSource, evaluation: Evaluation, tracking_uri: str | None = None
) -> str:
    """A new run holding ``evaluation``'s metrics, in the experiment of the run that
    logged the model, with the model as its input and the metrics linked to the model
    (MLflow 3's ``model_id``); returns the run id."""
    import mlflow
    from mlflow.entities import LoggedModelInput
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    experiment_id = None
    if source.run_id:
        experiment_id = MlflowClient(uri).get_run(source.run_id).info.experiment_id
    tags = {
        TAG_ROLE: ROLE_EVALUATION,
        TAG_MODEL_URI: source.uri,
        **({TAG_MODEL_ID: source.model_id} if source.model_id else {}),
        **(
            {TAG_MODEL_NAME: source.name, TAG_MODEL_VERSION: str(source.version)}
            if source.name
            else {}
        ),
    }
    name = f"evaluate-{source.name}-v{source.version}" if source.name else "evaluate"
    with (
        fluent_store(uri),
        mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run,
    ):
        if source.model_id:
            mlflow.log_input(model=LoggedModelInput(source.model_id))
        mlflow.log_params(
            {
                "data.source": evaluation.source,
                "data.sha256": evaluation.sha256,
                "data.rows_read": evaluation.read,
                "data.rows_scored": evaluation.rows,
            }
        )
        mlflow.log_metrics(dict(evaluation.metrics), model_id=source.model_id)
    return str(run.info.run_id)
