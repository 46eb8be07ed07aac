"""The commands: each parses its flags and calls the library (imported lazily, so
``tunetrack --help`` stays fast)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tunetrack.cli.app import app, err, guarded, interrupt, out, refuse, state
from tunetrack.cli.render import print_promotion, print_selection, print_summary, print_tested


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
    algo: Annotated[
        str | None,
        typer.Option(help="hyperopt: tpe, rand, anneal, atpe; optuna: tpe, random, cmaes, gp."),
    ] = None,
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
    study: Annotated[
        str | None,
        typer.Option(help="With --resume: the study run id to continue (default: the latest)."),
    ] = None,
    engine: Annotated[str | None, typer.Option(help="Search engine: hyperopt or optuna.")] = None,
    warm_start: Annotated[
        str | None,
        typer.Option(
            help="Start from this study's best trials: its run id, or experiment:NAME for "
            "that experiment's latest study."
        ),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(help="Where trials run: inline (default), processes or spark."),
    ] = None,
    parallelism: Annotated[
        int | None,
        typer.Option(help="Trials at once with --executor processes|spark (default: cores)."),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(help="--executor spark: the master URL (default: local[parallelism])."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Tune a model; every trial becomes an MLflow run under one study run."""
    from tunetrack.study import tune as run_tune

    signal.signal(signal.SIGTERM, interrupt)  # `kill` ends a study as cleanly as Ctrl-C
    if study is not None and not resume:
        guarded(refuse, "--study names a study to continue; add --resume")
    found = guarded(
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
        resume=(study or True) if resume else False,
        engine=engine,
        warm_start=warm_start,
        executor=executor,
        parallelism=parallelism,
        spark_master=spark_master,
    )
    print_summary(found)


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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out folder.")
    ] = False,
) -> None:
    """Build an offline HTML report (and a PNG per figure) and log it under the study run."""
    from tunetrack.files import atomic_folder, check_output
    from tunetrack.report import build_report
    from tunetrack.study import load_study

    signal.signal(signal.SIGTERM, interrupt)
    state["left"] = (
        "no report folder was written (it appears only when whole); a report being "
        "logged to the study may be partial there: run report again"
    )

    def _run() -> tuple[Any, Path, str]:
        if out_dir is not None:  # a bad --out fails before the study is read
            check_output(out_dir, overwrite=overwrite, folder=True)
        loaded = load_study(study, experiment=experiment, tracking_uri=tracking_uri)
        folder = check_output(
            out_dir or Path(f"tunetrack-report-{loaded.run_id[:8]}"),
            overwrite=overwrite,
            folder=True,
        )
        with atomic_folder(folder) as partial:  # no half-written report left behind
            name = build_report(loaded, partial, top_k=top_k).name
        path = folder / name
        uri = loaded.log_report(folder)
        return loaded, path, uri

    loaded, path, uri = guarded(_run)
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
    from tunetrack.storage import StudyStorage, open_storage

    def _where() -> tuple[StudyStorage, str]:
        storage = open_storage(tracking_uri, read_only=True)
        storage.check_reachable()
        return storage, storage.experiment_id(experiment or DEFAULT_EXPERIMENT, create=False)

    from tunetrack.processes import check_port

    guarded(check_port, host, port)  # a busy port is an error, not another server's URL
    tracker, experiment_id = guarded(_where)
    # An experiment from an older tunetrack has no kind, and MLflow's UI would open it in
    # its GenAI layout: mark it, if this store lets us write (else it opens as it is).
    with contextlib.suppress(Exception):
        tracker.mark_experiment_kind(experiment_id)
    if tracker.location.startswith(("http://", "https://")):  # a server has its own UI
        base = tracker.location.rstrip("/")
        out.print(f"MLflow UI: {base}/#/experiments/{experiment_id}/runs", highlight=False)
        return
    command, env = ui_command(tracker.location, host, port)
    out.print(f"MLflow UI: {tracker.ui_url(host, port, experiment_id)}", highlight=False)
    out.print("filter trials with: tags.`tunetrack.role` = 'trial'  (Ctrl-C stops)")
    raise typer.Exit(run_foreground(command, env=env))


