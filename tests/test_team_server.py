"""Issue 16's "Done when": a real PostgreSQL and `tunetrack server` on loopback, a team of
users, and every command through it (integration stage: `make test-integration`).

One PostgreSQL and one server per module. PostgreSQL runs as an unprivileged user (root
cannot run it: the tests then use `nobody`) in a temporary folder on a free loopback port;
the server is `tunetrack server` itself, stopped (and checked gone) at the end. Users act
through the environment variables MLflow documents (MLFLOW_TRACKING_USERNAME/PASSWORD);
MLFLOW_TRACKING_URI keeps pointing at the test's local SQLite store, so every command
proves that `--tracking-uri` alone reaches the server.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE, port_closed
from tunetrack.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN, ADMIN_PW = "admin", "team-server-admin-pw"
ALICE, ALICE_PW = "alice", "alice-has-a-long-pw"
BOB, BOB_PW = "bob", "bob-has-a-long-password"
DB_USER, DB_PW, DB_NAME = "mlflow", "db-password-42", "mlflow"
BACKSTOP = 900  # seconds: only ever reached when something is broken
SRC = Path(__file__).resolve().parents[1] / "src"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_bin() -> Path:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        )
        folder = Path(found.stdout.strip())
        if (folder / "initdb").exists():
            return folder
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists():
            return Path(folder)
    raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")


class Postgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as an unprivileged user."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = _free_port()
        # Outside pytest's 0700 temp folders, so the unprivileged user can reach it.
        self.root = Path(tempfile.mkdtemp(prefix="tunetrack-pg-"))
        self.data = self.root / "data"
        self.as_user: dict[str, int] = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self.as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid}
        self.proc: subprocess.Popen[bytes] | None = None

    def _run(self, *args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, cwd=self.root, **self.as_user)  # type: ignore[call-overload]

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        )  # fmt: skip
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
             "-p", str(self.port), "-k", str(self.root), "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root, **self.as_user,
        )  # fmt: skip
        deadline = time.monotonic() + BACKSTOP
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            assert self.proc.poll() is None, "postgres exited at start"
            time.sleep(0.5)
        # The README's commands: a login role with a password and a database it owns.
        self.psql(f"CREATE USER {DB_USER} WITH PASSWORD '{DB_PW}'")
        self.psql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")

    def psql(self, sql: str) -> None:
        self._run(
            "psql", "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
            "-v", "ON_ERROR_STOP=1", "-c", sql,
        )  # fmt: skip

    @property
    def uri(self) -> str:
        return f"postgresql://{DB_USER}:{DB_PW}@127.0.0.1:{self.port}/{DB_NAME}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """`tunetrack server` as a user starts it, in its own process."""

    def __init__(self, backend: str, artifacts: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts = artifacts
        self.backend = backend
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env.update({
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
            "TUNETRACK_SERVER_ADMIN_PASSWORD": ADMIN_PW,
            "TUNETRACK_SERVER_START_SECONDS": str(BACKSTOP),  # a loaded machine starts slowly
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "a-secret-key-for-the-test-server",
            # The README's way: the store (its password) in the environment, not on `ps`.
            "MLFLOW_BACKEND_STORE_URI": self.backend,
        })  # fmt: skip
        return env

    def start(self) -> None:
        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tunetrack.cli", "server",
             "--artifacts-destination", str(self.artifacts),
             "--port", str(self.port), "--workers", "1"],
            env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        ready = threading.Event()

        def read(stream: object) -> None:
            for line in stream:  # type: ignore[attr-defined]
                self.lines.append(line)
                if "MLflow tracking server on" in line:
                    ready.set()

        threading.Thread(target=read, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + BACKSTOP
        while not ready.wait(1):
            assert self.proc.poll() is None, "".join(self.lines[-30:])
            assert time.monotonic() < deadline, "".join(self.lines[-30:])

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


HTTP_WAITS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
              "MLFLOW_HTTP_REQUEST_TIMEOUT")  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def patient_clients() -> Iterator[None]:
    """Commands here wait up to 10 minutes for a server on a loaded machine (the default
    60 s ran out at load 20); tunetrack derives MLflow's retry settings from it."""
    saved = {
        key: os.environ.pop(key, None) for key in (*HTTP_WAITS, "TUNETRACK_SERVER_WAIT_SECONDS")
    }
    os.environ["TUNETRACK_SERVER_WAIT_SECONDS"] = "600"
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    cluster = Postgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(postgres.uri, tmp_path_factory.mktemp("server") / "artifacts")
    try:
        running.start()
        yield running
    finally:
        running.stop()
        assert port_closed(running.port, wait=120), "the server's workers outlived it"


def _status(url: str, user: str | None = None, password: str | None = None) -> int:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


