"""Faults from the field in the data a study trains on (issue 18, items 2, 4 and 11).

- Non-finite numbers: one rule for every family. An infinite number (or one beyond
  float32's range) in a numeric feature or the target is refused in one line naming the
  column and the count, exit 2, nothing written (every case through ``tune``, one through
  the CLI); in ``predict`` input too. Missing
  values are allowed in features (random forests on one-hot input excepted: refused in
  one line), and rows with a missing target are left out, said, and recorded.
- Classification validation holds every class: random splits are stratified; when the
  validation rows still lack a training class, a warning says so and a tag records it.
- The taxi recipe's ``data.drop_refunds``: true (the default) drops refunds, false keeps
  them; recorded on the study.

Real MLflow (SQLite in tmp_path), real model libraries, tables made here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tunetrack import load_study, tune
from tunetrack.cli import app
from tunetrack.config import DataConfig, build_config
from tunetrack.data import Table, TaxiDurationRecipe, recipe_from_json, split_table
from tunetrack.exceptions import ConfigError, DataError
from tunetrack.preparation import split
from tunetrack.selection import ship
from tunetrack.storage import schema

FAMILIES = ["xgboost", "lightgbm", "random_forest", "linear"]
QUICK = ["model.num_boost_round=10", "model.early_stopping_rounds=3"]
SMALL_SPACES = {  # a trial in a second: small forests
    "random_forest": ["space.n_estimators=quniform(10, 20, 1)"],
}


def clean(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """The issue's clean.csv: x1, x2 (normal), cat (a/b/c), y = 2*x1 - x2 + noise."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "cat": rng.choice(["a", "b", "c"], n),
            "y": 2 * x1 - x2 + rng.normal(scale=0.1, size=n),
        }
    )


def _snapshot(uri: str) -> tuple[list[str], int]:
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    return sorted(e.name for e in experiments), len(
        client.search_runs([e.experiment_id for e in experiments])
    )


def _tune_args(family: str, *extra: str) -> list[str]:
    sets = [*QUICK, *SMALL_SPACES.get(family, [])]
    return [
        "tune",
        "--target",
        "y",
        "--model",
        family,
        "--max-evals",
        "1",
        *[a for s in sets for a in ("--set", s)],
        *extra,
    ]


def _one_line_refusal(result, tracking_uri: str, before: tuple[list[str], int]) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    assert _snapshot(tracking_uri) == before  # nothing written
    return lines[0]


# -- non-finite numbers ----------------------------------------------------------------

# (id, column, value, the words the refusal must hold)
NON_FINITE = [
    ("inf in a feature", "x1", np.inf, "column x1 has 1 infinite value"),
    ("-inf in a feature", "x2", -np.inf, "column x2 has 1 infinite value"),
    ("inf in the target", "y", np.inf, "column y has 1 infinite value"),
    ("-inf in the target", "y", -np.inf, "column y has 1 infinite value"),
    ("beyond float32 in a feature", "x1", 1e39, "column x1 has 1 infinite value"),
]


def _bad_csv(tmp_path: Path, column: str, value: float) -> Path:
    frame = clean()
    frame.loc[[5], column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def _quick_tune(family: str, **paths: str) -> object:
    overrides = [*QUICK, *SMALL_SPACES.get(family, [])]
    return tune(target="y", model=family, max_evals=1, overrides=overrides, progress=False, **paths)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("column", "value", "words"), [c[1:] for c in NON_FINITE], ids=[c[0] for c in NON_FINITE]
)
def test_a_non_finite_number_is_refused_the_same_way_for_every_family(
    family: str, column: str, value: float, words: str, tmp_path: Path, tracking_uri: str
) -> None:
    """Every case through ``tune`` (the checks the CLI runs before its first write)."""
    path = _bad_csv(tmp_path, column, value)
    before = _snapshot(tracking_uri)
    with pytest.raises(DataError) as info:
        _quick_tune(family, train=str(path))
    message = str(info.value)
    assert "\n" not in message
    assert f"train data {words}" in message
    assert "replace them" in message
    assert _snapshot(tracking_uri) == before


def test_the_cli_refuses_a_non_finite_number_in_one_line(tmp_path: Path, tracking_uri: str) -> None:
    """One case through the CLI: exit 2, one line, nothing written."""
    path = _bad_csv(tmp_path, "x1", np.inf)
    before = _snapshot(tracking_uri)
    result = CliRunner().invoke(app, _tune_args("lightgbm", "--quiet", "--train", str(path)))
    line = _one_line_refusal(result, tracking_uri, before)
    assert "train data column x1 has 1 infinite value" in line
    assert "replace them" in line


