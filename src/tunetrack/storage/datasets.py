"""Datasets as MLflow run inputs: the entity fields, with the schema read from a sample."""

from __future__ import annotations

import warnings
from typing import Any

from tunetrack.storage import schema
from tunetrack.storage.base import DatasetRecord

# Rows MLflow's type inference reads; whether a column has missing values is read from all.
SCHEMA_SAMPLE_ROWS = 1_000


def dataset_fields(record: DatasetRecord) -> dict[str, Any]:
    """The fields of MLflow's Dataset entity for a logged table, as ``from_pandas`` makes
    them, but with the column types read from a sample (see ``frame_schema``)."""
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():
        # MLflow warns that a local path matches its file source twice; harmless.
        warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
        dataset = from_pandas(
            record.frame,
            source=record.source,
            name=record.name,
            targets=record.target,
            digest=record.sha256[: schema.DATASET_DIGEST_CHARS],
        )
    dataset.schema = frame_schema(record.frame)  # a cached property: ours is used
    fields = dataset.to_dict()
    return {key: fields.get(key) for key in ("name", "digest", "source_type", "source",
                                              "schema", "profile")}  # fmt: skip


def frame_schema(frame: Any) -> Any:
    """The MLflow schema of a table, as ``mlflow.data.from_pandas`` would infer it.

    MLflow checks the type of every value of every text column in Python: 2.1 s of the 5 s
    a taxi study took to its first result, and minutes on a table of ten million rows.
    The column types come from the first rows instead; ``required`` (no missing value) is
    still decided over the whole column, vectorised. None where MLflow cannot infer one
    (it then logs the dataset without a schema, as it would).
    """
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    try:
        with warnings.catch_warnings():
            # Its advice on integer columns is about model signatures, not datasets.
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            sampled = infer_signature(frame.head(SCHEMA_SAMPLE_ROWS)).inputs
    except Exception:  # MLflow's own dataset swallows the same failure
        return None
    missing = {str(k): bool(v) for k, v in frame.isna().any().items()}
    return Schema(
        [
            ColSpec(c.type, c.name, required=not missing.get(str(c.name), False))
            for c in sampled.inputs
        ]
    )
