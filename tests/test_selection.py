"""Choosing a trial (pure policies) and shipping it: refit, log, register, alias."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.exceptions import ConfigError, ModelError
from tunetrack.selection import choose, ship
from tunetrack.study import Study, TrialRecord

from .conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE
from .shipping import homes, tune_sample


def _study(*rows: tuple[float, float, float]) -> Study:
    """A study of trials with (rmse, fit_seconds, model_bytes), numbered in order."""
    trials = tuple(
        TrialRecord(
            number=i,
            run_id=f"run{i}",
            state="ok",
            params={},
            metrics={"rmse": rmse, "fit_seconds": secs, "model_bytes": size},
            start_time=0,
            end_time=1,
        )
        for i, (rmse, secs, size) in enumerate(rows)
    )
    return Study("s", "0", "e", "xgboost", "rmse", trials, {}, {}, "sqlite:///x.db")


TRADE_OFFS = _study(
    (5.00, 9.0, 900.0),  # 0: best metric, slow and big
    (5.04, 2.0, 300.0),  # 1: within 1%, small, fast
    (5.03, 1.0, 500.0),  # 2: within 1%, fastest
    (5.04, 3.0, 300.0),  # 3: same size as 1 but slower: dominated by 1
    (6.00, 0.1, 10.0),  # 4: tiny and instant, far off the best
)


def test_best_is_the_lowest_metric() -> None:
    chosen = choose(TRADE_OFFS, "best")
    assert chosen.chosen.number == 0
    assert chosen.reason == "lowest rmse"


def test_smallest_within_takes_the_smallest_then_the_fastest() -> None:
    selection = choose(TRADE_OFFS, "smallest-within", 0.01)
    assert selection.chosen.number == 1  # 1 and 3 tie on size; 1 fits faster
    assert "4 trial(s) within 1%" in selection.reason
    # With room for trial 4 it wins on size.
    assert choose(TRADE_OFFS, "smallest-within", 0.25).chosen.number == 4


def test_pareto_front_and_the_balanced_pick() -> None:
    selection = choose(TRADE_OFFS, "pareto", 0.01)
    frame = selection.to_frame().set_index("trial")
    assert set(frame.index[frame["pareto"]]) == {0, 1, 2, 4}
    assert set(frame.index[frame["within_tolerance"]]) == {0, 1, 2, 3}
    # Front members within 1%: 0, 1, 2. Geometric mean of ratios to the minima
    # (5.00, 1.0, 300): trial 1 -> (1.008*2*1)^(1/3), trial 2 -> (1.006*1*1.667)^(1/3).
    assert selection.chosen.number == 2
    assert frame.loc[2, "chosen"]
    assert frame["chosen"].sum() == 1
    assert math.isclose(frame.loc[1, "gap_pct"], 0.8)
    assert choose(TRADE_OFFS, "pareto", 0.0).chosen.number == 0


@pytest.mark.parametrize("policy", ["smallest-within", "pareto"])
def test_trade_offs_cost_the_fit_in_cpu_seconds_not_wall_seconds(policy: str) -> None:
    # Same size, same rmse: trial 0 took longer on the wall clock (a loaded machine) but
    # less CPU. The CPU seconds decide; wall seconds alone (older studies) still work.
    def trial(number: int, wall: float, cpu: float) -> TrialRecord:
        metrics = {"rmse": 5.0, "fit_seconds": wall, "fit_cpu_seconds": cpu, "model_bytes": 9.0}
        return TrialRecord(number, f"run{number}", "ok", {}, metrics, 0, 1)

    study = _study((5.0, 1.0, 9.0))
    study = Study(**{**study.__dict__, "trials": (trial(0, 80.0, 2.0), trial(1, 30.0, 3.0))})
    selection = choose(study, policy, 0.01)
    assert selection.chosen.number == 0
    assert list(selection.to_frame().sort_values("trial")["fit_cpu_seconds"]) == [2.0, 3.0]


def test_failed_trials_and_bad_arguments() -> None:
    failed = TrialRecord(9, "runf", "failed", {}, {}, 0, 1, "boom")
    study = _study((5.0, 1.0, 1.0))
    study = Study(**{**study.__dict__, "trials": (*study.trials, failed)})
    assert len(choose(study, "pareto").candidates) == 1
    with pytest.raises(ConfigError, match="unknown policy 'fastest'; choose one of"):
        choose(study, "fastest")
    with pytest.raises(ConfigError, match="--tolerance must be a fraction"):
        choose(study, "pareto", -0.1)


def test_alias_moves_to_the_better_study(tracking_uri: str) -> None:
    runner = CliRunner()
    weak = tune_sample("model.num_boost_round=3", max_evals=2)
    strong = tune_sample(max_evals=4)
    assert strong.best_value < weak.best_value
    client = MlflowClient(tracking_uri)
    for number, study in enumerate((weak, strong), start=1):
        result = runner.invoke(
            app,
            ["select", "--study", study.run_id, "--register", "taxi", "--alias", "prod"],
        )
        assert result.exit_code == 0, result.output
        assert "<- chosen" in result.stdout
        assert f"version {number}" in result.stdout
        version = client.get_model_version_by_alias("taxi", "prod")
        assert str(version.version) == str(number)
        assert version.tags["tunetrack.study_run_id"] == study.run_id
        assert version.tags["tunetrack.trial_run_id"] == study.best.run_id
        assert float(version.tags["tunetrack.rmse"]) == study.best_value
    assert "alias 'prod': 1 -> 2" in result.stdout
    # The model run sits under the study but is not a trial.
    assert len(tunetrack.load_study(strong.run_id).trials) == 4
    run = client.get_run(version.tags["tunetrack.model_run_id"])
    assert run.data.tags["mlflow.parentRunId"] == strong.run_id
    assert run.data.tags["tunetrack.role"] == "model"
    assert run.data.metrics["rmse"] == strong.best_value


def test_refit_reproduces_every_policy_pick_exactly() -> None:
    study = tune_sample("features.encoding=onehot", max_evals=4)
    trial = choose(study, "smallest-within", 0.05).chosen
    shipped = ship(study, trial)
    assert shipped.refit_value == trial.metrics["rmse"]
    assert shipped.registered_name is None
    assert shipped.registry_uri is None


# What each family's autologging must still record: (params, metrics, artifacts).
AUTOLOGGED = {
    "xgboost": ({"max_depth", "num_boost_round"}, {"validation-rmse"}, "feature_importance_"),
    "lightgbm": ({"num_leaves", "num_boost_round"}, {"validation-rmse"}, "feature_importance_"),
    "random_forest": ({"n_estimators", "max_depth"}, {"training_score"}, "estimator.html"),
    "linear": ({"alpha"}, {"training_score"}, "estimator.html"),
}


@pytest.mark.parametrize("family", list(AUTOLOGGED))
def test_autolog_records_the_fit_but_no_second_model(
    tracking_uri: str, tmp_path: Path, family: str
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    path = tmp_path / "homes.csv"
    homes().to_csv(path, index=False)
    fewer_trees = ["space.n_estimators=quniform(20, 40, 1)"] * (family == "random_forest")
    study = tunetrack.tune(
        train=str(path),
        target="price",
        model=family,
        max_evals=1,
        overrides=["model.num_boost_round=15", "model.early_stopping_rounds=5", *fewer_trees],
        progress=False,
    )
    shipped = ship(study, study.best, autolog=True)
    assert abs(shipped.refit_value - study.best_value) < 1e-6
    client = MlflowClient(tracking_uri)
    run = client.get_run(shipped.run_id)
    trial_run = client.get_run(study.best.run_id)
    assert run.info.run_name == f"model-{trial_run.info.run_name}"  # model-trial-0000
    params, metrics, artifact = AUTOLOGGED[family]
    assert params <= set(run.data.params), sorted(run.data.params)
    assert metrics <= set(run.data.metrics), sorted(run.data.metrics)
    artifacts = [a.path for a in client.list_artifacts(shipped.run_id)]
    assert any(a.startswith(artifact) for a in artifacts), artifacts
    if "validation-rmse" in metrics:  # the boosters' curve: one value per kept round
        rounds = int(study.best.metrics["best_iteration"]) + 1
        history = client.get_metric_history(shipped.run_id, "validation-rmse")
        assert len(history) == rounds
        assert math.isclose(history[-1].value, study.best_value, rel_tol=1e-6)
    # One loadable model: ours. Autologging's raw model (``model``) is not logged.
    models = mlflow.search_logged_models(
        experiment_ids=[study.experiment_id],
        filter_string=f"source_run_id = '{shipped.run_id}'",
        output_format="list",
    )
    assert [m.name for m in models] == ["tunetrack-model"]
    with pytest.raises(MlflowException):
        mlflow.pyfunc.load_model(f"runs:/{shipped.run_id}/model")
    rows = pd.read_csv(path).drop(columns="price").head(5)
    assert (
        len(mlflow.pyfunc.load_model(f"runs:/{shipped.run_id}/tunetrack-model").predict(rows)) == 5
    )


def test_dataframe_study_needs_its_data_back() -> None:
    train, valid = pd.read_parquet(TRAIN_SAMPLE), pd.read_parquet(VALID_SAMPLE)
    study = tunetrack.tune(train=train, valid=valid, max_evals=2, progress=False, overrides=FAST)
    with pytest.raises(ModelError, match=r"in-memory DataFrame.*pass --train PATH"):
        ship(study, study.best)
    shipped = ship(study, study.best, train=str(TRAIN_SAMPLE), valid=str(VALID_SAMPLE))
    assert shipped.refit_value == study.best_value


def test_other_data_is_refused_with_one_line(tracking_uri: str) -> None:
    study = tune_sample(max_evals=1)
    result = CliRunner().invoke(
        app, ["select", "--study", study.run_id, "--train", str(VALID_SAMPLE)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sha256 differs" in lines[0]
    assert "--train PATH" in lines[0]
    query = "tags.`tunetrack.role` = 'model'"
    assert MlflowClient(tracking_uri).search_runs([study.experiment_id], query) == []


def test_select_errors_are_one_line_exit_2() -> None:
    runner = CliRunner()
    tune_sample(max_evals=1)
    for args, words in (
        (["--experiment", "nope"], "no experiment named 'nope'"),
        (["--study", "0123456789abcdef"], "no run '0123456789abcdef'"),
        (["--policy", "fastest"], "unknown policy"),
        (["--alias", "prod"], "needs --register"),
    ):
        result = runner.invoke(app, ["select", *args])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert words in lines[0], result.stderr


def test_ship_leaves_the_callers_tracking_setting_as_it_was(tracking_uri: str) -> None:
    import os

    import mlflow

    study = tune_sample(max_evals=1)
    ship(study, study.best, register="kept")
    # MLflow's own temporary-URI helper unsets the variable on the way out.
    assert os.environ["MLFLOW_TRACKING_URI"] == tracking_uri
    assert mlflow.get_tracking_uri() == tracking_uri
    assert MlflowClient(tracking_uri).get_registered_model("kept").name == "kept"


# -- ship the trial the user picked: --trial N / --run-id ID ------------------------------


@pytest.mark.parametrize("state", ["failed", "pruned", "killed", "running"])
def test_a_named_trial_must_have_finished(state: str) -> None:
    other = TrialRecord(
        5, "run5", state, {}, {"rmse": 4.0}, 0, 1, "boom" if state == "failed" else None
    )
    study = Study(**{**TRADE_OFFS.__dict__, "trials": (*TRADE_OFFS.trials, other)})
    for named in ({"trial": 5}, {"run_id": "run5"}):
        with pytest.raises(ConfigError) as raised:
            choose(study, **named)  # type: ignore[arg-type]
        message = str(raised.value)
        assert message.startswith(f"trial 5 is {state}")
        assert "only a finished (ok) trial has a model to ship, e.g. the best, trial 0" in message
        assert ("boom" in message) == (state == "failed")  # a failure says why


@pytest.mark.parametrize(
    ("named", "chosen"), [({"trial": 3}, 3), ({"run_id": "run4"}, 4), ({"trial": 0}, 0)]
)
def test_a_named_trial_is_chosen_whatever_the_policies_say(
    named: dict[str, object], chosen: int
) -> None:
    selection = tunetrack.select(TRADE_OFFS, **named)
    assert selection.chosen.number == chosen
    assert selection.policy == "picked"
    assert selection.reason.startswith("named by")
    assert selection.to_frame()["chosen"].sum() == 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"trial": 7}, "has no trial 7 (its trials: 0-4)"),
        ({"run_id": "elsewhere"}, "run elsewhere is not a trial of study s"),
        ({"trial": 1, "run_id": "run1"}, "--trial and --run-id both name"),
        ({"trial": 1, "policy": "pareto"}, "--trial names the trial to ship and --policy pareto"),
        ({"run_id": "run1", "policy": "best"}, "--run-id names the trial to ship"),
    ],
)
def test_naming_a_trial_wrongly_is_one_line(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        choose(TRADE_OFFS, **kwargs)  # type: ignore[arg-type]
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)


def test_select_ships_the_trial_named_by_number_or_run_id(tracking_uri: str) -> None:
    runner = CliRunner()
    study = tune_sample(max_evals=3)
    worst = max(study.completed, key=lambda t: t.metrics["rmse"])
    assert worst.run_id != study.best.run_id
    client = MlflowClient(tracking_uri)
    for number, args in enumerate(
        (["--study", study.run_id, "--trial", str(worst.number)], ["--run-id", worst.run_id]),
        start=1,
    ):
        result = runner.invoke(app, ["select", *args, "--register", "picked"])
        assert result.exit_code == 0, result.output
        assert f"chose trial {worst.number}" in result.stdout
        version = client.get_model_version("picked", str(number))
        assert version.tags["tunetrack.trial_run_id"] == worst.run_id
        assert version.tags["tunetrack.policy"] == "picked"
        run = client.get_run(version.tags["tunetrack.model_run_id"])
        assert run.data.metrics["rmse"] == worst.metrics["rmse"]  # the refit reproduced it
        assert run.data.tags["mlflow.parentRunId"] == study.run_id


def test_select_naming_a_wrong_trial_is_one_line_exit_2(tracking_uri: str) -> None:
    runner = CliRunner()
    first = tune_sample(max_evals=1)
    second = tune_sample(max_evals=1, seed=7)
    for args, words in (
        (["--trial", "5"], f"study {second.run_id} has no trial 5 (its trials: 0-0)"),
        (["--study", second.run_id, "--run-id", first.best.run_id], "is not a trial of study"),
        (["--run-id", second.run_id], f"is a study run, not a trial; pass --study {second.run_id}"),
        (["--run-id", "0123456789abcdef"], "no run '0123456789abcdef'"),
        (["--trial", "0", "--policy", "best"], "--trial names the trial to ship and --policy"),
        (["--trial", "0", "--run-id", first.best.run_id], "--trial and --run-id both name"),
    ):
        result = runner.invoke(app, ["select", *args])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert words in lines[0], result.stderr
    query = "tags.`tunetrack.role` = 'model'"
    assert MlflowClient(tracking_uri).search_runs([first.experiment_id], query) == []
