"""Read a table from a local file, an http(s) URL or a DataFrame, with a digest of its bytes.

The whole file is read into memory once: the same bytes are hashed and parsed, so the
digest recorded in MLflow always describes exactly what was trained on. Monthly taxi
files are a few MB, so holding them in memory is cheap.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tunetrack.exceptions import DataError

BUNDLED_TRAIN = "green_tripdata_2021-01.parquet"
BUNDLED_VALID = "green_tripdata_2021-02.parquet"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"

DOWNLOAD_TIMEOUT_S = 60  # per read
DOWNLOAD_TOTAL_S = 600.0  # the whole download (TUNETRACK_DOWNLOAD_TIMEOUT)
DOWNLOAD_MAX_MB = 2000.0  # the whole body (TUNETRACK_DOWNLOAD_MAX_MB)
DATAFRAME_SOURCE = "<DataFrame>"
SUPPORTED = ".parquet, .pq, .csv or .csv.gz"
PARQUET_MAGIC = b"PAR1"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_REASON_CHARS = 200


# eq=False: comparing DataFrames field-wise is ambiguous; a Table is equal to itself only.
@dataclass(frozen=True, eq=False)
class Table:
    """A loaded table and where it came from.

    ``digest`` is the sha256 of the file's bytes (for a DataFrame given directly, of its
    content); ``format`` is ``"parquet"``, ``"csv"`` or, for a DataFrame, ``"dataframe"``.
    """

    frame: pd.DataFrame
    source: str
    digest: str
    format: str


def bundled_path(name: str) -> Path:
    """The path of a data file shipped inside the package."""
    path = BUNDLED_DIR / name
    # A bare file name only: the bundled folder is not a general file server.
    if Path(name).name != name or not path.is_file():
        available = sorted(p.name for p in BUNDLED_DIR.glob("*.parquet"))
        raise DataError(
            f"bundled data file {name!r} is missing from {BUNDLED_DIR} "
            f"(available: {', '.join(available) or 'none'}); reinstall tunetrack "
            "or pass --train/--valid PATH"
        )
    return path


def read_table(source: str | os.PathLike[str] | pd.DataFrame, *, role: str = "train") -> Table:
    """Load ``source`` (path, http(s) URL or DataFrame); ``role`` names it in messages."""
    if isinstance(source, pd.DataFrame):
        _check_rows(source, role, DATAFRAME_SOURCE)
        return Table(source, DATAFRAME_SOURCE, frame_digest(source), "dataframe")

    text = os.fspath(source)
    scheme = _SCHEME.match(text)
    if scheme:
        name = scheme.group(1).lower()
        if name not in ("http", "https"):
            raise DataError(
                f"unsupported URL scheme {name!r} for {role} data: {text}; "
                "use a local path or an http(s):// URL"
            )
        shown, data = text, _download(text, role)
        file_name = urllib.parse.urlparse(text).path
    else:
        path = Path(os.path.abspath(Path(text).expanduser()))
        shown, data = str(path), _read_local(path, role)
        file_name = path.name

    fmt, gzipped = _detect_format(file_name, data, role, shown)
    frame = _parse(data, fmt, gzipped, role, shown)
    _check_rows(frame, role, shown)
    return Table(frame, shown, hashlib.sha256(data).hexdigest(), fmt)


def frame_digest(frame: pd.DataFrame) -> str:
    """A sha256 of a DataFrame's content: column names, dtypes, index and values."""
    digest = hashlib.sha256()
    # Row hashes ignore column names and dtypes; fold them in so a rename changes the digest.
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    try:
        rows = pd.util.hash_pandas_object(frame, index=True)
    except TypeError:
        # Unhashable cells (lists, dicts): hash their text instead.
        rows = pd.util.hash_pandas_object(frame.astype(str), index=True)
    digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


def _fix_hint(role: str) -> str:
    return f"pass --{role} PATH" if role in ("train", "valid") else "pass an existing file"


