"""One search across model families: TPE picks the family and its params together, and
report, select and the shipped model work whatever family a trial trained."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_wine

from tunetrack import load_study, tune
from tunetrack.models import MODELS
from tunetrack.report import build_report
from tunetrack.selection import choose, ship

QUICK = ["model.num_boost_round=25", "model.early_stopping_rounds=5"]


def wine(tmp_path: Path) -> str:
    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.slow
def test_all_families_in_one_search(tmp_path: Path) -> None:
    study = tune(
        train=wine(tmp_path), target="cultivar", model="all", max_evals=16, overrides=QUICK
    )
    assert study.model == ",".join(MODELS)
    families = [t.params["family"] for t in study.trials]
    assert set(families) == set(MODELS)  # 16 draws reach every family
    client = MlflowClient()
    for trial in study.trials:
        tags = client.get_run(trial.run_id).data.tags
        assert tags["model"] == trial.params["family"]  # the trial's family, not the study's
    assert {t.state for t in study.trials} == {"ok"}
    assert study.best.metrics["accuracy"] > 0.85

    report = build_report(load_study(study.run_id), tmp_path / "report")
    table = pd.read_csv(tmp_path / "report" / "families.csv")
    assert sorted(table["family"]) == sorted(MODELS)
    assert table["trials"].sum() == 16
    assert "data-table='families'" in report.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("family", [name for name in MODELS if name != "xgboost"])
def test_each_family_ships_and_predicts_raw_rows(tmp_path: Path, family: str) -> None:
    path = wine(tmp_path)
    # The accuracy below checks the labels, not the search: on 142 training rows, a
    # LightGBM draw of min_data_in_leaf near its top (100) cannot split at all.
    small_leaves = ["space.min_data_in_leaf=5"] if family == "lightgbm" else []
    study = tune(
        train=path, target="cultivar", model=family, max_evals=2, overrides=QUICK + small_leaves
    )
    selection = choose(study, "best")
    shipped = ship(study, selection.chosen, register=f"wine-{family}", alias="live")
    assert abs(shipped.refit_value - shipped.logged_value) < 1e-6
    model = mlflow.pyfunc.load_model(f"models:/wine-{family}@live")
    rows = pd.read_csv(path).drop(columns=["cultivar"]).head(30)
    labels = np.asarray(model.predict(rows))
    assert set(labels) <= {"barolo", "grignolino", "barbera"}
    assert np.mean(labels == pd.read_csv(path)["cultivar"].head(30).to_numpy()) > 0.8
    run = MlflowClient().get_run(shipped.run_id)
    assert run.data.tags["model"] == family
