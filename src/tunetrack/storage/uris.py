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
    return uri


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
