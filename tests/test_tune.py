"""End-to-end studies on small samples, read back through MLflow's own client."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hyperopt import hp
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.exceptions import DataError, StudyFailedError
from tunetrack.study.loop import trials_since_best

from .conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE


def _tune(sample_paths: tuple[str, str], *extra: str, **kwargs: object) -> tunetrack.Study:
    train, valid = sample_paths
    kwargs.setdefault("max_evals", 4)
    # FAST's space.* settings would edit a space given here: keep them for the default.
    fast = [o for o in FAST if "space" not in kwargs or not o.startswith("space.")]
    return tunetrack.tune(
        train=train, valid=valid, overrides=[*fast, *extra], progress=False, **kwargs
    )


@pytest.fixture(scope="module")
def default_study(
    tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path
) -> tunetrack.Study:
    """One four-trial study in a store of its own, for the tests that only read it."""
    root = tmp_path_factory.mktemp("default-study")
    shutil.copy(_migrated_store, root / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.chdir(root)
        train, valid = (str(TRAIN_SAMPLE), str(VALID_SAMPLE))
        return _tune((train, valid))


def test_study_has_typed_params_and_a_row_per_trial(default_study: tunetrack.Study) -> None:
    study = default_study
    assert len(study.trials) == 4
    assert study.stop_reason == "max_evals"
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    for trial in study.trials:
        assert trial.state == "ok"
        assert type(trial.params["max_depth"]) is int
        assert 2 <= trial.params["max_depth"] <= 6
        assert type(trial.params["learning_rate"]) is float
        assert trial.params["objective"] == "reg:squarederror"
        assert set(trial.metrics) >= {
            "rmse",
            "mae",
            "r2",
            "fit_seconds",
            "model_bytes",
            "best_iteration",
        }
    assert study.best.metrics["rmse"] == min(t.metrics["rmse"] for t in study.trials)
    assert type(study.best_params["max_depth"]) is int
    frame = study.to_frame()
    assert len(frame) == 4
    assert {"state", "run_id", "params.max_depth", "metrics.rmse"} <= set(frame.columns)
    assert frame["metrics.rmse"].min() == study.best_value


def test_load_study_rebuilds_the_same_study(default_study: tunetrack.Study) -> None:
    study, uri = default_study, default_study.tracking_uri
    assert tunetrack.load_study(study.run_id, tracking_uri=uri) == study
    latest = tunetrack.load_study(experiment=study.experiment_name, tracking_uri=uri)
    assert latest == study


def test_tracking_contract(default_study: tunetrack.Study) -> None:
    study = default_study
    client = MlflowClient(study.tracking_uri)
    parent = client.get_run(study.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["tunetrack.role"] == "study"
    assert parent.data.tags["model"] == "xgboost"
    assert parent.data.tags["tunetrack.engine"] == "optuna"  # the default engine
    # MLflow's UI: a model-training experiment (the runs table), a readable study name.
    kind = client.get_experiment(study.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    assert parent.info.run_name.startswith("xgboost 20")
    assert parent.data.params["max_evals"] == "4"
    assert parent.data.params["seed"] == "42"
    assert parent.data.metrics["n_trials"] == 4
    assert parent.data.metrics["n_failed"] == 0
    assert parent.data.metrics["best_rmse"] == study.best_value

    artifacts = {a.path for a in client.list_artifacts(study.run_id, "tunetrack")}
    assert artifacts == {"tunetrack/config.json", "tunetrack/search_space.json"}
    space_file = Path(client.download_artifacts(study.run_id, "tunetrack/search_space.json"))
    space = json.loads(space_file.read_text())
    assert space["max_depth"]["quniform"]["low"] == 2

    inputs = parent.inputs.dataset_inputs
    assert {i.dataset.name for i in inputs} == {
        "tune_train_2021-01.parquet",
        "tune_valid_2021-02.parquet",
    }
    assert all(len(i.dataset.digest) == 32 for i in inputs)
    assert len(parent.data.params["data.train_sha256"]) == 64

    children = client.search_runs(
        [study.experiment_id], f"tags.`mlflow.parentRunId` = '{study.run_id}'"
    )
    assert len(children) == 4
    for run in children:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert run.info.status == "FINISHED"
        assert tags["tunetrack.role"] == "trial"
        assert tags["model"] == "xgboost"
        assert tags["tunetrack.state"] == "ok"
        assert tags["tunetrack.trial"] in {"0", "1", "2", "3"}
        assert params["max_depth"].isdigit()  # "4", not "4.0"
        assert params["objective"] == "reg:squarederror"
        float(params["learning_rate"])
        costs = {"fit_seconds", "fit_cpu_seconds", "model_bytes"}
        assert {"rmse", "mae", "r2", *costs, "best_iteration"} <= set(metrics)
        assert metrics["fit_cpu_seconds"] > 0
        assert metrics["model_bytes"] > 0


def test_same_seed_same_trials(sample_paths: tuple[str, str]) -> None:
    first = _tune(sample_paths, seed=7)
    second = _tune(sample_paths, seed=7)
    other = _tune(sample_paths, seed=8)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.metrics["rmse"] for t in first.trials] == [t.metrics["rmse"] for t in second.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]


def test_python_hp_space_and_dataframes(sample_paths: tuple[str, str]) -> None:
    train, valid = (pd.read_parquet(p) for p in sample_paths)
    space = {
        "max_depth": hp.quniform("max_depth", 2, 5, 1),  # no scope.int: tunetrack types it
        "learning_rate": hp.loguniform("learning_rate", -3, 0),
        "booster": hp.choice("booster", ["gbtree", "dart"]),
        "objective": "reg:squarederror",
    }
    study = tunetrack.tune(
        train=train,
        valid=valid,
        space=space,
        max_evals=5,
        progress=False,
        overrides=["model.num_boost_round=20", "model.early_stopping_rounds=5"],
    )
    for trial in study.trials:
        assert type(trial.params["max_depth"]) is int
        assert trial.params["booster"] in {"gbtree", "dart"}  # values, not indices
    assert tunetrack.load_study(study.run_id) == study


def test_failing_trials_are_recorded_and_the_search_goes_on(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    study = _tune(
        sample_paths,
        "space.objective=choice(['reg:squarederror', 'reg:no-such-objective'])",
        max_evals=8,
    )
    failed = [t for t in study.trials if t.state == "failed"]
    assert failed, "the bad objective should have been sampled at least once"
    assert len(study.completed) + len(failed) == 8
    assert all("no-such-objective" in t.params["objective"] for t in failed)
    assert all(t.error and "\n" not in t.error for t in failed)
    run = MlflowClient(tracking_uri).get_run(failed[0].run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["tunetrack.state"] == "failed"
    assert "rmse" not in run.data.metrics
    parent = MlflowClient(tracking_uri).get_run(study.run_id)
    assert parent.data.metrics["n_failed"] == len(failed)


def test_every_trial_failing_raises_with_the_first_reason(sample_paths: tuple[str, str]) -> None:
    with pytest.raises(StudyFailedError, match=r"every trial failed.*no-such-objective"):
        _tune(sample_paths, "space.objective=reg:no-such-objective", max_evals=2)


def test_timeout_stops_the_study(sample_paths: tuple[str, str]) -> None:
    study = _tune(
        sample_paths,
        "model.num_boost_round=2000",
        "model.early_stopping_rounds=2000",
        max_evals=500,
        timeout=4,
    )
    assert 1 <= len(study.trials) < 500
    assert study.stop_reason == "timeout"
    last = study.trials[-1]
    assert last.end_time - study.trials[0].start_time < 15_000


def test_loss_threshold_and_no_progress_stop_early(sample_paths: tuple[str, str]) -> None:
    reached = _tune(sample_paths, "search.loss_threshold=1000", max_evals=20)
    assert len(reached.trials) == 1
    assert reached.stop_reason == "loss_threshold"
    constant = [
        "space.max_depth=3",
        "space.learning_rate=0.3",
        "space.reg_alpha=0.1",
        "space.reg_lambda=0.1",
        "space.min_child_weight=1",
        "space.subsample=1",
        "search.no_progress_evals=2",
    ]
    # Every trial is the same model: no trial beats the first, so it stops after 3.
    stalled = _tune(sample_paths, *constant, max_evals=20)
    assert len(stalled.trials) == 3
    assert stalled.stop_reason == "no_progress_evals"
    assert tunetrack.load_study(stalled.run_id) == stalled


def test_trials_since_best_counts_failures_as_no_progress() -> None:
    assert trials_since_best([5.0, 4.0, None, 4.5]) == 2
    assert trials_since_best([3.0]) == 0
    assert trials_since_best([None, None]) == 2
    assert trials_since_best([float("nan"), 2.0]) == 0


def test_onehot_encoding_matches_the_tutorial_shape(sample_paths: tuple[str, str]) -> None:
    study = _tune(sample_paths, "features.encoding=onehot", max_evals=2)
    assert all(t.state == "ok" for t in study.trials)
    assert np.isfinite(study.best_value)


def test_bad_data_writes_nothing(tmp_path: object, tracking_uri: str) -> None:
    with pytest.raises(DataError):
        tunetrack.tune(train="missing.parquet", progress=False)
    client = MlflowClient(tracking_uri)
    names = {e.name for e in client.search_experiments()}
    assert names <= {"Default"}
    assert client.search_runs(["0"]) == []


def test_defaults_tune_the_bundled_months() -> None:
    """No config and no data: the tutorial's study on the bundled Jan/Feb 2021 files."""
    study = tunetrack.tune(
        max_evals=1,
        progress=False,
        overrides=["model.num_boost_round=3", "space.max_depth=3"],
    )
    assert study.config["data"]["train"] is None
    assert study.experiment_name == "nyc-taxi-duration"
    client = MlflowClient()
    params = client.get_run(study.run_id).data.params
    assert int(params["n_train_rows"]) > 70_000
    assert int(params["n_valid_rows"]) > 60_000
    assert study.best.params["objective"] == "reg:squarederror"


