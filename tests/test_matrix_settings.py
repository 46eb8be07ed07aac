"""Settings tied to the training data a boosted family builds once per study (XGBoost's
matrix, LightGBM's Dataset): each one either trains (a trial finishes ok) or is refused
in one line before anything is written. None may pass the checks and then fail every
trial. Every case runs through ``tune`` (one trial, two where the space tunes a setting);
the CLI trains one and refuses one per family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.exceptions import TunetrackError

GBLINEAR_SPACE = (
    "space={learning_rate: {loguniform: [-3, 0]}, reg_lambda: {loguniform: [-6, 1]}, "
    "objective: 'reg:squarederror'}"
)
ONEHOT = "features.encoding=onehot"

# (id, model, --set overrides); every one of them trains.
WORKS: list[tuple[str, str, list[str]]] = [
    ("xgboost fixed max_bin", "xgboost", ["model.params.max_bin=64"]),
    ("xgboost approx", "xgboost", ["model.params.tree_method=approx"]),
    (
        "xgboost approx with max_bin",
        "xgboost",
        ["model.params.tree_method=approx", "model.params.max_bin=32"],
    ),
    ("xgboost hist named", "xgboost", ["model.params.tree_method=hist"]),
    ("xgboost exact on one-hot columns", "xgboost", ["model.params.tree_method=exact", ONEHOT]),
    ("xgboost dart", "xgboost", ["model.params.booster=dart"]),
    (
        "xgboost gblinear on one-hot columns",
        "xgboost",
        ["model.params.booster=gblinear", ONEHOT, GBLINEAR_SPACE],
    ),
    ("xgboost booster tuned over trees", "xgboost", ["space.booster=choice(['gbtree', 'dart'])"]),
    (
        "xgboost booster tuned with gblinear on one-hot columns",
        "xgboost",
        ["space.booster=choice(['gbtree', 'gblinear'])", ONEHOT],
    ),
    ("lightgbm fixed max_bin", "lightgbm", ["model.params.max_bin=64"]),
    ("lightgbm fixed min_data_in_bin", "lightgbm", ["model.params.min_data_in_bin=5"]),
]

# (id, model, --set overrides, words the one line must hold).
REFUSED: list[tuple[str, str, list[str], list[str]]] = [
    (
        "xgboost max_bin in the space",
        "xgboost",
        ["space.max_bin=quniform(16, 256, 16)"],
        ["space.max_bin", "model.params.max_bin"],
    ),
    (
        "xgboost tree_method in the space",
        "xgboost",
        ["space.tree_method=choice(['hist', 'approx'])"],
        ["space.tree_method", "model.params.tree_method"],
    ),
    (
        "xgboost updater in the space",
        "xgboost",
        ["space.updater=choice(['grow_histmaker', 'grow_colmaker'])"],
        ["space.updater", "model.params.updater"],
    ),
    (
        "xgboost booster tuned with gblinear on categorical columns",
        "xgboost",
        ["space.booster=choice(['gbtree', 'gblinear'])"],
        ["space.booster", "'gblinear'", "cat", "features.encoding=onehot"],
    ),
    (
        "xgboost booster tuned over an unknown one",
        "xgboost",
        ["space.booster=choice(['gbtree', 'gbforest'])"],
        ["space.booster", "'gbforest'", "gblinear"],
    ),
    (
        "xgboost exact on categorical columns",
        "xgboost",
        ["model.params.tree_method=exact"],
        ["tree_method=exact", "cat", "features.encoding=onehot"],
    ),
    (
        "xgboost gblinear on categorical columns",
        "xgboost",
        ["model.params.booster=gblinear", GBLINEAR_SPACE],
        ["booster=gblinear", "cat", "features.encoding=onehot"],
    ),
    (
        "xgboost gblinear tuning tree settings",
        "xgboost",
        ["model.params.booster=gblinear", ONEHOT],
        ["booster=gblinear", "space.max_depth", "space={"],
    ),
    (
        "xgboost a removed tree method",
        "xgboost",
        ["model.params.tree_method=gpu_hist"],
        ["tree_method=gpu_hist", "hist, approx, exact"],
    ),
    (
        "xgboost an unknown booster",
        "xgboost",
        ["model.params.booster=gbforest"],
        ["booster=gbforest", "gbtree"],
    ),
    (
        "lightgbm max_bin in the space",
        "lightgbm",
        ["space.max_bin=quniform(16, 256, 16)"],
        ["space.max_bin", "Dataset", "model.params.max_bin"],
    ),
    (
        "lightgbm a setting tunetrack owns",
        "lightgbm",
        ["model.params.feature_pre_filter=true"],
        ["model.params.feature_pre_filter", "leave it out"],
    ),
]


@pytest.fixture
def table(tmp_path: Path) -> str:
    """300 rows of two numbers, a three-valued category and a linear target."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.normal(size=n), "cat": rng.choice(list("abc"), n)}
    )
    frame["y"] = 2 * frame["x1"] - frame["x2"] + rng.normal(scale=0.1, size=n)
    path = tmp_path / "clean.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _tune(table: str, model: str, overrides: list[str]) -> object:
    args = ["tune", "--quiet", "--train", table, "--target", "y", "--model", model]
    args += ["--experiment", "m5", "--max-evals", "2", "--set", "model.num_boost_round=8"]
    for item in overrides:
        args += ["--set", item]
    return CliRunner().invoke(app, args)


