"""The command line: a thin Typer layer over the library.

Errors a user can fix print one line and exit 2; ``--debug`` shows the traceback.
``app`` (the Typer app, for ``CliRunner``) and ``main`` (the console script) live in
``app``; the commands in ``commands``; what they print in ``render``.
"""

from tunetrack.cli import commands as _commands  # noqa: F401 (registers the commands)
from tunetrack.cli.app import app, main

__all__ = ["app", "main"]
