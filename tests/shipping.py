"""Shared set-up for the select/ship tests: one study and one registered model per module."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tunetrack
from tunetrack.selection import Shipped, choose, ship

from .conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE, port_closed

MODEL_NAME = "taxi-duration"
ALIAS = "champion"


@dataclass(frozen=True)
class ShippedStudy:
    uri: str
    study: tunetrack.Study
    shipped: Shipped


def homes(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Integer features that matter, a float one, and the target."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    rooms = rng.integers(1, 8, n)
    x = rng.normal(size=n)
    y = 0.1 * age + 2.0 * rooms + x + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"age": age, "rooms": rooms, "x": x, "price": y})


def tune_sample(*extra: str, max_evals: int = 4, seed: int = 42) -> tunetrack.Study:
    return tunetrack.tune(
        train=str(TRAIN_SAMPLE),
        valid=str(VALID_SAMPLE),
        overrides=[*FAST, *extra],
        max_evals=max_evals,
        seed=seed,
        progress=False,
    )


def shipped_study(
    tmp_path_factory: pytest.TempPathFactory, template: Path
) -> Iterator[ShippedStudy]:
    """A store of its own with a tuned study whose best trial is registered as
    ``models:/taxi-duration@champion``; built once per module (it takes seconds)."""
    root = tmp_path_factory.mktemp("shipped")
    db = root / "mlflow.db"
    shutil.copy(template, db)
    uri = f"sqlite:///{db}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)
        study = tune_sample()
        shipped = ship(study, choose(study).chosen, register=MODEL_NAME, alias=ALIAS)
        yield ShippedStudy(uri, study, shipped)


@contextmanager
def serving(model_uri: str, tracking_uri: str) -> Iterator[Callable[[dict[str, Any]], list[Any]]]:
    """`tunetrack serve model_uri` on a free port until the block ends; yields a function
    that posts a JSON payload to /invocations and returns the predictions. The server is
    ready when /ping answers (the bound is a backstop: at a load of 30 on 2 cores the
    server took over 180 s to start)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "tunetrack.cli", "serve", model_uri, "--port", str(port)]
    server = subprocess.Popen(
        cmd,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so the whole server process group can be stopped
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /ping in 600 s"
            time.sleep(0.3)
        yield lambda payload: _post(f"{base}/invocations", payload)
    finally:
        _stop(server)
    assert port_closed(port), "stopping `tunetrack serve` left the server running"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict[str, Any]) -> list[Any]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["predictions"]


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server and its uvicorn child (one process group), however it ended."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
