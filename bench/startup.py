"""Start-up (issue #17): seconds from launching ``tunetrack tune`` to its first tracked
trial, on the bundled study, with a fresh SQLite store each time.

Each run launches ``python -m tunetrack.cli tune --max-evals N --quiet`` in a new
directory (so ``sqlite:///mlflow.db`` is created and migrated by that process), then
reads the trial runs back from the store: the first trial's run end time minus the
launch time is the figure (the run is FINISHED then, its metrics written). Prints JSON
with every run's figures, their median, the machine's load (``os.getloadavg``) and the
CPU seconds the process used (``resource.getrusage`` of the children).

    .venv/bin/python bench/startup.py [--runs 3] [--max-evals 1] [--store existing]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(workdir: Path, max_evals: int, fresh: bool) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    if fresh:  # a new directory: nothing of an earlier run's store is left
        workdir = Path(tempfile.mkdtemp(dir=workdir))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    launched = time.time()
    subprocess.run(
        [sys.executable, "-m", "tunetrack.cli", "tune", "--max-evals", str(max_evals), "--quiet"],
        cwd=workdir,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`tunetrack.trial` = '0'",
        order_by=["attributes.start_time DESC"],
    )
    first = runs[0]  # the latest study's trial 0
    return {
        "first_trial_finished_s": round(first.info.end_time / 1000 - launched, 2),
        "first_trial_started_s": round(first.info.start_time / 1000 - launched, 2),
        "first_trial_rmse": round(first.data.metrics["rmse"], 4),
        "process_s": round(ended - launched, 2),
        "process_cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-evals", type=int, default=1)
    parser.add_argument("--store", choices=["fresh", "existing"], default="fresh")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            figures = one_run(Path(tmp), args.max_evals, fresh=args.store == "fresh")
            runs.append({**figures, "load_1min": round(load, 2)})
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    median = statistics.median(r["first_trial_finished_s"] for r in runs)
    summary = {"store": args.store, "runs": runs, "median_first_trial_finished_s": median}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
