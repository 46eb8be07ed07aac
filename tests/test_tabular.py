"""Any table, regression or classification: typing, task inference, splits, and the
shipped model predicting from raw rows (real XGBoost, real MLflow, data made here)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from tunetrack import load_study, tune
from tunetrack.cli import app
from tunetrack.data import Table, split_table
from tunetrack.selection import ship

QUICK = ["model.num_boost_round=20", "model.early_stopping_rounds=5"]


def own_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Numbers, a text category, ISO time strings, an identifier and two targets."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    hours = rng.integers(0, 24, n)
    when = pd.Timestamp("2024-03-01") + pd.to_timedelta(np.arange(n) * 7 + hours, unit="h")
    x = rng.normal(size=n)
    y = 3 * x + pd.Series(colour).map({"red": 0.0, "green": 4.0, "blue": -4.0}).to_numpy()
    y = y + 0.3 * (when.hour.to_numpy() >= 12) + rng.normal(scale=0.3, size=n)
    return pd.DataFrame(
        {
            "order_id": [f"A{i:05d}" for i in range(n)],
            "x": x,
            "colour": colour,
            "ordered_at": when.strftime("%Y-%m-%d %H:%M:%S"),
            "spend": y,
            "tier": np.where(y > 2, "gold", np.where(y > -2, "silver", "bronze")),
        }
    )


def test_regression_on_a_csv_infers_types_splits_and_says_so(tmp_path: Path, capsys) -> None:
    path = tmp_path / "orders.csv"
    own_table().drop(columns=["tier"]).to_csv(path, index=False)
    study = tune(train=str(path), target="spend", max_evals=3, overrides=QUICK)
    said = capsys.readouterr().err
    assert "task: regression" in said
    assert "validation: a random 20% (seed 42)" in said
    assert "order_id" in said
    assert "identifier" in said
    assert study.metric == "rmse"
    assert study.config["data"]["recipe"] == "tabular"
    assert study.experiment_name == "orders-spend"
    params = MlflowClient().get_run(study.run_id).data.params
    assert params["task"] == "regression"
    assert params["target"] == "spend"
    assert params["n_train_rows"] == "480"
    assert params["n_valid_rows"] == "120"
    # colour (categorical), x, and five parts of ordered_at.
    assert params["n_features"] == str(1 + 1 + 5)
    assert study.best_value < np.std(own_table()["spend"]) / 2


def test_time_split_validates_on_the_latest_rows(tmp_path: Path) -> None:
    # Stored out of order; tier is left out (it is the answer, binned).
    frame = own_table().drop(columns=["tier"]).sample(frac=1.0, random_state=3)
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)
    overrides = [*QUICK, "data.split_column=ordered_at", "data.valid_fraction=0.25"]
    study = tune(train=str(path), target="spend", max_evals=1, overrides=overrides)
    train, valid = split_table(
        Table(frame=frame, source=str(path), digest="-", format="parquet"),
        fraction=0.25,
        seed=0,
        split_column="ordered_at",
    )
    assert valid.frame["ordered_at"].min() >= train.frame["ordered_at"].max()
    params = MlflowClient().get_run(study.run_id).data.params
    assert params["n_valid_rows"] == "150"
    # The shipped refit re-splits the same way and reproduces the trial exactly.
    shipped = ship(study, study.best)
    assert abs(shipped.refit_value - shipped.logged_value) < 1e-6


def test_binary_labels_ship_and_predict_labels_from_raw_rows(tmp_path: Path, capsys) -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    path = tmp_path / "cells.parquet"
    frame.to_parquet(path)
    study = tune(
        train=str(path), target="diagnosis", valid_fraction=0.3, max_evals=3, overrides=QUICK
    )
    assert "task: classification" in capsys.readouterr().err
    assert study.metric == "log_loss"
    best = study.best.metrics
    assert best["log_loss"] < 0.3
    assert best["auc"] > 0.95
    assert best["accuracy"] > 0.9
    assert 0 < best["f1"] <= 1
    shipped = ship(study, study.best)
    model = mlflow.pyfunc.load_model(shipped.model_uri)
    raw = frame.drop(columns=["diagnosis"]).head(40)
    labels = np.asarray(model.predict(raw))
    assert set(labels) <= {"benign", "malignant"}
    assert np.mean(labels == frame["diagnosis"].head(40).to_numpy()) > 0.85


def test_whole_number_targets_are_classes_unless_told(tmp_path: Path, capsys) -> None:
    frame = own_table()
    frame["stars"] = pd.cut(frame["spend"], [-np.inf, -2, 2, np.inf], labels=[1, 2, 3]).astype(int)
    path = tmp_path / "reviews.csv"
    frame.drop(columns=["spend", "tier"]).to_csv(path, index=False)
    study = tune(train=str(path), target="stars", max_evals=2, overrides=QUICK)
    said = capsys.readouterr().err
    assert "classification: target 'stars' has 3 distinct whole numbers" in said
    assert "--task regression" in said
    assert study.metric == "log_loss"
    shipped = ship(study, study.best)
    predicted = mlflow.pyfunc.load_model(shipped.model_uri).predict(frame.head(20))
    assert set(np.asarray(predicted).tolist()) <= {1, 2, 3}  # the labels' own type: ints

    told = tune(
        train=str(path),
        target="stars",
        task="regression",
        max_evals=1,
        overrides=QUICK,
        experiment="stars-as-numbers",
    )
    assert told.metric == "rmse"


def test_multiclass_cli_select_and_predict_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    table = own_table()
    table.drop(columns=["spend"]).to_csv(path, index=False)
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "tune",
            "--quiet",
            "--train",
            str(path),
            "--target",
            "tier",
            "--max-evals",
            "2",
            *[a for o in QUICK for a in ("--set", o)],
        ],
    )
    assert result.exit_code == 0, result.output
    assert "log_loss" in result.output
    study = load_study(experiment="orders-tier")
    result = runner.invoke(
        app, ["select", "--experiment", "orders-tier", "--register", "tiers", "--alias", "live"]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "tiers.csv"
    result = runner.invoke(app, ["predict", "models:/tiers@live", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    predicted = pd.read_csv(out)
    assert len(predicted) == len(table)
    assert set(predicted["prediction"]) <= {"gold", "silver", "bronze"}
    assert (predicted["prediction"] == table["tier"]).mean() > 0.8
    assert study.best.metrics["accuracy"] > 0.8


def test_listed_features_are_the_only_ones_used(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    own_table().to_csv(path, index=False)
    overrides = [*QUICK, "features.numeric=[x]", "features.categorical=colour"]
    study = tune(train=str(path), target="spend", max_evals=1, overrides=overrides)
    params = MlflowClient().get_run(study.run_id).data.params
    assert params["n_features"] == "2"
    shipped = ship(study, study.best)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(shipped.model_uri, dst_path=str(tmp_path / "m"))
    )
    recipe = json.loads((model_dir / "artifacts" / "preprocess.json").read_text())["recipe"]
    assert recipe == {
        "name": "tabular",
        "target": "spend",
        "categorical": ["colour"],
        "numeric": ["x"],
        "datetime": [],
    }


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_seeded_split_is_reproducible(tmp_path: Path, fraction: float) -> None:
    frame = own_table(100)
    table = Table(frame=frame, source="x", digest="d", format="dataframe")
    a = split_table(table, fraction=fraction, seed=7)
    b = split_table(table, fraction=fraction, seed=7)
    c = split_table(table, fraction=fraction, seed=8)
    assert a[1].frame.equals(b[1].frame)
    assert not a[1].frame.equals(c[1].frame)
    assert len(a[1].frame) == round(100 * fraction)
    assert set(a[0].frame["order_id"]).isdisjoint(a[1].frame["order_id"])
