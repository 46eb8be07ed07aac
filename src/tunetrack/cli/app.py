"""The Typer app, its consoles, and how errors end a command: one line, exit 2."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from tunetrack.exceptions import ConfigError, StudyInterrupted, TunetrackError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tune tabular models with Hyperopt and track every trial in MLflow.",
    pretty_exceptions_enable=False,
)
state = {"debug": False}
out = Console()
err = Console(stderr=True)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    state["debug"] = debug
    # MLflow narrates at INFO (schema migrations, model validation); the CLI says what matters.
    # (setdefault: a user who asks for MLflow's logs still gets them).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow draws download progress bars on stderr; errors must stay one line there.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; a user-fixable error becomes one line on stderr and its exit code."""
    try:
        return fn(*args, **kwargs)
    except TunetrackError as error:
        if state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        stranded = getattr(error, "study_run_id", None)  # a study the store stopped answering
        if stranded:
            err.print(f"resume with: {resume_command(stranded)}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except StudyInterrupted as stopped:
        err.print(f"interrupted: {stopped}", highlight=False, soft_wrap=True)
        resume_with = resume_command(stopped.study_run_id)
        err.print(f"resume with: {resume_with}", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        err.print("interrupted before the study started; nothing was recorded", highlight=False)
        raise typer.Exit(130) from None


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
