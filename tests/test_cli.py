"""The command line through Typer's CliRunner, against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app

from .conftest import FAST

EXAMPLE = Path(__file__).parents[1] / "examples" / "nyc-taxi.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _fast_flags() -> list[str]:
    return [arg for item in FAST for arg in ("--set", item)]


@pytest.mark.slow
def test_tune_prints_the_best_model_and_where_to_look(
    runner: CliRunner, sample_paths: tuple[str, str], tracking_uri: str
) -> None:
    train, valid = sample_paths
    result = runner.invoke(
        app,
        [
            "tune",
            str(EXAMPLE),
            "--train",
            train,
            "--valid",
            valid,
            "--max-evals",
            "3",
            "--seed",
            "3",
            "--experiment",
            "cli-test",
            "--quiet",
            *_fast_flags(),
        ],
    )
    assert result.exit_code == 0, result.output
    study = tunetrack.load_study(experiment="cli-test")
    assert len(study.trials) == 3
    assert study.config["search"]["seed"] == 3
    assert f"{study.best_value:.4f}" in result.stdout
    assert study.run_id in result.stdout
    assert "max_depth=" in result.stdout
    assert f"tunetrack report --study {study.run_id}" in result.stdout
    assert "stopped after" not in result.stdout  # it ran its whole budget
    assert MlflowClient(tracking_uri).get_experiment_by_name("cli-test") is not None


@pytest.mark.slow
def test_tracking_uri_flag_wins_over_the_environment(
    runner: CliRunner, sample_paths: tuple[str, str], tmp_path: Path
) -> None:
    train, valid = sample_paths
    other = f"sqlite:///{tmp_path / 'other.db'}"
    result = runner.invoke(
        app,
        [
            "tune",
            "--train",
            train,
            "--valid",
            valid,
            "--max-evals",
            "1",
            "--quiet",
            "--tracking-uri",
            other,
            *_fast_flags(),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(tunetrack.load_study(tracking_uri=other).trials) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--train", "nope.parquet"], ["train data not found", "nope.parquet"]),
        (["--set", "search.max_eval=3"], ["unknown config key", "max_evals"]),
        (["--set", "space.max_depth=quniform(9, 2, 1)"], ["space.max_depth", "low"]),
        (["--set", "space.max_depth=unifrom(0, 1)"], ["space.max_depth", "unifrom"]),
        (["--max-evals", "0"], ["search.max_evals"]),
        (["--model", "catboost"], ["unknown model.name", "xgboost"]),
        (["--algo", "grid"], ["search.algo", "tpe"]),
        (["no-such-config.yaml"], ["config file not found"]),
        (["--tracking-uri", "sqlite:////no/such/dir/mlflow.db"], ["does not exist"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    runner: CliRunner, tracking_uri: str, args: list[str], words: list[str]
) -> None:
    result = runner.invoke(app, ["tune", "--quiet", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0]
    client = MlflowClient(tracking_uri)
    assert {e.name for e in client.search_experiments()} <= {"Default"}


def test_debug_shows_the_traceback(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--debug", "tune", "--train", "nope.parquet"])
    assert result.exit_code != 0
    assert isinstance(result.exception, tunetrack.DataError)