@contextlib.contextmanager
def as_user(
    monkeypatch: pytest.MonkeyPatch, user: str | None, password: str | None
) -> Iterator[None]:
    """Act as ``user`` through MLflow's own credential variables."""
    with monkeypatch.context() as patch:
        for key, value in (
            ("MLFLOW_TRACKING_USERNAME", user),
            ("MLFLOW_TRACKING_PASSWORD", password),
        ):
            if value is None:
                patch.delenv(key, raising=False)
            else:
                patch.setenv(key, value)
        yield


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _one_error_line(output: str, *words: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error:"), output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _tune_args(url: str, experiment: str, max_evals: int, *extra: str) -> list[str]:
    args = ["tune", "--train", str(TRAIN_SAMPLE), "--valid", str(VALID_SAMPLE), "--quiet",
            "--max-evals", str(max_evals), "--experiment", experiment,
            "--tracking-uri", url]  # fmt: skip
    for item in [*FAST, *extra]:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def team(server: Server) -> dict[str, str]:
    """The README's admin steps: create users, an experiment, and grant it to alice."""
    from mlflow.server import get_app_client
    from mlflow.tracking import MlflowClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        patch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
        auth = get_app_client("basic-auth", tracking_uri=server.url)
        auth.create_user(username=ALICE, password=ALICE_PW)
        auth.create_user(username=BOB, password=BOB_PW)
        experiment_id = MlflowClient(server.url).create_experiment("team")
        auth.grant_user_permission(ALICE, "experiment", experiment_id, "EDIT")
    return {"experiment_id": experiment_id}


def _runs(server: Server, experiment_id: str) -> list:
    from mlflow.tracking import MlflowClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
        patch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PW)
        return list(MlflowClient(server.url).search_runs([experiment_id], max_results=1000))


