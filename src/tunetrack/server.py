"""``tunetrack server``: one MLflow tracking server a team can share, started the safe way.

What it starts is MLflow's own server (``mlflow server``) with nothing left to its unsafe
defaults: the backend store and the artifact destination are given (artifacts proxied, so
clients never hold storage credentials), MLflow's basic-auth app is on with an auth
config file written here (absolute auth database path, the admin user and password from
the environment, ``default_permission`` as asked), the Flask secret key comes from the
environment, and it binds 127.0.0.1 unless told otherwise. Everything is checked before
a process starts; once the server answers, the admin password is verified to be ours and
MLflow's old default (``password1234``) to be refused, else the server is stopped.

The server runs in its own process group under a small group leader that dies with this
process (Linux's parent-death signal) and takes the group with it, so neither Ctrl-C,
SIGTERM nor a ``kill -9`` of ``tunetrack server`` leaves MLflow's workers serving.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunetrack.exceptions import ConfigError, TrackingError
from tunetrack.processes import run_foreground
from tunetrack.storage.uris import sqlite_path

ADMIN_USER_ENV = "TUNETRACK_SERVER_ADMIN_USER"
ADMIN_PASSWORD_ENV = "TUNETRACK_SERVER_ADMIN_PASSWORD"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
# MLflow's own variable for `mlflow server --backend-store-uri`; tunetrack server reads it too.
BACKEND_STORE_ENV = "MLFLOW_BACKEND_STORE_URI"
START_ENV = "TUNETRACK_SERVER_START_SECONDS"
DEFAULT_ADMIN_USER = "admin"
# The admin password MLflow's basic_auth.ini shipped until 3.x (GHSA-gq3w-7jj3-x7gr).
MLFLOW_DEFAULT_PASSWORD = "password1234"
MIN_PASSWORD_LENGTH = 12  # MLflow's own rule for basic-auth passwords
PERMISSIONS = ("NO_PERMISSIONS", "READ", "EDIT", "MANAGE")
DEFAULT_PERMISSION = "NO_PERMISSIONS"
AUTH_DB_NAME = "mlflow-auth.db"
_BACKEND_SCHEMES = ("postgresql", "sqlite")
_DRIVERS = {
    "postgresql": "psycopg2",
    "postgresql+psycopg2": "psycopg2",
    "postgresql+psycopg": "psycopg",
}


@dataclass(frozen=True)
class ServerSettings:
    """A checked server configuration: every URI absolute, every secret present."""

    backend_store_uri: str
    artifacts_destination: str
    auth_db_uri: str
    admin_user: str
    admin_password: str
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int | None = None
    allowed_hosts: str | None = None
    cors_allowed_origins: str | None = None
    default_permission: str = DEFAULT_PERMISSION

    @property
    def url(self) -> str:
        """The address clients use (a wildcard bind is reached by this host's name)."""
        host = socket.getfqdn() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def local_url(self) -> str:
        """The address this process checks the server on."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


def server_settings(
    *,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    auth_db_uri: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int | None = None,
    allowed_hosts: str | None = None,
    cors_allowed_origins: str | None = None,
    default_permission: str = DEFAULT_PERMISSION,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """Check a server's settings and the secrets in ``environ`` (default: os.environ).

    Raises ConfigError, naming the setting and its fix, for a missing or default admin
    password, a missing Flask secret key, a backend that is neither PostgreSQL nor SQLite
    (or whose driver is not installed), an unusable artifact folder, a bad port, worker
    count or permission. Nothing is started or written but the artifact folder.
    """
    env = os.environ if environ is None else environ
    password = env.get(ADMIN_PASSWORD_ENV, "")
    if not password:
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} is not set; export the admin password (at least "
            f"{MIN_PASSWORD_LENGTH} characters) before starting the server"
        )
    if password == MLFLOW_DEFAULT_PASSWORD:
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} is MLflow's old default admin password, which anyone "
            "can guess; choose another one"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} is {len(password)} characters; MLflow needs at least "
            f"{MIN_PASSWORD_LENGTH}: choose a longer one"
        )
    admin_user = env.get(ADMIN_USER_ENV, "") or DEFAULT_ADMIN_USER
    secret_key = env.get(SECRET_KEY_ENV, "")
    if not secret_key:
        raise ConfigError(
            f"{SECRET_KEY_ENV} is not set; export a long random value (e.g. "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`), the same on every "
            "server of the team"
        )
    if not backend_store_uri:
        raise ConfigError(
            f"--backend-store-uri (or {BACKEND_STORE_ENV}) is required: "
            "postgresql://USER@HOST:5432/DB for a team (sqlite:////absolute/path.db for one "
            "user)"
        )
    backend = _database_uri(backend_store_uri, "--backend-store-uri")
    if auth_db_uri:
        auth = _database_uri(auth_db_uri, "--auth-db-uri")
    else:
        path = sqlite_path(backend)
        # SQLite: a file beside the store's; a database server: the same database (MLflow
        # keeps its login tables apart, with a migration table of their own).
        auth = f"sqlite:///{path.parent / AUTH_DB_NAME}" if path is not None else backend
    if not artifacts_destination:
        raise ConfigError(
            "--artifacts-destination is required: a folder on the server (or an object store "
            "URI such as s3://bucket/path) where the server keeps every artifact"
        )
    artifacts = _artifacts_destination(artifacts_destination)
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535; got {port}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {workers}")
    permission = default_permission.upper()
    if permission not in PERMISSIONS:
        raise ConfigError(
            f"--default-permission must be one of {', '.join(PERMISSIONS)}; got "
            f"{default_permission!r}"
        )
    return ServerSettings(
        backend_store_uri=backend,
        artifacts_destination=artifacts,
        auth_db_uri=auth,
        admin_user=admin_user,
        admin_password=password,
        secret_key=secret_key,
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=allowed_hosts,
        cors_allowed_origins=cors_allowed_origins,
        default_permission=permission,
    )


def _database_uri(uri: str, flag: str) -> str:
    """A PostgreSQL URI as it is (its driver checked), a SQLite one made absolute."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme.split("+", 1)[0] not in _BACKEND_SCHEMES:
        raise ConfigError(
            f"{flag} {_masked(uri)!r} is not a PostgreSQL or SQLite URI; use "
            "postgresql://USER@HOST:5432/DB (or sqlite:////absolute/path.db for one user)"
        )
    if scheme == "postgresql":
        uri, scheme = _with_installed_driver(uri)
    driver = _DRIVERS.get(scheme)
    if scheme.startswith("postgresql") and driver is None:
        raise ConfigError(
            f"{flag}: unsupported PostgreSQL driver in {scheme!r}; use postgresql:// "
            "(psycopg2) or postgresql+psycopg://"
        )
    if driver is not None and importlib.util.find_spec(driver) is None:
        raise ConfigError(
            f"{flag} needs the {driver} package to reach PostgreSQL; "
            "pip install 'tunetrack[server]'"
        )
    path = sqlite_path(uri)
    if scheme == "sqlite":
        if path is None:
            raise ConfigError(f"{flag} {uri!r} names no database file; use sqlite:////abs/path.db")
        if not path.parent.is_dir():
            raise ConfigError(f"{flag}: the folder {path.parent} does not exist; create it first")
        return f"sqlite:///{path}"
    return uri


def _with_installed_driver(uri: str) -> tuple[str, str]:
    """A plain ``postgresql://`` URI, naming psycopg2 when SQLAlchemy's default driver
    (psycopg 3 from SQLAlchemy 2.1) is not installed and psycopg2 (tunetrack[server]) is."""
    from sqlalchemy.engine import make_url

    try:
        default = make_url(uri).get_dialect().driver
    except Exception:  # an unparsable URI: left to the driver check and MLflow
        return uri, "postgresql"
    if importlib.util.find_spec(default) is None and importlib.util.find_spec("psycopg2"):
        return "postgresql+psycopg2://" + uri.split("://", 1)[1], "postgresql+psycopg2"
    return uri, f"postgresql+{default}" if default in ("psycopg", "psycopg2") else "postgresql"


def _artifacts_destination(where: str) -> str:
    scheme = urllib.parse.urlparse(where).scheme
    if len(scheme) > 1 and scheme != "file":  # s3://, gs://, wasbs://...: the server's keys
        return where
    folder = Path(urllib.parse.urlparse(where).path if scheme == "file" else where)
    folder = folder.expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"--artifacts-destination: cannot create {folder}: {err.strerror}; choose a "
            "writable folder"
        ) from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--artifacts-destination {folder} is not a writable folder; choose another one"
        )
    return str(folder)


