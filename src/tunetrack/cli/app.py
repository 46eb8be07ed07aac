"""The Typer app, its consoles, and how errors end a command: one line, exit 2."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from tunetrack.exceptions import (
    ConfigError,
    SetupInterrupted,
    StudyInterrupted,
    TunetrackError,
    first_line,
)

# The libraries whose errors come from what a user gave (a file, a name, a URI, a value),
# matched by module so the CLI imports none of them: such an error exits 2 like ours.
_LIBRARY_ERRORS = (
    "xgboost", "lightgbm", "sklearn", "pandas", "pyarrow", "numpy",
    "mlflow", "yaml", "sqlalchemy", "hyperopt", "optuna", "uvicorn",
)  # fmt: skip


class _GuardedGroup(TyperGroup):
    """Every command runs inside ``guarded``: whatever escapes it ends in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        return guarded(super().invoke, ctx)


app = typer.Typer(
    cls=_GuardedGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Tune tabular models with Hyperopt and track every trial in MLflow.",
    pretty_exceptions_enable=False,
)
# what an interrupt outside a study leaves behind, said by the command that knows
state: dict[str, Any] = {"debug": False, "left": "nothing was written"}
out = Console()
err = Console(stderr=True)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug
    state["left"] = "nothing was written"  # until a command says otherwise
    # MLflow narrates at INFO (schema migrations, model validation); the CLI says what matters.
    # (setdefault: a user who asks for MLflow's logs still gets them).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow draws download progress bars on stderr; errors must stay one line there.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; any error becomes one line on stderr and an exit code: 2 for what a
    user can fix (ours, the OS's and the libraries' refusals), 1 for an internal error,
    130 for an interrupt. ``--debug`` lets the traceback through instead."""
    try:
        return fn(*args, **kwargs)
    except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # typer's own exits and usage errors (already one line, exit 2)
    except TunetrackError as error:
        if state["debug"]:
            raise
        stranded = getattr(error, "study_run_id", None)  # a study the store stopped answering
        if not stranded:
            _fail(str(error), error.exit_code)
        err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        err.print(f"resume with: {resume_command(stranded)}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except SetupInterrupted as stopped:
        err.print(str(stopped), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except StudyInterrupted as stopped:
        err.print(f"interrupted: {stopped}", highlight=False, soft_wrap=True)
        resume_with = resume_command(stopped.study_run_id)
        err.print(f"resume with: {resume_with}", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        err.print(f"interrupted; {state['left']}", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except BaseException as error:
        if state["debug"] or not isinstance(error, Exception | MemoryError | RecursionError):
            raise  # SystemExit and friends, or --debug: as they are
        message, code = describe_error(error)
        _fail(message, code)


def describe_error(error: BaseException) -> tuple[str, int]:
    """One line and an exit code for an error that is not tunetrack's own."""
    text = " ".join(first_line(error).split())[:400]
    kind = type(error).__name__
    if isinstance(error, MemoryError):
        return "out of memory; use a smaller input (or a larger machine)", 2
    if isinstance(error, RecursionError):
        return "the input is nested too deeply to read; flatten it", 2
    if isinstance(error, OSError):
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        reason = error.strerror or text
        return f"{reason}{where}; check the path and its permissions", 2
    library = type(error).__module__.split(".")[0]
    if library in _LIBRARY_ERRORS:
        return f"{library} refused the input: {kind}: {text}; fix the value it names", 2
    return f"internal error: {kind}: {text}; rerun with --debug for the traceback", 1


def _fail(message: str, code: int) -> None:
    # escaped: a column named ``dist[km]`` is text, not rich markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def refuse(message: str) -> None:
    raise ConfigError(message)


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def resume_command(study_run_id: str) -> str:
    args = sys.argv[1:]
    if "--resume" not in args:
        args.append("--resume")
    if "--study" not in args:
        args += ["--study", study_run_id]
    return shlex.join(["tunetrack", *args])


def main() -> None:
    """Console-script entry point."""
    app()