def _runs(uri: str) -> int:
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids))


def _trials(overrides: list[str]) -> int:
    """Two trials where the space tunes a setting (so two values meet one matrix), else one."""
    return 2 if any(item.startswith("space.") for item in overrides) else 1


@pytest.mark.parametrize(("model", "overrides"), [c[1:] for c in WORKS], ids=[c[0] for c in WORKS])
def test_a_data_setting_trains(table: str, model: str, overrides: list[str]) -> None:
    n = _trials(overrides)
    study = tunetrack.tune(
        train=table, target="y", model=model, experiment="m5", max_evals=n,
        overrides=["model.num_boost_round=8", *overrides], progress=False,
    )  # fmt: skip
    assert [t.state for t in study.trials] == ["ok"] * n
    fixed = tunetrack.load_study(experiment="m5").config["model"]["params"]
    for item in overrides:
        key, _, value = item.partition("=")
        if key.startswith("model.params."):
            assert str(fixed[key.removeprefix("model.params.")]).lower() == value


def test_the_cli_trains_with_a_data_setting(table: str) -> None:
    result = _tune(table, "xgboost", ["model.params.tree_method=approx"])
    assert result.exit_code == 0, result.output
    study = tunetrack.load_study(experiment="m5")
    assert [t.state for t in study.trials] == ["ok", "ok"]
    assert study.config["model"]["params"]["tree_method"] == "approx"


@pytest.mark.parametrize(
    ("model", "overrides", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_data_setting_that_cannot_train_is_refused_before_any_write(
    table: str, model: str, overrides: list[str], words: list[str], tracking_uri: str
) -> None:
    """Every case through ``tune`` (the checks the CLI runs before its first write)."""
    with pytest.raises(TunetrackError) as info:
        tunetrack.tune(
            train=table, target="y", model=model, experiment="m5", max_evals=2,
            overrides=["model.num_boost_round=8", *overrides], progress=False,
        )  # fmt: skip
    message = str(info.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    assert _runs(tracking_uri) == 0
    assert not [e for e in MlflowClient(tracking_uri).search_experiments() if e.name != "Default"]


@pytest.mark.parametrize("case", [REFUSED[0], REFUSED[-1]], ids=["xgboost", "lightgbm"])
def test_the_cli_refuses_a_data_setting_in_one_line(
    table: str, case: tuple[str, str, list[str], list[str]], tracking_uri: str
) -> None:
    _, model, overrides, words = case
    before = _runs(tracking_uri)
    result = _tune(table, model, overrides)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]
    assert _runs(tracking_uri) == before
    assert not [e for e in MlflowClient(tracking_uri).search_experiments() if e.name != "Default"]
