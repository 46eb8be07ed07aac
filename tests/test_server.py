"""The team server's cheap checks (issue 16): `tunetrack server` refuses unsafe or missing
settings before anything starts, builds MLflow's command and auth config the safe way, and
every command meets a tracking server that is down with one line, exit 2, in seconds.

The end-to-end checks against a real PostgreSQL and a running server (logins, 401/403,
artifacts, a server killed mid-study) are in test_team_server.py (integration stage).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import FAST
from tunetrack.cli import app
from tunetrack.server import (
    ADMIN_PASSWORD_ENV,
    ADMIN_USER_ENV,
    SECRET_KEY_ENV,
    auth_config_text,
    server_command,
    server_env,
    server_settings,
)
from tunetrack.storage.remote import WAIT_ENV, bound_http_waits, retry_settings, server_wait

GOOD_PASSWORD = "correct-horse-battery"
SECRETS = {ADMIN_PASSWORD_ENV: GOOD_PASSWORD, SECRET_KEY_ENV: "0123456789abcdef"}


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Each unsafe or missing setting: (environment changes, extra flags, words the line names).
REFUSED = [
    pytest.param({ADMIN_PASSWORD_ENV: None}, [], ADMIN_PASSWORD_ENV, id="no-admin-password"),
    pytest.param({ADMIN_PASSWORD_ENV: ""}, [], ADMIN_PASSWORD_ENV, id="empty-admin-password"),
    pytest.param(
        {ADMIN_PASSWORD_ENV: "password1234"}, [], "old default", id="mlflow-default-password"
    ),
    pytest.param({ADMIN_PASSWORD_ENV: "short"}, [], "at least 12", id="short-password"),
    pytest.param({SECRET_KEY_ENV: None}, [], SECRET_KEY_ENV, id="no-secret-key"),
    pytest.param({SECRET_KEY_ENV: ""}, [], SECRET_KEY_ENV, id="empty-secret-key"),
    pytest.param(
        {"MLFLOW_BACKEND_STORE_URI": None},
        ["--backend-store-uri", None],
        "--backend-store-uri (or MLFLOW_BACKEND_STORE_URI) is required",
        id="no-store",
    ),
    pytest.param(
        {}, ["--backend-store-uri", "mysql://u@h/db"], "not a PostgreSQL or SQLite", id="mysql"
    ),
    pytest.param(
        {}, ["--backend-store-uri", "./runs"], "not a PostgreSQL or SQLite", id="a-folder-store"
    ),
    pytest.param(
        {},
        ["--backend-store-uri", "postgresql+pg8000://u@h/db"],
        "unsupported PostgreSQL driver",
        id="pg-driver",
    ),
    pytest.param(
        {}, ["--backend-store-uri", "sqlite:///no/such/dir/m.db"], "does not exist", id="no-dir"
    ),
    pytest.param(
        {}, ["--artifacts-destination", None], "--artifacts-destination is required", id="no-art"
    ),
    pytest.param({}, ["--port", "0"], "--port", id="port-0"),
    pytest.param({}, ["--workers", "0"], "--workers", id="workers-0"),
    pytest.param({}, ["--default-permission", "ALL"], "--default-permission", id="permission"),
]


@pytest.mark.parametrize(("env", "flags", "named"), REFUSED)
def test_server_refuses_unsafe_settings_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict, flags: list, named: str
) -> None:
    for key, value in {**SECRETS, **env}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    options = {
        "--backend-store-uri": f"sqlite:///{tmp_path}/m.db",
        "--artifacts-destination": str(tmp_path / "art"),
        "--port": str(_free_port()),
    }
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        options[flag] = value
    args = ["server"] + [x for k, v in options.items() if v is not None for x in (k, v)]
    code, output = _run(args)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    assert named in lines[0]
    assert "Traceback" not in output
    assert "MLflow tracking server on" not in output
    assert not (tmp_path / "m.db").exists()  # nothing was created in the store


def test_settings_are_absolute_and_passed_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**SECRETS, ADMIN_USER_ENV: "boss", "MLFLOW_AUTH_ADMIN_PASSWORD": "someone-elses-pw"}
    settings = server_settings(
        backend_store_uri="sqlite:///runs.db",
        artifacts_destination="artifacts",
        allowed_hosts="mlflow.example.org",
        cors_allowed_origins="https://notebooks.example.org",
        workers=2,
        environ=env,
    )
    assert settings.backend_store_uri == f"sqlite:///{tmp_path / 'runs.db'}"
    assert settings.auth_db_uri == f"sqlite:///{tmp_path / 'mlflow-auth.db'}"  # absolute
    assert settings.artifacts_destination == str(tmp_path / "artifacts")
    assert (tmp_path / "artifacts").is_dir()
    command = server_command(settings)
    pairs = dict(zip(command[4::2], command[5::2], strict=False))
    assert command[1:4] == ["-m", "mlflow", "server"]
    assert "--serve-artifacts" in command
    for flag, value in {
        "--artifacts-destination": str(tmp_path / "artifacts"),
        "--app-name": "basic-auth",
        "--host": "127.0.0.1",  # loopback unless --host says otherwise
        "--workers": "2",
        "--allowed-hosts": "mlflow.example.org",
        "--cors-allowed-origins": "https://notebooks.example.org",
    }.items():
        assert command[command.index(flag) + 1] == value, (flag, pairs)
    text = auth_config_text(settings)
    assert f"database_uri = sqlite:///{tmp_path / 'mlflow-auth.db'}" in text
    assert "admin_username = boss" in text
    assert f"admin_password = {GOOD_PASSWORD}" in text
    assert "default_permission = NO_PERMISSIONS" in text
    child = server_env(settings, tmp_path / "auth.ini", environ=env)
    # MLflow reads its own admin variables before the file: ours must win there too.
    assert child["MLFLOW_AUTH_ADMIN_PASSWORD"] == GOOD_PASSWORD
    assert child["MLFLOW_AUTH_ADMIN_USERNAME"] == "boss"
    assert child["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "auth.ini")
    assert child["MLFLOW_BACKEND_STORE_URI"] == settings.backend_store_uri


DB_URI = "postgresql://mlflow:s3cret-db-pw@127.0.0.1:5432/mlflow"


def _server_child(uri: str) -> tuple[list[str], dict[str, str]]:
    settings = server_settings(
        backend_store_uri=uri, artifacts_destination="s3://bucket/mlflow", environ=SECRETS
    )
    return server_command(settings), server_env(settings, Path("auth.ini"), environ={})


def _ui_child(uri: str) -> tuple[list[str], dict[str, str]]:
    from tunetrack.cli.commands import ui_command

    return ui_command(uri, "127.0.0.1", 5000)


# Every child tunetrack starts on a store: a database password stays out of its command
# line (any user of the machine reads those with `ps`); MLflow reads the store from the
# environment, which only the owner can read.
@pytest.mark.parametrize("child", [_server_child, _ui_child], ids=["server", "ui"])
def test_a_store_password_is_never_on_a_command_line(
    child: Callable[[str], tuple[list[str], dict[str, str]]],
) -> None:
    command, env = child(DB_URI)
    assert "s3cret-db-pw" not in " ".join(command)
    assert "--backend-store-uri" not in command
    assert env["MLFLOW_BACKEND_STORE_URI"].split("://")[1] == DB_URI.split("://")[1]


# tunetrack server's own command line: each URI that may hold a password can come from
# the environment instead (a bad one is refused naming it, the password masked).
@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("MLFLOW_BACKEND_STORE_URI", "--backend-store-uri"),
        ("TUNETRACK_SERVER_AUTH_DB_URI", "--auth-db-uri"),
    ],
)
def test_server_reads_store_uris_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, named: str
) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setenv(variable, "mysql://u:s3cret-db-pw@db/mlflow")
    code, output = _run(["server", "--artifacts-destination", str(tmp_path / "art")])
    assert code == 2, output
    assert named in output, output
    assert "not a PostgreSQL or SQLite" in output, output
    assert "mysql://u:***@db/mlflow" in output
    assert "s3cret-db-pw" not in output


def test_postgres_auth_database_defaults_to_the_backend() -> None:
    uri = "postgresql://mlflow:secret@127.0.0.1:5432/mlflow"
    settings = server_settings(
        backend_store_uri=uri, artifacts_destination="s3://bucket/mlflow", environ=SECRETS
    )
    assert settings.auth_db_uri == settings.backend_store_uri
    # postgresql:// names SQLAlchemy's default driver; psycopg2 when that one is missing.
    assert settings.backend_store_uri.split("://")[1] == uri.split("://")[1]
    assert settings.artifacts_destination == "s3://bucket/mlflow"  # the server's keys, as is


@pytest.mark.parametrize("wait", [0.5, 1, 5, 10, 30, 60, 300, 600])
def test_one_request_retries_within_the_wait(wait: float) -> None:
    settings = retry_settings(wait)
    retries = int(settings["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    backoff = int(settings["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    # urllib3 sleeps 0, 2f, 4f, ... before the retries: f * (2^n - 2) in all.
    slept = backoff * (2**retries - 2)
    assert 1 <= retries <= 5
    assert slept <= max(wait, 0)
    assert wait < 6 or slept >= wait / 2  # and it does use the time it is given
    assert 10 <= int(settings["MLFLOW_HTTP_REQUEST_TIMEOUT"]) <= 120


def test_wait_setting_and_users_own_values() -> None:
    env: dict[str, str] = {WAIT_ENV: "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "9"}
    assert server_wait(env) == 10
    bound_http_waits(env)
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "9"  # a user's own choice stays
    assert env["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert env["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"  # no "View run" lines
    for bad in ("", "nope", "-3", "0", "inf", "nan"):
        assert server_wait({WAIT_ENV: bad}) == 60


# Every command that reads or writes the store, against a server that is not there.
DOWN = [
    pytest.param(["tune", "--max-evals", "1"], id="tune"),
    pytest.param(["tune", "--max-evals", "2", "--resume"], id="tune-resume"),
    pytest.param(["report", "--study", "0" * 32], id="report"),
    pytest.param(["select", "--study", "0" * 32, "--register", "m"], id="select-register"),
    pytest.param(["predict", "models:/m@champion", "rows.parquet"], id="predict-alias"),
    pytest.param(["serve", "models:/m@champion"], id="serve"),
    pytest.param(["ui"], id="ui"),
]


@pytest.mark.parametrize("args", DOWN)
@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_server_that_is_down_is_one_line_before_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sample_paths: tuple[str, str],
    tracking_uri: str,
    args: list[str],
    how: str,
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(WAIT_ENV, "2")
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "rows.parquet").write_bytes(Path(sample_paths[1]).read_bytes())
    if args[0] == "tune":
        train, valid = sample_paths
        args = [*args, "--train", train, "--valid", valid, "--quiet"]
        args += [x for item in FAST for x in ("--set", item)]
    if how == "flag":
        args = [*args, "--tracking-uri", dead]
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    store = Path(tracking_uri.removeprefix("sqlite:///"))
    before = _rows(store)
    code, output = _run(args)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    assert dead in lines[0], lines[0]
    assert "reach" in lines[0] or "answer" in lines[0], lines[0]
    assert _rows(store) == before  # the local default store was not touched either


def _rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