@pytest.mark.parametrize("family", FAMILIES)
def test_a_non_finite_number_in_a_given_validation_file_is_refused(
    family: str, tmp_path: Path, tracking_uri: str
) -> None:
    frame = clean()
    frame.iloc[:480].to_csv(tmp_path / "train.csv", index=False)
    valid = frame.iloc[480:].copy()
    valid.loc[[500, 510], "x2"] = [np.inf, -np.inf]
    valid.to_csv(tmp_path / "valid.csv", index=False)
    before = _snapshot(tracking_uri)
    paths = {"train": str(tmp_path / "train.csv"), "valid": str(tmp_path / "valid.csv")}
    words = "valid data column x2 has 2 infinite value(s)"
    if family != "xgboost":  # every family through tune, one through the CLI
        with pytest.raises(DataError, match=re.escape(words)):
            _quick_tune(family, **paths)
        assert _snapshot(tracking_uri) == before
        return
    args = ["--quiet", "--train", paths["train"], "--valid", paths["valid"]]
    line = _one_line_refusal(
        CliRunner().invoke(app, _tune_args(family, *args)), tracking_uri, before
    )
    assert words in line


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_missing_targets_are_left_out_said_and_recorded_for_every_family(
    family: str, tmp_path: Path
) -> None:
    frame = clean()
    frame.loc[[1, 2, 3], "y"] = np.nan  # 3 of 600, as in the issue
    frame.loc[[7, 8], "x1"] = np.nan  # missing features: every family takes them (native)
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    result = CliRunner().invoke(app, _tune_args(family, "--train", str(path)))
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "left out" in line]
    assert said, result.stderr
    assert all("with no target value" in line for line in said)
    study = load_study(experiment="gaps-y")
    run = MlflowClient().get_run(study.run_id)
    rows = json.loads(run.data.tags[schema.TAG_DATA_ROWS])
    assert rows["train"]["read"] + rows["valid"]["read"] == 600
    assert rows["train"]["missing_target"] + rows["valid"]["missing_target"] == 3
    params = run.data.params
    assert int(params["n_train_rows"]) + int(params["n_valid_rows"]) == 597
    assert study.trials[0].state == "ok"


def test_random_forest_refuses_missing_numbers_in_one_hot_input(
    tmp_path: Path, tracking_uri: str
) -> None:
    # scikit-learn's forests split on NaN in dense input only; one-hot input is sparse.
    frame = clean()
    frame.loc[[7, 8, 9], "x1"] = np.nan
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    before = _snapshot(tracking_uri)
    args = ["--quiet", "--train", str(path), "--set", "features.encoding=onehot"]
    result = CliRunner().invoke(app, _tune_args("random_forest", *args))
    line = _one_line_refusal(result, tracking_uri, before)
    assert "column x1 has" in line
    assert "features.encoding=native" in line


