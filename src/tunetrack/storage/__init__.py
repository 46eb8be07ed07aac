"""Where studies are kept: the tracking contract and its backends.

``open_storage`` turns what a user passes (a tracking URI, ``None`` for the default, or a
``StudyStorage``) into a backend: ``memory:`` gives this process's ``InMemoryStorage``,
anything else an ``MlflowStorage``. A new backend (a second tracking system, say) subclasses
``StudyStorage`` and passes the contract tests in tests/test_storage_contract.py.
"""

from __future__ import annotations

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
]
