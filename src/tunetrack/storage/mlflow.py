"""Studies in any MLflow tracking store, through MLflow's public client only.

A trial is written twice: ``create_run`` (RUNNING, with its tags) when it starts, so a
crash leaves evidence; then, when it ends, one ``log_batch`` (params, metrics, curve,
tags) and ``set_terminated``. The same calls serve SQLite, databases and tracking servers, and
keep working across MLflow versions because nothing here reaches below the client.

A store tunetrack did not create is left as it is: no journal mode, pragma or lock file.
Only a SQLite file this call creates is switched to write-ahead logging (readers such as
``report`` then work while a study writes). Opening a SQLite store takes a lock in this
user's temp folder, so no process opens a file whose schema MLflow is still creating.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tunetrack.exceptions import SetupInterrupted, TrackingError, first_line
from tunetrack.storage import schema
from tunetrack.storage.base import (
    DatasetRecord,
    Lease,
    RunData,
    StudyRecord,
    StudyRef,
    StudyStorage,
    TrialWrite,
    lease_from_tags,
    lease_tags,
)
from tunetrack.storage.datasets import dataset_fields
from tunetrack.storage.lineage import current_lineage
from tunetrack.storage.remote import GuardedClient, bound_http_waits, translate
from tunetrack.storage.uris import (
    check_experiment_name,
    is_server,
    probe_server,
    resolve_tracking_uri,
    sqlite_path,
)


class MlflowStorage(StudyStorage):
    """Reads and writes tunetrack studies in the MLflow store at ``tracking_uri``.

    ``tracking_uri`` defaults to MLFLOW_TRACKING_URI, else ``sqlite:///mlflow.db``.
    ``read_only`` checks only that the store can be read (``load_study``, ``report``
    reading a study someone else wrote). Raises TrackingError for a URI that cannot work.
    """

    def __init__(self, tracking_uri: str | None = None, *, read_only: bool = False) -> None:
        from mlflow.tracking import MlflowClient

        self.location = resolve_tracking_uri(tracking_uri, writing=not read_only)
        self.read_only = read_only
        # tunetrack reads small JSON artifacts; MLflow's progress bars would only be noise.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if is_server(self.location):
            bound_http_waits()  # a dead server stops a study in bounded time, silently
        path = sqlite_path(self.location)
        if path is None:
            self._client = GuardedClient(_client(MlflowClient, self.location), self.location)
            return
        # MLflow creates a new file's schema on first use: one process at a time, so no
        # process (a reader included) opens a file whose schema is half made.
        with _open_lock(path):
            if not path.exists() and not read_only:
                _create_sqlite_store(path)
            self._client = GuardedClient(_client(MlflowClient, self.location), self.location)
            self._query_store()

    @property
    def tracking_uri(self) -> str:
        return self.location

    # -- set-up ---------------------------------------------------------------------------

    def check_reachable(self) -> None:
        if is_server(self.location):
            probe_server(self.location)
        self._query_store()

    def _query_store(self) -> None:
        try:
            self._client.search_experiments(max_results=1)
        except TrackingError:
            raise
        except Exception as err:
            raise TrackingError(
                f"cannot reach the tracking store {self.location}: {first_line(err)}; "
                "check --tracking-uri or MLFLOW_TRACKING_URI"
            ) from None

    def experiment_id(self, name: str, *, create: bool = True) -> str:
        from mlflow.exceptions import MlflowException

        check_experiment_name(name)
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise TrackingError(
                    f"experiment {name!r} is deleted; restore it in the MLflow UI or pick "
                    "another --experiment"
                )
            if create and schema.TAG_EXPERIMENT_KIND not in experiment.tags:
                self.mark_experiment_kind(experiment.experiment_id)
            return experiment.experiment_id
        if not create:
            raise TrackingError(
                f"no experiment named {name!r} in {self.location}; "
                "run `tunetrack tune` first or pass --experiment"
            )
        try:
            return self._client.create_experiment(
                name,
                artifact_location=self._artifact_root(name),
                tags={schema.TAG_EXPERIMENT_KIND: schema.EXPERIMENT_KIND},
            )
        except MlflowException:
            # Another study created it a moment ago: use theirs.
            experiment = self._client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def mark_experiment_kind(self, experiment_id: str) -> None:
        """Tag the experiment as model training (``schema.EXPERIMENT_KIND``) unless it
        already has a kind, so MLflow's UI opens its runs table, not a GenAI layout."""
        experiment = self._client.get_experiment(experiment_id)
        if schema.TAG_EXPERIMENT_KIND not in experiment.tags:
            self._client.set_experiment_tag(
                experiment_id, schema.TAG_EXPERIMENT_KIND, schema.EXPERIMENT_KIND
            )

    def _artifact_root(self, experiment: str) -> str | None:
        """Keep artifacts beside a local SQLite file instead of wherever the shell stood."""
        path = sqlite_path(self.location)
        if path is None:
            return None
        return (path.parent / "mlartifacts" / artifact_folder(experiment)).as_uri()

    def experiment_name(self, experiment_id: str) -> str:
        return self._client.get_experiment(experiment_id).name

    # -- writing --------------------------------------------------------------------------

    def create_study(self, experiment_id: str, record: StudyRecord) -> str:
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        # Created as a set-up and made a study by its last write: a process killed in
        # between leaves a run no reader takes for a study (discard_setups removes it).
        start_ms = _now_ms()
        run = self._client.create_run(
            experiment_id,
            start_time=start_ms,
            run_name=schema.study_run_name(record.model, start_ms),
            tags={**_lineage_tags(), schema.TAG_ROLE: schema.ROLE_SETUP,
                  schema.TAG_MODEL: record.model, **record.tags},
        )  # fmt: skip
        run_id = run.info.run_id
        try:
            params = dict(record.params)
            params.update({f"data.{d.role}_sha256": d.sha256 for d in record.datasets})
            self._client.log_batch(
                run_id,
                params=[Param(k, schema.param_text(v)) for k, v in params.items()],
                tags=[RunTag(schema.TAG_NOTE, schema.study_note(record.model, record.engine))],
            )
            self._client.log_dict(run_id, dict(record.config), schema.CONFIG_ARTIFACT)
            self._client.log_dict(run_id, dict(record.space), schema.SPACE_ARTIFACT)
            for path, value in record.artifacts.items():
                self._client.log_dict(run_id, value, path)
            try:
                self._log_datasets(run_id, record.datasets)
            except MlflowException:
                # MLflow inserts a dataset row only if it is new, which races when two
                # studies start on the same data at once; the second try finds it.
                self._log_datasets(run_id, record.datasets)
            self._client.set_tag(run_id, schema.TAG_ROLE, schema.ROLE_STUDY)
        except BaseException as err:
            # A study that could not record its set-up would be unreadable: remove it
            # (when the store still answers, and unless a second Ctrl-C stops that too;
            # else it stays a set-up that readers skip and discard_setups removes).
            removed = False
            with contextlib.suppress(Exception, KeyboardInterrupt):
                self._client.delete_run(run_id)
                removed = True
            if isinstance(err, KeyboardInterrupt):
                raise SetupInterrupted(run_id, removed=removed) from None
            if isinstance(err, OSError):
                raise TrackingError(
                    f"cannot write the study's artifacts to {run.info.artifact_uri}: "
                    f"{first_line(err)}; free space or make it writable"
                ) from None
            raise
        return run_id

    def discard_setups(self, experiment_id: str, is_dead: Callable[[RunData], bool]) -> list[str]:
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{schema.TAG_ROLE}` = '{schema.ROLE_SETUP}'",
            max_results=100,
        )
        gone = [_run_data(r) for r in runs]
        gone = [r for r in gone if is_dead(r)]
        for run in gone:
            self._client.delete_run(run.run_id)
        return [r.run_id for r in gone]

    def _log_datasets(self, run_id: str, datasets: Sequence[DatasetRecord]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        inputs = []
        for record in datasets:
            context = "training" if record.role == "train" else "validation"
            inputs.append(
                DatasetInput(
                    dataset=Dataset(**dataset_fields(record)),
                    tags=[InputTag(key="mlflow.data.context", value=context)],
                )
            )
        self._client.log_inputs(run_id, datasets=inputs)

    def start_trial(
        self, study: StudyRef, number: int, *, model: str, start_ms: int | None = None
    ) -> tuple[str, int]:
        start_ms = _now_ms() if start_ms is None else start_ms
        run = self._client.create_run(
            study.experiment_id,
            start_time=start_ms,
            run_name=schema.trial_run_name(number),
            tags=schema.trial_start_tags(study.run_id, number, model),
        )
        return run.info.run_id, start_ms

    def finish_trial(self, run_id: str, write: TrialWrite, *, end_ms: int | None = None) -> int:
        from mlflow.entities import Metric, Param, RunTag

        end_ms = _now_ms() if end_ms is None else end_ms
        tags = {
            schema.TAG_STATE: str(write.state),
            schema.TAG_PARAMS: schema.params_tag(write.params),
            **({schema.TAG_ERROR: write.error} if write.error else {}),
            **write.tags,
        }
        pruned_at = _int_or_none(write.tags.get(schema.TAG_PRUNED_AT))
        metrics = [
            Metric(name, value, end_ms, step)
            for name, value, step in schema.stored_metrics(write.state, write.metrics, pruned_at)
        ]
        metrics += [
            Metric(schema.CURVE_METRIC, float(value), end_ms, step) for step, value in write.curve
        ]
        params = [Param(k, schema.param_text(v)) for k, v in write.ui_params.items()]
        # One call: the client splits it into batches within MLflow's per-call limits.
        self._client.log_batch(
            run_id, metrics=metrics, params=params, tags=[RunTag(k, v) for k, v in tags.items()]
        )
        self._client.set_terminated(run_id, status=schema.RUN_STATUS[write.state], end_time=end_ms)
        return end_ms

    def finish_study(
        self, run_id: str, *, metrics: Mapping[str, float], status: str, tags: Mapping[str, str]
    ) -> None:
        from mlflow.entities import Metric, RunTag

        now = _now_ms()
        self._client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        self._client.set_terminated(run_id, status=status, end_time=now)

    def reopen_study(self, run_id: str) -> None:
        self._client.update_run(run_id, status="RUNNING")

    def update_study(
        self, run_id: str, *, tags: Mapping[str, str], config: Mapping[str, Any] | None = None
    ) -> None:
        from mlflow.entities import RunTag

        if tags:
            self._client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if config is not None:
            self._client.log_dict(run_id, dict(config), schema.CONFIG_ARTIFACT)

    def read_lease(self, run_id: str) -> Lease | None:
        return lease_from_tags(self.get_run(run_id).tags)

    def write_lease(self, run_id: str, lease: Lease) -> None:
        from mlflow.entities import RunTag

        # One call, so a reader never sees one process's owner with another's expiry.
        self._client.log_batch(run_id, tags=[RunTag(k, v) for k, v in lease_tags(lease).items()])

    def drop_lease(self, run_id: str) -> None:
        from mlflow.exceptions import MlflowException

        for key in (schema.TAG_LEASE_OWNER, schema.TAG_LEASE_EXPIRES):
            # Not there (dropped already): nothing to remove.
            with contextlib.suppress(MlflowException):
                self._client.delete_tag(run_id, key)

    def mark_killed(self, run_id: str, reason: str) -> None:
        from mlflow.entities import RunTag

        self._client.log_batch(
            run_id,
            tags=[
                RunTag(schema.TAG_STATE, str(schema.TrialState.KILLED)),
                RunTag(schema.TAG_ERROR, reason),
            ],
        )
        self._client.set_terminated(run_id, status="KILLED")

    def log_report(self, run_id: str, directory: str | Path) -> str:
        self._client.log_artifacts(run_id, str(directory), schema.REPORT_ARTIFACT_DIR)
        artifact_uri = self._client.get_run(run_id).info.artifact_uri.rstrip("/")
        return f"{artifact_uri}/{schema.REPORT_ARTIFACT_DIR}"

    # -- reading --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunData:
        try:
            run = self._client.get_run(run_id)
        except TrackingError:
            raise  # unreachable, a refused login or permission: not about the run id
        except Exception as err:
            raise TrackingError(
                f"no run {run_id!r} in {self.location} ({first_line(err)}); "
                "check the study's run id"
            ) from None
        return _run_data(run)

    def trial_runs(self, study_run_id: str, experiment_id: str) -> list[RunData]:
        query = schema.trial_filter(study_run_id)
        return [_run_data(r) for r in self._search(experiment_id, query)]

    def latest_study(self, experiment: str) -> RunData:
        experiment_id = self.experiment_id(experiment, create=False)
        runs = self._client.search_runs(
            [experiment_id],
            filter_string=schema.STUDY_FILTER,
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            raise TrackingError(
                f"experiment {experiment!r} has no tunetrack study; run `tunetrack tune` first"
            )
        return _run_data(runs[0])

    def load_json_artifact(self, run_id: str, path: str) -> Any:
        from mlflow.artifacts import download_artifacts

        try:
            with tempfile.TemporaryDirectory() as folder:
                local = download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=folder,
                    tracking_uri=self.location,
                )  # fmt: skip
                return json.loads(Path(local).read_text(encoding="utf-8"))
        except Exception as err:  # a study still starting has not written it yet
            mapped = translate(err, self.location)
            if mapped is not None:
                raise mapped from None
            raise TrackingError(
                f"cannot read {path} of run {run_id} ({first_line(err)}); if the study is "
                "just starting, try again in a moment"
            ) from None

    def curve(self, run_id: str) -> list[tuple[int, float]]:
        history = self._client.get_metric_history(run_id, schema.CURVE_METRIC)
        return sorted({m.step: m.value for m in history}.items())

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


def artifact_folder(experiment: str) -> str:
    """The folder name of an experiment's artifacts under ``mlartifacts/``: the name when
    it is a plain, safe file name, else its safe characters plus a digest of the exact
    name, so no name escapes the folder (``..``) and no two names share one (``a/b``,
    ``a_b``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment)[:100]
    if safe == experiment and not safe.startswith("."):
        return safe
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:12]
    return f"{safe.lstrip('.')}-{digest}" if safe.strip(".") else digest


def _client(factory: Any, uri: str) -> Any:
    """An MlflowClient for a store whose database driver may not be installed."""
    try:
        return factory(tracking_uri=uri)  # a database store imports its driver here
    except ModuleNotFoundError as err:
        scheme = urlparse(uri).scheme
        raise TrackingError(
            f"tracking URI {scheme}://... needs the Python database driver {err.name!r}, "
            "which is not installed; install it (e.g. pip install psycopg2-binary for "
            "postgresql, mysqlclient for mysql) or use sqlite:///mlflow.db"
        ) from None


def _create_sqlite_store(path: Path) -> None:
    """Make a new SQLite file in write-ahead-logging mode (the setting sticks to the file)."""
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as err:
        raise TrackingError(
            f"cannot create the tracking database {path}: {err}; "
            "check the folder or choose another --tracking-uri"
        ) from None


@contextlib.contextmanager
def _open_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on opening ``path``'s store, kept in this user's folder under the
    temp folder (never beside the store, so reading needs no write access there). Where no
    lock file can be made the store is opened unlocked, as MLflow itself would."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"tunetrack-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        handle = open(folder / f"open-{digest}.lock", "a+b")  # noqa: SIM115 (closed below)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _lineage_tags() -> dict[str, str]:
    """A study run's lineage under MLflow's own tag names (what its fluent runs carry)."""
    from mlflow.entities import SourceType
    from mlflow.utils.mlflow_tags import (
        MLFLOW_GIT_BRANCH,
        MLFLOW_GIT_COMMIT,
        MLFLOW_SOURCE_NAME,
        MLFLOW_SOURCE_TYPE,
        MLFLOW_USER,
    )

    lineage = current_lineage()
    tags = {
        MLFLOW_USER: lineage.user,
        MLFLOW_SOURCE_NAME: lineage.source,
        MLFLOW_SOURCE_TYPE: SourceType.to_string(SourceType.LOCAL),
    }
    if lineage.git is not None:
        commit, branch = lineage.git
        tags[MLFLOW_GIT_COMMIT] = commit
        if branch:
            tags[MLFLOW_GIT_BRANCH] = branch
    return {**tags, **lineage.version_tags()}
