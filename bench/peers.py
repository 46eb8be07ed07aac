"""tunetrack against its peers (issue #17): best-so-far validation loss over wall time.

One invocation runs, one after another on the same rows and features, for each table:

- ``tunetrack``: ``tunetrack.tune`` as a notebook user calls it (default study: Optuna's
  TPE, median pruning, cheap start points), tracking into a fresh SQLite store;
- ``optuna``: Optuna's multivariate TPE with its ``MedianPruner`` over tunetrack's
  default XGBoost space, XGBoost with the same early stopping and a callback that
  reports each round's validation loss (``trial.report`` / ``should_prune``);
- ``tunetrack-rows`` (only with ``--tools``): the same with fidelity rungs over rows
  (``search.fidelity.rows``, min_rows a tenth of the training rows, factor 3);
- ``flaml``: FLAML's ``AutoML(estimator_list=["xgboost"])`` with the same validation rows
  (``X_val``/``y_val``), its own search from cheap configurations.

Tables (all made without the internet):

- ``taxi``: the bundled January/February 2021 green-taxi months through tunetrack's
  recipe (the peers get the frames the recipe makes: the two location IDs as
  categories and the distance; trip minutes to predict);
- ``regression``: ``sklearn.datasets.make_regression``, 200,000 rows (20 features, 8
  informative, noise 10; a quarter of the rows validating), seed 0;
- ``classification``: ``sklearn.datasets.make_classification``, 200,000 rows (20
  features, 8 informative, 2 classes, 5 % label noise; a quarter validating), seed 0,
  log loss.

Each tool's clock starts when it is handed the frames (tunetrack's includes its data
preparation and store set-up; imports are done before). The figures are the best loss
at each checkpoint (5, 15, 30, 60, 120, 300 s; ``--quick``: 5, 15, 30 s) and the ratio
of each peer's to tunetrack's (above 1: tunetrack is ahead). Prints a markdown table and
JSON (also to ``--out``), with ``os.getloadavg()`` before each study.

FLAML and Optuna are bench-only dependencies (flaml is not a runtime dependency).

    .venv/bin/python bench/peers.py [--quick] [--tables taxi,regression,classification]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CHECKPOINTS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
QUICK = (5.0, 15.0, 30.0)
TOOLS = ("tunetrack", "optuna", "flaml")
ROWS = 200_000
EARLY_STOPPING = 50
MAX_ROUNDS = 1000


# --- tables ----------------------------------------------------------------------------


def taxi_table() -> dict[str, Any]:
    """The bundled months as tunetrack's default study prepares them."""
    from tunetrack.config import build_config
    from tunetrack.study.setup import prepare_inputs

    inputs = prepare_inputs(build_config({}), None, None)
    data = inputs.study_data
    return {
        "task": "regression",
        "metric": "rmse",
        "x_train": data.x_train(),
        "y_train": np.asarray(data.y_train, dtype="float64"),
        "x_valid": data.x_valid(),
        "y_valid": np.asarray(data.y_valid, dtype="float64"),
        "tunetrack": {},  # the default study on the bundled data
    }


def synthetic_table(task: str) -> dict[str, Any]:
    from sklearn.datasets import make_classification, make_regression

    if task == "regression":
        x, y = make_regression(
            n_samples=ROWS, n_features=20, n_informative=8, noise=10.0, random_state=0
        )
    else:
        x, y = make_classification(
            n_samples=ROWS, n_features=20, n_informative=8, flip_y=0.05, random_state=0
        )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    cut = ROWS * 3 // 4
    x_train, x_valid = (
        frame.iloc[:cut].reset_index(drop=True),
        frame.iloc[cut:].reset_index(drop=True),
    )
    y_train, y_valid = y[:cut], y[cut:]
    return {
        "task": task,
        "metric": "rmse" if task == "regression" else "log_loss",
        "x_train": x_train,
        "y_train": y_train.astype("float64"),
        "x_valid": x_valid,
        "y_valid": y_valid.astype("float64"),
        "tunetrack": {
            "train": x_train.assign(y=y_train),
            "valid": x_valid.assign(y=y_valid),
            "target": "y",
            "task": task,
        },
    }