def _masked(uri: str) -> str:
    """``uri`` with any password in it replaced by ``***`` (for printing)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def auth_config_text(settings: ServerSettings) -> str:
    """The basic-auth config file MLflow reads (``MLFLOW_AUTH_CONFIG_PATH``)."""
    lines = [
        "[mlflow]",
        f"default_permission = {settings.default_permission}",
        f"database_uri = {settings.auth_db_uri}",
        f"admin_username = {settings.admin_user}",
        f"admin_password = {settings.admin_password}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
    ]
    # configparser would read "%" as an interpolation: double it.
    return "\n".join(line.replace("%", "%%") for line in lines) + "\n"


def server_command(settings: ServerSettings) -> list[str]:
    """The ``mlflow server`` command line for ``settings``: no secret on it, since any
    user of the machine can read a command line (``ps``); the store URI, which may hold
    the database password, goes through the environment (``server_env``)."""
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--serve-artifacts",
        "--artifacts-destination", settings.artifacts_destination,
        "--app-name", "basic-auth",
        "--host", settings.host,
        "--port", str(settings.port),
    ]  # fmt: skip
    if settings.workers is not None:
        command += ["--workers", str(settings.workers)]
    if settings.allowed_hosts:
        command += ["--allowed-hosts", settings.allowed_hosts]
    if settings.cors_allowed_origins:
        command += ["--cors-allowed-origins", settings.cors_allowed_origins]
    return command


def server_env(
    settings: ServerSettings, config_path: Path, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The server's environment: ours, pointed at the auth config, with the admin and
    secret set explicitly (MLflow's own MLFLOW_AUTH_ADMIN_* would otherwise win), and
    the backend store in MLFLOW_BACKEND_STORE_URI, which ``mlflow server`` reads in
    place of its flag (a process's environment is readable by its owner only)."""
    env = dict(os.environ if environ is None else environ)
    env.update({
        BACKEND_STORE_ENV: settings.backend_store_uri,
        "MLFLOW_AUTH_CONFIG_PATH": str(config_path),
        "MLFLOW_AUTH_ADMIN_USERNAME": settings.admin_user,
        "MLFLOW_AUTH_ADMIN_PASSWORD": settings.admin_password,
        SECRET_KEY_ENV: settings.secret_key,
    })  # fmt: skip
    return env


