"""What tracking costs a trial on a team server, beside a local SQLite store.

Starts `tunetrack server` on loopback (basic auth on, as a team runs it; the backend is a
SQLite file in a temporary folder unless --backend-store-uri names a PostgreSQL database),
creates a user, and writes trials as a study does: ``create_run`` when the trial starts,
then one ``log_batch`` (params, metrics, tags, the validation curve) and ``set_terminated``
when it ends: three requests a trial. The same trials go to a local SQLite store, and the
tutorial's one call per value goes to the server, interleaved. Prints JSON.

    .venv/bin/python bench/server_overhead.py [--trials 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from tracking_overhead import CURVE, batched, per_value
from tunetrack.storage import StudyRef
from tunetrack.storage.mlflow import MlflowStorage

ADMIN_PW = "bench-admin-password"
USER, USER_PW = "bench", "bench-user-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path, backend: str | None) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "TUNETRACK_SERVER_ADMIN_PASSWORD": ADMIN_PW,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench-secret-key",
    })  # fmt: skip
    command = [
        sys.executable, "-m", "tunetrack.cli", "server",
        "--backend-store-uri", backend or f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the server says how to connect once it answers
        if "MLflow tracking server on" in line:
            return proc, f"http://127.0.0.1:{port}"
    raise SystemExit(f"the server exited with code {proc.wait()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend-store-uri", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        proc, url = start_server(folder, args.backend_store_uri)
        start_s = time.perf_counter() - started
        try:
            from mlflow.server import get_app_client

            os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
            os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN_PW
            get_app_client("basic-auth", tracking_uri=url).create_user(USER, USER_PW)
            os.environ["MLFLOW_TRACKING_USERNAME"] = USER
            os.environ["MLFLOW_TRACKING_PASSWORD"] = USER_PW

            stores = {
                "server": MlflowStorage(url),
                "sqlite": MlflowStorage(f"sqlite:///{folder / 'local.db'}"),
            }
            refs = {}
            for name, storage in stores.items():
                experiment_id = storage.experiment_id("bench")
                parent = MlflowClient(storage.location).create_run(experiment_id).info.run_id
                refs[name] = StudyRef(run_id=parent, experiment_id=experiment_id, model="xgboost")
                batched(storage, refs[name], 3, CURVE)  # warm up connections
            runs: dict[str, list[float]] = {"server": [], "sqlite": [], "server_per_value": []}
            for _ in range(args.repeats):  # interleaved so drift hits all alike
                for name, storage in stores.items():
                    runs[name].append(batched(storage, refs[name], args.trials, CURVE))
                ref = refs["server"]
                client = MlflowClient(url)
                runs["server_per_value"].append(
                    per_value(client, ref.experiment_id, ref.run_id, args.trials)
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    ms = {name: statistics.median(values) * 1000 for name, values in runs.items()}
    print(
        json.dumps(
            {
                "server": "tunetrack server (MLflow, basic auth, 1 worker) on loopback, backend "
                + ("given" if args.backend_store_uri else "SQLite in a temporary folder"),
                "server_start_s": round(start_s, 1),
                "trials_per_repeat": args.trials,
                "repeats": args.repeats,
                "curve_points_stored": len(CURVE),
                "requests_per_trial": 3,
                "server_ms_per_trial": round(ms["server"], 2),
                "local_sqlite_ms_per_trial": round(ms["sqlite"], 2),
                "server_one_call_per_value_ms_per_trial": round(ms["server_per_value"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