TABLES: dict[str, Callable[[], dict[str, Any]]] = {
    "taxi": taxi_table,
    "regression": lambda: synthetic_table("regression"),
    "classification": lambda: synthetic_table("classification"),
}


# --- tools: each returns [(seconds since its start, loss)] for finished evaluations ----


def run_tunetrack(
    table: dict[str, Any], budget: float, seed: int, overrides: tuple[str, ...] = ()
) -> list[tuple[float, float]]:
    import tunetrack

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        started = time.time()
        try:
            study = tunetrack.tune(
                **table["tunetrack"],
                max_evals=100_000,
                timeout=budget,
                seed=seed,
                tracking_uri=uri,
                experiment="peers",
                progress=False,
                overrides=overrides,
            )
        except tunetrack.StudyFailedError:  # no result inside the budget: "none" throughout
            return []
        # Full results only: a fidelity rung's partial loss is no answer (``rmse_at_rows``).
        return [
            ((t.end_time or 0) / 1000 - started, float(t.value(study.metric)))  # type: ignore[arg-type]
            for t in study.trials
            if t.state == "ok" and t.value(study.metric) is not None
        ]


# tunetrack-rows: the same study with fidelity rungs over training rows (ASHA, a tenth of
# the training rows first, each rung 3x the last; README "Fidelity rungs").
ROWS_RUNGS = ("search.fidelity.rows.min_rows=0.1", "search.fidelity.rows.factor=3")


def run_tunetrack_rows(
    table: dict[str, Any], budget: float, seed: int
) -> list[tuple[float, float]]:
    return run_tunetrack(table, budget, seed, ROWS_RUNGS)


def _dmatrices(table: dict[str, Any]) -> tuple[Any, Any]:
    import xgboost as xgb

    categorical = any(str(t) == "category" for t in table["x_train"].dtypes)
    train = xgb.QuantileDMatrix(table["x_train"], table["y_train"], enable_categorical=categorical)
    valid = xgb.DMatrix(table["x_valid"], table["y_valid"], enable_categorical=categorical)
    return train, valid


def run_optuna(table: dict[str, Any], budget: float, seed: int) -> list[tuple[float, float]]:
    import optuna
    import xgboost as xgb

    from tunetrack.models import Task, get_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    classification = table["task"] == "classification"
    task = Task(kind="classification", classes=(0.0, 1.0)) if classification else Task()
    space = get_model("xgboost").default_space(task, "native")
    started = time.time()
    train, valid = _dmatrices(table)
    base = {"tree_method": "hist", "verbosity": 0, "nthread": os.cpu_count() or 1}
    base.update(
        {"objective": "binary:logistic", "eval_metric": "logloss"}
        if classification
        else {"objective": "reg:squarederror", "eval_metric": "rmse"}
    )
    finished: list[tuple[float, float]] = []

    def objective(trial: optuna.Trial) -> float:
        params = {**base, **_suggest(trial, space)}

        class Report(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                value = list(evals_log["validation"].values())[-1][-1]
                trial.report(float(value), epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
                return time.time() - started > budget

        booster = xgb.train(
            params,
            train,
            num_boost_round=MAX_ROUNDS,
            evals=[(valid, "validation")],
            early_stopping_rounds=EARLY_STOPPING,
            verbose_eval=False,
            callbacks=[Report()],
        )
        # best_iteration exists only once early stopping has seen a round; a fit the
        # budget cut at its first round has none.
        last = getattr(booster, "best_iteration", None)
        rounds = (last + 1) if last is not None else booster.num_boosted_rounds()
        loss = _loss(table, booster.predict(valid, iteration_range=(0, rounds)))
        finished.append((time.time() - started, loss))
        return loss

    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True),
        pruner=optuna.pruners.MedianPruner(),
        direction="minimize",
    )
    study.optimize(objective, timeout=max(0.0, budget - (time.time() - started)))
    return finished


