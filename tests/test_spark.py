"""The spark executor on a real Spark: local mode, and a standalone cluster (one master,
one worker) started on 127.0.0.1 from pyspark's own launcher and stopped by the test.

Integration stage (``make test-integration``): a JVM starts for each study."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark  # the extra tunetrack[spark]
import pytest
from mlflow.tracking import MlflowClient

import tunetrack

from .conftest import FAST

pytestmark = pytest.mark.integration
BACKSTOP = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + BACKSTOP
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port}: {log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
            return


@pytest.fixture
def standalone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A master and a worker (2 cores) on 127.0.0.1; yields the master's URL."""
    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    env = {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    started: list[subprocess.Popen] = []
    try:
        for name, args in (
            ("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                        "--port", str(port), "--webui-port", str(_free_port())]),
            ("worker", ["org.apache.spark.deploy.worker.Worker", master_url, "--host",
                        "127.0.0.1", "--cores", "2", "--memory", "1g", "--webui-port",
                        str(_free_port()), "--work-dir", str(tmp_path / "work")]),
        ):  # fmt: skip
            log = tmp_path / f"{name}.log"
            proc = subprocess.Popen(
                [str(spark_class), *args], env=env, stdout=log.open("w"),
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            started.append(proc)
            if name == "master":
                _wait_port(port, proc, log)
            else:
                deadline = time.monotonic() + BACKSTOP
                while "Successfully registered with master" not in log.read_text():
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
        yield master_url
    finally:
        for proc in reversed(started):
            _stop(proc)


def _check(study: tunetrack.Study, tracking_uri: str, n: int) -> None:
    assert [t.number for t in study.trials] == list(range(n))
    assert all(t.state == "ok" for t in study.trials), [t.error for t in study.trials]
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(study.run_id).info.experiment_id
    runs = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{study.run_id}'")
    assert len(runs) == n  # each trial written once, by the driver
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_spark_local_study_keeps_the_inline_contract(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    common = dict(train=train, valid=valid, max_evals=4, overrides=FAST, progress=False)
    inline = tunetrack.tune(**common, experiment="inline")
    spark = tunetrack.tune(**common, experiment="spark", executor="spark", parallelism=2)
    _check(spark, tracking_uri, 4)
    client = MlflowClient(tracking_uri)

    def names(study: tunetrack.Study) -> tuple[set[str], set[str], set[str]]:
        runs = [client.get_run(t.run_id).data for t in study.trials]
        return (
            {k for r in runs for k in r.tags} - {"mlflow.runName"},
            {k for r in runs for k in r.params},
            {k for r in runs for k in r.metrics},
        )

    assert names(spark) == names(inline)
    assert client.get_run(spark.run_id).data.params["nthread"] == "1"


def test_spark_study_on_a_standalone_cluster(
    standalone: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    study = tunetrack.tune(
        train=train, valid=valid, max_evals=4, overrides=FAST, progress=False,
        executor="spark", parallelism=2, spark_master=standalone,
    )  # fmt: skip
    _check(study, tracking_uri, 4)
