"""Pruning on against off (issue #17): the best validation loss after equal wall time.

One invocation runs, per table and seed, the default study three ways, one after
another (the order rotates with the seed, so a slower stretch of a shared machine falls
on each): ``off`` (``search.pruning=none``), ``median`` (the median pruner, its warm-up
following the learning rate) and ``median-fixed`` (the rule before issue #17: 20 warm-up
rounds whatever the rate). Studies are kept in memory (``InMemoryStorage``) so the
figures are the search's, not MLflow's. Tables as in ``bench/peers.py`` (``taxi``, the
default study; ``regression`` and ``classification``, 200,000 synthetic rows).

Prints, per table and mode, the mean best loss over seeds after each checkpoint, the
pruned share of trials, and for each seed whether ``median`` lost to ``off``; then JSON
(also to ``--out``).

    .venv/bin/python bench/pruning.py [--seeds 5] [--seconds 60] [--tables taxi]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tunetrack
from peers import TABLES
from tunetrack import pruners
from tunetrack.pruners.median import MedianPruner
from tunetrack.storage.in_memory import InMemoryStorage

MODES = ("off", "median", "median-fixed")


def run(
    table: dict[str, Any], mode: str, seed: int, seconds: float, extra: list[str]
) -> dict[str, Any]:
    pruning = "none" if mode == "off" else "median"
    # median-fixed: the pre-#17 rule, the warm-up never longer than 20 rounds.
    progress = 0.0 if mode == "median-fixed" else MedianPruner().warmup_progress
    pruners.PRUNERS["median"] = lambda: MedianPruner(warmup_progress=progress)
    arguments = dict(table["tunetrack"])
    overrides = [*arguments.pop("overrides", []), f"search.pruning={pruning}", *extra]
    started = time.time()
    study = tunetrack.create_study(
        **arguments,
        seed=seed,
        storage=InMemoryStorage(),
        experiment=f"pruning-{mode}-{seed}",
        overrides=overrides,
    )
    study.optimize(n_trials=100_000, timeout=seconds - (time.time() - started), progress=False)
    rows = [
        {
            "t": (t.end_time or 0) / 1000 - started,
            "loss": t.value(study.metric) if t.state == "ok" else None,
            "state": str(t.state),
        }
        for t in study.trials
    ]
    return {"mode": mode, "seed": seed, "rows": rows}


def taxi_sample(fraction: float) -> dict[str, Any]:
    """The bundled months (all rows, or a seeded share of each raw month)."""
    if fraction >= 1.0:
        return {"tunetrack": {}}
    from tunetrack.data import BUNDLED_TRAIN, BUNDLED_VALID, bundled_path, read_table

    train, valid = (
        read_table(bundled_path(name), role=role)
        .frame.sample(frac=fraction, random_state=0)
        .sort_index()
        for name, role in ((BUNDLED_TRAIN, "train"), (BUNDLED_VALID, "valid"))
    )
    return {"tunetrack": {"train": train, "valid": valid}}


def best_by(rows: list[dict[str, Any]], seconds: float) -> float | None:
    losses = [r["loss"] for r in rows if r["loss"] is not None and r["t"] <= seconds]
    return min(losses) if losses else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tables", default="taxi,regression,classification")
    parser.add_argument("--out", type=Path, default=Path("bench-pruning.json"))
    parser.add_argument(
        "--taxi-fraction", type=float, default=1.0, help="a seeded share of the taxi rows"
    )
    parser.add_argument("--set", action="append", default=[], help="more --set overrides")
    args = parser.parse_args()
    marks = sorted({args.seconds / 4, args.seconds / 2, args.seconds})
    out: list[dict[str, Any]] = []
    for name in args.tables.split(","):
        table = taxi_sample(args.taxi_fraction) if name == "taxi" else TABLES[name]()
        for seed in range(args.seeds):
            order = MODES[seed % len(MODES) :] + MODES[: seed % len(MODES)]
            for mode in order:
                load = os.getloadavg()[0]
                result = run(table, mode, seed, args.seconds, args.set)
                result.update(table=name, load_1min=round(load, 2))
                result.update({f"{m:.0f} s": best_by(result["rows"], m) for m in marks})
                out.append(result)
                brief = {k: v for k, v in result.items() if k != "rows"}
                brief["trials"] = len(result["rows"])
                brief["pruned"] = sum(r["state"] == "pruned" for r in result["rows"])
                print(json.dumps(brief), file=sys.stderr, flush=True)
    heads = " | ".join(f"mean best at {m:.0f} s" for m in marks)
    print(f"| table | mode | {heads} | pruned |")
    print("| --- | --- | " + " | ".join("---:" for _ in marks) + " | ---: |")
    for name in args.tables.split(","):
        for mode in MODES:
            runs = [r for r in out if r["table"] == name and r["mode"] == mode]
            cells = []
            for m in marks:
                got = [r[f"{m:.0f} s"] for r in runs if r[f"{m:.0f} s"] is not None]
                cells.append(f"{statistics.fmean(got):.4f} ({len(got)})" if got else "none")
            trials = sum(len(r["rows"]) for r in runs)
            pruned = sum(row["state"] == "pruned" for r in runs for row in r["rows"])
            print(f"| {name} | {mode} | " + " | ".join(cells) + f" | {pruned}/{trials} |")
        for seed in range(args.seeds):
            at = f"{args.seconds:.0f} s"
            by = {r["mode"]: r[at] for r in out if r["table"] == name and r["seed"] == seed}
            on, off = by.get("median"), by.get("off")
            verdict = "lost" if on is not None and off is not None and on > off else "held"
            print(f"{name} seed {seed}: median {on} vs off {off} at {at}: {verdict}")
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
