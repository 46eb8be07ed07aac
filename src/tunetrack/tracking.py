"""The only module that writes MLflow runs: a study parent run and one nested run a trial.

Each trial costs two small writes: its run is created RUNNING when the trial starts (so
a crash leaves evidence), then its params, metrics and tags go in with its end status.
On a SQL store (a local SQLite file or a database URL) each of the two is one transaction
(``_SqlTrialWrites``); elsewhere they are MLflow's ``create_run``, then ``log_batch``
and ``set_terminated``. Nothing here holds state that is not in MLflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tunetrack.exceptions import TrackingError, first_line

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

# Tag names other tools rely on (DESIGN.md, tracking contract).
TAG_ROLE = "tunetrack.role"
TAG_TRIAL = "tunetrack.trial"
TAG_STATE = "tunetrack.state"
TAG_ENGINE = "tunetrack.engine"
TAG_ALGO = "tunetrack.algo"
TAG_ERROR = "tunetrack.error"
TAG_PARAMS = "tunetrack.params"  # the sampled params as typed JSON (MLflow params are strings)
TAG_STOPPED_BY = "tunetrack.stopped_by"
TAG_PRUNED_AT = "tunetrack.pruned_at"  # on a pruned trial: the round (0-based) it stopped at
TAG_STOP_REASON = "tunetrack.stop_reason"  # on the study: max_evals, timeout, ...
TAG_VALS = "tunetrack.vals"  # Hyperopt's raw values (choice indices), to resume TPE from
TAG_MODEL = "model"
TAG_PARENT = "mlflow.parentRunId"
TAG_RUN_NAME = "mlflow.runName"

ROLE_STUDY = "study"
ROLE_TRIAL = "trial"
CONFIG_ARTIFACT = "tunetrack/config.json"
SPACE_ARTIFACT = "tunetrack/search_space.json"
REPORT_ARTIFACT_DIR = "report"
# MLflow keeps dataset digests in a 36-character column; the full hash goes in a param.
DATASET_DIGEST_CHARS = 32


def resolve_tracking_uri(uri: str | None = None) -> str:
    """The explicit URI, else MLFLOW_TRACKING_URI, else local SQLite in the working dir."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    _check_uri(uri)
    return uri


def _check_uri(uri: str) -> None:
    scheme = urlparse(uri).scheme
    known = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
    base = scheme.split("+", 1)[0]
    if scheme and len(scheme) > 1 and base not in known:
        raise TrackingError(
            f"unsupported tracking URI {uri!r}; use sqlite:///PATH.db, a directory, "
            "http(s)://HOST:PORT or a database URL"
        )
    if base == "sqlite":
        path = _sqlite_path(uri)
        if path is None:
            raise TrackingError(
                f"malformed SQLite tracking URI {uri!r}; write sqlite:///relative.db "
                "or sqlite:////absolute/path.db"
            )
        parent = path.parent
        if not parent.is_dir():
            raise TrackingError(
                f"the directory for the tracking database does not exist: {parent}; "
                "create it or choose another --tracking-uri"
            )
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise TrackingError(
                f"cannot write the tracking database {path}; choose a writable --tracking-uri"
            )


def _use_wal(uri: str) -> None:
    """Switch a local SQLite store to write-ahead logging (the setting sticks to the file).

    Measured here, it cuts a trial's tracking writes from about 20 ms to 14 ms, and lets
    readers (report, select) work while a study writes.
    """
    path = _sqlite_path(uri)
    if path is None:
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        raise TrackingError(
            f"cannot open the tracking database {path}: {err}; "
            "check the file or choose another --tracking-uri"
        ) from None


def _sync_normal(client: Any) -> None:
    """``PRAGMA synchronous=NORMAL`` on every connection MLflow opens to a SQLite store.

    In WAL mode this skips the fsync at each commit. A commit still survives the process
    being killed (``kill -9``: it is in the WAL file, which the OS holds); only a power
    cut or OS crash may lose the last commits. Measured here, it cuts a trial's three
    writes from about 15-16 ms to 11.5-13 ms (bench/tracking_overhead.py, bench/speed.py).
    The setting is per connection, so it is installed as a connect hook and the pool is
    emptied once.
    """
    from sqlalchemy import event

    engine = getattr(getattr(client._tracking_client, "store", None), "engine", None)
    if engine is None or getattr(engine, "_tunetrack_sync_normal", 0):
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine._tunetrack_sync_normal = True
    engine.dispose()  # connections opened before the hook get it when reopened


# Off only to measure what it saves (bench/speed.py) and to compare both paths (tests).
DIRECT_SQL_TRIAL_WRITES = True