def test_logins_are_required_and_only_ours_work(server: Server) -> None:
    api = f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(api) == 401  # anonymous
    assert _status(api, ADMIN, "not-the-password") == 401
    assert _status(api, ADMIN, "password1234") == 401  # MLflow's old default admin password
    assert _status(api, ADMIN, ADMIN_PW) == 200
    out = "".join(server.lines)
    assert f"MLflow tracking server on {server.url}" in out
    assert DB_PW not in out  # the database password is never printed
    # ... nor on any command line (readable by every user of the machine with `ps`).
    assert server.proc is not None
    started = _descendants(server.proc.pid)  # tunetrack server, the leader, mlflow, uvicorn...
    assert len(started) >= 4, started
    assert not [pid for pid in started if DB_PW.encode() in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def _descendants(root: int) -> list[int]:
    """``root`` and every live process descended from it (Linux's /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    found, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return sorted(found)


def test_commands_without_or_with_wrong_credentials_are_one_line(
    server: Server, team: dict[str, str], monkeypatch: pytest.MonkeyPatch, tracking_uri: str
) -> None:
    before = len(_runs(server, team["experiment_id"]))
    with as_user(monkeypatch, None, None):
        code, output = _cli(*_tune_args(server.url, "team", 1))
        assert code == 2
        _one_error_line(output, "asks for a login", "MLFLOW_TRACKING_USERNAME")
    with as_user(monkeypatch, ALICE, "wrong-password-here"):
        code, output = _cli(*_tune_args(server.url, "team", 1))
        assert code == 2
        _one_error_line(output, "refused user 'alice'")
        code, output = _cli("report", "--experiment", "team", "--tracking-uri", server.url)
        assert code == 2
        _one_error_line(output, "refused user 'alice'")
    assert len(_runs(server, team["experiment_id"])) == before  # nothing was written


def test_tune_report_select_predict_resume_through_the_server(
    server: Server,
    team: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tracking_uri: str,
    tmp_path: Path,
) -> None:
    local = Path(tracking_uri.removeprefix("sqlite:///"))
    local_before = _local_rows(local)
    with as_user(monkeypatch, ALICE, ALICE_PW):
        code, output = _cli(*_tune_args(server.url, "team", 2))
        assert code == 0, output
        assert "View run" not in output  # MLflow's per-run lines stay quiet
        study_id = next(
            line.split()[2] for line in output.splitlines() if line.startswith("study run:")
        )
        # The commands `tune` prints under "look further", as printed (the flag alone).
        code, output = _cli("report", "--study", study_id, "--tracking-uri", server.url)
        assert code == 0, output
        code, output = _cli(
            "select", "--study", study_id, "--register", "team-model", "--alias", "champion",
            "--tracking-uri", server.url,
        )  # fmt: skip
        assert code == 0, output
        use_it = next(line for line in output.splitlines() if line.startswith("use it:"))
        assert f"--tracking-uri {server.url}" in use_it  # the printed command works too
        rows = tmp_path / "rows.parquet"
        shutil.copy(VALID_SAMPLE, rows)
        code, output = _cli(
            "predict", "models:/team-model@champion", str(rows), "--out", str(tmp_path / "p.csv"),
            "--tracking-uri", server.url,
        )  # fmt: skip
        assert code == 0, output
        assert (tmp_path / "p.csv").stat().st_size > 0
        code, output = _cli(*_tune_args(server.url, "team", 3), "--resume", "--study", study_id)
        assert code == 0, output
        from tunetrack import load_study  # the notebook API, by the same flag's meaning

        study = load_study(study_id, tracking_uri=server.url)
        assert sorted(t.number for t in study.trials) == [0, 1, 2]
    # Artifacts went through the server to its destination, none beside the client.
    stored = {p.relative_to(server.artifacts).as_posix() for p in server.artifacts.rglob("*")}
    assert any(p.endswith(f"{study_id}/artifacts/tunetrack/config.json") for p in stored)
    assert any(p.endswith(f"{study_id}/artifacts/report/report.html") for p in stored)
    assert any(p.endswith("MLmodel") for p in stored)
    assert not (tmp_path / "mlartifacts").exists()
    assert _local_rows(local) == local_before  # MLFLOW_TRACKING_URI's store untouched


def test_a_user_without_permission_is_refused_in_one_line(
    server: Server, team: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(_runs(server, team["experiment_id"]))
    with as_user(monkeypatch, BOB, BOB_PW):
        code, output = _cli(*_tune_args(server.url, "team", 1))
        assert code == 2
        _one_error_line(output, "'bob'", "403", "grant")
        code, output = _cli("report", "--experiment", "team", "--tracking-uri", server.url)
        assert code == 2
        _one_error_line(output, "'bob'", "403")
    assert len(_runs(server, team["experiment_id"])) == before


def test_server_killed_mid_study_then_resume_loses_nothing(
    server: Server, team: dict[str, str], tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLFLOW_TRACKING_URI") and k not in HTTP_WAITS  # from the 5 s below
    }
    env.update({
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "MLFLOW_TRACKING_USERNAME": ALICE,
        "MLFLOW_TRACKING_PASSWORD": ALICE_PW, "TUNETRACK_SERVER_WAIT_SECONDS": "5",
    })  # fmt: skip
    args = _tune_args(server.url, "killed", 60, "model.num_boost_round=400")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunetrack.cli", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        from mlflow.tracking import MlflowClient

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_USERNAME", ALICE)
            patch.setenv("MLFLOW_TRACKING_PASSWORD", ALICE_PW)
            client = MlflowClient(server.url)
            deadline = time.monotonic() + BACKSTOP
            while time.monotonic() < deadline:  # wait until 2 trials are stored
                experiment = client.get_experiment_by_name("killed")
                done = experiment and client.search_runs(
                    [experiment.experiment_id],
                    "tags.`tunetrack.role` = 'trial' and attributes.status = 'FINISHED'",
                )
                if done and len(done) >= 2:
                    break
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.5)
        # kill -9 of `tunetrack server`: its MLflow workers must die with it.
        server.stop(signal.SIGKILL)
        assert port_closed(server.port, wait=120), "MLflow outlived a kill -9 of its parent"
        killed_at = time.monotonic()
        _, stderr = proc.communicate(timeout=BACKSTOP)
        stopped_after = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 2, stderr
    assert lines[0].startswith("error:")
    assert "does not answer" in lines[0]
    assert lines[1].startswith("resume with: tunetrack tune ")
    assert "--resume --study" in lines[1]
    print(f"stopped {stopped_after:.1f} s after the server was killed (wait 5 s)")
    study_id = lines[1].split("--study ")[1].split()[0]

    server.start()  # the same database and logins
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", ALICE)
        patch.setenv("MLFLOW_TRACKING_PASSWORD", ALICE_PW)
        runs = MlflowClient(server.url).search_runs(
            [client.get_experiment_by_name("killed").experiment_id],
            "tags.`tunetrack.role` = 'trial'",
        )
        finished = sum(r.info.status in ("FINISHED", "FAILED") for r in runs)
        target = finished + 2
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            patch.setenv(key, env[key])
        result = subprocess.run(
            [sys.executable, "-m", "tunetrack.cli",
             *_tune_args(server.url, "killed", target, "model.num_boost_round=400"),
             "--resume", "--study", study_id],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=BACKSTOP,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        client = MlflowClient(server.url)
        runs = client.search_runs(
            [client.get_experiment_by_name("killed").experiment_id],
            "tags.`tunetrack.role` = 'trial'",
            max_results=1000,
        )
        numbers = [int(r.data.tags["tunetrack.trial"]) for r in runs]
        assert len(numbers) == len(set(numbers))  # none doubled
        states = [r.info.status for r in runs]
        # None lost: exactly the budget finished (a failed trial counts as finished).
        assert states.count("FINISHED") + states.count("FAILED") == target
        assert "RUNNING" not in states  # the trial in flight was closed (KILLED)
        assert client.get_run(study_id).info.status == "FINISHED"


def _local_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
