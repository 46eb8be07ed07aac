"""What a warm start buys a retrain (#21): best validation loss after 10 and 25 trials,
with and without ``--warm-start``, on two pairs of consecutive periods of NYC green taxi
trips, the same seeds for both arms.

A retrain starts a new study on newer data; the warm start's points are the best trials
of the study before it, which tuned on the previous period. So each scenario runs three
studies per seed, on the taxi recipe with tunetrack's default model (XGBoost, native
categories, default space, median pruning):

- ``source``: the older study, on the previous pair of periods (its own 25 trials);
- ``without``: the new study as tunetrack runs it by default (the default start point
  first, then the engine);
- ``with``: the same new study with ``warm_start`` = the source study (its best 5 trials
  that fit the space first, in place of the default start point, then the engine).

Scenarios (windows by pickup time; a trip belongs to the day it was picked up):

- ``bundled``: the bundled months. Source: January 2021 days 1-15 -> days 16-31. New
  study: January -> February 2021 (tunetrack's default study). The source's rows are
  part of the new study's training month, but it never saw February, which the new
  study is judged on; there is no third bundled month, so this is the closest honest
  "previous period" the bundled data allows.
- ``2023``: January 2023 from the same public source (green_tripdata_2023-01.parquet,
  read from ``--raw-2023``, by default ``../shared/data/nyc-tlc`` beside the project),
  cut into days 1-10, 11-20 and 21-31. Source: 1-10 -> 11-20; new study: 11-20 -> 21-31.
  No row is shared with the new study's validation window, and the new study's training
  window is the source's validation window, as in a monthly retrain.

Studies are kept in memory (``InMemoryStorage``), so the figures are the search's, not
MLflow's. Prints a markdown table (mean +- standard deviation over seeds, and the mean
of the per-seed gain: without - with, positive when the warm start helps), then every
figure as JSON (also to ``--out``).

    .venv/bin/python bench/warm_start.py [--seeds 5] [--quick] [--raw-2023 PATH]

``--quick`` takes 10 % of every window's rows, 2 seeds, 10 trials a study (marks 5 and
10) and 200 boosting rounds: it shows the direction only, in minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import tunetrack
from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, read_table
from tunetrack.storage.in_memory import InMemoryStorage

ROOT = Path(__file__).resolve().parents[1]
RAW_2023 = ROOT.parent / "shared" / "data" / "nyc-tlc" / "green_tripdata_2023-01.parquet"
PICKUP = "lpep_pickup_datetime"
ARMS = ("without", "with")


@dataclass(frozen=True)
class Scenario:
    """The source study's (train, valid) and the new study's (train, valid) tables."""

    name: str
    source: tuple[pd.DataFrame, pd.DataFrame]
    new: tuple[pd.DataFrame, pd.DataFrame]
    description: str


@dataclass(frozen=True)
class Budget:
    trials: int
    marks: tuple[int, ...]
    fraction: float
    overrides: tuple[str, ...]


def days(frame: pd.DataFrame, year: int, month: int, first: int, last: int) -> pd.DataFrame:
    """The trips picked up on days ``first``..``last`` of the month (stray dates dropped)."""
    pickup = pd.to_datetime(frame[PICKUP])
    keep = (
        (pickup.dt.year == year)
        & (pickup.dt.month == month)
        & (pickup.dt.day >= first)
        & (pickup.dt.day <= last)
    )
    return frame[keep].reset_index(drop=True)


def sample(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    if fraction >= 1.0:
        return frame
    return frame.sample(frac=fraction, random_state=0).reset_index(drop=True)


def scenarios(raw_2023: Path, fraction: float, wanted: list[str]) -> list[Scenario]:
    out = []
    if "bundled" in wanted:
        jan = read_table(bundled_path(BUNDLED_TRAIN)).frame
        feb = read_table(bundled_path(BUNDLED_VALID)).frame
        out.append(
            Scenario(
                "bundled",
                (
                    sample(days(jan, 2021, 1, 1, 15), fraction),
                    sample(days(jan, 2021, 1, 16, 31), fraction),
                ),
                (
                    sample(days(jan, 2021, 1, 1, 31), fraction),
                    sample(days(feb, 2021, 2, 1, 28), fraction),
                ),
                "source Jan 1-15 -> Jan 16-31 2021; new Jan -> Feb 2021",
            )
        )
    if "2023" in wanted:
        if not raw_2023.is_file():
            raise SystemExit(
                f"no {raw_2023}; pass --raw-2023 PATH to green_tripdata_2023-01.parquet"
            )
        raw = read_table(raw_2023).frame
        first, second, third = (days(raw, 2023, 1, a, b) for a, b in ((1, 10), (11, 20), (21, 31)))
        out.append(
            Scenario(
                "2023",
                (sample(first, fraction), sample(second, fraction)),
                (sample(second, fraction), sample(third, fraction)),
                "source Jan 1-10 -> 11-20 2023; new Jan 11-20 -> 21-31 2023",
            )
        )
    return out


def study(
    tables: tuple[pd.DataFrame, pd.DataFrame],
    storage: InMemoryStorage,
    experiment: str,
    seed: int,
    budget: Budget,
    warm_start: str | None = None,
) -> tunetrack.Study:
    train, valid = tables
    return tunetrack.tune(
        train=train,
        valid=valid,
        max_evals=budget.trials,
        seed=seed,
        experiment=experiment,
        storage=storage,
        overrides=list(budget.overrides),
        warm_start=warm_start,
        progress=False,
    )


def best_after(found: tunetrack.Study, marks: tuple[int, ...]) -> dict[str, float | None]:
    """The best validation loss among the first N trials, for each mark."""
    losses = [t.value(found.metric) for t in sorted(found.trials, key=lambda t: t.number)]
    out: dict[str, float | None] = {}
    for mark in marks:
        seen = [v for v in losses[:mark] if v is not None]
        out[str(mark)] = min(seen) if seen and len(losses) >= mark else None
    return out


def run_seed(scenario: Scenario, seed: int, budget: Budget) -> dict[str, Any]:
    storage = InMemoryStorage()
    started = time.perf_counter()
    source = study(scenario.source, storage, "source", seed, budget)
    record: dict[str, Any] = {
        "seed": seed,
        "source_best": source.best_value,
        "source_seconds": round(time.perf_counter() - started, 1),
    }
    # The order of the two arms alternates with the seed: a slower stretch of a shared
    # machine then falls on both.
    arms = ARMS if seed % 2 == 0 else ARMS[::-1]
    for arm in arms:
        started = time.perf_counter()
        found = study(
            scenario.new,
            storage,
            f"new-{arm}",
            seed,
            budget,
            warm_start=source.run_id if arm == "with" else None,
        )
        record[arm] = best_after(found, budget.marks)
        record[f"{arm}_seconds"] = round(time.perf_counter() - started, 1)
    print(f"{scenario.name} seed {seed}: {json.dumps(record)}", file=sys.stderr, flush=True)
    return record


def summarise(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "sd": None}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd}


def summary(records: list[dict[str, Any]], marks: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mark in map(str, marks):
        row: dict[str, Any] = {}
        for arm in ARMS:
            row[arm] = summarise([r[arm][mark] for r in records if r[arm][mark] is not None])
        gains = [
            r["without"][mark] - r["with"][mark]
            for r in records
            if r["without"][mark] is not None and r["with"][mark] is not None
        ]
        row["gain"] = summarise(gains)
        row["warm_wins"] = sum(g > 0 for g in gains)
        out[mark] = row
    return out


def fmt(cell: dict[str, float | None]) -> str:
    if cell["mean"] is None:
        return "-"
    return f"{cell['mean']:.4f} ± {cell['sd']:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10%% rows, 2 seeds, 10 trials")
    parser.add_argument("--scenarios", default="bundled,2023")
    parser.add_argument("--raw-2023", type=Path, default=RAW_2023)
    parser.add_argument("--out", type=Path, default=Path("bench-warm-start.json"))
    args = parser.parse_args()
    if args.quick:
        budget = Budget(10, (5, 10), 0.1, ("model.num_boost_round=200",))
        seeds = min(args.seeds, 2)
    else:
        budget = Budget(25, (10, 25), 1.0, ())
        seeds = args.seeds
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "trials": budget.trials,
        "marks": list(budget.marks),
        "fraction": budget.fraction,
        "overrides": list(budget.overrides),
        "seeds": seeds,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "scenarios": {},
    }
    lines = [
        "| scenario | trials | without warm start | with warm start | gain (without - with) "
        "| warm wins |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in scenarios(args.raw_2023, budget.fraction, wanted):
        records = [run_seed(scenario, seed, budget) for seed in range(seeds)]
        figures = summary(records, budget.marks)
        results["scenarios"][scenario.name] = {
            "description": scenario.description,
            "rows": {
                "source": [len(t) for t in scenario.source],
                "new": [len(t) for t in scenario.new],
            },
            "per_seed": records,
            "summary": figures,
        }
        for mark, row in figures.items():
            lines.append(
                f"| {scenario.name} | {mark} | {fmt(row['without'])} | {fmt(row['with'])} | "
                f"{fmt(row['gain'])} | {row['warm_wins']}/{seeds} |"
            )
    print("\n".join(lines))
    text = json.dumps(results, indent=1)
    print(text)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
