"""Issue #17, fidelity rungs: trials on a subset of the training rows first (ASHA over
rows), honest bookkeeping (a partial trial says so and is never the best nor shipped),
promotions by the top-1/factor rule, and --resume keeping the rungs consistent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tunetrack import load_study, tune
from tunetrack.cli import app
from tunetrack.config import load_config
from tunetrack.exceptions import ConfigError
from tunetrack.selection import TAG_TRIAL_RUN, choose
from tunetrack.storage import schema
from tunetrack.study.records import TrialRecord
from tunetrack.study.setup import prepare_inputs
from tunetrack.trial import publish, row_order, withdraw

from .badinput import check_refused
from .conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE

TAXI = {"train": str(TRAIN_SAMPLE), "valid": str(VALID_SAMPLE)}
# 2998 training rows: rungs of 100, 300, 900 and all 2998 rows.
RUNGS = ["search.fidelity.rows.min_rows=100", "search.fidelity.rows.factor=3"]
SIZES = [100, 300, 900, 2998]
FACTOR = 3
# Cheap settings per family (the boosted ones also take FAST's rounds).
FAMILIES = {
    "xgboost": FAST,
    "lightgbm": ["model.num_boost_round=30", "model.early_stopping_rounds=5"],
    "random_forest": ["space.n_estimators=quniform(5, 20, 1)"],
    "linear": [],
}


def _rung_rows(trials: Sequence[TrialRecord]) -> None:
    """The top-1/factor rule, checked from the stored trials of an inline study (a
    trial starts once every earlier one has finished): each promoted trial re-runs a
    trial of the rung below that was in the best floor(n/factor) of the n trials of its
    rung finished before it, and no trial is promoted twice; the one exception is the
    study's last trial, which takes the best of the highest rung to all rows when no
    trial has all rows yet."""
    by_number = {t.number: t for t in trials}
    sources = [t.promoted_from for t in trials if t.promoted_from is not None]
    assert len(sources) == len(set(sources)), f"a trial was promoted twice: {sources}"
    for trial in trials:
        assert trial.rung is not None
        assert trial.rows == SIZES[trial.rung]
        if trial.promoted_from is None:
            assert trial.rung == 0, "only the sampler's own points start at the first rung"
            continue
        source = by_number[trial.promoted_from]
        assert source.params == trial.params
        assert source.number < trial.number
        earlier = [t for t in trials if t.number < trial.number and t.rung == source.rung]
        ranked = sorted(
            (t.value(f"rmse{schema.AT_ROWS}"), t.number)
            for t in earlier
            if t.state == "ok" and t.value(f"rmse{schema.AT_ROWS}") is not None
        )
        if trial.rung == source.rung + 1:
            top = [n for _, n in ranked[: len(earlier) // FACTOR]]
            assert source.number in top, (trial.number, source.number, ranked)
        else:  # straight to all rows: the study's last trial, none had all rows yet
            assert trial.rung == len(SIZES) - 1
            assert not any(t.rung == len(SIZES) - 1 for t in earlier if t.number < trial.number)


@pytest.mark.slow  # a few studies of 5-14 trials
@pytest.mark.parametrize("family", list(FAMILIES))
def test_low_rung_trials_are_tagged_partial_and_never_best(family: str, tracking_uri: str) -> None:
    study = tune(
        **TAXI, model=family, max_evals=5, progress=False, overrides=[*FAMILIES[family], *RUNGS]
    )
    runs = {
        int(r.data.tags[schema.TAG_TRIAL]): r
        for r in MlflowClient(tracking_uri).search_runs(
            [study.experiment_id], schema.trial_filter(study.run_id)
        )
    }
    assert len(runs) == 5
    low = [n for n, r in runs.items() if int(r.data.tags[schema.TAG_FIDELITY_ROWS]) < 2998]
    assert low, "no trial ran on part of the rows"
    for _number, run in runs.items():
        rows = int(run.data.tags[schema.TAG_FIDELITY_ROWS])
        rung = int(run.data.tags[schema.TAG_FIDELITY_RUNG])
        assert rows == SIZES[rung]
        if run.data.tags[schema.TAG_STATE] != "ok":
            continue
        if rows < 2998:  # measured on part of the rows: the headline name is never used
            assert "rmse" not in run.data.metrics
            assert "rmse_at_rows" in run.data.metrics
            assert "fit_seconds" in run.data.metrics  # costs keep their names
        else:
            assert "rmse" in run.data.metrics
            assert "rmse_at_rows" not in run.data.metrics
    # The budget ended mid-ladder: the last trial took the best one to all rows.
    assert study.best.rows == 2998
    assert study.best.number == 4
    assert study.best.promoted_from is not None
    assert all(t.rows == 2998 for t in study.completed)
    tags = MlflowClient(tracking_uri).get_run(study.run_id).data.tags
    assert tags[schema.TAG_BEST_TRIAL_RUN] == study.best.run_id
    _rung_rows(study.trials)


@pytest.mark.slow  # a few studies of 5-14 trials
def test_a_partial_loss_below_every_full_one_is_never_best_selected_or_shipped(
    tracking_uri: str,
) -> None:
    study = tune(**TAXI, max_evals=6, progress=False, overrides=[*FAST, *RUNGS])
    client = MlflowClient(tracking_uri)
    low = next(t for t in study.trials if t.rows is not None and t.rows < 2998)
    full_best = study.best_value
    # The partial loss made lower than every full one (tiny subsets can score so by luck).
    client.log_metric(low.run_id, f"rmse{schema.AT_ROWS}", full_best / 10)
    again = load_study(study.run_id, tracking_uri=tracking_uri)
    assert again.best.run_id == study.best.run_id
    assert again.best.rows == 2998
    for policy in ("best", "pareto", "smallest-within"):
        chosen = choose(again, policy, 1.0).chosen
        assert chosen.rows == 2998, policy
    assert low.run_id not in {c.trial.run_id for c in choose(again).candidates}
    with pytest.raises(ConfigError, match=f"trial {low.number} trained on {low.rows} rows only"):
        choose(again, trial=low.number)
    # The CLI refuses to ship it, in one line, and registers nothing...
    select = ["select", "--study", study.run_id, "--register", "m"]
    result = CliRunner().invoke(app, [*select, "--trial", str(low.number)])
    assert result.exit_code == 2, result.output
    assert "rows only" in result.output
    assert "Traceback" not in result.output
    assert not client.search_registered_models()
    # ...and what it ships by default is the best full trial.
    result = CliRunner().invoke(app, select)
    assert result.exit_code == 0, result.output
    [version] = client.search_model_versions("name='m'")
    shipped = client.get_run(version.run_id).data.tags[TAG_TRIAL_RUN]
    assert shipped == study.best.run_id


@pytest.mark.slow  # a few studies of 5-14 trials
def test_resume_keeps_the_rungs_consistent(tracking_uri: str) -> None:
    first = tune(**TAXI, max_evals=7, progress=False, overrides=[*FAST, *RUNGS])
    resumed = tune(
        **TAXI, max_evals=14, progress=False, resume=first.run_id, overrides=[*FAST, *RUNGS]
    )
    assert resumed.run_id == first.run_id
    assert len(resumed.trials) == 14
    # One ladder over both runs: the rule holds across the resume, nothing promoted twice
    # (a trial promoted before the resume is not promoted again after it).
    _rung_rows(resumed.trials)
    assert any(t.promoted_from is not None for t in resumed.trials[7:])
    # A resume with other rungs would change what its trials mean: refused, one line.
    with pytest.raises(ConfigError, match=r"search\.fidelity\.rows\.min_rows was 100, now 200"):
        tune(
            **TAXI, max_evals=16, progress=False, resume=first.run_id,
            overrides=[*FAST, "search.fidelity.rows.min_rows=200", *RUNGS[1:]],
        )  # fmt: skip


@pytest.mark.slow  # worker processes
def test_processes_workers_train_the_same_rungs() -> None:
    study = tune(
        **TAXI, max_evals=6, progress=False, executor="processes", parallelism=2,
        overrides=[*FAST, *RUNGS],
    )  # fmt: skip
    assert len(study.trials) == 6
    assert {t.state for t in study.trials} == {"ok"}, [t.error for t in study.trials]
    for trial in study.trials:  # each worker built the rung's rows itself
        assert trial.rows == SIZES[trial.rung or 0]
        partial = trial.rows < 2998
        assert (trial.value("rmse") is None) == partial
        assert (trial.value(f"rmse{schema.AT_ROWS}") is None) != partial
    sources = [t.promoted_from for t in study.trials if t.promoted_from is not None]
    assert len(sources) == len(set(sources))
    assert study.best.rows == 2998


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("search.fidelity.rows.min_rows=0", "min_rows must be a whole number of rows"),
        ("search.fidelity.rows.min_rows=-5", "min_rows must be a whole number of rows"),
        ("search.fidelity.rows.min_rows=2.5", "min_rows must be a whole number of rows"),
        ("search.fidelity.rows.min_rows=many", "min_rows must be a whole number of rows"),
        ("search.fidelity.rows.factor=1", "min_rows must be a whole number of rows"),
        ("search.fidelity.rows={min_rows: 100, factor: 1}", "factor must be a whole number"),
        ("search.fidelity.rows={min_rows: 100, factor: 2.5}", "factor must be a whole number"),
        ("search.fidelity.rows={min_rows: 100, eta: 3}", "search.fidelity.rows.eta"),
        ("search.fidelity.columns=3", "unknown config key 'search.fidelity.columns'"),
        ("search.fidelity.rows=100", "search.fidelity.rows must be a mapping"),
        ("search.fidelity=[1]", "search.fidelity must be a mapping"),
    ],
)
def test_bad_fidelity_settings_are_refused_before_any_write(
    setting: str, words: str, tmp_path: Path
) -> None:
    args = ["tune", "--train", TAXI["train"], "--valid", TAXI["valid"], "--max-evals", "2"]
    check_refused([*args, "--set", setting], [words], db=tmp_path / "mlflow.db", roots=[tmp_path])


def test_too_few_rows_for_a_second_rung_runs_every_trial_on_all_rows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    study = tune(
        **TAXI, max_evals=2, progress=True,
        overrides=[*FAST, "search.fidelity.rows.min_rows=0.5"],
    )  # fmt: skip
    assert "fewer than min_rows x factor" in capsys.readouterr().err
    assert all(t.rows is None and t.rung is None for t in study.trials)
    assert len(study.completed) == 2


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_rung_trains_on_nested_seeded_rows_and_keeps_every_class(
    family: str, task: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"num": rng.normal(size=400), "cat": rng.choice(["a", "b"], 400)})
    # A rare class (3 rows of 400): a 20-row rung still has it.
    frame["y"] = rng.normal(size=400) if task == "regression" else ["x"] * 397 + ["rare"] * 3
    frame.to_csv(tmp_path / "own.csv", index=False)
    config = load_config(
        None,
        [f"model.name={family}", f"data.train={tmp_path / 'own.csv'}", "data.target=y",
         "data.recipe=tabular", f"data.task={task}"],
    )  # fmt: skip
    # The order is seeded: the same in every process, each rung inside the next.
    order = row_order(frame["y"].to_numpy(), None, 7)
    assert np.array_equal(order, row_order(frame["y"].to_numpy(), None, 7))
    inputs = prepare_inputs(config, None, None)
    handle = publish(inputs.training, inputs.source)
    try:
        full = handle.get(family)
        small, larger = handle.get_rows(family, 20, 7), handle.get_rows(family, 60, 7)
        assert handle.get_rows(family, 20, 7) is small  # built once per process
        assert handle.get_rows(family, None, 7) is full
        assert _n_rows(small) == 20
        assert _n_rows(larger) == 60
        assert _n_rows(full) == len(inputs.study_data.y_train)
        assert _n_rows(small.valid) == _n_rows(full.valid)  # validation: all rows
        if task == "classification":
            assert set(_labels(small)) == {0, 1}
    finally:
        withdraw(handle)


def _n_rows(data: object) -> int:
    train = getattr(data, "train", data)
    if isinstance(train, tuple):  # sklearn families: (pre, X, y) or (X, y)
        return int(train[-1].shape[0])
    for name in ("num_row", "num_data"):  # xgboost DMatrix, lightgbm Dataset
        if hasattr(train, name):
            return int(getattr(train, name)())
    return int(train.shape[0])


def _labels(data: object) -> list[int]:
    train = data.train  # type: ignore[attr-defined]
    if isinstance(train, tuple):
        return sorted({int(v) for v in np.asarray(train[-1])})
    label = train.get_label()
    return sorted({int(v) for v in np.asarray(label)})
