"""Parallel executors, done for real: worker processes (started, killed, interrupted) and
one writer to a shared SQLite store. Spark's are in test_spark.py (integration stage)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli.app import app
from tunetrack.exceptions import StudyInterrupted
from tunetrack.execution import trial_threads, warm_up
from tunetrack.execution.processes import death_reason
from tunetrack.progress import TrialProgress
from tunetrack.storage import schema

from .conftest import FAST

# Trials slow enough (a second or more each) to be caught in flight.
SLOW = [
    "model.num_boost_round=1000",
    "model.early_stopping_rounds=1000",
    "search.pruning=none",
    "space.learning_rate=loguniform(-9, -8)",
    "space.max_depth=quniform(6, 8, 1)",
    "space.min_child_weight=loguniform(-1, 0)",
]
# Backstop against a hang, never a speed check: each wait ends on its event.
BACKSTOP = 900
FINISHED = ("ok", "pruned", "failed")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tunetrack.cli", *args]


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def _running_trials(client: MlflowClient) -> list:
    runs = []
    for experiment in client.search_experiments():
        runs += client.search_runs(
            [experiment.experiment_id],
            "tags.`tunetrack.trial` != '' and attributes.status = 'RUNNING'",
        )
    return runs


def _wait_for_running(client: MlflowClient, proc: subprocess.Popen, n: int) -> list:
    """Return once ``n`` trial runs are RUNNING at once: both workers hold a trial (the
    driver creates a trial's run just before it hands the trial to a worker)."""
    deadline = time.monotonic() + BACKSTOP
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = _running_trials(client)
        if len(runs) >= n:
            return runs
        time.sleep(0.1)
    raise AssertionError(f"{n} trials never ran at once")


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: fields follow the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _workers(driver: int) -> list[int]:
    """The driver's worker processes: the children of its fork server."""
    servers = [p for p in _children(driver) if b"multiprocessing.forkserver" in _cmdline(p)]
    return [pid for server in servers for pid in _children(server)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + BACKSTOP
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, f"processes {pids} outlived their driver"
        time.sleep(0.1)


def _contract(study: tunetrack.Study, client: MlflowClient) -> dict[str, object]:
    """What a study's trial runs look like, values aside: tag, param and metric names,
    states and numbering."""
    runs = [client.get_run(t.run_id) for t in study.trials]
    volatile = {"mlflow.runName"}
    return {
        "numbers": [t.number for t in study.trials],
        "states": sorted(r.info.status for r in runs),
        "tags": sorted({k for r in runs for k in r.data.tags if k not in volatile}),
        "params": sorted({k for r in runs for k in r.data.params}),
        "metrics": sorted({k for r in runs for k in r.data.metrics}),
        "study_params": sorted(client.get_run(study.run_id).data.params),
        "study_tags": sorted(
            k for k in client.get_run(study.run_id).data.tags if not k.startswith("tunetrack.lease")
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["optuna", "hyperopt"])
def test_processes_study_keeps_the_inline_contract(
    engine: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    """Same tags, params, metrics, states and numbering as inline; each run written once
    by the driver (no "database is locked"), the trials' threads shared out."""
    train, valid = sample_paths
    common = dict(train=train, valid=valid, max_evals=5, engine=engine, progress=False)
    inline = tunetrack.tune(**common, overrides=FAST, experiment="inline")
    parallel = tunetrack.tune(
        **common, overrides=FAST, experiment="parallel", executor="processes", parallelism=2
    )
    client = MlflowClient(tracking_uri)
    assert _contract(parallel, client) == _contract(inline, client)
    assert [t.number for t in parallel.trials] == list(range(5))
    assert all(t.state == "ok" for t in parallel.trials), [t.error for t in parallel.trials]
    # Every trial run once: five child runs, no stray one.
    experiment_id = client.get_experiment_by_name("parallel").experiment_id
    runs = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parallel.run_id}'")
    assert len(runs) == 5
    # Threads: each of the 2 trials at once gets its share of the cores.
    threads = trial_threads("processes", 2)
    assert client.get_run(parallel.run_id).data.params["nthread"] == str(threads)
    config = client.get_run(parallel.run_id).data
    assert config.tags[schema.TAG_STOP_REASON] == "max_evals"
    # A freed worker gets its next trial before the driver writes the finished one: each
    # trial started in a freed slot (2, 3, 4) was created while the trial it replaces was
    # still RUNNING in the store. Inline writes first: one run RUNNING at a time.
    assert _running_at_each_start(inline) == [1] * 5
    assert all(n > 2 for n in _running_at_each_start(parallel)[2:]), _running_at_each_start(
        parallel
    )


def _running_at_each_start(study: tunetrack.Study) -> list[int]:
    """For each trial, in number order, how many trial runs were RUNNING in the store
    (started, not yet ended: MLflow's own start and end times) when its run was created,
    itself included."""
    trials = study.trials
    return [sum(t.start_time <= u.start_time < (t.end_time or 0) for t in trials) for u in trials]


@pytest.mark.parametrize(
    ("executor", "parallelism"),
    [("inline", None), pytest.param("processes", 2, marks=pytest.mark.slow)],
)
def test_ctrl_c_after_a_trial_finished_before_it_is_written_keeps_its_result(
    executor: str,
    parallelism: int | None,
    sample_paths: tuple[str, str],
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real SIGINT in the window between a trial's result reaching the driver (the
    count in flight drops) and its run being written: the finished trial is written
    once, with its result; the trials still in flight are KILLED; none stays RUNNING."""
    running = TrialProgress.running
    seen: list[int] = []

    def running_then_ctrl_c(self: TrialProgress, n: int) -> None:
        running(self, n)
        if seen and n < seen[-1] and -1 not in seen:
            seen.append(-1)
            signal.raise_signal(signal.SIGINT)
        seen.append(n)

    monkeypatch.setattr(TrialProgress, "running", running_then_ctrl_c)
    train, valid = sample_paths
    with pytest.raises(StudyInterrupted):
        tunetrack.tune(
            train=train,
            valid=valid,
            max_evals=6,
            progress=False,
            overrides=FAST,
            experiment="interrupted",
            executor=executor,
            parallelism=parallelism,
        )
    assert -1 in seen  # the interrupt came in the window
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_experiment_by_name("interrupted").experiment_id
    runs = client.search_runs([experiment_id], "tags.`tunetrack.trial` != ''")
    states = sorted(r.data.tags[schema.TAG_STATE] for r in runs)
    assert states == ["killed"] * ((parallelism or 1) - 1) + ["ok"], states
    assert all(r.info.status != "RUNNING" for r in runs)
    [done] = [r for r in runs if r.data.tags[schema.TAG_STATE] == "ok"]
    assert done.info.status == "FINISHED"
    # Written once: each stored round of its curve appears once, not twice.
    steps = [m.step for m in client.get_metric_history(done.info.run_id, schema.CURVE_METRIC)]
    assert len(steps) == len(set(steps)) > 0, steps


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--executor", "threads"], "unknown search.executor 'threads'"),
        (["--parallelism", "2"], "needs a parallel executor; add --executor processes"),
        (["--executor", "processes", "--parallelism", "0"], "search.parallelism must be positive"),
        (["--spark-master", "local[2]"], "applies to the spark executor only"),
        (["--set", "search.parallelism=two"], "search.parallelism must be an integer"),
    ],
)
def test_bad_executor_settings_are_one_line_errors_before_any_write(
    args: list[str], expected: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    result = CliRunner().invoke(app, ["tune", "--train", train, "--valid", valid, *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'tunetrack'") == []


def test_spark_without_java_names_the_install_command(
    sample_paths: tuple[str, str],
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    train, valid = sample_paths
    result = CliRunner().invoke(
        app, ["tune", "--train", train, "--valid", valid, "--executor", "spark"]
    )
    assert result.exit_code == 2, result.output
    assert "apt-get install openjdk-17-jre-headless" in result.output
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'tunetrack'") == []


def test_the_fork_server_imports_the_families_libraries_for_its_workers() -> None:
    """Started ahead (``warm_up``, beside the study's setup), the workers' fork server
    imports the families' libraries itself: each worker forked from it has them mapped
    already instead of importing them one by one."""
    warm_up("processes", ["xgboost"])
    # The server forks only once its imports are done: a first child waits for them.
    child = multiprocessing.get_context("forkserver").Process(target=time.sleep, args=(0,))
    child.start()
    child.join(BACKSTOP)
    [server] = [p for p in _children(os.getpid()) if b"multiprocessing.forkserver" in _cmdline(p)]
    assert "libxgboost" in Path(f"/proc/{server}/maps").read_text()


@pytest.mark.parametrize(
    ("exitcode", "reason"),
    [(-9, "worker process died (signal 9)"), (-15, "worker process died (signal 15)"),
     (1, "worker process died (exit code 1)")],
)  # fmt: skip
def test_death_reason_names_the_signal(exitcode: int, reason: str) -> None:
    assert death_reason(exitcode) == reason


@pytest.mark.slow
def test_kill_9_of_one_worker_fails_one_trial_and_the_study_goes_on(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "5", "--quiet",
            "--executor", "processes", "--parallelism", "2", *_sets(SLOW)]  # fmt: skip
    client = MlflowClient(tracking_uri)
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_running(client, proc, 2)
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=BACKSTOP)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    study = tunetrack.load_study()
    states = [t.state for t in study.trials]
    assert states.count("failed") == 1, [(t.state, t.error) for t in study.trials]
    assert states.count("ok") == 4
    [failed] = [t for t in study.trials if t.state == "failed"]
    assert failed.error == "worker process died (signal 9)"
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert [t.number for t in study.trials] == list(range(5))


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_marks_in_flight_killed(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "6", "--quiet",
            "--executor", "processes", "--parallelism", "2", *_sets(SLOW)]  # fmt: skip
    client = MlflowClient(tracking_uri)
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches every process.
    proc = subprocess.Popen(
        _cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        in_flight = _wait_for_running(client, proc, 2)
        workers = _workers(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=BACKSTOP)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    _wait_gone(workers)
    study = tunetrack.load_study()
    killed = [t for t in study.trials if t.state == "killed"]
    assert {r.info.run_id for r in in_flight} <= {t.run_id for t in killed}
    assert len(killed) == 2, [(t.number, t.state) for t in study.trials]
    assert all(client.get_run(t.run_id).info.status == "KILLED" for t in killed)
    assert not _running_trials(client)
    assert client.get_run(study.run_id).info.status == "KILLED"


@pytest.mark.slow
@pytest.mark.integration  # a whole parallel study killed and resumed
@pytest.mark.parametrize("resume_on", ["processes", "inline"])
def test_kill_9_of_the_driver_then_resume_reaches_exactly_max_evals(
    resume_on: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "4", "--quiet",
            *_sets(SLOW)]  # fmt: skip
    parallel = ["--executor", "processes", "--parallelism", "2"]
    client = MlflowClient(tracking_uri)
    proc = subprocess.Popen(_cli(*args, *parallel), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_running(client, proc, 2)
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=BACKSTOP)
    finally:
        proc.kill()
    _wait_gone(workers)  # orphaned workers notice and exit
    stale = tunetrack.load_study()
    assert [t.state for t in stale.trials].count("running") == 2
    again = parallel if resume_on == "processes" else []
    resumed = CliRunner().invoke(app, [*args, *again, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    study = tunetrack.load_study()
    assert study.run_id == stale.run_id
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # each number once
    states = [t.state for t in study.trials]
    assert sum(s in FINISHED for s in states) == 4
    assert states.count("killed") == 2
    assert "running" not in states
    assert client.get_run(study.run_id).info.status == "FINISHED"