def ui_command(store_uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlflow server` on ``store_uri`` and its environment. The store goes in the
    environment (MLflow reads MLFLOW_BACKEND_STORE_URI): a database URI may hold a
    password, and any user of the machine can read a command line."""
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    return command, {**os.environ, "MLFLOW_BACKEND_STORE_URI": store_uri}


# -- select, predict, serve (issue 4: select and ship) --------------------------------


@app.command()
def select(
    experiment: Annotated[
        str | None, typer.Option(help="Experiment whose latest study to use.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="The study's run id.")] = None,
    policy: Annotated[
        str | None, typer.Option(help="best (default), pareto or smallest-within.")
    ] = None,
    trial: Annotated[
        int | None, typer.Option(help="Ship this trial (its number) instead of a policy's pick.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Ship the trial with this run id (its study by default).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Relative metric tolerance for pareto/smallest-within.")
    ] = 0.01,
    register: Annotated[
        str | None, typer.Option(help="Register the model under this name.")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="Point this alias at the new version.")] = None,
    autolog: Annotated[
        bool, typer.Option("--autolog", help="Refit under MLflow's autologging (no second model).")
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
    test: Annotated[
        str | None,
        typer.Option(help="Rows no trial saw (e.g. the next month): score the refits on them."),
    ] = None,
    top_k: Annotated[
        int, typer.Option(help="With --test: refit the policy's best K trials and score each.")
    ] = 1,
    by: Annotated[
        str, typer.Option(help="With --test: pick by the validation (policy) or test metric.")
    ] = "validation",
    only_if_better: Annotated[
        bool,
        typer.Option(
            "--only-if-better",
            help="With --test and --alias: move the alias only if the pick beats its holder.",
        ),
    ] = False,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Choose a trial by its trade-offs, refit it once and log (and register) the model."""
    from tunetrack.selection import choose, ship
    from tunetrack.selection.registry import check_names
    from tunetrack.selection.shipping import study_of_trial, study_version_changes
    from tunetrack.selection.testing import check_arguments
    from tunetrack.study import load_study

    signal.signal(signal.SIGTERM, interrupt)  # `kill` cleans up as Ctrl-C does
    state["left"] = (
        "a model run cut short was removed with its unfinished model; a model version "
        "registered before the interrupt stays in the registry"
    )
    guarded(check_names, register, alias)  # before the study is even read
    guarded(
        check_arguments,
        test=test,
        top_k=top_k,
        by=by,
        register=register,
        alias=alias,
        only_if_better=only_if_better,
        named=trial is not None or run_id is not None,
    )
    if test is not None and dry_run:
        guarded(refuse, "--dry-run logs no model, and --test refits and logs them; pass one")
    if run_id is not None and study is None and experiment is None:
        study = guarded(study_of_trial, run_id, tracking_uri)
    found = guarded(load_study, study, experiment=experiment, tracking_uri=tracking_uri)
    selection = guarded(choose, found, policy, tolerance, trial=trial, run_id=run_id)
    print_selection(selection)
    changes = guarded(study_version_changes, found)
    if changes:  # said before the refit, whose reproduction check then tells if they matter
        err.print(
            f"note: study {found.run_id} was tuned with other library versions "
            f"({', '.join(changes)}); the refit checks it still reproduces the trial",
            highlight=False,
            soft_wrap=True,
        )
    if dry_run:
        return
    if test is not None:
        _select_tested(
            found,
            policy=policy,
            tolerance=tolerance,
            trial=trial,
            run_id=run_id,
            test=test,
            top_k=top_k,
            by=by,
            register=register,
            alias=alias,
            only_if_better=only_if_better,
            train=train,
            valid=valid,
            autolog=autolog,
        )
        return
    shipped = guarded(
        ship,
        found,
        selection.chosen,
        train=train,
        valid=valid,
        autolog=autolog,
        register=register,
        alias=alias,
        policy=selection.policy,
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
    where = f" --tracking-uri {tracking_uri}" if tracking_uri else ""  # as this command found it
    out.print(
        f"use it: tunetrack predict {uri} INPUT --out OUT{where}", highlight=False, soft_wrap=True
    )


def _select_tested(found: Any, **kwargs: Any) -> None:
    """``select --test``: refit the top K, score them on the test rows, register the pick."""
    from tunetrack.selection import select

    selection = guarded(select, found, **kwargs)
    print_tested(selection, kwargs["test"])
    chosen = next(s for s in selection.shipped if s.trial.run_id == selection.chosen.run_id)
    out.print(f"model: {chosen.model_uri}  (run {chosen.run_id})", highlight=False, soft_wrap=True)
    if chosen.registered_name:
        moved = ""
        if chosen.alias:
            moved = (
                f"; alias '{chosen.alias}': {chosen.previous_version or 'none'} -> {chosen.version}"
            )
        out.print(
            f"registered: {chosen.registered_name} version {chosen.version}{moved}",
            highlight=False,
        )
    if selection.promotion is not None:
        print_promotion(selection.promotion)
    uri = chosen.registry_uri or chosen.model_uri
    out.print(f"use it: tunetrack predict {uri} INPUT --out OUT", highlight=False, soft_wrap=True)


@app.command()
def evaluate(
    model_uri: Annotated[
        str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN/PATH.")
    ],
    table: Annotated[str, typer.Argument(help="Parquet or CSV rows with the target (or a URL).")],
    log: Annotated[
        bool, typer.Option("--log", help="Log the metrics to a new run linked to the model.")
    ] = False,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
) -> None:
    """Score a model on a table: raw rows through the model's own preprocessing."""
    from tunetrack.selection import evaluate as run_evaluate

    result = guarded(run_evaluate, model_uri, table, log=log, tracking_uri=tracking_uri)
    scored = result.evaluation
    left = f"; {scored.left_out} left out by the recipe" if scored.left_out else ""
    out.print(
        f"{result.model.label} on {scored.source}: {scored.rows} rows scored{left}",
        highlight=False,
        soft_wrap=True,
    )
    for name, value in scored.metrics.items():
        out.print(f"  {name} {value:.6g}", highlight=False)
    if result.run_id:
        out.print(
            f"logged: run {result.run_id} (metrics linked to model {result.model.model_id})",
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out file.")
    ] = False,
) -> None:
    """Predict every row of INPUT with a model; one output row per input row."""
    from tunetrack.serving import predict_file

    signal.signal(signal.SIGTERM, interrupt)
    state["left"] = "no output was written (it appears only when every row is predicted)"
    _use_tracking_uri(tracking_uri)
    summary = guarded(
        predict_file,
        model_uri,
        input_path,
        out_path,
        batch_rows=batch_rows,
        id_columns=id_column or (),
        overwrite=overwrite,
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

    def _ready() -> None:  # said once the port is free and the model loads
        out.print(f"serving {model_uri} on http://{host}:{port}/invocations", highlight=False)

    code = guarded(run_server, model_uri, host=host, port=port, ready=_ready)
    raise typer.Exit(code)


def _use_tracking_uri(uri: str | None) -> None:
    """models:/ URIs resolve against MLFLOW_TRACKING_URI, here and in a server child.
    A tracking server is asked once first: down, it is one line before anything else."""
    from tunetrack.storage import resolve_tracking_uri
    from tunetrack.storage.remote import bound_http_waits
    from tunetrack.storage.uris import is_server, probe_server

    resolved = guarded(resolve_tracking_uri, uri)
    os.environ["MLFLOW_TRACKING_URI"] = resolved
    if is_server(resolved):
        bound_http_waits()
        guarded(probe_server, resolved)


# -- the team server (issue 16) ------------------------------------------------------------


@app.command()
def server(
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            help="Where runs are stored: postgresql://USER@HOST:5432/DB (or SQLite).",
            envvar="MLFLOW_BACKEND_STORE_URI",  # keeps a database password out of `ps`
        ),
    ] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(help="Where the server keeps artifacts: a folder or s3://... (proxied)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    workers: Annotated[int | None, typer.Option(help="Server processes (MLflow: 4).")] = None,
    allowed_hosts: Annotated[
        str | None, typer.Option(help="Host headers allowed (MLflow's --allowed-hosts).")
    ] = None,
    cors_allowed_origins: Annotated[
        str | None, typer.Option(help="Origins allowed (MLflow's --cors-allowed-origins).")
    ] = None,
    auth_db_uri: Annotated[
        str | None,
        typer.Option(
            help="Logins database (default: the backend's, or mlflow-auth.db beside it).",
            envvar="TUNETRACK_SERVER_AUTH_DB_URI",
        ),
    ] = None,
    default_permission: Annotated[
        str,
        typer.Option(help="What a user may do on experiments not granted: NO_PERMISSIONS, READ..."),
    ] = "NO_PERMISSIONS",
) -> None:
    """Start MLflow's tracking server for a team: logins, proxied artifacts, a database.

    Needs TUNETRACK_SERVER_ADMIN_PASSWORD (and TUNETRACK_SERVER_ADMIN_USER, default admin)
    and MLFLOW_FLASK_SERVER_SECRET_KEY in the environment.
    """
    from tunetrack.server import run_server, server_settings

    settings = guarded(
        server_settings,
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        auth_db_uri=auth_db_uri,
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=allowed_hosts,
        cors_allowed_origins=cors_allowed_origins,
        default_permission=default_permission,
    )
    say = lambda line: out.print(line, highlight=False, soft_wrap=True)  # noqa: E731
    raise typer.Exit(guarded(run_server, settings, say=say))
