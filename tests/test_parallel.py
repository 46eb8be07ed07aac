"""Parallel executors, done for real: worker processes (started, killed, interrupted) and
one writer to a shared SQLite store. Spark's are in test_spark.py (integration stage)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
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
from .studyproc import (
    BACKSTOP,
    SLOW,
    StudyProcess,
    children,
    cmdline,
    fork_workers,
    resume_finishes_exactly,
    running_trials,
    sets,
    wait_gone,
)


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
    [server] = [p for p in children(os.getpid()) if b"multiprocessing.forkserver" in cmdline(p)]
    assert "libxgboost" in Path(f"/proc/{server}/maps").read_text()


@pytest.mark.parametrize(
    ("exitcode", "reason"),
    [(-9, "worker process died (signal 9)"), (-15, "worker process died (signal 15)"),
     (1, "worker process died (exit code 1)")],
)  # fmt: skip
def test_death_reason_names_the_signal(exitcode: int, reason: str) -> None:
    assert death_reason(exitcode) == reason


@pytest.mark.slow
@pytest.mark.integration  # a whole parallel study with one worker killed mid-trial
def test_kill_9_of_one_worker_fails_one_trial_and_the_study_goes_on(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "5", "--quiet",
            "--executor", "processes", "--parallelism", "2", *sets(SLOW)]  # fmt: skip
    with StudyProcess(args, tracking_uri) as study:
        study.wait_running(2)
        workers = fork_workers(study.pid)
        assert len(workers) == 2, workers
        # Stopped, then killed once it surely holds a trial (no race with a trial ending).
        in_flight = study.kill_worker_holding_a_trial(workers[0], parallelism=2)
        code, stderr = study.finish()
    assert code == 0, stderr
    loaded = tunetrack.load_study()
    states = [t.state for t in loaded.trials]
    assert states.count("failed") == 1, [(t.state, t.error) for t in loaded.trials]
    assert states.count("ok") == 4
    [failed] = [t for t in loaded.trials if t.state == "failed"]
    assert failed.error == "worker process died (signal 9)"
    assert failed.run_id in in_flight  # the trial the worker held when it was killed
    assert MlflowClient(tracking_uri).get_run(failed.run_id).info.status == "FAILED"
    assert [t.number for t in loaded.trials] == list(range(5))


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_marks_in_flight_killed(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "6", "--quiet",
            "--executor", "processes", "--parallelism", "2", *sets(SLOW)]  # fmt: skip
    client = MlflowClient(tracking_uri)
    with StudyProcess(args, tracking_uri) as study:
        in_flight = study.wait_running(2)
        workers = fork_workers(study.pid)
        study.signal_group(signal.SIGINT)  # Ctrl-C reaches every process of the group
        code, stderr = study.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert "2 trials in flight were marked KILLED" in stderr
    wait_gone(workers)
    loaded = tunetrack.load_study()
    killed = [t for t in loaded.trials if t.state == "killed"]
    assert {r.info.run_id for r in in_flight} <= {t.run_id for t in killed}
    assert len(killed) == 2, [(t.number, t.state) for t in loaded.trials]
    assert all(client.get_run(t.run_id).info.status == "KILLED" for t in killed)
    assert not running_trials(client)
    assert client.get_run(loaded.run_id).info.status == "KILLED"


@pytest.mark.slow
@pytest.mark.integration  # a whole parallel study killed and resumed
@pytest.mark.parametrize("resume_on", ["processes", "inline"])
def test_kill_9_of_the_driver_then_resume_reaches_exactly_max_evals(
    resume_on: str, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    args = ["tune", "--train", train, "--valid", valid, "--max-evals", "4", "--quiet",
            *sets(SLOW)]  # fmt: skip
    parallel = ["--executor", "processes", "--parallelism", "2"]
    with StudyProcess([*args, *parallel], tracking_uri) as study:
        study.wait_running(2)
        workers = fork_workers(study.pid)
        study.proc.send_signal(signal.SIGKILL)  # the driver alone
        study.finish()
    wait_gone(workers)  # orphaned workers notice and exit
    again = parallel if resume_on == "processes" else []
    resume_finishes_exactly([*args, *again], 4, tracking_uri)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "in_flight", "said"),
    [(["--executor", "inline"], 1, "1 trial in flight was marked KILLED"),
     (["--executor", "processes", "--parallelism", "2"], 2,
      "2 trials in flight were marked KILLED")],
)  # fmt: skip
def test_ctrl_c_message_counts_the_trials_in_flight(
    executor: list[str], in_flight: int, said: str, sample_paths: tuple[str, str],
    tracking_uri: str,
) -> None:  # fmt: skip
    """In process (the CLI's own code path): Ctrl-C once ``in_flight`` trials run."""
    train, valid = sample_paths
    # Trials that cannot end before the interrupt: many rounds, no early stopping.
    endless = [*SLOW, "model.num_boost_round=1000000"]
    client = MlflowClient(tracking_uri)
    main = threading.get_ident()
    stop = threading.Event()

    def interrupt_when_running() -> None:
        while not stop.is_set():
            if len(running_trials(client)) >= in_flight:
                signal.pthread_kill(main, signal.SIGINT)
                return
            stop.wait(0.1)

    watcher = threading.Thread(target=interrupt_when_running, daemon=True)
    watcher.start()
    try:
        result = CliRunner().invoke(
            app, ["tune", "--train", train, "--valid", valid, "--max-evals", "4", "--quiet",
                  *executor, *sets(endless)],
        )  # fmt: skip
    finally:
        stop.set()
        watcher.join()
    assert result.exit_code == 130, result.output
    assert f"after 0 finished trial(s); {said}" in result.output
    loaded = tunetrack.load_study()
    assert [t.state for t in loaded.trials] == ["killed"] * in_flight