@pytest.mark.parametrize(
    ("family", "encoding", "column", "value", "words"),
    [
        ("linear", "native", "x1", np.inf, "predict data column x1 has 1 infinite value"),
        ("xgboost", "native", "x2", -np.inf, "predict data column x2 has 1 infinite value"),
        ("random_forest", "onehot", "x1", np.nan, "predict data column x1 has 1 missing value"),
    ],
)
def test_predict_refuses_what_the_model_cannot_take_in_one_line(
    family: str, encoding: str, column: str, value: float, words: str, tmp_path: Path
) -> None:
    frame = clean()
    path = tmp_path / "clean.csv"
    frame.to_csv(path, index=False)
    overrides = [*QUICK, *SMALL_SPACES.get(family, []), f"features.encoding={encoding}"]
    study = tune(
        train=str(path), target="y", model=family, max_evals=1, overrides=overrides, progress=False
    )
    uri = ship(study, study.best).model_uri
    runner = CliRunner()
    assert runner.invoke(app, ["predict", uri, str(path), "--out", "ok.csv"]).exit_code == 0
    rows = frame.drop(columns="y").head(20)
    rows.loc[[3], column] = value
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = runner.invoke(app, ["predict", uri, str(tmp_path / "rows.csv"), "--out", "p.csv"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert not (tmp_path / "p.csv").exists()


# -- classification validation holds the classes ---------------------------------------


def rare_table(n: int = 400, n_rare: int = 3, seed: int = 0) -> pd.DataFrame:
    """Two common classes and a rare one (``n_rare`` rows), learnable from x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    label = np.where(x > 0, "up", "down").astype(object)
    rare = rng.choice(n, n_rare, replace=False)
    label[rare] = "rare"
    x[rare] = 5 + rng.normal(size=n_rare)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "label": label})


@pytest.mark.parametrize("seed", range(40))
def test_a_stratified_split_validates_a_rare_class_whatever_the_seed(seed: int) -> None:
    frame = rare_table()
    table = Table(frame, "<DataFrame>", "d", "dataframe")
    data = DataConfig(recipe="tabular", target="label", train="t.csv")
    train, valid, notes = split(table, data, seed)
    assert "stratified by label" in notes[0]
    assert len(valid.frame) == 80
    assert len(train.frame) == 320
    counts = valid.frame["label"].value_counts()
    assert counts["rare"] >= 1  # a plain random 20% left all 3 out for about half the seeds
    assert (train.frame["label"] == "rare").sum() >= 1
    for label, n in frame["label"].value_counts().items():
        assert abs(counts[label] - n * 0.2) <= 1  # each class its share
    again = split(table, data, seed)[1]
    assert again.digest == valid.digest  # the same seed, the same rows


@pytest.mark.parametrize(
    ("labels", "task", "stratified"),
    [
        (["a", "b"], "auto", True),  # text labels
        ([0, 1], "auto", True),  # whole numbers read as classes
        ([True, False], "auto", True),
        ([0, 1], "regression", False),  # told it is a number
        ([0.5, 1.5], "auto", False),  # a regression target
    ],
)
def test_the_split_is_stratified_for_classification_only(
    labels: list, task: str, stratified: bool
) -> None:
    frame = pd.DataFrame({"x": np.arange(200.0), "t": [labels[i % 7 == 0] for i in range(200)]})
    if not stratified and isinstance(labels[0], float):
        frame["t"] = frame["t"] + np.arange(200) * 0.01  # many distinct numbers
    table = Table(frame, "<DataFrame>", "d", "dataframe")
    data = DataConfig(recipe="tabular", target="t", task=task, train="t.csv")
    note = split(table, data, 0)[2][0]
    assert ("stratified by t" in note) is stratified


def test_a_class_of_one_row_cannot_be_split_and_the_split_keeps_it_for_training() -> None:
    frame = rare_table(n_rare=1)
    train, valid = split_table(
        Table(frame, "<DataFrame>", "d", "dataframe"), fraction=0.2, seed=0, stratify="label"
    )
    assert "rare" in set(train.frame["label"])
    assert "rare" not in set(valid.frame["label"])


# (id, rows of the rare class, whether validation is a given file, lacks the rare class)
VALIDATION_CASES = [
    ("split, 3 rare rows", 3, False, False),
    ("split, 1 rare row", 1, False, True),
    ("given file without the rare class", 3, True, True),
]


@pytest.mark.parametrize(
    ("n_rare", "given", "lacks"),
    [c[1:] for c in VALIDATION_CASES],
    ids=[c[0] for c in VALIDATION_CASES],
)
@pytest.mark.parametrize("quiet", [False, True])
def test_validation_lacking_a_class_is_said_and_recorded(
    n_rare: int, given: bool, lacks: bool, quiet: bool, tmp_path: Path
) -> None:
    frame = rare_table(n_rare=n_rare)
    args = ["--train", str(tmp_path / "cells.csv")]
    if given:
        rare = frame["label"] == "rare"
        common = frame[~rare]
        pd.concat([common.iloc[:300], frame[rare]]).to_csv(tmp_path / "cells.csv", index=False)
        common.iloc[300:].to_csv(tmp_path / "valid.csv", index=False)
        args += ["--valid", str(tmp_path / "valid.csv")]
    else:
        frame.to_csv(tmp_path / "cells.csv", index=False)
    tune_args = _tune_args("xgboost", *args, *(["--quiet"] if quiet else []))
    tune_args[tune_args.index("y")] = "label"
    result = CliRunner().invoke(app, tune_args)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "warning:" in line]
    study = load_study(experiment="cells-label")
    tags = MlflowClient().get_run(study.run_id).data.tags
    if lacks:
        assert len(warned) == 1, result.stderr
        assert "'rare'" in warned[0]
        if not quiet:  # said before the trials: ahead of the summary, as a terminal shows
            assert result.output.index("warning:") < result.output.index("best log_loss")
        assert json.loads(tags[schema.TAG_VALID_MISSING_CLASSES]) == ["rare"]
    else:
        assert not warned, result.stderr
        assert schema.TAG_VALID_MISSING_CLASSES not in tags
        assert "auc" in study.best.metrics


# -- the taxi recipe's refunds ---------------------------------------------------------


def taxi_trips(n: int = 60, refunds: int = 6, seed: int = 0) -> pd.DataFrame:
    """Raw-looking green trips: 1-40 minute rides, the last ``refunds`` with negative
    amounts (a refund repeats its trip), and two trips over an hour."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 40_000, n), unit="min")
    minutes = rng.uniform(1.5, 40, n)
    minutes[:2] = 90.0
    fare = 2.5 + minutes
    fare[n - refunds :] *= -1
    return pd.DataFrame(
        {
            "PULocationID": rng.integers(1, 20, n),
            "DOLocationID": rng.integers(1, 20, n),
            "trip_distance": minutes / 4,
            "lpep_pickup_datetime": start,
            "lpep_dropoff_datetime": start + pd.to_timedelta(minutes, unit="min"),
            "fare_amount": fare,
            "total_amount": fare + np.sign(fare) * 1.0,
        }
    )


@pytest.mark.parametrize(("drop_refunds", "kept"), [(True, 52), (False, 58)])
def test_the_taxi_recipe_drops_refunds_unless_told(drop_refunds: bool, kept: int) -> None:
    recipe = TaxiDurationRecipe(drop_refunds=drop_refunds)
    prepared, dropped = recipe.prepare_counted(taxi_trips(), role="train")
    assert len(prepared) == kept
    assert dropped == {
        "duration_out_of_range": 2,
        "refund": 6 if drop_refunds else 0,
        "missing_feature": 0,
    }
    assert prepared["duration"].between(1, 60).all()
    again = recipe_from_json(json.loads(json.dumps(recipe.to_json())))
    assert isinstance(again, TaxiDurationRecipe)
    assert again.drop_refunds is drop_refunds


@pytest.mark.parametrize("drop_refunds", [True, False])
def test_drop_refunds_is_a_study_setting_recorded_on_the_study(
    drop_refunds: bool, tmp_path: Path
) -> None:
    taxi_trips(n=400, refunds=40, seed=1).to_parquet(tmp_path / "jan.parquet")
    taxi_trips(n=200, refunds=20, seed=2).to_parquet(tmp_path / "feb.parquet")
    study = tune(
        train=str(tmp_path / "jan.parquet"),
        valid=str(tmp_path / "feb.parquet"),
        max_evals=1,
        overrides=[*QUICK, f"data.drop_refunds={str(drop_refunds).lower()}"],
        progress=False,
    )
    run = MlflowClient().get_run(study.run_id)
    assert run.data.params["recipe.drop_refunds"] == str(drop_refunds)
    assert study.config["data"]["drop_refunds"] is drop_refunds
    rows = json.loads(run.data.tags[schema.TAG_DATA_ROWS])
    assert rows["train"]["refund"] == (40 if drop_refunds else 0)
    assert rows["valid"]["refund"] == (20 if drop_refunds else 0)
    assert int(run.data.params["n_train_rows"]) == 400 - 2 - rows["train"]["refund"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"data": {"drop_refunds": "maybe"}}, ["data.drop_refunds", "true or false"]),
        ({"data": {"drop_refunds": 0}}, ["data.drop_refunds", "true or false"]),
        (
            {"data": {"train": "a.csv", "target": "y", "drop_refunds": False}},
            ["data.drop_refunds", "nyc-taxi"],
        ),
    ],
)
def test_drop_refunds_takes_a_boolean_for_the_taxi_recipe(raw: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw)
    for word in words:
        assert word in str(caught.value)
    assert build_config({"data": {"drop_refunds": False}}).data.drop_refunds is False
    assert build_config({}).data.drop_refunds is True


def test_a_study_stored_before_drop_refunds_existed_still_resumes(tmp_path: Path) -> None:
    taxi_trips(n=200, seed=1).to_parquet(tmp_path / "jan.parquet")
    taxi_trips(n=100, seed=2).to_parquet(tmp_path / "feb.parquet")
    kwargs = {
        "train": str(tmp_path / "jan.parquet"),
        "valid": str(tmp_path / "feb.parquet"),
        "overrides": QUICK,
        "progress": False,
    }
    study = tune(max_evals=1, **kwargs)
    client = MlflowClient()
    older = dict(study.config)
    older["data"] = {k: v for k, v in older["data"].items() if k != "drop_refunds"}
    client.log_dict(study.run_id, older, schema.CONFIG_ARTIFACT)  # as an older tunetrack wrote it
    resumed = tune(max_evals=2, resume=study.run_id, **kwargs)
    assert len(resumed.trials) == 2
