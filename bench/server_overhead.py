"""What tracking costs a trial on a team server, beside a local SQLite store.

Starts `tunetrack server` on loopback (basic auth on, as a team runs it; the backend is a
SQLite file in a temporary folder unless --backend-store-uri names a PostgreSQL database),
creates a user, and writes trials as a study does: ``create_run`` when the trial starts,
then one ``log_batch`` (params, metrics, tags, the validation curve) and ``set_terminated``
when it ends. The same trials go to a local SQLite store, and the tutorial's one call per
value goes to the server, interleaved. Then two real studies (``tunetrack.tune``, a few
tiny trials each) run through the server, and their difference gives a real trial's
requests. Requests are counted from the server's own access log, between marker requests.
Prints progress on stderr and JSON on stdout.

    .venv/bin/python bench/server_overhead.py [--trials 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from tracking_overhead import CURVE, batched, per_value
from tunetrack.storage import StudyRef
from tunetrack.storage.mlflow import MlflowStorage

ADMIN_PW = "bench-admin-password"
USER, USER_PW = "bench", "bench-user-password"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
BACKSTOP_S = 900  # only reached when something is broken
# uvicorn's access log line (MLflow's log config): ... "POST /api/2.0/... HTTP/1.1" 200
ID = re.compile(r"(?<=/)(?:[0-9a-f]{32}|[0-9]+)(?=/)")
ACCESS = re.compile(r'"([A-Z]+) ([^ ?"]+)(?:\?([^ "]*))? HTTP/[0-9.]+" (\d+)')


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Server:
    """`tunetrack server` in a child process, its output read to the end.

    The output must be drained: uvicorn writes one access-log line per request to stdout,
    and a pipe nobody reads fills at 64 KiB (about 600 requests), after which the worker
    blocks on the write and every request waits forever; the first version of this bench
    stopped reading after the connect line and hung exactly so.
    """

    def __init__(self, folder: Path, backend: str | None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self._seen: set[str] = set()
        self._changed = threading.Condition()
        env = dict(os.environ)
        env.update({
            "TUNETRACK_SERVER_ADMIN_PASSWORD": ADMIN_PW,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "bench-secret-key",
            "TUNETRACK_SERVER_START_SECONDS": str(BACKSTOP_S),
        })  # fmt: skip
        command = [
            sys.executable, "-m", "tunetrack.cli", "server",
            "--backend-store-uri", backend or f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination", str(folder / "artifacts"),
            "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_for("connect", "the server to answer")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.tail.append(line)
                if "MLflow tracking server on" in line:
                    self._seen.add("connect")
                found = ACCESS.search(line)
                if found:
                    method, path, query, _ = found.groups()
                    if path == "/health" and query and query.startswith("marker="):
                        self._seen.add(query)
                    else:  # one key per endpoint: ids in artifact paths made generic
                        self.counts[(method, ID.sub("<id>", path))] += 1
                self._changed.notify_all()
        with self._changed:
            self._seen.add("exit")
            self._changed.notify_all()

    def _wait_for(self, key: str, what: str) -> None:
        deadline = time.monotonic() + BACKSTOP_S
        with self._changed:
            while key not in self._seen:
                if "exit" in self._seen or time.monotonic() > deadline:
                    raise SystemExit(f"no sign of {what}; the server said:\n{''.join(self.tail)}")
                self._changed.wait(5)

    def snapshot(self) -> collections.Counter[tuple[str, str]]:
        """The requests counted so far, once every earlier one is in the log (a marker
        request is logged after them: one worker answers requests in order)."""
        marker = f"marker={time.monotonic_ns()}"
        with urllib.request.urlopen(f"{self.url}/health?{marker}", timeout=BACKSTOP_S):
            pass
        self._wait_for(marker, "the marker request in the access log")
        with self._changed:
            return collections.Counter(self.counts)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # tunetrack server stops its process group
        self.proc.wait(timeout=BACKSTOP_S)


def counted(server: Server, work: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
    """``work()`` and the requests the server logged during it, by endpoint."""
    before = server.snapshot()
    result = work()
    after = server.snapshot()
    return result, {f"{m} {p}": n for (m, p), n in sorted((after - before).items())}


def per_trial(requests: dict[str, int], trials: int) -> dict[str, float]:
    return {name: round(n / trials, 2) for name, n in requests.items()}


def study(url: str, trials: int) -> None:
    """A real study of ``trials`` tiny trials through the server."""
    import tunetrack

    tunetrack.tune(
        train=str(DATA / "tune_train_2021-01.parquet"),
        valid=str(DATA / "tune_valid_2021-02.parquet"),
        max_evals=trials,
        experiment="bench-study",
        tracking_uri=url,
        progress=False,
        overrides=["model.num_boost_round=20", "model.early_stopping_rounds=5",
                   "space.max_depth=quniform(2, 4, 1)"],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--study-trials", default="2,5", help="two real study sizes")
    parser.add_argument("--backend-store-uri", default=None)
    args = parser.parse_args()
    small, large = (int(n) for n in args.study_trials.split(","))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        say("starting tunetrack server")
        server = Server(folder, args.backend_store_uri)
        start_s = time.perf_counter() - started
        say(f"server up on {server.url} after {start_s:.1f} s")
        try:
            from mlflow.server import get_app_client

            os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
            os.environ["MLFLOW_TRACKING_PASSWORD"] = ADMIN_PW
            get_app_client("basic-auth", tracking_uri=server.url).create_user(USER, USER_PW)
            os.environ["MLFLOW_TRACKING_USERNAME"] = USER
            os.environ["MLFLOW_TRACKING_PASSWORD"] = USER_PW

            stores = {
                "server": MlflowStorage(server.url),
                "sqlite": MlflowStorage(f"sqlite:///{folder / 'local.db'}"),
            }
            refs = {}
            for name, storage in stores.items():
                experiment_id = storage.experiment_id("bench")
                parent = MlflowClient(storage.location).create_run(experiment_id).info.run_id
                refs[name] = StudyRef(run_id=parent, experiment_id=experiment_id, model="xgboost")
                batched(storage, refs[name], 3, CURVE)  # warm up connections
            runs: dict[str, list[float]] = {"server": [], "sqlite": [], "server_per_value": []}
            requests: dict[str, dict[str, int]] = {}
            ref, client = refs["server"], MlflowClient(server.url)
            for repeat in range(args.repeats):  # interleaved so drift hits all alike
                say(f"repeat {repeat + 1}/{args.repeats}: {args.trials} trials a store")
                seconds, requests["batched"] = counted(
                    server,
                    lambda: batched(stores["server"], refs["server"], args.trials, CURVE),
                )
                runs["server"].append(seconds)
                runs["sqlite"].append(batched(stores["sqlite"], refs["sqlite"], args.trials, CURVE))
                seconds, requests["per_value"] = counted(
                    server, lambda: per_value(client, ref.experiment_id, ref.run_id, args.trials)
                )
                runs["server_per_value"].append(seconds)
            say(f"real studies of {small} and {large} trials through the server")
            _, requests["study_small"] = counted(server, lambda: study(server.url, small))
            _, requests["study_large"] = counted(server, lambda: study(server.url, large))
        finally:
            say("stopping the server")
            server.stop()
    ms = {name: statistics.median(values) * 1000 for name, values in runs.items()}
    study_diff = {  # the second study finds its experiment made: not a trial's request
        name: requests["study_large"].get(name, 0) - requests["study_small"].get(name, 0)
        for name in sorted({*requests["study_small"], *requests["study_large"]})
        if not name.endswith("/experiments/create")
    }
    study_diff = {name: n for name, n in study_diff.items() if n}
    print(
        json.dumps(
            {
                "server": "tunetrack server (MLflow, basic auth, 1 worker) on loopback, backend "
                + ("given" if args.backend_store_uri else "SQLite in a temporary folder"),
                "server_start_s": round(start_s, 1),
                "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
                "trials_per_repeat": args.trials,
                "repeats": args.repeats,
                "curve_points_stored": len(CURVE),
                "server_ms_per_trial": round(ms["server"], 2),
                "local_sqlite_ms_per_trial": round(ms["sqlite"], 2),
                "server_one_call_per_value_ms_per_trial": round(ms["server_per_value"], 2),
                "requests_per_trial_batched": per_trial(requests["batched"], args.trials),
                "requests_per_trial_one_call_per_value": per_trial(
                    requests["per_value"], args.trials
                ),
                "real_study_requests": {
                    f"{small}_trials": requests["study_small"],
                    f"{large}_trials": requests["study_large"],
                    "per_trial_from_the_difference": per_trial(study_diff, large - small),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
