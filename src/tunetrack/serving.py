"""Use a shipped model: load it, predict a file in bounded memory, serve it over HTTP.

Everything goes through MLflow's pyfunc loader, so ``models:/NAME@ALIAS``, ``runs:/``,
``models:/m-...`` and local model directories all work, and the answers are the same
as ``mlflow.pyfunc.load_model(uri).predict(rows)`` in a notebook.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.exceptions import DataError, ModelError
from tunetrack.files import atomic_file, check_output
from tunetrack.processes import check_port, run_foreground

DEFAULT_BATCH_ROWS = 100_000
ROW_COLUMN = "row"
PREDICTION_COLUMN = "prediction"
_SHOWN_COLUMNS = 8


def load_model(model_uri: str) -> Any:
    """``mlflow.pyfunc.load_model`` with a one-line error naming the URI and the fix."""
    return _load(model_uri)[0]


def _load(model_uri: str) -> tuple[Any, Path]:
    """The model loaded from a private copy, and that copy's folder (see ``load_copy``)."""
    import mlflow

    from tunetrack.selection.flavor import load_copy
    from tunetrack.storage.remote import bound_http_waits, translate
    from tunetrack.storage.uris import is_server, probe_server

    tracking_uri = mlflow.get_tracking_uri()
    if is_server(tracking_uri) and model_uri.startswith(("models:/", "runs:/")):
        bound_http_waits()  # a dead server is one line in seconds, not minutes of retries
        probe_server(tracking_uri)
    try:
        return load_copy(model_uri)  # a copy: loading never writes to the store
    except Exception as err:  # MlflowException, OSError, bad URIs of every kind
        mapped = translate(err, tracking_uri) if is_server(tracking_uri) else None
        if mapped is not None:
            raise mapped from None
        reason = " ".join(str(err).split())[:300] or type(err).__name__
        raise ModelError(
            f"cannot load model {model_uri!r}: {reason}; pass models:/NAME@ALIAS, "
            "models:/NAME/VERSION, runs:/RUN_ID/PATH or a model directory"
        ) from None


def input_columns(model: Any) -> list[str]:
    """The columns the model's signature asks for (empty when it has no signature)."""
    schema = model.metadata.get_input_schema()
    return list(schema.input_names()) if schema is not None and schema.has_input_names() else []


@dataclass(frozen=True)
class PredictSummary:
    rows: int
    batches: int
    seconds: float
    out: Path


def predict_file(
    model_uri: str,
    input_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    id_columns: Sequence[str] = (),
    overwrite: bool = False,
) -> PredictSummary:
    """Write one prediction per input row to ``out`` (parquet, or CSV by extension).

    The input (parquet, CSV or CSV.gz) is read ``batch_rows`` at a time and each batch is
    written before the next is read, so memory stays bounded whatever the file's size.
    Output columns: ``row`` (the input's 0-based row number), ``id_columns`` copied from
    the input, then ``prediction``.

    ``out`` is written to a temporary file beside it and moved into place only once
    every row is predicted. Raises DataError when ``out`` is the input, or exists and
    ``overwrite`` is off (checked before the model loads), and for unreadable input.
    """
    if batch_rows < 1:
        raise DataError(f"--batch-rows must be at least 1; got {batch_rows}")
    source = Path(input_path)
    if not source.is_file():
        raise DataError(f"input not found: {source}; pass an existing parquet or CSV file")
    target = Path(out) if out is not None else Path(f"{_stem(source)}.predictions.parquet")
    target = check_output(target, overwrite=overwrite, inputs=[source])
    model = load_model(model_uri)
    needed = input_columns(model)
    reader = _BatchReader(source, batch_rows)
    missing = [c for c in [*needed, *id_columns] if c not in reader.columns]
    if missing:
        raise DataError(
            f"input {source} lacks column(s) {', '.join(missing)} (it has "
            f"{_shown(reader.columns)}); the model needs {', '.join(needed)}"
        )
    wanted = list(dict.fromkeys([*needed, *id_columns])) or None
    scorer = _scorer(model)
    started = time.perf_counter()
    rows = batches = 0
    with atomic_file(target) as partial, _BatchWriter(partial, target) as writer:
        for frame in reader.batches(wanted):
            try:
                predictions = np.asarray(scorer(frame[needed] if needed else frame))
            except Exception as err:  # the model's own errors and MLflow's, as one line
                raise DataError(
                    f"cannot predict rows {rows}-{rows + len(frame) - 1} of {source}: "
                    f"{_reason(err)}"
                ) from None
            result = pd.DataFrame({ROW_COLUMN: np.arange(rows, rows + len(frame), dtype="int64")})
            for column in id_columns:
                result[column] = frame[column].to_numpy()
            # Numbers for regression, the training data's labels for classification.
            result[PREDICTION_COLUMN] = predictions.reshape(len(frame))
            writer.write(result)
            rows += len(frame)
            batches += 1
    return PredictSummary(rows, batches, time.perf_counter() - started, target)


