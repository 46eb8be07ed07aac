"""The command line: a thin Typer layer over the library.

Errors a user can fix print one line and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tunetrack.exceptions import StudyInterrupted, TunetrackError
from tunetrack.tracking import DEFAULT_TRACKING_URI

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tune tabular models with Hyperopt and track every trial in MLflow.",
    pretty_exceptions_enable=False,
)
_state = {"debug": False}
out = Console()
err = Console(stderr=True)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug
    # MLflow narrates at INFO (schema migrations, model validation); the CLI says what matters.
    # (setdefault: a user who asks for MLflow's logs still gets them).
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow draws download progress bars on stderr; errors must stay one line there.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def tune(
    config: Annotated[
        Path | None, typer.Argument(help="Study config (YAML). Default: the tutorial's study.")
    ] = None,
    train: Annotated[
        str | None, typer.Option(help="Training data: parquet/CSV path or URL.")
    ] = None,
    valid: Annotated[
        str | None, typer.Option(help="Validation data: parquet/CSV path or URL.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model family: xgboost, lightgbm, random_forest or linear; several "
            "comma-separated, or all, to search across families."
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Column to predict in your own --train data.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="regression or classification (default: inferred).")
    ] = None,
    valid_fraction: Annotated[
        float | None,
        typer.Option(help="Without --valid: share of --train rows that validate (seeded)."),
    ] = None,
    max_evals: Annotated[int | None, typer.Option(help="Number of trials.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Wall-clock budget in seconds for the whole study.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed: the same seed gives the same trials.")
    ] = None,
    algo: Annotated[str | None, typer.Option(help="tpe, rand, anneal or atpe.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override any config key: --set model.num_boost_round=50."),
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: sqlite:///mlflow.db).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue the experiment's latest study up to --max-evals trials."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Tune a model; every trial becomes an MLflow run under one study run."""
    from tunetrack.tuner import tune as run_tune

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends a study as cleanly as Ctrl-C
    study = _guarded(
        run_tune,
        config,
        train=train,
        valid=valid,
        model=model,
        target=target,
        task=task,
        valid_fraction=valid_fraction,
        max_evals=max_evals,
        timeout=timeout,
        seed=seed,
        algo=algo,
        experiment=experiment,
        tracking_uri=tracking_uri,
        overrides=set_ or (),
        progress=not quiet,
        resume=resume,
    )
    _print_summary(study)


# -- explore: report and ui ---------------------------------------------------------------


