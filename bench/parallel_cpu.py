"""Where a parallel study's time goes, in CPU seconds (#15): holds on a loaded machine.

Runs one study of ``bench/parallel.py``'s kind (synthetic regression, XGBoost, fixed
rounds, no pruning, its own SQLite store) and times, by wrapping the library's methods
from outside (no library change):

- the driver's main thread: CPU (``time.thread_time``) inside the sampler's ``ask`` and
  ``tell``, the store's ``start_trial`` and ``finish_trial``, the executor's ``submit``
  (pickling the task and writing it to the pipe; inline: the trial itself), and the rest;
- the driver's monitor thread (processes): CPU reading results off the pipes;
- the whole driver process (``time.process_time``: every thread, MLflow's included);
- each worker process: its CPU read from ``/proc/PID/stat`` before shutdown, against the
  fits' own CPU (``fit_cpu_seconds``) and the matrices built once per worker;
- worker idle per trial: wall time from a result reaching the driver to the next task
  being sent to that worker (wall, so it grows on a busy machine: read it with the load);
- fixed start cost: executor start, and each worker's wait until it is ready.

Prints one JSON object. CPU seconds per trial are the figures to compare across runs.

    PYTHONPATH=src .venv/bin/python bench/parallel_cpu.py --mode processes --trials 60
    PYTHONPATH=src .venv/bin/python bench/parallel_cpu.py --mode inline --nthread 1
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src .venv/bin/python bench/parallel_cpu.py --mode inline
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tunetrack
from parallel import table
from tunetrack.execution.inline import InlineExecutor
from tunetrack.execution.processes import ProcessExecutor
from tunetrack.samplers.hyperopt import HyperoptSampler
from tunetrack.samplers.optuna import OptunaSampler
from tunetrack.storage.mlflow import MlflowStorage
from tunetrack.study import loop, runner

CPU: dict[str, float] = defaultdict(float)  # main-thread CPU seconds by step
CALLS: dict[str, int] = defaultdict(int)
IDLE: list[float] = []  # wall seconds a worker waited for its next task
IDLE_CPU: list[float] = []  # the driver's CPU seconds from a result to the next hand-out
READY: list[float] = []  # wall seconds from executor start to each worker's "ready"
WORKER_CPU: list[float] = []  # CPU seconds of each worker process, whole life
READY_CPU: list[float] = []  # CPU seconds of each worker when ready (data built)
STATE: dict[str, Any] = {}
_last_result: dict[int, float] = {}  # id(worker) -> when its result reached the driver
_tick = os.sysconf("SC_CLK_TCK")


def timed(cls: type, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cpu = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            CPU[label] += time.thread_time() - cpu
            CALLS[label] += 1

    setattr(cls, name, wrapper)


def mark(name: str) -> None:
    """Note the wall and main-thread CPU seconds of a phase boundary (first time only)."""
    STATE.setdefault(f"at_{name}", (time.perf_counter(), time.thread_time()))


def instrument() -> None:
    prepare = runner.prepare_inputs

    def prepare_noting(*args: Any, **kwargs: Any) -> Any:
        inputs = prepare(*args, **kwargs)
        mark("inputs_ready")
        return inputs

    runner.prepare_inputs = prepare_noting
    for cls in (HyperoptSampler, OptunaSampler):
        timed(cls, "ask", "ask")
        timed(cls, "tell", "tell")
    timed(MlflowStorage, "start_trial", "start_trial")
    timed(MlflowStorage, "finish_trial", "finish_trial")
    timed(InlineExecutor, "submit", "submit")
    inline_submit = InlineExecutor.submit

    def inline_submit_noting(self: InlineExecutor, task: Any) -> Any:
        mark("first_submit")
        return inline_submit(self, task)

    InlineExecutor.submit = inline_submit_noting  # type: ignore[method-assign]
    inline_exit = InlineExecutor.shutdown

    def inline_shutdown_noting(self: InlineExecutor) -> None:
        mark("loop_end")
        inline_exit(self)

    InlineExecutor.shutdown = inline_shutdown_noting  # type: ignore[method-assign]
    timed(ProcessExecutor, "submit", "submit")

    submit = ProcessExecutor.submit
    wait = loop.wait

    def wait_noting(*args: Any, **kwargs: Any) -> Any:
        done = wait(*args, **kwargs)
        STATE["after_wait_cpu"] = time.thread_time()
        return done

    loop.wait = wait_noting

    def submit_noting_idle(self: ProcessExecutor, task: Any) -> Any:
        mark("first_submit")
        future = submit(self, task)
        now = time.perf_counter()
        for worker in self._workers:
            if worker.future is future and id(worker) in _last_result:
                IDLE.append(now - _last_result.pop(id(worker)))
                IDLE_CPU.append(time.thread_time() - STATE["after_wait_cpu"])
        return future

    ProcessExecutor.submit = submit_noting_idle  # type: ignore[method-assign]

    receive = ProcessExecutor._receive

    def receive_noting(self: ProcessExecutor, worker: Any) -> bool:
        was_ready = worker.ready
        cpu = time.thread_time()
        ok = receive(self, worker)
        CPU["monitor_receive"] += time.thread_time() - cpu
        now = time.perf_counter()
        if ok and not was_ready and worker.ready:
            READY.append(now - STATE["start_wall"])
            READY_CPU.append(process_cpu(worker.process.pid))
        elif ok:
            _last_result[id(worker)] = now
        return ok

    ProcessExecutor._receive = receive_noting  # type: ignore[method-assign]

    start = ProcessExecutor.start

    def start_noting(self: ProcessExecutor, data: Any) -> None:
        mark("executor_start")
        STATE["start_wall"] = time.perf_counter()
        cpu = time.thread_time()
        start(self, data)
        CPU["executor_start"] += time.thread_time() - cpu
        STATE["executor_start_wall"] = time.perf_counter() - STATE["start_wall"]

    ProcessExecutor.start = start_noting  # type: ignore[method-assign]

    shutdown = ProcessExecutor.shutdown

    def shutdown_noting(self: ProcessExecutor) -> None:
        mark("loop_end")
        WORKER_CPU.extend(process_cpu(pid) for pid in self.worker_pids)
        shutdown(self)

    ProcessExecutor.shutdown = shutdown_noting  # type: ignore[method-assign]


def phases() -> dict[str, list[float]]:
    order = ["tune", "inputs_ready", "executor_start", "first_submit", "loop_end", "tune_end"]
    seen = [name for name in order if f"at_{name}" in STATE]
    out = {}
    for a, b in itertools.pairwise(seen):
        (wa, ca), (wb, cb) = STATE[f"at_{a}"], STATE[f"at_{b}"]
        out[f"{a}->{b}"] = [round(wb - wa, 3), round(cb - ca, 3)]
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of stat(5) (11 and 12 after the name).
    return (int(fields[11]) + int(fields[12])) / _tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("inline", "processes"), default="processes")
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--engine", default="optuna")
    parser.add_argument("--nthread", type=int, help="model.params.nthread (inline)")
    args = parser.parse_args()
    instrument()
    frame = table(args.rows)
    overrides = [
        f"model.num_boost_round={args.rounds}",
        "model.early_stopping_rounds=null",
        "search.pruning=none",
        "search.start_points=false",
        f"search.engine={args.engine}",
    ]
    if args.nthread:
        overrides.append(f"model.params.nthread={args.nthread}")
    processes = args.mode == "processes"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'bench.db'}"
        cpu, main_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
        STATE["at_tune"] = (wall, main_cpu)
        found = tunetrack.tune(
            train=frame,
            target="y",
            model="xgboost",
            max_evals=args.trials,
            seed=0,
            tracking_uri=uri,
            progress=False,
            executor=args.mode,
            parallelism=args.parallelism if processes else None,
            overrides=overrides,
        )
        driver_cpu = time.process_time() - cpu
        main_cpu = time.thread_time() - main_cpu
        wall = time.perf_counter() - wall
        mark("tune_end")
    n = args.trials
    fit_cpu = sum(t.metrics.get("fit_cpu_seconds", 0.0) for t in found.trials)
    fit_wall = sum(t.metrics.get("fit_seconds", 0.0) for t in found.trials)
    steps = {k: round(1000 * v / n, 2) for k, v in sorted(CPU.items())}
    # Inline's submit is the trial itself: not the loop's own work.
    names = ("ask", "tell", "start_trial", "finish_trial") + (("submit",) if processes else ())
    loop_steps = sum(CPU[k] for k in names)
    out: dict[str, Any] = {
        "mode": args.mode if not processes else f"processes-{args.parallelism}",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "nthread": args.nthread,
        "trials": n,
        "ok": sum(t.state == "ok" for t in found.trials),
        "best": float(found.best_value),
        "wall_s": round(wall, 2),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "driver_cpu_s": round(driver_cpu, 2),
        "driver_main_thread_cpu_s": round(main_cpu, 2),
        "main_thread_ms_per_trial": steps,
        "driver_loop_ms_per_trial": round(1000 * loop_steps / n, 2),
        "fit_cpu_ms_per_trial": round(1000 * fit_cpu / n, 2),
        "fit_wall_ms_per_trial": round(1000 * fit_wall / n, 2),
        "calls": dict(CALLS),
        # Wall and main-thread CPU seconds of each phase: setup (checks, store, study
        # run), executor start (processes), loop, closing (summary, read-back).
        "phases_wall_cpu_s": phases(),
    }
    if processes:
        out.update(
            executor_start_wall_s=round(STATE.get("executor_start_wall", 0.0), 3),
            worker_ready_wall_s=[round(r, 3) for r in READY],
            worker_cpu_s=WORKER_CPU,
            worker_cpu_when_ready_s=READY_CPU,
            # A worker's CPU past its start (data built), per trial: fit, scoring, pipes.
            worker_cpu_after_ready_ms_per_trial=round(
                1000 * (sum(WORKER_CPU) - sum(READY_CPU)) / n, 2
            ),
            worker_cpu_ms_per_trial=round(1000 * sum(WORKER_CPU) / n, 2),
            driver_cpu_from_result_to_next_task_ms=(
                round(1000 * statistics.median(IDLE_CPU), 2) if IDLE_CPU else None
            ),
            worker_idle_ms=(
                {
                    "median": round(1000 * statistics.median(IDLE), 2),
                    "mean": round(1000 * statistics.mean(IDLE), 2),
                    "count": len(IDLE),
                }
                if IDLE
                else None
            ),
        )
    # Compared on a loaded machine by CPU, not wall: the cores' work per trial.
    out["cpu_ms_per_trial_all_processes"] = round(1000 * (driver_cpu + sum(WORKER_CPU)) / n, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