def _suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """tunetrack's default space (its YAML form: ``{kind: {low, high[, q]}, type}``)
    as Optuna suggestions over the same ranges."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if not isinstance(spec, dict):
            out[name] = spec
            continue
        kind = next(k for k in spec if k != "type")
        args = spec[kind]
        low, high = float(args["low"]), float(args["high"])
        if kind == "uniform":
            out[name] = trial.suggest_float(name, low, high)
        elif kind == "loguniform":
            out[name] = trial.suggest_float(name, math.exp(low), math.exp(high), log=True)
        elif kind == "quniform" and spec.get("type") == "int":
            out[name] = trial.suggest_int(name, int(low), int(high), step=int(args["q"]))
        else:
            raise ValueError(f"bench/peers.py cannot map {kind!r} ({name})")
    return out


def _loss(table: dict[str, Any], predictions: Any) -> float:
    from tunetrack.metrics import score
    from tunetrack.models import Task

    y = table["y_valid"]
    if table["task"] == "classification":
        p = np.asarray(predictions, dtype="float64")
        return score(
            Task(kind="classification", classes=(0.0, 1.0)), y, np.column_stack([1 - p, p])
        )["log_loss"]
    return score(Task(), y, np.asarray(predictions, dtype="float64"))["rmse"]


def run_flaml(table: dict[str, Any], budget: float, seed: int) -> list[tuple[float, float]]:
    from flaml import AutoML
    from flaml.automl.data import get_output_from_log

    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "flaml.log")
        automl = AutoML()
        automl.fit(
            X_train=table["x_train"],
            y_train=table["y_train"],
            X_val=table["x_valid"],
            y_val=table["y_valid"],
            task="classification" if table["task"] == "classification" else "regression",
            metric="log_loss" if table["task"] == "classification" else "rmse",
            estimator_list=["xgboost"],
            time_budget=budget,
            log_file_name=log,
            seed=seed,
            verbose=0,
            retrain_full=False,  # keep the model trained on the training rows only
        )
        times, _, losses, _, _ = get_output_from_log(log, budget)
        return [(float(t), float(v)) for t, v in zip(times, losses, strict=False)]


RUNNERS = {
    "tunetrack": run_tunetrack,
    "tunetrack-rows": run_tunetrack_rows,
    "optuna": run_optuna,
    "flaml": run_flaml,
}


# --- figures -----------------------------------------------------------------------------


def best_by(points: list[tuple[float, float]], seconds: float) -> float | None:
    losses = [loss for t, loss in points if t <= seconds and math.isfinite(loss)]
    return min(losses) if losses else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="checkpoints 5, 15, 30 s")
    parser.add_argument("--tables", default="taxi,regression,classification")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-peers.json"))
    args = parser.parse_args()
    checkpoints = QUICK if args.quick else CHECKPOINTS
    budget = max(checkpoints)
    import flaml  # noqa: F401  (imported before any clock starts)
    import optuna  # noqa: F401
    import xgboost  # noqa: F401

    import tunetrack  # noqa: F401

    results: list[dict[str, Any]] = []
    for name in args.tables.split(","):
        table = TABLES[name]()
        for tool in args.tools.split(","):
            load = os.getloadavg()[0]
            points = RUNNERS[tool](table, budget, args.seed)
            row = {
                "table": name,
                "tool": tool,
                "metric": table["metric"],
                "load_1min": round(load, 2),
                "first_s": round(min((t for t, _ in points), default=math.nan), 2),
                "evaluations": len(points),
                **{f"{c:.0f} s": best_by(points, c) for c in checkpoints},
            }
            results.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    lines = [
        "| table | tool | first result (s) | "
        + " | ".join(f"best at {c:.0f} s" for c in checkpoints)
        + " | evaluations |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in checkpoints) + " | ---: |",
    ]
    for row in results:
        ours = next(r for r in results if r["table"] == row["table"] and r["tool"] == "tunetrack")
        cells = []
        for c in checkpoints:
            value, mine = row[f"{c:.0f} s"], ours.get(f"{c:.0f} s")
            if value is None:
                cells.append("none")
            elif row["tool"] == "tunetrack" or mine is None:
                cells.append(f"{value:.4f}")
            else:
                cells.append(f"{value:.4f} ({value / mine:.3f})")
        lines.append(
            f"| {row['table']} | {row['tool']} | {row['first_s']} | "
            + " | ".join(cells)
            + f" | {row['evaluations']} |"
        )
    print("\n".join(lines))
    print("(a peer's ratio to tunetrack in brackets: above 1, tunetrack is ahead)")
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
