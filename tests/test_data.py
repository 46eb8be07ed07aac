"""Loading tables (files, URLs, DataFrames) and the NYC taxi recipe, on committed samples.

The samples in tests/data are real rows from the city's files (see make_samples.py):
the 2021 one in the tutorial's filtered form, the 2023 one raw with refunds, zero
distances and trips outside 1-60 minutes.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunetrack.data import (
    BUNDLED_TRAIN,
    BUNDLED_VALID,
    RECIPES,
    TaxiDurationRecipe,
    bundled_path,
    get_recipe,
    read_table,
)
from tunetrack.exceptions import ConfigError, DataError

DATA = Path(__file__).resolve().parent / "data"
SAMPLE_2021 = DATA / "green_tripdata_2021-01_sample.parquet"
SAMPLE_2023 = DATA / "green_tripdata_2023-01_sample.parquet"
COLUMNS = ["PULocationID", "DOLocationID", "trip_distance", "duration"]
RECIPE = get_recipe("nyc-taxi")


@contextmanager
def data_error(*words: str) -> Iterator[None]:
    """Expect a one-line DataError whose message contains every word."""
    with pytest.raises(DataError) as info:
        yield
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def raw_minutes(frame: pd.DataFrame, prefix: str = "lpep_") -> pd.Series:
    delta = frame[f"{prefix}dropoff_datetime"] - frame[f"{prefix}pickup_datetime"]
    return delta.dt.total_seconds() / 60


def expected_keep(frame: pd.DataFrame) -> np.ndarray:
    """The recipe's filter written out independently, on the raw columns."""
    refund = (frame["total_amount"] < 0) | (frame["fare_amount"] < 0)
    return (raw_minutes(frame).between(1, 60) & ~refund).to_numpy()


def to_yellow(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda c: c.replace("lpep_", "tpep_"))


def check_prepared(out: pd.DataFrame) -> None:
    assert list(out.columns) == COLUMNS
    assert isinstance(out.index, pd.RangeIndex)
    assert out["PULocationID"].dtype == "str"
    assert out["DOLocationID"].dtype == "str"
    assert out["trip_distance"].dtype == np.float64
    assert out["duration"].dtype == np.float64
    assert out["duration"].between(1, 60).all()
    for col in ("PULocationID", "DOLocationID"):
        assert out[col].notna().all()
        assert out[col].str.fullmatch(r"\d+").all(), out[col][~out[col].str.fullmatch(r"\d+")]


# --- the recipe on both taxi forms ---------------------------------------------------


def test_samples_hold_the_awkward_rows() -> None:
    # Guards the committed samples: the tests below rely on these rows being there.
    raw = pd.read_parquet(SAMPLE_2023)
    minutes = raw_minutes(raw)
    assert (raw["total_amount"] < 0).sum() >= 10
    assert (raw["trip_distance"] == 0).sum() >= 10
    assert (minutes > 60).sum() >= 10
    assert (minutes < 1).sum() >= 10
    assert raw["PULocationID"].dtype == np.int64
    filtered = pd.read_parquet(SAMPLE_2021)
    assert (filtered["total_amount"] < 0).sum() >= 5
    assert filtered["PULocationID"].dtype == "str"


def test_filtered_2021_form_matches_its_saved_duration() -> None:
    raw = read_table(SAMPLE_2021).frame
    out = RECIPE.prepare(raw)
    check_prepared(out)
    keep = expected_keep(raw)
    # The tutorial's filtered files still hold refunds; they are dropped here.
    assert len(out) == keep.sum() < len(raw)
    saved = raw.loc[keep, "duration"].to_numpy()
    np.testing.assert_allclose(out["duration"].to_numpy(), saved, rtol=0, atol=1e-9)
    assert out["PULocationID"].tolist() == raw.loc[keep, "PULocationID"].tolist()
    np.testing.assert_array_equal(out["trip_distance"], raw.loc[keep, "trip_distance"])


