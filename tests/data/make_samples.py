"""Rebuild the committed taxi samples from the full monthly files (run by hand, not by pytest).

    python tests/data/make_samples.py /work/shared/data/nyc-tlc

Rows are taken with pyarrow so each sample keeps its month's exact schema and pandas
metadata (the 2021 files carry a saved, gappy index; the 2023 file does not). The
picks are seeded and include the awkward rows the recipe must handle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def _pick(frame: pd.DataFrame, mask: pd.Series, n: int, rng: np.random.Generator) -> set[int]:
    # Positions, not labels: the 2021 index has gaps.
    where = np.flatnonzero(mask.to_numpy())
    return set(rng.choice(where, size=min(n, len(where)), replace=False).tolist())


def _minutes(frame: pd.DataFrame) -> pd.Series:
    delta = frame["lpep_dropoff_datetime"] - frame["lpep_pickup_datetime"]
    return delta.dt.total_seconds() / 60


def _refunds(frame: pd.DataFrame) -> pd.Series:
    return (frame["total_amount"] < 0) | (frame["fare_amount"] < 0)


def _write(source: Path, rows: set[int], name: str) -> None:
    table = pq.read_table(source)
    sample = table.take(sorted(rows))
    pq.write_table(sample, HERE / name)
    print(f"{name}: {sample.num_rows} rows, {(HERE / name).stat().st_size} bytes")


def sample_2021(source: Path) -> None:
    frame = pd.read_parquet(source)
    rng = np.random.default_rng(2021)
    minutes = _minutes(frame)
    rows = _pick(frame, pd.Series(True, index=frame.index), 250, rng)
    rows |= _pick(frame, _refunds(frame), 10, rng)
    rows |= _pick(frame, frame["trip_distance"] == 0, 15, rng)
    rows |= _pick(frame, minutes == 1, 3, rng)
    rows |= _pick(frame, minutes == 60, 3, rng)
    _write(source, rows, "green_tripdata_2021-01_sample.parquet")


def sample_2023(source: Path) -> None:
    frame = pd.read_parquet(source)
    rng = np.random.default_rng(2023)
    minutes = _minutes(frame)
    refunds = _refunds(frame)
    rows = _pick(frame, pd.Series(True, index=frame.index), 250, rng)
    refund_rows = _pick(frame, refunds, 12, rng)
    rows |= refund_rows
    # Each refund duplicates a trip with negated amounts: keep the twins too.
    keys = ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID"]
    picked = frame.iloc[sorted(refund_rows)][keys]
    twins = frame.reset_index(drop=True).reset_index().merge(picked, on=keys)
    rows |= set(twins["index"].tolist())
    rows |= _pick(frame, (frame["total_amount"] < 0) & (frame["fare_amount"] >= 0), 3, rng)
    rows |= _pick(frame, frame["trip_distance"] == 0, 20, rng)
    rows |= _pick(frame, minutes > 60, 20, rng)
    rows |= _pick(frame, minutes < 1, 20, rng)
    rows |= _pick(frame, minutes == 0, 3, rng)
    rows |= _pick(frame, minutes == 1, 3, rng)
    rows |= _pick(frame, minutes == 60, 3, rng)
    rows |= _pick(frame, frame["passenger_count"].isna(), 15, rng)
    _write(source, rows, "green_tripdata_2023-01_sample.parquet")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/nyc-tlc")
    sample_2021(root / "green_tripdata_2021-01.parquet")
    sample_2023(root / "green_tripdata_2023-01.parquet")
