"""Test and retrain (#21): judge refit candidates on a test month, evaluate a registered
model, retrain next month from a study's best trials, promote only if better.

One store per module holds the first month's study; small tables made here (homes:
price from age and rooms), random forests of a few trees, 2-3 trials per study.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import tunetrack
from tunetrack.cli import app
from tunetrack.exceptions import ConfigError, TrackingError
from tunetrack.selection import testing

EXPERIMENT = "homework"
MODEL = "homes"
ALIAS = "champion"
SMALL = ["space.n_estimators=quniform(8, 16, 1)"]


def month(index: int, n: int = 160) -> pd.DataFrame:
    """A month of homes: the same rule every month, new rows each month."""
    rng = np.random.default_rng(index)
    age = rng.integers(18, 80, n)
    rooms = rng.integers(1, 8, n)
    x = rng.normal(size=n)
    price = 0.1 * age + 2.0 * rooms + x + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"age": age, "rooms": rooms, "x": x, "price": price})


@dataclass(frozen=True)
class Homework:
    root: Path
    uri: str
    study: tunetrack.Study  # tuned on month 1, validated on month 2

    def path(self, index: int) -> str:
        return str(self.root / f"month{index}.csv")


@pytest.fixture(scope="module")
def homework(tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path) -> Iterator[Homework]:
    root = tmp_path_factory.mktemp("homework")
    shutil.copy(_migrated_store, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for index in range(1, 5):
        month(index).to_csv(root / f"month{index}.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)
        study = tune(root / "month1.csv", root / "month2.csv", EXPERIMENT, max_evals=3)
        yield Homework(root, uri, study)


@pytest.fixture(autouse=True)
def _use_homework_store(homework: Homework, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", homework.uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def tune(
    train: Path | str, valid: Path | str, experiment: str, **kwargs: object
) -> tunetrack.Study:
    options: dict[str, object] = {"model": "random_forest", "max_evals": 2, "seed": 1, **kwargs}
    return tunetrack.tune(
        train=str(train),
        valid=str(valid),
        target="price",
        experiment=experiment,
        overrides=[*SMALL, *options.pop("overrides", [])],  # type: ignore[misc]
        progress=False,
        **options,  # type: ignore[arg-type]
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def store_state(uri: str) -> tuple[object, ...]:
    """Everything a command could write: runs (with status and tags), registered versions."""
    client = MlflowClient(uri)
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments], max_results=10_000)
    models = client.search_registered_models()
    return (
        sorted(e.name for e in experiments),
        sorted((r.info.run_id, r.info.status, tuple(sorted(r.data.tags.items()))) for r in runs),
        sorted((m.name, tuple(sorted(m.aliases.items()))) for m in models),
        sorted((v.name, v.version) for v in client.search_model_versions()),
    )


# -- the whole homework flow --------------------------------------------------------------


@pytest.mark.slow
def test_homework_flow_test_register_evaluate_retrain_promote(homework: Homework) -> None:
    client = MlflowClient(homework.uri)
    first = homework.study

    # 1. The 3 best trials refit, scored on month 3, the lowest test RMSE registered.
    code, out, err = invoke(
        "select", "--experiment", EXPERIMENT, "--test", homework.path(3), "--top-k", "3",
        "--by", "test", "--register", MODEL, "--alias", ALIAS,
    )  # fmt: skip
    assert code == 0, err
    assert "test rmse" in out
    assert "never influenced tuning" in out
    model_runs = client.search_runs(
        [first.experiment_id],
        f"tags.`tunetrack.role` = 'model' and tags.`mlflow.parentRunId` = '{first.run_id}'",
    )
    assert len(model_runs) == 3
    tested = {r.data.tags["tunetrack.trial_run_id"]: r.data.metrics for r in model_runs}
    assert set(tested) == {t.run_id for t in first.completed}
    for metrics in tested.values():
        assert {"test_rmse", "test_mae", "test_r2", "rmse"} <= set(metrics)
        assert metrics["test_rmse"] > 0
    best_by_test = min(tested, key=lambda run_id: tested[run_id]["test_rmse"])
    champion = client.get_model_version_by_alias(MODEL, ALIAS)
    assert champion.tags["tunetrack.trial_run_id"] == best_by_test
    assert f"registered: {MODEL} version 1; alias '{ALIAS}': none -> 1" in out

    # 2. The champion evaluated on month 3 gives the test metrics its model run logged,
    # and --log writes them to a run linked to the model.
    code, out, err = invoke("evaluate", f"models:/{MODEL}@{ALIAS}", homework.path(3), "--log")
    assert code == 0, err
    assert f"{MODEL} version 1 on" in out
    run_id = out.split("logged: run ")[1].split()[0]
    evaluation = client.get_run(run_id)
    expected = tested[best_by_test]
    for name in ("rmse", "mae", "r2"):
        assert evaluation.data.metrics[name] == pytest.approx(expected[f"test_{name}"], rel=1e-9)
    assert evaluation.data.tags["tunetrack.model_name"] == MODEL
    assert evaluation.data.tags["tunetrack.model_version"] == "1"
    assert evaluation.data.tags["tunetrack.role"] == "evaluation"
    model_id = evaluation.data.tags["tunetrack.model_id"]
    assert [m.model_id for m in evaluation.inputs.model_inputs] == [model_id]
    linked = [m for m in client.get_logged_model(model_id).metrics if m.run_id == run_id]
    assert {m.key for m in linked} == {"rmse", "mae", "r2"}

    # 3. Next month: months 2 -> 3, warm-started from the first study's best trials.
    second = tune(
        homework.path(2), homework.path(3), "homework-next", warm_start=f"experiment:{EXPERIMENT}"
    )
    assert client.get_run(second.run_id).data.tags["tunetrack.warm_start_from"] == first.run_id
    ranked = sorted(first.completed, key=lambda t: (t.metrics["rmse"], t.number))
    assert [dict(t.params) for t in second.trials] == [dict(t.params) for t in ranked[:2]]

    # 4. Promote only if better, both judged on month 4 in the same command.
    holder_rmse = tunetrack.evaluate(f"models:/{MODEL}@{ALIAS}", homework.path(4)).metrics["rmse"]
    code, out, err = invoke(
        "select", "--study", second.run_id, "--test", homework.path(4), "--register", MODEL,
        "--alias", ALIAS, "--only-if-better",
    )  # fmt: skip
    assert code == 0, err
    candidate = client.get_model_version(MODEL, "2")
    candidate_rmse = client.get_run(candidate.tags["tunetrack.model_run_id"]).data.metrics[
        "test_rmse"
    ]
    now = client.get_model_version_by_alias(MODEL, ALIAS).version
    gap = abs(holder_rmse - candidate_rmse)
    if candidate_rmse < holder_rmse:
        assert str(now) == "2"
        assert "promoted: version 2" in out
    else:
        assert str(now) == "1"
        assert "kept: version 1" in out
    assert f"by {gap:.6g} (" in out

    # 5. The same candidate again ties with the holder: the alias stays where it is.
    code, out, err = invoke(
        "select", "--study", second.run_id, "--test", homework.path(4), "--register", MODEL,
        "--alias", ALIAS, "--only-if-better",
    )  # fmt: skip
    assert code == 0, err
    assert str(client.get_model_version_by_alias(MODEL, ALIAS).version) == str(now), out
    assert f"'{ALIAS}' stays on version {now}" in out


@pytest.mark.slow
def test_python_select_with_test_rows(homework: Homework) -> None:
    study = homework.study
    selection = tunetrack.select(study, test=homework.path(3), top_k=2, by="validation")
    assert selection.by == "validation"
    assert selection.chosen.run_id == study.best.run_id  # validation: the policy's pick
    assert len(selection.shipped) == 2
    assert set(selection.test_metrics) == {s.trial.run_id for s in selection.shipped}
    frame = selection.to_frame().set_index("run_id")
    for run_id, metrics in selection.test_metrics.items():
        assert frame.loc[run_id, "test_rmse"] == metrics["rmse"]
        logged = MlflowClient(homework.uri).get_run(
            next(s.run_id for s in selection.shipped if s.trial.run_id == run_id)
        )
        assert logged.data.metrics["test_rmse"] == metrics["rmse"]
        assert logged.data.params["test.rows_scored"] == "160"
    untested = frame[~frame.index.isin(list(selection.test_metrics))]
    assert untested["test_rmse"].isna().all()


@pytest.mark.slow
def test_no_alias_holder_yet_sets_the_alias(homework: Homework) -> None:
    code, out, err = invoke(
        "select", "--experiment", EXPERIMENT, "--test", homework.path(3), "--register",
        "fresh", "--alias", "prod", "--only-if-better",
    )  # fmt: skip
    assert code == 0, err
    assert "promoted: no model held 'prod' yet" in out
    version = MlflowClient(homework.uri).get_model_version_by_alias("fresh", "prod")
    assert str(version.version) == "1"


# Per family: overrides that keep a one-trial study small.
FAMILIES = {
    "xgboost": ["model.num_boost_round=15", "model.early_stopping_rounds=5"],
    "lightgbm": ["model.num_boost_round=15", "model.early_stopping_rounds=5"],
    "random_forest": SMALL,
    "linear": [],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "labels"), [*((f, False) for f in FAMILIES), ("random_forest", True)]
)
def test_test_metrics_are_what_the_logged_model_scores(
    homework: Homework, tmp_path: Path, family: str, labels: bool
) -> None:
    """Every family (and a classification task): the test metrics logged on the model run
    are the ones the logged model itself gives on the raw test rows."""
    paths = []
    for index in (1, 2, 3):
        table = month(index)
        if labels:
            table["price"] = np.where(table["price"] > 13.0, "high", "low")
        paths.append(tmp_path / f"m{index}.csv")
        table.to_csv(paths[-1], index=False)
    study = tunetrack.tune(
        train=str(paths[0]),
        valid=str(paths[1]),
        target="price",
        model=family,
        max_evals=1,
        experiment=f"family-{family}-{labels}",
        overrides=FAMILIES[family],
        progress=False,
    )
    selection = tunetrack.select(study, test=str(paths[2]))
    (shipped,) = selection.shipped
    assert shipped.test is not None
    expected = {"log_loss", "auc", "accuracy", "f1"} if labels else {"rmse", "mae", "r2"}
    assert set(shipped.test.metrics) == expected
    logged = MlflowClient(homework.uri).get_run(shipped.run_id).data.metrics
    again = tunetrack.evaluate(shipped.model_uri, str(paths[2])).metrics
    for name, value in shipped.test.metrics.items():
        assert logged[f"test_{name}"] == value
        assert again[name] == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_ranked_follows_each_policy() -> None:
    from tunetrack.selection import choose
    from tunetrack.study import Study, TrialRecord

    rows = [(5.00, 9.0, 900.0), (5.04, 2.0, 300.0), (5.03, 1.0, 500.0), (5.04, 3.0, 300.0),
            (6.00, 0.1, 10.0)]  # fmt: skip
    trials = tuple(
        TrialRecord(i, f"run{i}", "ok", {}, {"rmse": r, "fit_seconds": f, "model_bytes": b}, 0, 1)
        for i, (r, f, b) in enumerate(rows)
    )
    study = Study("s", "0", "e", "xgboost", "rmse", trials, {}, {}, "sqlite:///x.db")
    for kwargs, order in (
        ({"policy": "best"}, [0, 2, 1, 3, 4]),
        ({"policy": "smallest-within"}, [1, 3, 2, 0, 4]),
        ({"policy": "pareto"}, [2, 1, 0, 3, 4]),  # the front within 1% by balance first
        ({"trial": 3}, [3, 0, 2, 1, 4]),
    ):
        selection = choose(study, **kwargs)  # type: ignore[arg-type]
        ranked = [c.trial.number for c in selection.ranked()]
        assert ranked == order, kwargs
        assert ranked[0] == selection.chosen.number


# -- warm start ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_warm_start_queues_the_best_trials_on_either_engine(
    homework: Homework, engine: str
) -> None:
    first = homework.study
    second = tune(
        homework.path(2),
        homework.path(3),
        f"warm-{engine}",
        engine=engine,
        warm_start=first.run_id,
        overrides=["search.warm_start_top_k=2"],
    )
    ranked = sorted(first.completed, key=lambda t: (t.metrics["rmse"], t.number))
    assert [dict(t.params) for t in second.trials] == [dict(t.params) for t in ranked[:2]]
    run = MlflowClient(homework.uri).get_run(second.run_id)
    assert run.data.tags["tunetrack.warm_start_from"] == first.run_id
    assert second.config["search"]["warm_start"] == first.run_id
    assert second.config["search"]["warm_start_top_k"] == 2


@pytest.mark.slow
def test_warm_start_drops_points_outside_the_new_space(
    homework: Homework, capsys: pytest.CaptureFixture[str]
) -> None:
    first = homework.study
    depths = sorted(t.params["max_depth"] for t in first.completed if t.params["max_depth"])
    assert len(set(depths)) > 1, depths  # the table needs a depth to leave out
    top = depths[-1]
    second = tune(
        homework.path(2),
        homework.path(3),
        "warm-narrow",
        warm_start=first.run_id,
        max_evals=1,
        overrides=[f"space.max_depth=quniform(2, {top - 1}, 1)"],
    )
    kept = [t for t in first.completed if t.params["max_depth"] and t.params["max_depth"] < top]
    dropped = len(first.completed) - len(kept)
    assert f"{dropped} dropped: outside this study's search space" in capsys.readouterr().err
    best_kept = min(kept, key=lambda t: (t.metrics["rmse"], t.number))
    assert dict(second.trials[0].params) == dict(best_kept.params)


@pytest.mark.slow
def test_resume_continues_the_stored_warm_start(homework: Homework) -> None:
    source = tune(homework.path(1), homework.path(2), "warm-source", max_evals=2, seed=5)
    created = tunetrack.create_study(
        train=homework.path(2),
        valid=homework.path(3),
        target="price",
        model="random_forest",
        experiment="warm-resumed",
        seed=1,
        overrides=SMALL,
        warm_start="experiment:warm-source",
    )
    # The source study is gone: a resume must not look for it again.
    MlflowClient(homework.uri).delete_run(source.run_id)
    resumed = tune(
        homework.path(2), homework.path(3), "warm-resumed", max_evals=2, resume=created.run_id
    )
    ranked = sorted(source.completed, key=lambda t: (t.metrics["rmse"], t.number))
    assert [dict(t.params) for t in resumed.trials] == [dict(t.params) for t in ranked]
    assert resumed.config["search"]["warm_start"] == "experiment:warm-source"


# -- bad input: one line, exit 2, the store unchanged --------------------------------------


Faults = Callable[[Homework], list[str]]


def _no_rooms(root: Path) -> str:
    path = root / "no_rooms.csv"
    month(3).drop(columns="rooms").to_csv(path, index=False)
    return str(path)


SELECT_FAULTS = [
    (lambda h: ["--test", _no_rooms(h.root)], "test data lacks column(s) rooms"),
    (lambda h: ["--test", h.path(3), "--top-k", "0"], "--top-k must be a whole number >= 1"),
    (lambda h: ["--by", "test"], "--by test scores the refit trials on test rows; add --test"),
    (lambda h: ["--top-k", "3"], "--top-k 3 scores the refit trials on test rows; add --test"),
    (lambda h: ["--test", h.path(3), "--by", "luck"], "unknown --by 'luck'"),
    (
        lambda h: ["--test", h.path(3), "--register", MODEL, "--only-if-better"],
        "--only-if-better compares the pick with the model an alias points at",
    ),
    (
        lambda h: ["--register", MODEL, "--alias", ALIAS, "--only-if-better"],
        "--only-if-better scores the refit trials on test rows; add --test",
    ),
    (lambda h: ["--test", h.path(2)], "is the study's validation data (same sha256)"),
    (lambda h: ["--test", str(h.root / "nowhere.csv")], "test data not found"),
    (lambda h: ["--test", h.path(3), "--trial", "0", "--top-k", "2"], "--trial/--run-id name one"),
]


@pytest.mark.parametrize(("args", "words"), SELECT_FAULTS)
def test_select_test_faults_are_one_line_exit_2(
    homework: Homework, args: Faults, words: str
) -> None:
    before = store_state(homework.uri)
    code, _, err = invoke("select", "--experiment", EXPERIMENT, *args(homework))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert words in lines[0]
    assert store_state(homework.uri) == before


def _expensive(root: Path) -> tuple[str, str]:
    paths = []
    for index in (2, 3):
        table = month(index)
        table["price"] = np.where(table["price"] > table["price"].median(), "high", "low")
        paths.append(root / f"labels{index}.csv")
        table.to_csv(paths[-1], index=False)
    return str(paths[0]), str(paths[1])


WARM_FAULTS = [
    (lambda h: ["--warm-start", "0123456789abcdef0123456789abcdef"], "no run '0123456789abcdef"),
    (lambda h: ["--warm-start", "experiment:nowhere"], "no experiment named 'nowhere'"),
    (lambda h: ["--warm-start", "experiment:"], "names no experiment"),
    (
        lambda h: ["--warm-start", h.study.best.run_id],
        "is a trial run, not a study",
    ),
    (
        lambda h: ["--warm-start", h.study.run_id, "--model", "linear"],
        "tuned random_forest and this one tunes linear",
    ),
    (
        lambda h: [
            "--warm-start",
            h.study.run_id,
            "--train",
            _expensive(h.root)[0],
            "--valid",
            _expensive(h.root)[1],
        ],
        "is a regression study and this one is classification",
    ),
    (
        lambda h: [
            "--warm-start",
            h.study.run_id,
            "--set",
            "space.n_estimators=quniform(30, 40, 1)",
        ],
        "none of the best 3 trial(s)",
    ),
    (
        lambda h: ["--set", "search.warm_start_top_k=0"],
        "search.warm_start_top_k must be at least 1",
    ),
]


@pytest.mark.parametrize(("args", "words"), WARM_FAULTS)
def test_warm_start_faults_are_one_line_exit_2(
    homework: Homework, args: Faults, words: str
) -> None:
    before = store_state(homework.uri)
    extra = args(homework)
    data = [] if "--train" in extra else ["--train", homework.path(2), "--valid", homework.path(3)]
    model = [] if "--model" in extra else ["--model", "random_forest"]
    code, _, err = invoke(
        "tune", *data, "--target", "price", *model, "--max-evals", "1", "-q",
        "--experiment", "faults", *extra,
    )  # fmt: skip
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert words in lines[0]
    assert store_state(homework.uri) == before


EVALUATE_FAULTS = [
    (
        lambda h: ["models:/nobody@champion", h.path(3)],
        "cannot load model 'models:/nobody@champion'",
    ),
    (lambda h: ["runs:/0123456789abcdef/tunetrack-model", h.path(3)], "cannot load model"),
    (lambda h: [f"models:/{MODEL}/1", str(h.root / "nowhere.csv")], "evaluation data not found"),
    (lambda h: [f"models:/{MODEL}/1", _no_rooms(h.root)], "evaluation data lacks column(s) rooms"),
]


@pytest.mark.parametrize(("args", "words"), EVALUATE_FAULTS)
def test_evaluate_faults_are_one_line_exit_2(homework: Homework, args: Faults, words: str) -> None:
    if not MlflowClient(homework.uri).search_registered_models(f"name = '{MODEL}'"):
        tunetrack.select(homework.study, test=homework.path(3), register=MODEL)
    before = store_state(homework.uri)
    code, _, err = invoke("evaluate", *args(homework), "--log")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert words in lines[0]
    assert store_state(homework.uri) == before


def test_python_errors_are_the_cli_ones(homework: Homework) -> None:
    with pytest.raises(ConfigError, match="--by test scores the refit trials"):
        tunetrack.select(homework.study, by="test")
    with pytest.raises(TrackingError, match="--warm-start experiment:nowhere"):
        tune(homework.path(2), homework.path(3), "faults", warm_start="experiment:nowhere")


@pytest.mark.parametrize(
    ("candidate", "holder", "moves"),
    [
        (1.0, 2.0, True),
        (2.0, 1.0, False),
        (1.61267, 1.61267, False),  # a tie keeps the holder
        (1.61267 - 1e-14, 1.61267, False),  # a reloaded model's rounding is a tie too
        (1.61267 * (1 - 1e-6), 1.61267, True),  # a real gain, however small, moves it
        (math.inf, 1.0, False),  # a candidate without a test score never wins
    ],
)
def test_only_if_better_moves_the_alias_on_a_real_gain_only(
    candidate: float, holder: float, moves: bool
) -> None:
    assert testing._beats(candidate, holder) is moves
