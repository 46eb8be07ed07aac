"""The spark executor on a real Spark: local mode, and a standalone cluster (one master,
one worker) started on 127.0.0.1 from pyspark's own launcher and stopped by the test.
Faults as for the processes executor: a Python worker killed, Ctrl-C and SIGTERM of the
driver, kill -9 of the driver then --resume.

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
from dataclasses import dataclass
from pathlib import Path

import pyspark  # the extra tunetrack[spark]
import pytest
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.execution.spark import RETRIED, WORKER_DIED

from .conftest import FAST
from .studyproc import (
    BACKSTOP,
    SLOW,
    StudyProcess,
    busy,
    resume_finishes_exactly,
    running_trials,
    sets,
    spark_processes,
    spark_python_workers,
    wait_gone,
)

pytestmark = pytest.mark.integration


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


@dataclass
class Cluster:
    url: str  # the master's
    worker: int  # the worker's process id: the executors' JVMs and Python run below it


@pytest.fixture
def standalone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A master and a worker (2 cores) on 127.0.0.1."""
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
        yield Cluster(master_url, started[1].pid)
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
    standalone: Cluster, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    study = tunetrack.tune(
        train=train, valid=valid, max_evals=4, overrides=FAST, progress=False,
        executor="spark", parallelism=2, spark_master=standalone.url,
    )  # fmt: skip
    _check(study, tracking_uri, 4)


# -- faults --------------------------------------------------------------------------------


def _args(train: str, valid: str, max_evals: int, *extra: str) -> list[str]:
    return ["tune", "--train", train, "--valid", valid, "--max-evals", str(max_evals),
            "--quiet", *sets(SLOW), *extra]  # fmt: skip


SPARK = ["--executor", "spark", "--parallelism", "2"]


@pytest.mark.parametrize(
    ("master", "reason"),
    [
        ("local[2]", WORKER_DIED),  # one attempt a task: the task fails, so the trial
        ("standalone", WORKER_DIED),  # a cluster (4 by default): maxFailures=1 set here
        ("local[2,4]", RETRIED),  # a session that retries anyway: the retry reports it
    ],
    ids=["local", "standalone", "local-retrying"],
)
def test_kill_9_of_a_python_worker_fails_its_trial_only(
    master: str, reason: str, request: pytest.FixtureRequest, sample_paths: tuple[str, str],
    tracking_uri: str,
) -> None:  # fmt: skip
    train, valid = sample_paths
    cluster: Cluster | None = None
    if master == "standalone":
        cluster = request.getfixturevalue("standalone")
        master = cluster.url
    args = _args(train, valid, 4, *SPARK, "--spark-master", master)
    with StudyProcess(args, tracking_uri) as study:
        study.wait_running(2)
        root = cluster.worker if cluster else study.pid
        # A Python worker training a trial (using CPU), not one waiting for a task.
        [victim, *_] = study.wait_until(
            lambda: busy(spark_python_workers(root)), "no Python worker ran a trial"
        )
        in_flight = study.kill_worker_holding_a_trial(victim, parallelism=2)
        local = spark_processes(study.pid)
        code, stderr = study.finish()
    assert code == 0, stderr
    wait_gone(local)  # the session built for the study is stopped with it
    loaded = tunetrack.load_study()
    assert [t.number for t in loaded.trials] == list(range(4))  # every number once
    failed = [t for t in loaded.trials if t.state == "failed"]
    assert [t.error for t in failed] == [reason], [(t.state, t.error) for t in loaded.trials]
    assert failed[0].run_id in in_flight
    assert [t.state for t in loaded.trials].count("ok") == 3
    client = MlflowClient(tracking_uri)
    assert client.get_run(failed[0].run_id).info.status == "FAILED"
    runs = client.search_runs(
        [loaded.experiment_id], f"tags.`mlflow.parentRunId` = '{loaded.run_id}'"
    )
    assert len(runs) == 4  # each trial written once, by the driver


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupting_the_driver_cancels_the_spark_jobs_and_marks_in_flight_killed(
    how: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    """Trials that would run for hours: the study ends only if their jobs are cancelled."""
    train, valid = sample_paths
    args = _args(train, valid, 6, *SPARK, "--set", "model.num_boost_round=1000000")
    with StudyProcess(args, tracking_uri) as study:
        in_flight = study.wait_running(2)
        study.wait_until(lambda: len(busy(spark_python_workers(study.pid))) >= 2, "no tasks")
        spark = spark_processes(study.pid)
        if how == "ctrl-c":
            study.signal_group(signal.SIGINT)  # a terminal's Ctrl-C: the whole group
        else:
            study.proc.send_signal(signal.SIGTERM)  # `kill`: the driver alone
        code, stderr = study.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "2 trials in flight were marked KILLED" in stderr
    wait_gone(spark)  # JVM, pyspark's daemon and its Python workers
    client = MlflowClient(tracking_uri)
    loaded = tunetrack.load_study()
    assert {t.run_id for t in loaded.trials if t.state == "killed"} == {
        r.info.run_id for r in in_flight
    }
    assert len(loaded.trials) == 2
    assert not running_trials(client)
    assert client.get_run(loaded.run_id).info.status == "KILLED"


@pytest.mark.parametrize("resume_on", ["spark", "inline"])
def test_kill_9_of_the_driver_then_resume_reaches_exactly_max_evals(
    resume_on: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = _args(train, valid, 4)
    with StudyProcess([*args, *SPARK], tracking_uri) as study:
        study.wait_running(2)
        study.wait_until(lambda: spark_python_workers(study.pid), "no task started")
        spark = spark_processes(study.pid)
        study.proc.send_signal(signal.SIGKILL)  # the driver alone
        study.finish()
    # Orphans go on their own: the JVM exits when its stdin from the driver closes, and
    # pyspark's daemon stops its workers when the JVM goes.
    wait_gone(spark)
    again = SPARK if resume_on == "spark" else []
    resume_finishes_exactly([*args, *again], 4, tracking_uri)