def test_raw_2023_file_trains(sample_paths: tuple[str, str]) -> None:
    raw = Path(__file__).parent / "data" / "green_tripdata_2023-01_sample.parquet"
    study = tunetrack.tune(
        train=str(raw), valid=sample_paths[1], max_evals=2, progress=False, overrides=FAST
    )
    assert all(t.state == "ok" for t in study.trials)


def test_every_trial_logs_the_same_flat_numeric_params(
    sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    space = {
        "learning_rate": "loguniform(-3, 0)",
        "tree": {
            "choice": [
                {"booster": "gbtree", "max_depth": "quniform(2, 5, 1)"},
                {"booster": "gblinear"},
            ]
        },
        "objective": "reg:squarederror",
    }
    # gblinear cannot use categorical columns (a one-line refusal): one-hot them.
    study = _tune(sample_paths, "features.encoding=onehot", space=space, max_evals=8, seed=1)
    assert {t.state for t in study.trials} <= {"ok", "pruned"}  # both boosters train
    runs = [MlflowClient(tracking_uri).get_run(t.run_id) for t in study.trials]
    keys = {frozenset(r.data.params) for r in runs}
    assert keys == {frozenset({"learning_rate", "booster", "max_depth", "objective"})}
    for run, trial in zip(runs, study.trials, strict=True):
        assert "None" not in run.data.params.values()
        float(run.data.params["max_depth"])  # numeric for MLflow's charts
        if trial.params["booster"] == "gblinear":
            assert "max_depth" not in trial.params  # typed truth: absent stays absent
            assert run.data.params["max_depth"] == "-1"
    assert {t.params["booster"] for t in study.trials} == {"gbtree", "gblinear"}


def test_repr_is_a_summary(default_study: tunetrack.Study) -> None:
    study = default_study
    text = repr(study)
    assert text.startswith(f"Study(run_id='{study.run_id}'")
    assert "trials=4" in text
    assert f"best_rmse={study.best_value:.6g}" in text
    assert "learning_rate" not in text  # no params or config dumped