def test_raw_2023_form() -> None:
    raw = read_table(SAMPLE_2023).frame
    out = RECIPE.prepare(raw)
    check_prepared(out)
    keep = expected_keep(raw)
    assert len(out) == keep.sum()
    assert out["PULocationID"].tolist() == [str(v) for v in raw.loc[keep, "PULocationID"]]
    assert out["DOLocationID"].tolist() == [str(v) for v in raw.loc[keep, "DOLocationID"]]
    np.testing.assert_allclose(out["duration"], raw_minutes(raw)[keep], rtol=0, atol=1e-9)
    # Zero-distance trips are real rows (the tutorial keeps them).
    assert (out["trip_distance"] == 0).any()


def test_duration_always_comes_from_the_timestamps() -> None:
    raw = pd.read_parquet(SAMPLE_2021)
    before = raw.copy()
    tampered = raw.assign(duration=-5.0)
    pd.testing.assert_frame_equal(RECIPE.prepare(tampered), RECIPE.prepare(raw))
    pd.testing.assert_frame_equal(raw, before)  # the input is not modified


def test_float_and_missing_location_ids_when_training() -> None:
    raw = pd.read_parquet(SAMPLE_2023).head(40)
    floats = raw.astype({"PULocationID": "float64"})
    floats.loc[floats.index[0], "PULocationID"] = np.nan
    out = RECIPE.prepare(floats)
    check_prepared(out)
    ints = RECIPE.prepare(raw.iloc[1:])
    pd.testing.assert_frame_equal(out, ints)


def test_yellow_form_gives_the_same_frame() -> None:
    raw = pd.read_parquet(SAMPLE_2023)
    pd.testing.assert_frame_equal(RECIPE.prepare(to_yellow(raw)), RECIPE.prepare(raw))


