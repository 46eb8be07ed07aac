"""The notebook API: ``tune`` in one call, or ``create_study`` / ``load_study`` and
``Study.optimize`` as a handle."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd

from tunetrack.config import DEFAULT_EXPERIMENT
from tunetrack.storage import StudyStorage, open_storage
from tunetrack.study.handle import Study
from tunetrack.study.runner import run_study
from tunetrack.study.setup import ConfigLike, resolve_config

DataLike = str | os.PathLike[str] | pd.DataFrame | None


def tune(
    config: ConfigLike = None,
    *,
    train: DataLike = None,
    valid: DataLike = None,
    space: Any = None,
    model: str | None = None,
    target: str | None = None,
    task: str | None = None,
    valid_fraction: float | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    algo: str | None = None,
    engine: str | None = None,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    storage: StudyStorage | None = None,
    overrides: Iterable[str] = (),
    progress: bool = True,
    resume: bool | str = False,
    warm_start: str | None = None,
    executor: str | None = None,
    parallelism: int | None = None,
    spark_master: str | None = None,
) -> Study:
    """Tune a model and track every trial in MLflow; returns the finished Study.

    ``config`` is a YAML path, a mapping in the YAML's shape, or a ``StudyConfig``.
    Keyword arguments win over it: ``train``/``valid`` take paths, URLs or DataFrames,
    ``target`` names the column to predict in your own data (``task`` is inferred unless
    given; without ``valid``, ``valid_fraction`` of the rows validate), ``model`` names a
    family, several comma-separated, or ``"all"`` to search across families,
    ``space`` a spec mapping or a Hyperopt ``hp`` space, and ``overrides`` takes
    ``key.path=value`` strings like the CLI's ``--set``. ``resume=True`` continues the
    experiment's latest study (after a crash or Ctrl-C) up to ``max_evals`` trials;
    ``resume="<study run id>"`` continues that study.
    ``warm_start`` (a study run id, or ``"experiment:NAME"`` for that experiment's latest
    study) starts the search from that study's best trials (``search.warm_start_top_k``,
    5 by default) that fit this study's space, in place of the default start points; the
    study run is tagged ``tunetrack.warm_start_from``.
    ``storage`` (a ``tunetrack.storage.StudyStorage``) replaces the MLflow store.
    ``executor`` says where trials run: ``"inline"`` (default, one at a time here),
    ``"processes"`` (``parallelism`` local worker processes; default: the cores) or
    ``"spark"`` (Spark tasks on ``spark_master``, else the active SparkSession, else
    ``local[parallelism]``); only this process writes to the store either way.

    Raises ConfigError, DataError or TrackingError (one line, nothing written) for bad
    input, StudyFailedError when every trial failed, StudyInterrupted on Ctrl-C.
    """
    started = time.monotonic()
    study_config = _config(
        config, overrides, train, valid, space=space, model=model, target=target, task=task,
        valid_fraction=valid_fraction, max_evals=max_evals, timeout=timeout, seed=seed,
        algo=algo, engine=engine, experiment=experiment, tracking_uri=tracking_uri,
        warm_start=warm_start, executor=executor, parallelism=parallelism,
        spark_master=spark_master,
    )  # fmt: skip
    return run_study(
        study_config,
        train_frame=train if isinstance(train, pd.DataFrame) else None,
        valid_frame=valid if isinstance(valid, pd.DataFrame) else None,
        progress=progress,
        started=started,
        resume=bool(resume),
        run_id=resume if isinstance(resume, str) else None,
        storage=storage,
    )


def create_study(
    config: ConfigLike = None,
    *,
    train: DataLike = None,
    valid: DataLike = None,
    space: Any = None,
    model: str | None = None,
    target: str | None = None,
    task: str | None = None,
    seed: int | None = None,
    algo: str | None = None,
    engine: str | None = None,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    storage: StudyStorage | None = None,
    overrides: Iterable[str] = (),
    warm_start: str | None = None,
) -> Study:
    """Check everything and create the study run, with no trial yet; then
    ``study.optimize(n_trials=..., timeout=...)`` runs trials, as often as you like.

    Takes ``tune``'s arguments but the budget. Raises as ``tune`` does for bad input.
    """
    study_config = _config(
        config, overrides, train, valid, space=space, model=model, target=target, task=task,
        seed=seed, algo=algo, engine=engine, experiment=experiment, tracking_uri=tracking_uri,
        warm_start=warm_start,
    )  # fmt: skip
    return run_study(
        study_config,
        train_frame=train if isinstance(train, pd.DataFrame) else None,
        valid_frame=valid if isinstance(valid, pd.DataFrame) else None,
        progress=False,
        storage=storage,
        run_trials=False,
    )


# What the stored config says for a table passed as a DataFrame: it has no path, but it
# is not the bundled data either (which ``None`` would mean).
IN_MEMORY_TABLE = "<DataFrame>"


def _config(
    config: ConfigLike, overrides: Iterable[str], train: DataLike, valid: DataLike, **kwargs: Any
) -> Any:
    return resolve_config(
        config,
        overrides=overrides,
        train=IN_MEMORY_TABLE if isinstance(train, pd.DataFrame) else train,
        valid=IN_MEMORY_TABLE if isinstance(valid, pd.DataFrame) else valid,
        **kwargs,
    )


def load_study(
    run_id: str | None = None,
    *,
    experiment: str | None = None,
    tracking_uri: str | None = None,
    storage: StudyStorage | None = None,
) -> Study:
    """Rebuild a Study from the tracking store: by parent run id, else the experiment's
    latest study. Needs only read access to the store.

    Raises TrackingError when there is no such study."""
    store = storage or open_storage(tracking_uri, read_only=True)
    if run_id is None:
        run_id = store.latest_study(experiment or DEFAULT_EXPERIMENT).run_id
    return Study.from_storage(store, run_id)
