"""Register a shipped model in MLflow's model registry and move an alias to it.

Registering model versions is selection's job (``tunetrack.storage`` writes only studies
and trials). A version is tagged with the study, trial and model runs it came from and
the trial's metric, so ``models:/NAME@ALIAS`` leads back to the trial that earned it;
the version the alias pointed at before is read first and reported.

MLflow is used through its public API only, imported inside the functions that need it.
"""

from __future__ import annotations

from tunetrack.exceptions import ModelError, first_line
from tunetrack.selection.flavor import TAG_POLICY, TAG_STUDY_RUN, TAG_TRIAL_RUN, fluent_store
from tunetrack.study import Study, TrialRecord

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
