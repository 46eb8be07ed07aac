"""Trials side by side: throughput, quality at equal trial count, Spark's overhead (#15).

Data: a seeded synthetic regression table (``--rows``, 4,000 by default, 20 numeric
features, scikit-learn's ``make_regression`` with noise), a fifth of it validating.
Model: XGBoost, ``--rounds`` boosting rounds (50), no early stopping and no pruning, so
every trial costs the same work whichever executor runs it. Every study writes to its
own SQLite MLflow store (the one-writer path is part of what is measured).

- throughput: one study of ``--trials`` trials (200) inline, then with ``--executor
  processes`` at each ``--parallelism`` (1,2,4 by default: past the cores it shows where
  scaling stops); trials per minute from the study's wall time (worker start included)
  and the ratio to inline;
- quality: the best validation RMSE after ``--quality-trials`` trials (50), for
  ``--seeds`` seeds (5), sequential (inline) against ``processes --parallelism 2``
  (asynchronous TPE asks while trials are pending, which costs some sample efficiency):
  mean, median and worst over the seeds per mode, and parallel's relative gap on each;
- spark (``--spark``): tiny trials (1 round, 100 rows) on ``local[2]`` against
  ``processes --parallelism 2``, the executors' own overhead, split in two: a fixed cost
  (Spark's JVM and session, or the worker processes, started; the data shipped) and a
  cost per trial, from two study sizes (``--spark-trials``, 10 and 40) run after a
  first, cold study of the smaller size: per trial = the difference of the two warm
  wall times over the difference of their trial counts; fixed = a study's time less
  its trials, cold (imports, the JVM's launch) and warm (a session in a running JVM).

Prints one JSON object (also to ``--out``, default ``bench-parallel.json``) with the
machine's load (``os.getloadavg``) before and after, since a shared machine skews the
figures.

    .venv/bin/python bench/parallel.py [--trials 200] [--seeds 5] [--spark]
    .venv/bin/python bench/parallel.py --only none --spark --spark-trials 10,40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import make_regression

import tunetrack


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    x, y = make_regression(
        n_samples=rows, n_features=20, n_informative=12, noise=10.0, random_state=seed
    )
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["y"] = y
    return frame


def study(
    frame: pd.DataFrame,
    *,
    trials: int,
    rounds: int,
    seed: int,
    executor: str,
    parallelism: int | None,
    workdir: Path,
) -> tuple[float, float]:
    """(wall seconds, best validation RMSE) of one study on its own store."""
    uri = f"sqlite:///{workdir / f'{executor}-{parallelism}-{seed}-{time.time_ns()}.db'}"
    started = time.perf_counter()
    found = tunetrack.tune(
        train=frame,
        target="y",
        model="xgboost",
        max_evals=trials,
        seed=seed,
        tracking_uri=uri,
        progress=False,
        executor=executor,
        parallelism=parallelism,
        overrides=[
            f"model.num_boost_round={rounds}",
            "model.early_stopping_rounds=null",
            "search.pruning=none",
            "search.start_points=false",
        ],
    )
    seconds = time.perf_counter() - started
    assert sum(t.state == "ok" for t in found.trials) == trials, found.trials
    return seconds, float(found.best_value)


def throughput(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    frame = table(args.rows)
    runs: dict[str, Any] = {}
    kw = dict(trials=args.trials, rounds=args.rounds, seed=0, workdir=workdir)
    seconds, _ = study(frame, executor="inline", parallelism=None, **kw)
    runs["inline"] = {"seconds": seconds, "trials_per_minute": 60 * args.trials / seconds}
    for n in args.parallelism:
        seconds, _ = study(frame, executor="processes", parallelism=n, **kw)
        per_minute = 60 * args.trials / seconds
        runs[f"processes-{n}"] = {
            "seconds": seconds,
            "trials_per_minute": per_minute,
            "ratio_to_inline": per_minute / runs["inline"]["trials_per_minute"],
        }
    return runs


def quality(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    frame = table(args.rows)
    best: dict[str, list[float]] = {"inline": [], "processes-2": []}
    for seed in range(args.seeds):
        kw = dict(trials=args.quality_trials, rounds=args.rounds, seed=seed, workdir=workdir)
        best["inline"].append(study(frame, executor="inline", parallelism=None, **kw)[1])
        best["processes-2"].append(study(frame, executor="processes", parallelism=2, **kw)[1])
    out: dict[str, Any] = {"best_rmse": best}
    for name, values in best.items():
        out[name] = summary(values)
    # Above 0: parallel's best is worse than sequential's by that fraction (per figure).
    out["relative_gap"] = {
        k: out["processes-2"][k] / out["inline"][k] - 1 for k in ("mean", "median", "worst")
    }
    return out


def summary(values: list[float]) -> dict[str, float]:
    """Mean, median, worst (highest loss) and standard deviation over the seeds."""
    return {
        "mean": statistics.mean(values),
        "median": statistics.median(values),
        "worst": max(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def spark_overhead(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Fixed cost (session or workers started, data shipped) and cost per trial, apart:
    each executor runs a study of each size in ``--spark-trials``; the per-trial cost is
    the wall time's difference over the trial-count difference, the fixed cost what is
    left of the smaller study once its trials are taken off."""
    frame = table(100)
    small, large = args.spark_trials
    out: dict[str, Any] = {"trials": [small, large]}
    for name, executor in (("processes-2", "processes"), ("spark-local-2", "spark")):
        kw = dict(rounds=1, seed=0, workdir=workdir, executor=executor, parallelism=2)
        # The first study in this process also pays the imports and, for Spark, the JVM's
        # launch (pyspark keeps the JVM after a session stops): it gives the cold fixed
        # cost; the per-trial cost comes from two studies after it.
        cold = study(frame, trials=small, **kw)[0]
        seconds = [study(frame, trials=n, **kw)[0] for n in (small, large)]
        per_trial = (seconds[1] - seconds[0]) / (large - small)
        out[name] = {
            "seconds_cold_then_warm": [cold, *seconds],
            "ms_per_trial": 1000 * per_trial,
            "fixed_seconds_cold": cold - small * per_trial,
            "fixed_seconds_warm": seconds[0] - small * per_trial,
        }
    out["spark_extra_ms_per_trial"] = (
        out["spark-local-2"]["ms_per_trial"] - out["processes-2"]["ms_per_trial"]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--parallelism", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4]
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quality-trials", type=int, default=50)
    parser.add_argument("--only", default="throughput,quality", help="sections to run")
    parser.add_argument("--spark", action="store_true", help="also Spark's overhead")
    parser.add_argument(
        "--spark-trials",
        type=lambda s: sorted(int(x) for x in s.split(",")),
        default=[10, 40],
        help="two study sizes, smaller first: per-trial cost from their difference",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-parallel.json"))
    args = parser.parse_args()
    sections = set(args.only.split(","))
    result: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "throughput" in sections:
            result["throughput"] = throughput(args, workdir)
            print(json.dumps({"throughput": result["throughput"]}), flush=True)
        if "quality" in sections:
            result["quality"] = quality(args, workdir)
            print(json.dumps({"quality": result["quality"]}), flush=True)
        if args.spark:
            result["spark"] = spark_overhead(args, workdir)
            print(json.dumps({"spark": result["spark"]}), flush=True)
    result["load_after"] = os.getloadavg()
    text = json.dumps(result, indent=2, default=str)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
