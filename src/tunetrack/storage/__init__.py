"""Where studies are kept: the tracking contract and its backends.

``open_storage`` turns what a user passes (a tracking URI, ``None`` for the default, or a
``StudyStorage``) into a backend: ``memory:`` gives this process's ``InMemoryStorage``,
anything else an ``MlflowStorage``. A new backend (a second tracking system, say) subclasses
``StudyStorage`` and passes the contract tests in tests/test_storage_contract.py.
"""

from __future__ import annotations

import importlib
import os
import threading

from tunetrack.storage.base import (
    DatasetRecord,
    Lease,
    RunData,
    StudyRecord,
    StudyRef,
    StudyStorage,
    TrialWrite,
)
from tunetrack.storage.uris import (
    DEFAULT_TRACKING_URI,
    MEMORY_URI,
    resolve_tracking_uri,
)


def open_storage(
    where: str | StudyStorage | None = None, *, read_only: bool = False
) -> StudyStorage:
    """The backend for ``where``: a ``StudyStorage`` as it is, ``memory:`` a fresh
    in-memory store, else the MLflow store at that tracking URI (None: the default).

    Raises TrackingError for a URI that cannot work (see ``resolve_tracking_uri``).
    """
    if isinstance(where, StudyStorage):
        return where
    uri = resolve_tracking_uri(where, writing=not read_only)
    if uri == MEMORY_URI:
        from tunetrack.storage.in_memory import shared_memory_storage

        return shared_memory_storage()
    from tunetrack.storage.mlflow import MlflowStorage

    return MlflowStorage(uri, read_only=read_only)


# Imported ahead by ``warm_imports``: MLflow's client and, for a SQLite store, the
# libraries its set-up runs (about 3.4 s of CPU for mlflow alone on a loaded 2-core
# machine, measured with resource.getrusage around the import).
_WARM_MODULES = ("mlflow", "mlflow.tracking")
_WARM_SQL_MODULES = ("sqlalchemy", "alembic.command")


def warm_imports(where: str | StudyStorage | None = None) -> threading.Thread | None:
    """Import the MLflow client (and SQLAlchemy with Alembic for a SQLite store) in a
    daemon thread, so they load while the data is read and prepared. Imports only: no
    file or store is touched, so a study refused for bad input still writes nothing.
    Returns the thread (None when nothing needs importing)."""
    if isinstance(where, StudyStorage):
        return None
    uri = where or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri == MEMORY_URI:
        return None
    modules = _WARM_MODULES + (_WARM_SQL_MODULES if uri.startswith("sqlite:") else ())

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the real import, later, reports any problem
                return

    thread = threading.Thread(target=load, name="tunetrack-warm-imports", daemon=True)
    thread.start()
    return thread


__all__ = [
    "DEFAULT_TRACKING_URI",
    "MEMORY_URI",
    "DatasetRecord",
    "Lease",
    "RunData",
    "StudyRecord",
    "StudyRef",
    "StudyStorage",
    "TrialWrite",
    "open_storage",
    "resolve_tracking_uri",
    "warm_imports",
]
