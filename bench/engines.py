"""Which engine should be the default: Hyperopt's TPE against Optuna's, side by side (#14).

One invocation runs both engines on three tables, the same seeds for each:

- ``taxi``: the bundled January/February 2021 months through the taxi recipe, XGBoost
  with native categories (tunetrack's default study); ``--taxi-fraction`` takes a seeded
  sample of both months' rows, the same for every study;
- ``diabetes``: scikit-learn's bundled diabetes regression (442 rows, 10 features),
  a random quarter of the rows validating;
- ``breast_cancer``: scikit-learn's bundled breast-cancer classification (569 rows, 30
  features, log loss), a stratified quarter validating.

Every study runs with ``search.start_points=false``, so the default space's start point
does not run first: both engines search from nothing, which is what this compares. Pruning is the
default (median) on both. A study runs 100 trials, then on until 120 s have passed if
it is not there yet, so the figures are the best validation loss after 10, 25, 50 and
100 trials and after 30, 60 and 120 s, as the mean and spread over seeds; on the taxi
table also the seconds until the tutorial loop's 50-trial best (RMSE 6.315, measured by
``bench/speed.py``, see README) and until 6.00. Studies are kept in memory
(``InMemoryStorage``), so the figures are the engines' and the trials', not MLflow's.

The order of the two engines alternates with the seed, so a slower stretch of a shared
machine falls on both. Prints a markdown table (mean ± standard deviation; the lower
mean in bold), the wins per engine, then every figure as JSON (also to ``--out``).

    .venv/bin/python bench/engines.py [--seeds 5] [--tables taxi,diabetes,breast_cancer]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

import tunetrack
from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, read_table
from tunetrack.storage.in_memory import InMemoryStorage

ENGINES = ("hyperopt", "optuna")
TUTORIAL_BEST = 6.315  # the tutorial loop's best after its 50 trials (bench/speed.py)
GOOD_TAXI = 6.00
NO_START = ["search.start_points=false"]


@dataclass(frozen=True)
class Marks:
    """Where the best loss so far is read: after so many trials, after so many seconds."""

    trials: tuple[int, ...] = (10, 25, 50, 100)
    seconds: tuple[float, ...] = (30.0, 60.0, 120.0)


QUICK = Marks(trials=(5, 10), seconds=(5.0, 10.0))  # a smoke run of the bench itself


def sklearn_table(loader: Callable[..., Any]) -> pd.DataFrame:
    frame = loader(as_frame=True).frame
    return frame.rename(columns={"target": "y"})


def study_arguments(table: str, taxi_fraction: float) -> dict[str, Any]:
    """What ``create_study`` gets for ``table`` (besides engine, seed and storage)."""
    if table == "taxi":
        if taxi_fraction >= 1.0:
            return {"overrides": NO_START}
        # The same rows for every study: a seeded sample of each raw month.
        train, valid = (
            read_table(bundled_path(name), role=role)
            .frame.sample(frac=taxi_fraction, random_state=0)
            .sort_index()
            for name, role in ((BUNDLED_TRAIN, "train"), (BUNDLED_VALID, "valid"))
        )
        return {"train": train, "valid": valid, "overrides": NO_START}
    loader = {"diabetes": load_diabetes, "breast_cancer": load_breast_cancer}[table]
    task = "classification" if table == "breast_cancer" else "regression"
    return {
        "train": sklearn_table(loader),
        "target": "y",
        "task": task,
        "overrides": [*NO_START, "data.valid_fraction=0.25"],
    }


def run(
    table: str, engine: str, seed: int, arguments: dict[str, Any], marks: Marks
) -> dict[str, Any]:
    """One study: its trials as (seconds since the first trial was asked, loss, state)."""
    study = tunetrack.create_study(
        engine=engine,
        seed=seed,
        experiment=f"{table}-{engine}-{seed}",
        storage=InMemoryStorage(),
        **arguments,
    )
    started = time.time()
    study.optimize(n_trials=max(marks.trials), progress=False)
    spent = time.time() - started
    if spent < max(marks.seconds):
        study.optimize(n_trials=100_000, timeout=max(marks.seconds) - spent, progress=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    rows = [
        {
            "number": t.number,
            "t": round((t.end_time or 0) / 1000 - started, 3),
            "loss": t.value(study.metric) if t.state == "ok" else None,
        }
        for t in trials
    ]
    return {"table": table, "engine": engine, "seed": seed, "metric": study.metric, "rows": rows}


def best_within(rows: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> float | None:
    losses = [r["loss"] for r in rows if r["loss"] is not None and keep(r)]
    return min(losses) if losses else None


def seconds_to(rows: list[dict[str, Any]], target: float) -> float | None:
    hits = [r["t"] for r in rows if r["loss"] is not None and r["loss"] <= target]
    return min(hits) if hits else None


def figures(result: dict[str, Any], marks: Marks) -> dict[str, Any]:
    rows = result["rows"]
    out: dict[str, Any] = {}
    for n in marks.trials:
        out[f"{n} trials"] = best_within(rows, lambda r, n=n: r["number"] < n)
    for s in marks.seconds:
        out[f"{s:.0f} s"] = best_within(rows, lambda r, s=s: r["t"] <= s)
    if result["table"] == "taxi":
        out["s to 6.315"] = seconds_to(rows, TUTORIAL_BEST)
        out["s to 6.00"] = seconds_to(rows, GOOD_TAXI)
    out[f"trials in {max(marks.seconds):.0f} s"] = sum(r["t"] <= max(marks.seconds) for r in rows)
    return out


def summarise(values: list[float | None]) -> dict[str, Any]:
    """Mean, standard deviation, min and max over seeds; ``missing`` counts the seeds
    with no value (no finished trial yet, or the target never reached)."""
    got = [v for v in values if v is not None]
    if not got:
        return {"mean": None, "missing": len(values)}
    return {
        "mean": statistics.fmean(got),
        "sd": statistics.stdev(got) if len(got) > 1 else 0.0,
        "min": min(got),
        "max": max(got),
        "missing": len(values) - len(got),
    }


def table_lines(summary: dict[str, dict[str, dict[str, Any]]]) -> tuple[list[str], dict[str, int]]:
    """Markdown rows (one per table and figure) and the wins per engine: a lower mean
    wins a row; seconds-to-target rows with a seed that never got there are not scored."""
    lines = ["| table | figure | hyperopt | optuna |", "| --- | --- | ---: | ---: |"]
    wins = dict.fromkeys(ENGINES, 0)
    for table, by_figure in summary.items():
        for figure, by_engine in by_figure.items():
            cells, means = [], {}
            for engine in ENGINES:
                s = by_engine[engine]
                if s["mean"] is None:
                    cells.append("never")
                    continue
                digits = 1 if figure.startswith(("s to", "trials in")) else 4
                cell = f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}"
                if s["missing"]:
                    cell += f" ({s['missing']} never)"
                cells.append(cell)
                if not s["missing"]:
                    means[engine] = s["mean"]
            if len(means) == len(ENGINES) and not figure.startswith("trials in"):
                winner = min(means, key=lambda e: means[e])
                if means[winner] < max(means.values()):
                    wins[winner] += 1
                    cells[ENGINES.index(winner)] = f"**{cells[ENGINES.index(winner)]}**"
            lines.append(f"| {table} | {figure} | {cells[0]} | {cells[1]} |")
    return lines, wins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tables", default="taxi,diabetes,breast_cancer")
    parser.add_argument("--out", type=Path, default=Path("bench-engines.json"))
    parser.add_argument(
        "--taxi-fraction",
        type=float,
        default=1.0,
        help="a seeded sample of the taxi months' rows (1: all of them)",
    )
    parser.add_argument("--quick", action="store_true", help="5/10 trials, 5/10 s: a smoke run")
    args = parser.parse_args()
    marks = QUICK if args.quick else Marks()
    tables = args.tables.split(",")
    results = []
    started = time.time()
    for seed in range(args.seeds):
        order = ENGINES if seed % 2 == 0 else ENGINES[::-1]
        for table in tables:
            arguments = study_arguments(table, args.taxi_fraction)
            for engine in order:
                result = run(table, engine, seed, arguments, marks)
                result["figures"] = figures(result, marks)
                results.append(result)
                print(f"{table} {engine} seed {seed}: {result['figures']}", flush=True)
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for table in tables:
        mine = [r for r in results if r["table"] == table]
        names = list(mine[0]["figures"])
        summary[table] = {
            name: {
                e: summarise([r["figures"][name] for r in mine if r["engine"] == e])
                for e in ENGINES
            }
            for name in names
        }
    lines, wins = table_lines(summary)
    print("\n".join(["", *lines, "", f"rows won: {wins}"]))
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_after": os.getloadavg(),
        "wall_seconds": round(time.time() - started),
        "seeds": args.seeds,
        "taxi_fraction": args.taxi_fraction,
        "summary": summary,
        "wins": wins,
        "studies": results,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(f"every figure: {args.out}")


if __name__ == "__main__":
    main()