@pytest.mark.parametrize("sample", [SAMPLE_2021, SAMPLE_2023], ids=["2021", "2023"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_csv_gives_the_same_frame_as_parquet(sample: Path, suffix: str, tmp_path: Path) -> None:
    raw = pd.read_parquet(sample)
    csv = tmp_path / f"trips{suffix}"
    raw.to_csv(csv, index=False)
    table = read_table(csv)
    assert table.format == "csv"
    assert table.digest == sha256(csv)
    pd.testing.assert_frame_equal(RECIPE.prepare(table.frame), RECIPE.prepare(raw))


def test_csv_with_us_style_timestamps(tmp_path: Path) -> None:
    raw = pd.read_parquet(SAMPLE_2023)
    us = raw.copy()
    for col in ("lpep_pickup_datetime", "lpep_dropoff_datetime"):
        us[col] = raw[col].dt.strftime("%m/%d/%Y %I:%M:%S %p")
    csv = tmp_path / "trips.csv"
    us.to_csv(csv, index=False)
    pd.testing.assert_frame_equal(RECIPE.prepare(read_table(csv).frame), RECIPE.prepare(raw))


def test_prediction_rows_are_not_filtered() -> None:
    raw = pd.read_parquet(SAMPLE_2023)
    rows = raw[["PULocationID", "DOLocationID", "trip_distance"]].astype(object)
    rows.iloc[0, 0] = None
    rows.iloc[1, 1] = 12.0
    rows.iloc[2, 2] = np.nan
    out = RECIPE.prepare(rows, role="input", with_target=False)
    assert list(out.columns) == ["PULocationID", "DOLocationID", "trip_distance"]
    assert len(out) == len(raw)
    assert isinstance(out.index, pd.RangeIndex)
    assert out["trip_distance"].dtype == np.float64
    assert pd.isna(out.loc[0, "PULocationID"])
    assert out.loc[1, "DOLocationID"] == "12"
    assert np.isnan(out.loc[2, "trip_distance"])
    assert out["PULocationID"].iloc[1:].tolist() == [str(v) for v in raw["PULocationID"].iloc[1:]]


def test_recipe_registry() -> None:
    assert isinstance(RECIPES["nyc-taxi"], TaxiDurationRecipe)
    assert RECIPE.target == "duration"
    assert RECIPE.categorical == ("PULocationID", "DOLocationID")
    assert RECIPE.numeric == ("trip_distance",)
    with pytest.raises(ConfigError, match="nyc-taxi"):
        get_recipe("nope")


# --- recipe errors ---------------------------------------------------------------------


def test_missing_feature_column() -> None:
    raw = pd.read_parquet(SAMPLE_2023).drop(columns="trip_distance")
    with data_error(
        "valid data lacks column(s) trip_distance",
        "the nyc-taxi recipe needs PULocationID, DOLocationID, trip_distance and "
        "lpep_/tpep_ pickup and dropoff times",
    ):
        RECIPE.prepare(raw, role="valid")
    with data_error("input data lacks column(s) trip_distance", "to predict"):
        RECIPE.prepare(raw, role="input", with_target=False)


def test_missing_timestamps() -> None:
    raw = pd.read_parquet(SAMPLE_2023)
    with data_error("train data lacks column(s) lpep_/tpep_ pickup and dropoff times"):
        RECIPE.prepare(raw.drop(columns=["lpep_pickup_datetime", "lpep_dropoff_datetime"]))
    with data_error("lacks column(s) lpep_dropoff_datetime"):
        RECIPE.prepare(raw.drop(columns=["lpep_dropoff_datetime"]))


def test_unparsable_timestamps(tmp_path: Path) -> None:
    raw = pd.read_parquet(SAMPLE_2023).head(20)
    csv = tmp_path / "trips.csv"
    raw.to_csv(csv, index=False)
    text = csv.read_text().splitlines()
    # Replace the first row's pickup time (second field) with text.
    fields = text[1].split(",")
    fields[1] = "not a time"
    text[1] = ",".join(fields)
    csv.write_text("\n".join(text) + "\n")
    frame = read_table(csv).frame
    with data_error("lpep_pickup_datetime", "1 value(s) that are not timestamps", "not a time"):
        RECIPE.prepare(frame)
    numeric = raw.assign(lpep_dropoff_datetime=1.5)
    with data_error("lpep_dropoff_datetime", "not timestamps"):
        RECIPE.prepare(numeric)


def test_nothing_left_after_filtering() -> None:
    raw = pd.read_parquet(SAMPLE_2023).head(30)
    late = raw.assign(lpep_dropoff_datetime=raw["lpep_pickup_datetime"] + pd.Timedelta(hours=2))
    with data_error("no train rows left", "read 30 rows", "30 are outside 1-60 minutes", "1-60"):
        RECIPE.prepare(late)


# --- loading files ---------------------------------------------------------------------


def test_parquet_table_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    table = read_table(SAMPLE_2023.name)  # relative: recorded as an absolute path
    assert table.source == str(SAMPLE_2023)
    assert table.format == "parquet"
    assert table.digest == sha256(SAMPLE_2023)
    pd.testing.assert_frame_equal(table.frame, pd.read_parquet(SAMPLE_2023))


def test_parquet_without_a_known_extension_is_sniffed(tmp_path: Path) -> None:
    odd = tmp_path / "trips.data"
    shutil.copy(SAMPLE_2021, odd)
    assert read_table(odd).format == "parquet"
    text = tmp_path / "trips.txt"
    text.write_text("a,b\n1,2\n")
    with data_error("cannot tell the format", ".parquet", ".csv.gz"):
        read_table(text)


def test_dataframe_source() -> None:
    frame = pd.read_parquet(SAMPLE_2023)
    table = read_table(frame)
    assert table.frame is frame
    assert table.format == "dataframe"
    assert len(table.digest) == 64
    assert read_table(frame.copy()).digest == table.digest
    changed = frame.copy()
    changed.loc[0, "trip_distance"] += 1
    assert read_table(changed).digest != table.digest
    assert read_table(frame.rename(columns={"VendorID": "vendor"})).digest != table.digest


def test_missing_file_names_the_role_and_flag(tmp_path: Path) -> None:
    missing = tmp_path / "y.parquet"
    with data_error(f"train data not found: {missing}", "check the path or pass --train PATH"):
        read_table(missing)
    with data_error("valid data not found", "--valid PATH"):
        read_table(missing, role="valid")


def test_directory(tmp_path: Path) -> None:
    with data_error("train data path is a directory", str(tmp_path)):
        read_table(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "trips.parquet"
    empty.touch()
    with data_error("empty (0 bytes)", str(empty)):
        read_table(empty)


def test_truncated_and_corrupt_parquet(tmp_path: Path) -> None:
    data = SAMPLE_2023.read_bytes()
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    with data_error("not a readable parquet file", "truncated or corrupt", str(truncated)):
        read_table(truncated)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    with data_error("not a readable parquet file"):
        read_table(garbage)


def test_unparsable_csv(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    with data_error("not a readable CSV file", str(ragged)):
        read_table(ragged)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    with data_error("not a readable CSV file"):
        read_table(blank)
    not_gzip = tmp_path / "plain.csv.gz"
    not_gzip.write_text("a,b\n1,2\n")
    with data_error("not a readable CSV file"):
        read_table(not_gzip)


def test_zero_rows(tmp_path: Path) -> None:
    empty_frame = pd.read_parquet(SAMPLE_2023).head(0)
    parquet = tmp_path / "none.parquet"
    empty_frame.to_parquet(parquet)
    with data_error("train data has no rows", str(parquet)):
        read_table(parquet)
    csv = tmp_path / "none.csv.gz"
    csv.write_bytes(gzip.compress(b"PULocationID,DOLocationID\n"))
    with data_error("valid data has no rows"):
        read_table(csv, role="valid")
    with data_error("has no rows", "<DataFrame>"):
        read_table(empty_frame)


def test_unsupported_scheme() -> None:
    with data_error("unsupported URL scheme 'ftp'", "ftp://example.com/x.parquet", "http(s)"):
        read_table("ftp://example.com/x.parquet")


# --- bundled months --------------------------------------------------------------------


@pytest.mark.parametrize("name", [BUNDLED_TRAIN, BUNDLED_VALID])
def test_bundled_files_load(name: str) -> None:
    path = bundled_path(name)
    assert path.is_file()
    table = read_table(path)
    assert table.digest == sha256(path)
    assert len(table.frame) > 50_000
    check_prepared(RECIPE.prepare(table.frame))


def test_bundled_names() -> None:
    assert "2021-01" in BUNDLED_TRAIN
    assert "2021-02" in BUNDLED_VALID
    with data_error("bundled data file 'nope.parquet' is missing", BUNDLED_TRAIN):
        bundled_path("nope.parquet")
    with data_error("is missing"):
        bundled_path("../loaders.py")


# --- URLs against a real local server ------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder of samples: (base URL, folder)."""
    root = tmp_path_factory.mktemp("served")
    shutil.copy(SAMPLE_2021, root / "trips.parquet")
    shutil.copy(SAMPLE_2021, root / "download")  # no extension: format is sniffed
    pd.read_parquet(SAMPLE_2023).to_csv(root / "trips.csv", index=False)
    handler = partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_url_parquet(served: tuple[str, Path]) -> None:
    base, root = served
    url = f"{base}/trips.parquet?month=2021-01"
    table = read_table(url)
    assert table.source == url
    assert table.format == "parquet"
    assert table.digest == sha256(root / "trips.parquet")
    pd.testing.assert_frame_equal(table.frame, pd.read_parquet(SAMPLE_2021))
    assert read_table(f"{base}/download").digest == table.digest


def test_url_csv(served: tuple[str, Path]) -> None:
    base, root = served
    table = read_table(f"{base}/trips.csv", role="valid")
    assert table.format == "csv"
    assert table.digest == sha256(root / "trips.csv")
    expected = RECIPE.prepare(pd.read_parquet(SAMPLE_2023))
    pd.testing.assert_frame_equal(RECIPE.prepare(table.frame, role="valid"), expected)


def test_url_not_found(served: tuple[str, Path]) -> None:
    base, _ = served
    url = f"{base}/missing.parquet"
    with data_error(url, "HTTP 404", "valid data"):
        read_table(url, role="valid")


def test_url_unreachable() -> None:
    # A port that was just free: nothing listens there, so the connection is refused.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/trips.parquet"
    with data_error("could not reach", url, "check the URL"):
        read_table(url)
