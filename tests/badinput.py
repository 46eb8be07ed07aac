"""What every bad-input case asserts: it ends (no hang), with its exit code and exactly
one stderr line, no traceback, and the store and the user's files exactly as they were."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import tunetrack.serving
import tunetrack.study  # noqa: F401 (imported here, so no case's backstop counts the imports)
from tunetrack.cli import app

# Far above any case's normal time (each takes seconds; ~10 s with a load average of 30).
HANG_S = 120


class Hung(BaseException):
    """Raised by the alarm: a BaseException, so neither the CLI nor CliRunner eats it."""


@contextlib.contextmanager
def backstop(seconds: int = HANG_S) -> Iterator[None]:
    def _alarm(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def store_state(db: Path, *roots: Path) -> dict[str, Any]:
    """Every table's rows of the SQLite store ``db`` (run statuses included) and the
    sha256 of every file under ``roots`` (artifacts, the user's inputs and outputs)."""
    state: dict[str, Any] = {}
    if db.exists():
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            tables = [
                r[0] for r in con.execute("select name from sqlite_master where type='table'")
            ]
            for table in sorted(tables):
                rows = con.execute(f'select * from "{table}"').fetchall()
                state[f"table:{table}"] = sorted(map(repr, rows))
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.name.startswith("mlflow.db") or not path.is_file():
                continue
            state[f"file:{path}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def check_refused(
    args: Sequence[str],
    words: Sequence[str],
    *,
    db: Path,
    roots: Sequence[Path],
    code: int = 2,
) -> str:
    """Run the CLI in-process on ``args``; assert the refusal; returns the stderr line."""
    before = store_state(db, *roots)
    with backstop():
        result = CliRunner().invoke(app, list(args))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert store_state(db, *roots) == before, "the store or a file changed"
    return lines[0]