def _scorer(model: Any) -> Any:
    """What scores a batch: ``model.predict``, or for a tunetrack model its wrapper's own
    predict. A tunetrack model types every input ``Any`` (its recipe checks the values),
    and MLflow enforces ``Any`` one value at a time (about 4 us per value, 7x the whole
    prediction on a wide file); the wrapper gives the same answers without that pass.
    """
    if "tunetrack" not in (model.metadata.metadata or {}):
        return model.predict
    wrapper = model.unwrap_python_model()
    return lambda frame: wrapper.predict(None, frame)


def _reason(err: BaseException) -> str:
    """An error as one short line; MLflow's schema errors quote the whole batch before
    saying what is wrong (``... Error: <reason>``), so only the reason is kept."""
    text = " ".join(str(err).split())
    if "Error: " in text:
        text = text.rsplit("Error: ", 1)[1]
    text = text or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class _BatchReader:
    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path, self.batch_rows = path, batch_rows
        name = path.name.lower()
        self.format = "csv" if name.endswith((".csv", ".csv.gz")) else "parquet"
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetFile(path)
                self.columns = list(self._parquet.schema_arrow.names)
            else:
                self.columns = list(pd.read_csv(path, nrows=0).columns)
        except Exception as err:
            reason = " ".join(str(err).split())[:200]
            raise DataError(
                f"cannot read input {path} ({reason}); pass a parquet, .csv or .csv.gz file"
            ) from None

    def batches(self, columns: list[str] | None) -> Iterator[pd.DataFrame]:
        if self.format == "parquet":
            for batch in self._parquet.iter_batches(batch_size=self.batch_rows, columns=columns):
                yield batch.to_pandas()
            return
        yield from pd.read_csv(self.path, usecols=columns, chunksize=self.batch_rows)


class _BatchWriter:
    """Append batches to one parquet or CSV file, creating it on the first batch."""

    def __init__(self, path: Path, named: Path) -> None:
        self.path = path  # where to write; ``named``: the output it becomes (its format)
        self.csv = named.name.lower().endswith((".csv", ".csv.gz"))
        self.compression = "gzip" if named.name.lower().endswith(".gz") else None
        self._writer: Any = None
        self._first = True

    def __enter__(self) -> _BatchWriter:
        if self.path.parent and not self.path.parent.is_dir():
            raise DataError(f"output directory does not exist: {self.path.parent}; create it")
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.csv:
            mode = "w" if self._first else "a"
            frame.to_csv(
                self.path,
                mode=mode,
                header=self._first,
                index=False,
                compression=self.compression,
            )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)
        self._first = False

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        elif exc[0] is not None:
            return
        elif self._first and not self.csv:
            # An input with no rows still gets its (empty) output file.
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(
                pa.table({ROW_COLUMN: pa.array([], pa.int64()), PREDICTION_COLUMN: []}).cast(
                    pa.schema([(ROW_COLUMN, pa.int64()), (PREDICTION_COLUMN, pa.float64())])
                ),
                self.path,
            )


def serve_command(model_uri: str, host: str, port: int) -> list[str]:
    """MLflow's own scoring server in this Python environment (no conda, no pyenv)."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "--model-uri",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
    ]


def serve(
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    ready: Callable[[], None] | None = None,
) -> int:
    """Check the port is free and the model loads (ConfigError, ModelError), call
    ``ready``, then run MLflow's scoring server until it stops; returns its exit code."""
    check_port(host, port)
    # A bad URI is a one-line error, not a server that dies later; the server serves the
    # very copy checked here (MLflow would otherwise write into a local store to load it).
    model, local = _load(model_uri)
    # MLflow execs `uvicorn` by name: find it beside this interpreter even when the
    # virtual environment is not activated (e.g. `.venv/bin/tunetrack serve ...`).
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if ready is not None:
        ready()
    try:
        return run_foreground(serve_command(str(local), host, port), env=env)
    finally:
        del model  # its copy goes with it


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".parquet", ".pq", ".csv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _shown(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:_SHOWN_COLUMNS])
    extra = len(columns) - _SHOWN_COLUMNS
    return f"{shown}, ... {extra} more" if extra > 0 else shown or "no columns"
