"""A shipped model scores rows shaped like its training data, whatever their dtypes.

A table with integer columns (``age``, ``rooms``) is tuned and shipped for every family;
then the same rows typed every way a user's table can type a number (int8..int64,
unsigned, nullable Int64 with a gap, float32, bool) are scored by pyfunc (every family),
by ``tunetrack predict`` (every dtype for one family, the nullable one for every family)
and by ``tunetrack serve`` (one family), and each must give what the same values as
float64 give. Real MLflow, real models, data made here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.models import MODELS
from tunetrack.selection import ship

from .shipping import homes, serving

QUICK = ["model.num_boost_round=15", "model.early_stopping_rounds=5"]
INT_COLUMNS = ("age", "rooms")
FAMILIES = list(MODELS)
# Scoring is one code path for every family (the packaged model); the CLI and the server
# only carry the rows to it. So pyfunc scores every family x dtype, `tunetrack predict`
# every dtype for one family and one dtype for the others, and one server serves one family.
CLI_FAMILY = "xgboost"
SERVED = ["xgboost"]


def _astype(kind: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def typed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for column in INT_COLUMNS:
            out[column] = out[column].astype(kind)
        return out

    return typed


def _nullable_with_gap(frame: pd.DataFrame) -> pd.DataFrame:
    out = _astype("Int64")(frame)
    out.loc[[1, 4], "age"] = pd.NA
    return out


def _as_bool(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(age=frame["age"] > 40, rooms=frame["rooms"] > 3)


def _float32(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"age": "float32", "rooms": "float32", "x": "float32"})


# Every way a table can type a number; each must score like its values as float64.
DTYPES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "int8": _astype("int8"),
    "int16": _astype("int16"),
    "int32": _astype("int32"),
    "int64": _astype("int64"),
    "uint16": _astype("uint16"),
    "Int64": _astype("Int64"),
    "Int64-missing": _nullable_with_gap,
    "float32": _float32,
    "float64": _astype("float64"),
    "bool": _as_bool,
}


def as_float64(frame: pd.DataFrame) -> pd.DataFrame:
    """The same values as plain float64 (NA -> NaN, True -> 1.0): what must score the same."""
    return frame.astype("Float64").astype("float64")


@dataclass(frozen=True)
class Shipped:
    uri: str  # tracking store
    models: dict[str, str]  # family -> models:/homes-FAMILY/1
    train_csv: Path
    loaded: dict[str, Any] = field(default_factory=dict)  # family -> pyfunc model, read once

    def pyfunc(self, family: str) -> Any:
        if family not in self.loaded:
            self.loaded[family] = mlflow.pyfunc.load_model(self.models[family])
        return self.loaded[family]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path) -> Shipped:
    """One study and one registered model per family, on a CSV with integer columns."""
    root = tmp_path_factory.mktemp("dtypes")
    shutil.copy(_migrated_store, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    path = root / "homes.csv"
    homes().to_csv(path, index=False)
    models = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)
        for family in FAMILIES:
            fewer_trees = ["space.n_estimators=quniform(20, 40, 1)"] * (family == "random_forest")
            study = tunetrack.tune(
                train=str(path),
                target="price",
                model=family,
                max_evals=1,
                overrides=[*QUICK, *fewer_trees],
                progress=False,
            )
            ship(study, study.best, register=f"homes-{family}")
            models[family] = f"models:/homes-{family}/1"
    return Shipped(uri, models, path)


@pytest.fixture(autouse=True)
def _use_store(shipped: Shipped, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped.uri)


def _rows(shipped: Shipped) -> pd.DataFrame:
    return pd.read_csv(shipped.train_csv).drop(columns="price").head(40)


@pytest.mark.parametrize("family", FAMILIES)
def test_predict_scores_the_training_file_itself(
    shipped: Shipped, family: str, tmp_path: Path
) -> None:
    """The issue's report: `tunetrack predict` on the CSV the model was tuned on."""
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(
        app, ["predict", shipped.models[family], str(shipped.train_csv), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    table = pd.read_csv(shipped.train_csv)
    assert table["age"].dtype == "int64"  # what pandas makes of the file
    assert len(written) == len(table)
    model = shipped.pyfunc(family)
    expected = np.asarray(model.predict(as_float64(table.drop(columns="price"))))
    np.testing.assert_allclose(written["prediction"], expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("family", FAMILIES)
def test_pyfunc_and_predict_accept_every_numeric_dtype(
    shipped: Shipped, family: str, dtype: str, tmp_path: Path
) -> None:
    typed = DTYPES[dtype](_rows(shipped))
    reference = as_float64(typed)
    model = shipped.pyfunc(family)
    expected = np.asarray(model.predict(reference), dtype=float)
    assert np.isfinite(expected).all()
    # (A forest averages its trees in threads: the last bits of a sum may differ.)
    scored = np.asarray(model.predict(typed), dtype=float)
    np.testing.assert_allclose(scored, expected, rtol=0, atol=1e-9)
    if family != CLI_FAMILY and dtype != "Int64-missing":
        return
    # Parquet keeps each dtype as it is, so `tunetrack predict` sees the same columns.
    source, out = tmp_path / f"rows-{dtype}.parquet", tmp_path / "p.parquet"
    typed.to_parquet(source)
    assert str(pd.read_parquet(source)["rooms"].dtype) == str(typed["rooms"].dtype)
    result = CliRunner().invoke(
        app, ["predict", shipped.models[family], str(source), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_parquet(out)["prediction"], expected, rtol=0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("family", SERVED)
def test_served_model_accepts_every_numeric_dtype(shipped: Shipped, family: str) -> None:
    model = shipped.pyfunc(family)
    with serving(shipped.models[family], shipped.uri) as post:
        for dtype, make in DTYPES.items():
            typed = make(_rows(shipped))
            split = json.loads(typed.to_json(orient="split", index=False))
            records = json.loads(typed.to_json(orient="records"))
            # What a JSON client sends (ints, true/false, null): the same values as floats.
            expected = np.asarray(model.predict(as_float64(pd.DataFrame(records))), dtype=float)
            for payload in ({"dataframe_split": split}, {"dataframe_records": records}):
                served = np.asarray(post(payload), dtype=float)
                np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9, err_msg=dtype)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["41", "old"], ["column age is numeric in training", "'old'", "write plain numbers"]),
        (None, ["lacks column(s) age"]),
    ],
)
def test_predict_errors_are_one_line(
    shipped: Shipped, tmp_path: Path, values: list[str] | None, words: list[str]
) -> None:
    rows = _rows(shipped).head(2)
    rows = rows.drop(columns="age") if values is None else rows.assign(age=values)
    source, out = tmp_path / "bad.csv", tmp_path / "p.csv"
    rows.to_csv(source, index=False)
    result = CliRunner().invoke(
        app, ["predict", shipped.models["xgboost"], str(source), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]
    assert not out.exists()