class _SqlTrialWrites:
    """A trial run's two writes, each one transaction, into MLflow's SQL store.

    Through the client, a trial costs eight transactions and about 10 ms on local
    SQLite: ``create_run`` reloads the experiment, ``log_batch`` commits params, metrics
    and tags apart, and ``set_terminated`` reloads the run. A tiny trial takes less than
    that. These are the same rows, made with MLflow's own table models and sessions
    (MLflow is pinned), so runs read back exactly as the client's would;
    tests/test_tracking_sql.py compares both paths field by field. Anything the direct
    write does not expect (a key already logged, a deleted run) is left to the client,
    which raises MLflow's own error.
    """

    def __init__(self, store: Any) -> None:
        self._store = store

    @staticmethod
    def for_client(client: Any) -> _SqlTrialWrites | None:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = getattr(client._tracking_client, "store", None)
        if DIRECT_SQL_TRIAL_WRITES and isinstance(store, SqlAlchemyStore):
            return _SqlTrialWrites(store)
        return None

    def create_run(
        self, experiment_id: str, start_ms: int, run_name: str, tags: Mapping[str, str]
    ) -> str:
        import uuid

        from mlflow.entities import LifecycleStage, RunStatus, SourceType
        from mlflow.store.tracking.dbmodels.models import SqlExperiment, SqlRun, SqlTag
        from mlflow.utils.uri import append_to_uri_path
        from mlflow.utils.validation import _validate_tag

        checked = (_validate_tag(k, v) for k, v in {**tags, TAG_RUN_NAME: run_name}.items())
        all_tags = {t.key: t.value for t in checked}
        run_id = uuid.uuid4().hex
        with self._store.ManagedSessionMaker(read_only=False) as session:
            # Read each trial, as the client does: the experiment may be deleted mid-study.
            experiment = (
                session.query(SqlExperiment.lifecycle_stage, SqlExperiment.artifact_location)
                .filter(SqlExperiment.experiment_id == int(experiment_id))
                .one_or_none()
            )
            if experiment is None or experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                # MLflow's own error: no such experiment, or not active.
                self._store._check_experiment_is_active(self._store.get_experiment(experiment_id))
            artifact_uri = append_to_uri_path(
                experiment.artifact_location, run_id, self._store.ARTIFACTS_FOLDER_NAME
            )
            run = SqlRun(
                name=run_name,
                artifact_uri=artifact_uri,
                run_uuid=run_id,
                experiment_id=int(experiment_id),
                source_type=SourceType.to_string(SourceType.UNKNOWN),
                source_name="",
                entry_point_name="",
                user_id="unknown",  # what MlflowClient.create_run records without a user tag
                status=RunStatus.to_string(RunStatus.RUNNING),
                start_time=start_ms,
                end_time=None,
                deleted_time=None,
                source_version="",
                lifecycle_stage=LifecycleStage.ACTIVE,
            )
            run.tags = [SqlTag(key=k, value=v) for k, v in all_tags.items()]
            session.add(run)
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        end_ms: int,
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> bool:
        """Params, metrics, tags and the end status in one transaction.

        Returns False, having written nothing, when the run is not a fresh trial run
        (deleted, or a param or metric already there): the caller then goes through the
        client."""
        import sqlalchemy
        from mlflow.entities import LifecycleStage
        from mlflow.exceptions import MlflowException
        from mlflow.store.tracking.dbmodels.models import (
            SqlLatestMetric,
            SqlMetric,
            SqlParam,
            SqlRun,
            SqlTag,
        )
        from mlflow.utils.validation import _validate_metric, _validate_param, _validate_tag

        # MLflow's own checks, which also truncate over-long values as the client does.
        params = {p.key: p.value for p in (_validate_param(k, v) for k, v in params.items())}
        tags = {t.key: t.value for t in (_validate_tag(k, v) for k, v in tags.items())}
        for key, value in metrics.items():
            _validate_metric(key, value, end_ms, 0)
        try:
            with self._store.ManagedSessionMaker(read_only=False) as session:
                run = session.query(SqlRun).filter(SqlRun.run_uuid == run_id).one_or_none()
                if run is None or run.lifecycle_stage != LifecycleStage.ACTIVE:
                    return False
                run.status = status
                run.end_time = end_ms
                # Tags set when the run was created (the state) are overwritten.
                session.query(SqlTag).filter(
                    SqlTag.run_uuid == run_id, SqlTag.key.in_(list(tags))
                ).delete(synchronize_session=False)
                rows: list[Any] = [SqlTag(run_uuid=run_id, key=k, value=v) for k, v in tags.items()]
                rows += [SqlParam(run_uuid=run_id, key=k, value=v) for k, v in params.items()]
                for key, value in metrics.items():
                    is_nan, stored = self._store.sanitize_metric_value(float(value))
                    fields = {"key": key, "value": stored, "timestamp": end_ms, "step": 0}
                    rows.append(SqlMetric(run_uuid=run_id, is_nan=is_nan, **fields))
                    rows.append(SqlLatestMetric(run_uuid=run_id, is_nan=is_nan, **fields))
                session.add_all(rows)
        except MlflowException as err:
            if isinstance(err.__cause__, sqlalchemy.exc.IntegrityError):
                return False  # rolled back: a param or metric was already logged
            raise
        return True