@app.command()
def report(
    experiment: Annotated[
        str | None, typer.Option(help="Experiment whose latest study to report.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="The study's run id.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: tunetrack-report-ID).")
    ] = None,
    top_k: Annotated[int, typer.Option(help="Trials in the parallel-coordinates view.")] = 50,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Build an offline HTML report (and a PNG per figure) and log it under the study run."""
    from tunetrack.report import build_report
    from tunetrack.study import load_study
    from tunetrack.tracking import Tracker

    def _run() -> tuple[Any, Path, str]:
        loaded = load_study(study, experiment=experiment, tracking_uri=tracking_uri)
        folder = out_dir or Path(f"tunetrack-report-{loaded.run_id[:8]}")
        path = build_report(loaded, folder, top_k=top_k)
        uri = Tracker(loaded.tracking_uri).log_report(loaded.run_id, path.parent)
        return loaded, path, uri

    loaded, path, uri = _guarded(_run)
    out.print(f"report: {path}", highlight=False, soft_wrap=True)
    out.print(f"logged: {uri}  (study run {loaded.run_id})", highlight=False, soft_wrap=True)


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    experiment: Annotated[
        str | None, typer.Option(help="Experiment to open (default: the tutorial's).")
    ] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Start the MLflow UI on the current tracking store and print the study's URL."""
    from tunetrack.config import DEFAULT_EXPERIMENT
    from tunetrack.processes import run_foreground
    from tunetrack.tracking import Tracker

    def _where() -> tuple[Tracker, str]:
        tracker = Tracker(tracking_uri)
        tracker.check_reachable()
        return tracker, tracker.experiment_id(experiment or DEFAULT_EXPERIMENT, create=False)

    tracker, experiment_id = _guarded(_where)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", tracker.tracking_uri,
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    out.print(f"MLflow UI: {tracker.ui_url(host, port, experiment_id)}", highlight=False)
    out.print("filter trials with: tags.`tunetrack.role` = 'trial'  (Ctrl-C stops)")
    raise typer.Exit(run_foreground(command))


def _guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; a user-fixable error becomes one line on stderr and its exit code."""
    try:
        return fn(*args, **kwargs)
    except TunetrackError as error:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except StudyInterrupted as stopped:
        err.print(f"interrupted: {stopped}", highlight=False, soft_wrap=True)
        err.print(f"resume with: {_resume_command()}", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        err.print("interrupted before the study started; nothing was recorded", highlight=False)
        raise typer.Exit(130) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _resume_command() -> str:
    args = sys.argv[1:]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["tunetrack", *args])


def _print_summary(study: Any) -> None:
    best = study.best
    finished = [t for t in study.trials if t.state in ("ok", "failed", "pruned")]
    failed = f", {study.n_failed} failed" if study.n_failed else ""
    out.print(
        f"best {study.metric} [bold green]{best.metrics[study.metric]:.4f}[/] "
        f"(trial #{best.number}, numbered from 0; {_count(len(finished), 'trial')}{failed})",
        highlight=False,
    )
    others = [f"{m} {best.metrics[m]:.4f}" for m in SIDE_METRICS if m in best.metrics]
    if others and study.metric not in SIDE_METRICS:
        out.print(f"  with {', '.join(others)}", highlight=False)
    budget = study.config["search"]["max_evals"]
    if len(finished) < budget and study.stop_reason in STOP_REASONS:
        out.print(
            f"stopped after {len(finished)} of {budget} trials: {STOP_REASONS[study.stop_reason]}",
            highlight=False,
        )
    params = "  ".join(f"{k}={_short(v)}" for k, v in best.params.items())
    out.print(f"best params: {params}", highlight=False, soft_wrap=True)
    out.print(
        f"study run:   {study.run_id}  (experiment '{study.experiment_name}', "
        f"{study.tracking_uri})",
        highlight=False,
        soft_wrap=True,
    )
    uri_flag = (
        ""
        if study.tracking_uri == DEFAULT_TRACKING_URI
        else (f" --tracking-uri {study.tracking_uri}")
    )
    out.print("look further:", highlight=False)
    for line in (
        f"tunetrack report --study {study.run_id}{uri_flag}    # plots, importance, trade-offs",
        f"tunetrack select --study {study.run_id} --policy smallest-within{uri_flag}",
        f"tunetrack ui{uri_flag}    # MLflow's UI on this store",
    ):
        out.print(f"  {line}", highlight=False, soft_wrap=True)


# Classification scores shown beside the loss in the summary.
SIDE_METRICS = ("auc", "accuracy", "f1")

STOP_REASONS = {
    "timeout": "the time budget (search.timeout) ran out",
    "no_progress_evals": "no new best for search.no_progress_evals trials",
    "loss_threshold": "search.loss_threshold was reached",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# -- select, predict, serve (issue 4: select and ship) --------------------------------

_MAX_TABLE_ROWS = 20


@app.command()
def select(
    experiment: Annotated[
        str | None, typer.Option(help="Experiment whose latest study to use.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="The study's run id.")] = None,
    policy: Annotated[str, typer.Option(help="best, pareto or smallest-within.")] = "best",
    tolerance: Annotated[
        float, typer.Option(help="Relative metric tolerance for pareto/smallest-within.")
    ] = 0.01,
    register: Annotated[
        str | None, typer.Option(help="Register the model under this name.")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version.")] = None,
    autolog: Annotated[
        bool, typer.Option("--autolog", help="Refit with MLflow's XGBoost autologging.")
    ] = False,
    train: Annotated[
        str | None, typer.Option(help="The study's training data, if it cannot be reloaded.")
    ] = None,
    valid: Annotated[
        str | None, typer.Option(help="The study's validation data, if it cannot be reloaded.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show the choice; log no model.")
    ] = False,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Choose a trial by its trade-offs, refit it once and log (and register) the model."""
    from tunetrack.selection import choose, ship
    from tunetrack.study import load_study

    found = _guarded(load_study, study, experiment=experiment, tracking_uri=tracking_uri)
    selection = _guarded(choose, found, policy, tolerance)
    _print_selection(selection)
    if dry_run:
        return
    shipped = _guarded(
        ship,
        found,
        selection.chosen,
        train=train,
        valid=valid,
        autolog=autolog,
        register=register,
        alias=alias,
        policy=policy,
    )
    delta = shipped.refit_value - shipped.logged_value
    out.print(
        f"refit {shipped.metric} {shipped.refit_value:.6f} (trial logged "
        f"{shipped.logged_value:.6f}, difference {delta:.1e})",
        highlight=False,
    )
    out.print(
        f"model: {shipped.model_uri}  (run {shipped.run_id})", highlight=False, soft_wrap=True
    )
    if shipped.registered_name:
        moved = ""
        if shipped.alias:
            before = shipped.previous_version or "none"
            moved = f"; alias '{shipped.alias}': {before} -> {shipped.version}"
        out.print(
            f"registered: {shipped.registered_name} version {shipped.version}{moved}",
            highlight=False,
        )
    uri = shipped.registry_uri or shipped.model_uri
    out.print(f"use it: tunetrack predict {uri} INPUT --out OUT", highlight=False, soft_wrap=True)


def _print_selection(selection: Any) -> None:
    from rich.table import Table

    frame = selection.to_frame()
    shown = frame[frame["within_tolerance"] | frame["pareto"] | frame["chosen"]]
    shown = shown.head(_MAX_TABLE_ROWS)
    table = Table(title=f"policy {selection.policy}, tolerance {100 * selection.tolerance:g}%")
    across = "family" in frame.columns
    names = ["trial", *(["family"] if across else []), selection.metric, "gap %", "fit s"]
    for name in [*names, "model KB", "within", "pareto", ""]:
        left = name in ("", "within", "pareto", "family")
        table.add_column(name, justify="left" if left else "right")
    for row in shown.itertuples(index=False):
        r = row._asdict()
        table.add_row(
            str(r["trial"]),
            *([str(r["family"])] if across else []),
            f"{r[selection.metric]:.4f}",
            f"{r['gap_pct']:.2f}",
            f"{r['fit_seconds']:.3f}",
            f"{r['model_bytes'] / 1024:.1f}",
            "yes" if r["within_tolerance"] else "no",
            "yes" if r["pareto"] else "no",
            "<- chosen" if r["chosen"] else "",
        )
    out.print(table)
    hidden = len(frame) - len(shown)
    if hidden:
        out.print(f"({hidden} more trial(s) outside the tolerance and off the front)")
    out.print(
        f"chose trial {selection.chosen.number} (run {selection.chosen.run_id}): "
        f"{selection.reason}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def predict(
    model_uri: Annotated[str, typer.Argument(help="models:/NAME@ALIAS, runs:/... or a path.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Parquet or CSV rows.")],
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Output .parquet or .csv (default INPUT.predictions.parquet)."),
    ] = None,
    id_column: Annotated[
        list[str] | None, typer.Option("--id", help="Input column to copy beside predictions.")
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows per batch (bounds memory).")] = 100_000,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Predict every row of INPUT with a model; one output row per input row."""
    from tunetrack.serving import predict_file

    _use_tracking_uri(tracking_uri)
    summary = _guarded(
        predict_file,
        model_uri,
        input_path,
        out_path,
        batch_rows=batch_rows,
        id_columns=id_column or (),
    )
    rate = summary.rows / summary.seconds if summary.seconds > 0 else float("inf")
    out.print(
        f"wrote {summary.rows} predictions in {summary.batches} batch(es) to {summary.out} "
        f"({rate:,.0f} rows/s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def serve(
    model_uri: Annotated[str, typer.Argument(help="models:/NAME@ALIAS, runs:/... or a path.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Serve MLflow's scoring protocol (POST /invocations) with the local environment."""
    from tunetrack.serving import serve as run_server

    _use_tracking_uri(tracking_uri)
    out.print(f"serving {model_uri} on http://{host}:{port}/invocations", highlight=False)
    code = _guarded(run_server, model_uri, host=host, port=port)
    raise typer.Exit(code)


def _use_tracking_uri(uri: str | None) -> None:
    """models:/ URIs resolve against MLFLOW_TRACKING_URI, here and in a server child."""
    from tunetrack.tracking import resolve_tracking_uri

    os.environ["MLFLOW_TRACKING_URI"] = _guarded(resolve_tracking_uri, uri)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
