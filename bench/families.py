"""Each model family on the bundled taxi months, one budget each, side by side.

    .venv/bin/python bench/families.py [--budget 120] [--families xgboost,linear]

Every family gets the same wall-clock budget (``search.timeout``), the same seed and
the same January/February rows; a last run searches all families at once with the
same budget. Prints a markdown table, then the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tunetrack import tune
from tunetrack.models import MODELS


def run(name: str, budget: float, uri: str) -> dict[str, object]:
    started = time.perf_counter()
    study = tune(
        model=name,
        timeout=budget,
        max_evals=1000,
        experiment=f"bench-{name}",
        tracking_uri=uri,
        progress=False,
    )
    wall = time.perf_counter() - started
    best = study.best
    done = [t for t in study.trials if t.state == "ok"]
    to_best = (best.end_time - study.trials[0].start_time) / 1000
    return {
        "model": name,
        "best_rmse": round(study.best_value, 4),
        "best_family": best.params.get("family", name),
        "trials": len(done),
        "seconds_to_best": round(to_best, 1),
        "wall_seconds": round(wall, 1),
        "best_fit_seconds": round(best.metrics["fit_seconds"], 2),
        "best_model_kb": round(best.metrics["model_bytes"] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per family")
    parser.add_argument("--families", default=",".join([*MODELS, "all"]))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for name in args.families.split(","):
            rows.append(run(name, args.budget, uri))
            print(f"done: {rows[-1]}", flush=True)
    print()
    print("| model | best RMSE | trials | s to best | best fit s | best model KB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        label = r["model"] if r["model"] != "all" else f"all (best: {r['best_family']})"
        print(
            f"| {label} | {r['best_rmse']} | {r['trials']} | {r['seconds_to_best']} | "
            f"{r['best_fit_seconds']} | {r['best_model_kb']} |"
        )
    print()
    print(json.dumps({"budget_seconds": args.budget, "families": rows}, indent=1))


if __name__ == "__main__":
    main()