# Rows MLflow's type inference reads; whether a column has missing values is read from all.
SCHEMA_SAMPLE_ROWS = 1_000


def _frame_schema(frame: Any) -> Any:
    """The MLflow schema of a table, as ``mlflow.data.from_pandas`` would infer it.

    MLflow checks the type of every value of every text column in Python: 2.1 s of the 5 s
    a taxi study took to its first result, and minutes on a table of ten million rows.
    The column types come from the first rows instead; ``required`` (no missing value) is
    still decided over the whole column, vectorised. None where MLflow cannot infer one
    (it then logs the dataset without a schema, as it would).
    """
    from mlflow.types.schema import ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    try:
        sampled = _infer_schema(frame.head(SCHEMA_SAMPLE_ROWS))
    except Exception:  # MLflow's own dataset swallows the same failure
        return None
    missing = {str(k): bool(v) for k, v in frame.isna().any().items()}
    return Schema(
        [
            ColSpec(c.type, c.name, required=not missing.get(str(c.name), False))
            for c in sampled.inputs
        ]
    )


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock beside a local SQLite store; a no-op for other stores."""
    path = _sqlite_path(uri)
    if path is None:
        yield
        return
    with open(f"{path}-tunetrack.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _probe_server(uri: str) -> None:
    """One quick request, so an unreachable server fails in seconds, not after retries."""
    url = f"{uri.rstrip('/')}/health"
    try:
        with urllib.request.urlopen(url, timeout=10):
            return
    except urllib.error.HTTPError:
        return  # something answers; the store call that follows tells the rest
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"cannot reach the tracking server {uri}: {reason}; start it or check "
            "--tracking-uri / MLFLOW_TRACKING_URI"
        ) from None


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix) or ":memory:" in uri:
        return None
    return Path(uri[len(prefix) :].split("?", 1)[0]).resolve()


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as logged on the study run."""

    name: str
    role: str  # "train" | "valid"
    source: str
    sha256: str
    frame: Any  # the prepared pandas frame, for MLflow's schema and profile
    target: str | None = None


@dataclass(frozen=True)
class RunData:
    """The parts of a run the Study needs, detached from MLflow's entity classes."""

    run_id: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]


