"""The shipped model: native, pyfunc, `predict` CLI and served predictions agree."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tunetrack.cli import app
from tunetrack.data import get_recipe
from tunetrack.predictor import Predictor
from tunetrack.serving import predict_file

from .conftest import DATA, VALID_SAMPLE
from .shipping import ALIAS, MODEL_NAME, ShippedStudy, _free_port, serving, shipped_study

RAW_SAMPLE = DATA / "green_tripdata_2023-01_sample.parquet"
URI = f"models:/{MODEL_NAME}@{ALIAS}"


@pytest.fixture(scope="module")
def shipped(
    tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path
) -> Iterator[ShippedStudy]:
    yield from shipped_study(tmp_path_factory, _migrated_store)


@pytest.fixture(autouse=True)
def _use_shipped_store(shipped: ShippedStudy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shipped.uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _model_dir(tmp_path: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(URI, dst_path=str(tmp_path / "model")))


def _native(model_dir: Path) -> Predictor:
    """The model and encoder read straight from the model's files, without MLflow."""
    artifacts = model_dir / "artifacts"
    return Predictor.load(artifacts / "model.ubj", str(artifacts / "preprocess.json"))


def test_native_pyfunc_and_cli_agree_and_reproduce_the_trial(
    shipped: ShippedStudy, tmp_path: Path
) -> None:
    valid = pd.read_parquet(VALID_SAMPLE)
    pyfunc = np.asarray(mlflow.pyfunc.load_model(URI).predict(valid))
    native = _native(_model_dir(tmp_path)).predict(valid)
    out = tmp_path / "valid.predictions.csv"
    result = CliRunner().invoke(app, ["predict", URI, str(VALID_SAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out)
    assert list(cli.columns) == ["row", "prediction"]
    assert cli["row"].tolist() == list(range(len(valid)))
    np.testing.assert_array_equal(pyfunc, native)
    np.testing.assert_allclose(cli["prediction"], pyfunc, rtol=0, atol=1e-9)
    # February's rows, scored from raw input, give the trial's logged RMSE.
    truth = get_recipe("nyc-taxi").prepare(valid, role="valid")["duration"].to_numpy()
    assert len(truth) == len(valid)
    rmse = float(np.sqrt(np.mean((pyfunc - truth) ** 2)))
    assert abs(rmse - shipped.study.best_value) < 1e-6


def test_raw_and_filtered_forms_and_records_predict() -> None:
    model = mlflow.pyfunc.load_model(URI)
    raw = pd.read_parquet(RAW_SAMPLE)
    assert raw["PULocationID"].dtype.kind == "i"  # the city's form: integer IDs
    raw_pred = np.asarray(model.predict(raw))
    assert raw_pred.shape == (len(raw),)
    assert np.isfinite(raw_pred).all()
    # The same trips as the tutorial's filtered table (string IDs) predict the same.
    filtered = raw.assign(
        PULocationID=raw["PULocationID"].astype(str), DOLocationID=raw["DOLocationID"].astype(str)
    )
    np.testing.assert_array_equal(np.asarray(model.predict(filtered)), raw_pred)
    records = raw[["PULocationID", "DOLocationID", "trip_distance"]].head(5)
    from_records = model.predict(records.to_dict(orient="records"))
    np.testing.assert_array_equal(np.asarray(from_records), raw_pred[:5])


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = _model_dir(tmp_path)
    files = [p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle"))]
    assert "artifacts/model.ubj" in files
    assert "artifacts/preprocess.json" in files
    mlmodel = (model_dir / "MLmodel").read_text()
    assert "model_code_path" in mlmodel  # models-from-code, not a pickled PythonModel

    calls: list[str] = []

    def refuse(name: str) -> object:
        def fail(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called while loading the model")

        return fail

    for module in (pickle, cloudpickle):
        for name in ("load", "loads"):
            monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    monkeypatch.setattr(pickle, "Unpickler", refuse("pickle.Unpickler"))
    model = mlflow.pyfunc.load_model(str(model_dir))
    assert len(np.asarray(model.predict(pd.read_parquet(RAW_SAMPLE)))) > 0
    assert calls == []


def test_predict_streams_in_bounded_batches(tmp_path: Path) -> None:
    raw = pd.read_parquet(RAW_SAMPLE)
    big = pd.concat([raw] * 7, ignore_index=True)  # 2520 rows
    source = tmp_path / "trips.csv"
    big.to_csv(source, index=False)
    summary = predict_file(
        URI, source, tmp_path / "out.parquet", batch_rows=400, id_columns=["VendorID"]
    )
    assert (summary.rows, summary.batches) == (len(big), 7)
    written = pd.read_parquet(summary.out)
    assert list(written.columns) == ["row", "VendorID", "prediction"]
    assert written["row"].tolist() == list(range(len(big)))
    assert written["VendorID"].tolist() == big["VendorID"].tolist()
    whole = np.asarray(mlflow.pyfunc.load_model(URI).predict(raw))
    np.testing.assert_allclose(written["prediction"], np.tile(whole, 7), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([f"models:/{MODEL_NAME}@nope", str(RAW_SAMPLE)], ["cannot load model", "@nope"]),
        (["models:/no-such-model/1", str(RAW_SAMPLE)], ["cannot load model"]),
        ([URI, "missing.parquet"], ["input not found"]),
        ([URI, "NO_DISTANCE"], ["lacks column(s) trip_distance", "the model needs"]),
    ],
)
def test_predict_errors_are_one_line_exit_2(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    bad = tmp_path / "no_distance.parquet"
    pd.read_parquet(RAW_SAMPLE).drop(columns="trip_distance").to_parquet(bad)
    args = [str(bad) if a == "NO_DISTANCE" else a for a in args]
    result = CliRunner().invoke(app, ["predict", *args, "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow
def test_served_predictions_agree(shipped: ShippedStudy) -> None:
    raw = pd.read_parquet(RAW_SAMPLE).head(50)
    columns = ["PULocationID", "DOLocationID", "trip_distance"]
    expected = np.asarray(mlflow.pyfunc.load_model(URI).predict(raw))
    records = json.loads(raw[columns].to_json(orient="records"))
    split = json.loads(raw[columns].to_json(orient="split", index=False))
    with serving(URI, shipped.uri) as post:
        started = time.perf_counter()
        served = post({"dataframe_records": records})
        latency = time.perf_counter() - started
        served_split = post({"dataframe_split": split})
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(served_split, expected, rtol=0, atol=1e-9)
    assert latency < 10


def test_serve_with_a_bad_uri_is_one_line_exit_2() -> None:
    # A free port: the port is checked first, and port 1 is refused to all but root.
    port = str(_free_port())
    result = CliRunner().invoke(app, ["serve", "models:/no-such-model@x", "--port", port])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot load model" in lines[0]