def _reason(exc: object) -> str:
    # Library messages can span lines; the CLI prints one line.
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _read_local(path: Path, role: str) -> bytes:
    if path.is_dir():
        raise DataError(
            f"{role} data path is a directory: {path}; pass one {SUPPORTED} file, not a folder"
        )
    if not path.exists():
        raise DataError(f"{role} data not found: {path}; check the path or {_fix_hint(role)}")
    if not path.is_file():
        # A FIFO waits for a writer forever, /dev/zero never ends: only regular files.
        raise DataError(
            f"{role} data {path} is not a regular file (a pipe, device or socket); "
            "save the data to a file and pass that"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"cannot read {role} data {path}: {_reason(exc)}; check its permissions"
        ) from exc
    if not data:
        raise DataError(f"{role} data file is empty (0 bytes): {path}; download or write it again")
    return data


def _download(url: str, role: str) -> bytes:
    """The body at ``url``, bounded in total time and size (a server that trickles bytes
    or never stops would otherwise hold the study forever)."""
    limit_s = _env_number("TUNETRACK_DOWNLOAD_TIMEOUT", DOWNLOAD_TOTAL_S)
    limit_bytes = int(_env_number("TUNETRACK_DOWNLOAD_MAX_MB", DOWNLOAD_MAX_MB) * 1_000_000)
    request = urllib.request.Request(url, headers={"User-Agent": "tunetrack"})
    deadline = time.monotonic() + limit_s
    chunks: list[bytes] = []
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=min(DOWNLOAD_TIMEOUT_S, limit_s)) as response:
            while chunk := response.read1(1 << 20):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit_bytes:
                    raise DataError(
                        f"{role} data at {url} is larger than {limit_bytes / 1e6:g} MB; "
                        "download it yourself and pass its path (or raise "
                        "TUNETRACK_DOWNLOAD_MAX_MB)"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError
    except urllib.error.HTTPError as exc:
        raise DataError(
            f"could not download {role} data from {url}: HTTP {exc.code} {exc.reason}; "
            "check the URL"
        ) from exc
    except urllib.error.URLError as exc:
        raise DataError(
            f"could not reach {url} for {role} data: {_reason(exc.reason)}; "
            "check the URL and the network"
        ) from exc
    except TimeoutError as exc:
        raise DataError(
            f"downloading {role} data from {url} took longer than {limit_s:g} s; retry, "
            "or download the file and pass its path (or raise TUNETRACK_DOWNLOAD_TIMEOUT)"
        ) from exc
    except (http.client.HTTPException, OSError) as exc:
        raise DataError(
            f"downloading {role} data from {url} failed: {_reason(exc)}; "
            "retry or download the file and pass its path"
        ) from exc
    data = b"".join(chunks)
    if not data:
        raise DataError(f"{role} data at {url} is empty (0 bytes); check the URL")
    return data


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DataError(f"{name}={text!r} is not a positive number; fix or unset it")
    return value


def _detect_format(name: str, data: bytes, role: str, shown: str) -> tuple[str, bool]:
    lower = name.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet", False
    if lower.endswith(".csv.gz"):
        return "csv", True
    if lower.endswith(".csv"):
        return "csv", False
    if data[:4] == PARQUET_MAGIC:
        return "parquet", False
    raise DataError(
        f"cannot tell the format of {role} data {shown}; use a {SUPPORTED} file "
        "(or any file that is parquet inside)"
    )


def _parse(data: bytes, fmt: str, gzipped: bool, role: str, shown: str) -> pd.DataFrame:
    buffer = io.BytesIO(data)
    if fmt == "parquet":
        try:
            return pd.read_parquet(buffer)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(
                f"{role} data is not a readable parquet file: {shown} ({_reason(exc)}); "
                "it may be truncated or corrupt, download or write it again"
            ) from exc
    try:
        return pd.read_csv(buffer, compression="gzip" if gzipped else None, low_memory=False)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        # ParserError, EmptyDataError and UnicodeDecodeError are all ValueErrors.
        raise DataError(
            f"{role} data is not a readable CSV file: {shown} ({_reason(exc)}); "
            "write it as comma-separated UTF-8 with one header row"
        ) from exc


def _check_rows(frame: pd.DataFrame, role: str, shown: str) -> None:
    if len(frame) == 0:
        raise DataError(f"{role} data has no rows: {shown}; pass a table with at least one trip")