class Tracker:
    """Writes and reads tunetrack's runs in one MLflow tracking store."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        # tunetrack reads small JSON artifacts; MLflow's progress bars would only be noise.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        with _store_lock(self.tracking_uri):  # schema creation must not race another process
            _use_wal(self.tracking_uri)
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
            if _sqlite_path(self.tracking_uri) is not None:
                _sync_normal(self._client)
                self._query_store()  # creates the schema of a new file, under the lock
        self._sql_writes = _SqlTrialWrites.for_client(self._client)

    # -- set-up ---------------------------------------------------------------------------

    def check_reachable(self) -> None:
        """Fail fast, before anything is written, when the store cannot be used."""
        if urlparse(self.tracking_uri).scheme in ("http", "https"):
            _probe_server(self.tracking_uri)
        if _sqlite_path(self.tracking_uri) is None:  # a SQLite store was queried on opening
            self._query_store()

    def _query_store(self) -> None:
        try:
            self._client.search_experiments(max_results=1)
        except Exception as err:
            raise TrackingError(
                f"cannot reach the tracking store {self.tracking_uri}: {first_line(err)}; "
                "check --tracking-uri or MLFLOW_TRACKING_URI"
            ) from None

    def experiment_id(self, name: str, *, create: bool = True) -> str:
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise TrackingError(
                    f"experiment {name!r} is deleted; restore it in the MLflow UI or pick "
                    "another --experiment"
                )
            return experiment.experiment_id
        if not create:
            raise TrackingError(
                f"no experiment named {name!r} in {self.tracking_uri}; "
                "run `tunetrack tune` first or pass --experiment"
            )
        with _store_lock(self.tracking_uri):  # two studies may create it at the same time
            experiment = self._client.get_experiment_by_name(name)
            if experiment is not None:
                return experiment.experiment_id
            return self._client.create_experiment(name, artifact_location=self._artifact_root(name))

    def _artifact_root(self, experiment: str) -> str | None:
        """Keep artifacts beside a local SQLite file instead of wherever the shell stood."""
        path = _sqlite_path(self.tracking_uri)
        if path is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)
        return (path.parent / "mlartifacts" / safe).as_uri()

    # -- writing --------------------------------------------------------------------------

    def start_study(
        self,
        experiment_id: str,
        *,
        model: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        config: Mapping[str, Any],
        space: Mapping[str, Any],
        datasets: Sequence[DatasetRecord],
        run_name: str | None = None,
    ) -> str:
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        run = self._client.create_run(
            experiment_id,
            run_name=run_name,
            tags={TAG_ROLE: ROLE_STUDY, TAG_MODEL: model, **tags},
        )
        run_id = run.info.run_id
        try:
            all_params = dict(params)
            all_params.update({f"data.{d.role}_sha256": d.sha256 for d in datasets})
            self._client.log_batch(
                run_id,
                params=[Param(k, _param_text(v)) for k, v in all_params.items()],
                tags=[RunTag("mlflow.note.content", _study_note(model, tags))],
            )
            self._client.log_dict(run_id, dict(config), CONFIG_ARTIFACT)
            self._client.log_dict(run_id, dict(space), SPACE_ARTIFACT)
            # MLflow inserts a dataset row only if it is new, which races when two studies
            # start on the same data at once: serialise locally, retry once elsewhere.
            with _store_lock(self.tracking_uri):
                try:
                    self._log_datasets(run_id, datasets)
                except MlflowException:
                    self._log_datasets(run_id, datasets)
        except Exception as err:
            # A study that could not record its set-up would be unreadable: remove it.
            self._client.delete_run(run_id)
            if isinstance(err, OSError):
                raise TrackingError(
                    f"cannot write the study's artifacts to {run.info.artifact_uri}: "
                    f"{first_line(err)}; free space or make it writable"
                ) from None
            raise
        return run_id

    def _log_datasets(self, run_id: str, datasets: Sequence[DatasetRecord]) -> None:
        from mlflow.data.pandas_dataset import from_pandas
        from mlflow.entities import DatasetInput, InputTag

        inputs = []
        for d in datasets:
            with warnings.catch_warnings():
                # MLflow warns that a local path matches its file source twice; harmless.
                warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
                dataset = from_pandas(
                    d.frame,
                    source=d.source,
                    name=d.name,
                    targets=d.target,
                    digest=d.sha256[:DATASET_DIGEST_CHARS],
                )
                # Its advice on integer columns is about model signatures, not datasets.
                warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
                dataset.schema = _frame_schema(d.frame)  # not MLflow's row-by-row inference
            context = "training" if d.role == "train" else "validation"
            inputs.append(
                DatasetInput(
                    dataset=dataset._to_mlflow_entity(),
                    tags=[InputTag(key="mlflow.data.context", value=context)],
                )
            )
        self._client.log_inputs(run_id, datasets=inputs)

    def start_trial(
        self,
        study: StudyRef,
        number: int,
        *,
        model: str | None = None,
        start_ms: int | None = None,
    ) -> tuple[str, int]:
        """Create the trial's run (RUNNING); returns its id and start time in ms.

        ``model`` is the trial's family when the study searches several."""
        start_ms = _now_ms() if start_ms is None else start_ms
        run_name = f"trial-{number:04d}"
        tags = {
            TAG_PARENT: study.run_id,
            TAG_ROLE: ROLE_TRIAL,
            TAG_MODEL: model or study.model,
            TAG_TRIAL: str(number),
            TAG_STATE: "running",
        }
        if self._sql_writes is not None:
            run_id = self._sql_writes.create_run(study.experiment_id, start_ms, run_name, tags)
            return run_id, start_ms
        run = self._client.create_run(
            study.experiment_id, start_time=start_ms, run_name=run_name, tags=tags
        )
        return run.info.run_id, start_ms

    def finish_trial(
        self,
        run_id: str,
        *,
        state: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        error: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        vals: Mapping[str, Any] | None = None,
        ui_params: Mapping[str, Any] | None = None,
        end_ms: int | None = None,
    ) -> int:
        """Write everything the trial learned in one batch, then close it; returns end ms.

        ``ui_params`` (default: ``params``) is what MLflow's params show; ``params`` stays
        the typed truth in the JSON tag.
        """
        from mlflow.entities import Metric, Param, RunTag

        end_ms = _now_ms() if end_ms is None else end_ms
        tags = {TAG_STATE: state, TAG_PARAMS: json.dumps(dict(params), sort_keys=True)}
        if vals is not None:
            tags[TAG_VALS] = json.dumps(dict(vals), sort_keys=True)
        if error:
            tags[TAG_ERROR] = error
        tags.update(extra_tags or {})
        shown = {k: _param_text(v) for k, v in (ui_params or params).items()}
        status = {"ok": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}.get(state, "KILLED")
        if self._sql_writes is not None and self._sql_writes.finish_run(
            run_id, status=status, end_ms=end_ms, params=shown, metrics=metrics, tags=tags
        ):
            return end_ms
        self._client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), end_ms, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in shown.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        self._client.set_terminated(run_id, status=status, end_time=end_ms)
        return end_ms

    def finish_study(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float],
        status: str,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = _now_ms()
        self._client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )
        self._client.set_terminated(run_id, status=status, end_time=now)

    def mark_killed(self, run_id: str, reason: str) -> None:
        """Close a trial that its process left RUNNING (it was killed mid-trial)."""
        from mlflow.entities import RunTag

        self._client.log_batch(
            run_id, tags=[RunTag(TAG_STATE, "killed"), RunTag(TAG_ERROR, reason)]
        )
        self._client.set_terminated(run_id, status="KILLED")

    def reopen_study(self, run_id: str) -> None:
        self._client.update_run(run_id, status="RUNNING")

    def log_report(self, run_id: str, directory: str | Path) -> str:
        """Log a built report folder under the study run's ``report/``; returns its URI."""
        self._client.log_artifacts(run_id, str(directory), REPORT_ARTIFACT_DIR)
        artifact_uri = self._client.get_run(run_id).info.artifact_uri.rstrip("/")
        return f"{artifact_uri}/{REPORT_ARTIFACT_DIR}"

    def ui_url(self, host: str, port: int, experiment_id: str) -> str:
        # The runs table itself: MLflow 3's bare experiment link opens a GenAI overview.
        return f"http://{host}:{port}/#/experiments/{experiment_id}/runs"

    # -- reading --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunData:
        try:
            run = self._client.get_run(run_id)
        except Exception as err:
            raise TrackingError(
                f"no run {run_id!r} in {self.tracking_uri} ({first_line(err)}); "
                "check the study's run id"
            ) from None
        return _run_data(run)

    def trial_runs(self, study_run_id: str, experiment_id: str) -> list[RunData]:
        query = f"tags.`{TAG_PARENT}` = '{study_run_id}' and tags.`{TAG_ROLE}` = '{ROLE_TRIAL}'"
        return [_run_data(r) for r in self._search(experiment_id, query)]

    def latest_study(self, experiment: str) -> RunData:
        experiment_id = self.experiment_id(experiment, create=False)
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{TAG_ROLE}` = '{ROLE_STUDY}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            raise TrackingError(
                f"experiment {experiment!r} has no tunetrack study; run `tunetrack tune` first"
            )
        return _run_data(runs[0])

    def load_json_artifact(self, run_id: str, path: str) -> Any:
        from mlflow.artifacts import load_dict

        uri = f"{self._client.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}"
        try:
            return load_dict(uri)
        except Exception as err:  # a study still starting has not written it yet
            raise TrackingError(
                f"cannot read {path} of run {run_id} ({first_line(err)}); if the study is "
                "just starting, try again in a moment"
            ) from None

    def experiment_name(self, experiment_id: str) -> str:
        return self._client.get_experiment(experiment_id).name

    def _search(self, experiment_id: str, query: str) -> Iterator[Any]:
        token = None
        while True:
            page = self._client.search_runs(
                [experiment_id], filter_string=query, max_results=1000, page_token=token
            )
            yield from page
            token = page.token
            if not token:
                return


@dataclass(frozen=True)
class StudyRef:
    """What a trial needs to know about its study to file itself under it."""

    run_id: str
    experiment_id: str
    model: str


def _run_data(run: Any) -> RunData:
    return RunData(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
    )


def _param_text(value: Any) -> str:
    # MLflow params are strings: keep ints as "12" (not "12.0") and floats exact (repr).
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def _study_note(model: str, tags: Mapping[str, str]) -> str:
    engine = tags.get(TAG_ENGINE, "hyperopt")
    return (
        f"tunetrack study: {model} tuned with {engine}. Each nested run is one trial; "
        f"filter with `tags.{TAG_ROLE} = '{ROLE_TRIAL}'` to compare them."
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
