"""Tracking URIs: which store a user means, checked before anything is opened."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from tunetrack.exceptions import TrackingError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MEMORY_URI = "memory:"
_KNOWN_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")


def resolve_tracking_uri(uri: str | None = None, *, writing: bool = True) -> str:
    """The explicit URI, else MLFLOW_TRACKING_URI, else local SQLite in the working dir.

    Raises TrackingError for an unknown scheme, a malformed SQLite URI, a missing folder,
    or (when ``writing``) a database file or folder this process cannot write.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    if uri == MEMORY_URI:
        return uri
    scheme = urlparse(uri).scheme
    base = scheme.split("+", 1)[0]
    if scheme and len(scheme) > 1 and base not in _KNOWN_SCHEMES:
        raise TrackingError(
            f"unsupported tracking URI {uri!r}; use sqlite:///PATH.db, a directory, "
            "http(s)://HOST:PORT or a database URL"
        )
    if base == "sqlite":
        _check_sqlite(uri, writing=writing)
    if (not scheme or len(scheme) == 1 or base == "file") and not _file_store_allowed():
        # MLflow 3 refuses its file store unless told (MLFLOW_ALLOW_FILE_STORE); say it here.
        folder = uri.removeprefix("file://") or "."
        raise TrackingError(
            f"tracking URI {uri!r} is a folder (MLflow's file store, which MLflow no longer "
            f"opens by default); use a database such as sqlite:///{folder.rstrip('/')}/mlflow.db "
            "(or set MLFLOW_ALLOW_FILE_STORE=true)"
        )
    return uri


def _file_store_allowed() -> bool:
    return os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("1", "true", "yes")


# MLflow's own limit on an experiment name (its store refuses longer ones).
MAX_EXPERIMENT_NAME = 500


def check_experiment_name(name: str) -> None:
    """Raise TrackingError for an experiment name MLflow would refuse (empty, too long)."""
    if not name.strip():
        raise TrackingError("the experiment name is empty; pass --experiment NAME")
    if len(name) > MAX_EXPERIMENT_NAME:
        raise TrackingError(
            f"the experiment name is {len(name)} characters long; MLflow takes at most "
            f"{MAX_EXPERIMENT_NAME}, so pass a shorter --experiment"
        )


def _check_sqlite(uri: str, *, writing: bool) -> None:
    path = sqlite_path(uri)
    if path is None:
        raise TrackingError(
            f"malformed SQLite tracking URI {uri!r}; write sqlite:///relative.db "
            "or sqlite:////absolute/path.db"
        )
    if not path.parent.is_dir():
        raise TrackingError(
            f"the directory for the tracking database does not exist: {path.parent}; "
            "create it or choose another --tracking-uri"
        )
    if not writing:
        if not path.exists():
            raise TrackingError(
                f"no tracking database at {path}; run `tunetrack tune` first or pass --tracking-uri"
            )
        if not os.access(path, os.R_OK):
            raise TrackingError(f"cannot read the tracking database {path}; check its permissions")
        return
    # SQLite writes a journal beside the file, so the folder must be writable too.
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TrackingError(
            f"cannot write the tracking database {path}; choose a writable --tracking-uri"
        )


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and ``:memory:``."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix) or ":memory:" in uri:
        return None
    return Path(uri[len(prefix) :].split("?", 1)[0]).resolve()


def is_server(uri: str) -> bool:
    return urlparse(uri).scheme in ("http", "https")


def probe_server(uri: str) -> None:
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