def connect_line(settings: ServerSettings) -> str:
    return (
        f"MLflow tracking server on {settings.url} (backend "
        f"{_masked(settings.backend_store_uri)}, artifacts {settings.artifacts_destination}, "
        f"logins in {_masked(settings.auth_db_uri)}). Clients: export "
        f"MLFLOW_TRACKING_URI={settings.url} MLFLOW_TRACKING_USERNAME=<user> "
        "MLFLOW_TRACKING_PASSWORD=<password>, or pass --tracking-uri. Ctrl-C stops it."
    )


def run_server(settings: ServerSettings, *, say: Callable[[str], Any] = print) -> int:
    """Start the server, check its logins, say how clients connect, and serve until it
    exits or this process gets Ctrl-C/SIGTERM; returns its exit code (0 when stopped).

    Raises TrackingError when the server exits or stays silent before it answers, and
    ConfigError (the server stopped) when the auth database's admin password is not
    ours or MLflow's old default still logs in.
    """
    if importlib.util.find_spec("flask_wtf") is None:  # MLflow's auth app needs it (CSRF)
        raise ConfigError(
            "MLflow's login app needs the Flask-WTF package; pip install 'tunetrack[server]'"
        )
    with tempfile.TemporaryDirectory(prefix="tunetrack-server-") as folder:  # mode 0700
        config = Path(folder) / "basic_auth.ini"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(auth_config_text(settings))

        def started(proc: subprocess.Popen[bytes]) -> None:
            _wait_until_up(proc, settings.local_url)
            check_logins(settings)
            say(connect_line(settings))

        # its own group, led by a process that stops it when we end (kill -9 included)
        return run_foreground(
            server_command(settings),
            env=server_env(settings, config),
            started=started,
        )


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> None:
    """Return once the server answers; raise if it exits first or never answers."""
    text = os.environ.get(START_ENV, "")
    wait = float(text) if text.replace(".", "", 1).isdigit() else 600.0
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise TrackingError(
                f"the MLflow server exited with code {code} before it answered (its messages "
                "are above); fix what they name and start it again"
            )
        if status(f"{url}/health") is not None:
            return
        time.sleep(0.5)
    raise TrackingError(
        f"the MLflow server did not answer on {url} within {wait:.0f} s; see its messages "
        f"above (or raise {START_ENV})"
    )


def status(
    url: str, user: str | None = None, password: str | None = None, *, timeout: float = 10
) -> int | None:
    """The HTTP status of a GET of ``url`` (with basic auth when given); None: no answer
    within ``timeout`` seconds."""
    request = urllib.request.Request(url)
    if user is not None and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


def check_logins(settings: ServerSettings) -> None:
    """Verify, through the server's REST API, that the admin logs in with our password
    and that MLflow's old default password does not; raises ConfigError otherwise."""
    user = urllib.parse.quote(settings.admin_user)
    url = f"{settings.local_url}/api/2.0/mlflow/users/get?username={user}"
    # A login check hashes the password (PBKDF2) and may be a worker's first request.
    ours = status(url, settings.admin_user, settings.admin_password, timeout=120)
    if ours is None:
        raise TrackingError(
            f"the MLflow server on {settings.local_url} did not answer its first login; "
            "see its messages above"
        )
    if ours != 200:
        raise ConfigError(
            f"the auth database {_masked(settings.auth_db_uri)} already has admin user "
            f"{settings.admin_user!r} with another password (MLflow sets it only when it "
            f"creates the user; login answered {ours}); set {ADMIN_PASSWORD_ENV} to that "
            "password, or point --auth-db-uri at a new database"
        )
    for name in dict.fromkeys((settings.admin_user, DEFAULT_ADMIN_USER)):
        if status(url, name, MLFLOW_DEFAULT_PASSWORD, timeout=120) == 200:
            raise ConfigError(
                f"user {name!r} in {_masked(settings.auth_db_uri)} still logs in with MLflow's "
                "old default password; change it (README: Team server) before serving"
            )
