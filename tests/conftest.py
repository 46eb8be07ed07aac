"""Hermetic tests: every test gets its own SQLite tracking store and working directory."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TRAIN_SAMPLE = DATA / "tune_train_2021-01.parquet"
VALID_SAMPLE = DATA / "tune_valid_2021-02.parquet"

# Small, fast studies: a few trials of a few rounds on a few thousand rows.
FAST = [
    "model.num_boost_round=30",
    "model.early_stopping_rounds=5",
    "space.max_depth=quniform(2, 6, 1)",
]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers ignore SIGINT, and a child process inherits an ignored signal:
    # take Ctrl-C back, so the CLI processes tests start get it as from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Create MLflow's schema once; each test copies it (migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_store: Path) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copy(_migrated_store, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def sample_paths() -> tuple[str, str]:
    return str(TRAIN_SAMPLE), str(VALID_SAMPLE)


def port_closed(port: int, wait: float = 20) -> bool:
    """True once nothing listens on ``port`` on 127.0.0.1 (a server's workers included)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.2)
    return False
