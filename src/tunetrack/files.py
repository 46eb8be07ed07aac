"""Files a command writes for the user: never over its input, never over an existing
output unless asked, and never half-written (built beside the target, then renamed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tunetrack.exceptions import DataError


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    folder: bool = False,
) -> Path:
    """``path`` as an output a command may write, or DataError saying why not: it is one
    of ``inputs``, its folder is missing, it is the wrong kind (a folder where a file
    goes, or the reverse), or it exists and ``overwrite`` is off."""
    out = Path(path)
    kind = "folder" if folder else "file"
    for source in inputs:
        if _same(out, Path(source)):
            raise DataError(
                f"the output {out} is the input file; pass another --out, so the input "
                "is not overwritten"
            )
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"the output's folder does not exist: {parent}; create it first")
    if out.exists() or out.is_symlink():
        if folder and not out.is_dir():
            raise DataError(f"the output {out} is a file, not a folder; pass a folder path")
        if not folder and not out.is_file():
            raise DataError(f"the output {out} is not a regular file; pass a file path")
        if not overwrite and not (folder and not any(out.iterdir())):
            raise DataError(
                f"the output {kind} {out} already exists; pass --overwrite to replace it, "
                "or another --out"
            )
    return out


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto ``path`` only when the block ends
    without an error (an error, Ctrl-C or kill leaves ``path`` as it was)."""
    target = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=_dir(target))
    os.close(handle)
    temp = Path(name)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """As ``atomic_file``, for a folder: built beside ``path``, then swapped in."""
    target = Path(path)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=_dir(target)))
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    try:
        yield temp
        if target.exists():
            os.replace(target, old)
        os.replace(temp, target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _dir(target: Path) -> str:
    return str(target.parent) if str(target.parent) else "."


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()
