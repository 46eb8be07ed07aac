"""Median stopping: the pruner's rule on its own, then inside a real tiny study."""

from __future__ import annotations

import math

import pytest
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.exceptions import ConfigError
from tunetrack.pruners import (
    CurveHistory,
    HyperbandPruner,
    MedianPruner,
    NoPruner,
    SuccessiveHalvingPruner,
    make_pruner,
)
from tunetrack.pruners.median import median_at
from tunetrack.space import build_space
from tunetrack.storage.schema import curve_points

from .conftest import FAST


def _every_round(curve: list[float]) -> list[tuple[int, float]]:
    return list(enumerate(curve))


# Two completed curves falling from 10 to 5 and to 4, stored at every round.
DONE = [
    _every_round([10.0, 9.0, 8.0, 7.0, 6.0, 5.0]),
    _every_round([10.0, 8.0, 7.0, 6.0, 5.0, 4.0]),
]


def _first_prune(
    curve: list[float], history: CurveHistory | None = None, **kwargs: int
) -> int | None:
    """The round at which a fresh trial with ``curve`` is pruned (None: never)."""
    settings = {"n_startup_trials": 2, "n_warmup_rounds": 2, "interval": 1, **kwargs}
    pruner = MedianPruner(**settings)
    history = CurveHistory(DONE) if history is None else history
    for round_ in range(len(curve)):
        if pruner.prune(history, curve[: round_ + 1]):
            return round_
    return None


@pytest.mark.parametrize(
    ("case", "curve", "settings", "expected"),
    [
        ("trailing: pruned at the first check", [10.0, 10.0, 9.5, 9.5, 9.5, 9.5], {}, 2),
        ("leading: kept", [9.0, 7.0, 6.0, 5.0, 4.0, 3.0], {}, None),
        ("warm-up rounds respected", [99.0] * 6, {"n_warmup_rounds": 4}, 4),
        ("too few startup trials", [99.0] * 6, {"n_startup_trials": 3}, None),
        # Trails from round 3 on; with warm-up 2 and interval 2 the checks are 2, 4, ...
        ("checks every interval", [10.0, 8.0, 7.0, 9.0, 9.0, 9.0], {"interval": 2}, 4),
        # A bad round 3 (50) after good ones: the best so far (6) beats the median (6.5).
        ("best so far, not one noisy round", [9.0, 7.0, 6.0, 50.0, 5.0, 4.0], {}, None),
        ("NaN rounds are skipped", [math.nan, math.nan, math.nan, 99.0], {}, 3),
    ],
)
def test_median_rule(
    case: str, curve: list[float], settings: dict[str, int], expected: int | None
) -> None:
    assert _first_prune(curve, **settings) == expected, case


def test_the_pruner_is_stateless() -> None:
    # The same question gets the same answer whatever was asked before: nothing about
    # the running trial is kept between calls (trials may run in other processes).
    pruner = MedianPruner(n_startup_trials=2, n_warmup_rounds=2, interval=1)
    history = CurveHistory(DONE)
    trailing, leading = [10.0, 10.0, 9.5], [9.0, 7.0, 6.0]
    assert pruner.prune(history, trailing)
    assert not pruner.prune(history, leading)
    assert pruner.prune(history, trailing)


def test_early_stopped_curves_keep_their_final_best_for_later_rounds() -> None:
    # The first stopped at round 1.
    history = CurveHistory([_every_round([5.0, 4.0]), _every_round([6.0, 5.0, 4.5, 4.4])])
    assert median_at(history, 3) == pytest.approx((4.0 + 4.4) / 2)
    assert MedianPruner(n_startup_trials=2, n_warmup_rounds=0, interval=1).prune(history, [20.0])


def test_history_snapshots_do_not_change_and_bad_curves_are_ignored() -> None:
    history = CurveHistory([_every_round([math.nan, math.nan]), []])
    assert len(history) == 0
    snapshot = history.snapshot()
    history.add(_every_round([1.0, 0.5]))
    assert (len(history), len(snapshot)) == (1, 0)
    pruner = MedianPruner(n_startup_trials=1, n_warmup_rounds=0, interval=1)
    assert not pruner.prune(snapshot, [1e9])
    assert pruner.prune(history, [1e9])


def test_curves_stored_every_few_rounds_hold_their_best_between_points() -> None:
    # Stored at rounds 0, 5 and 7 (the last): the best so far steps down only at a point.
    history = CurveHistory([[(0, 9.0), (5, 6.0), (7, 5.5)]])
    assert [history.best_at(r)[0] for r in (0, 4, 5, 6, 7, 50)] == [9.0, 9.0, 6.0, 6.0, 5.5, 5.5]
    assert curve_points([float(r) for r in range(12)]) == [
        (0, 0.0),
        (5, 5.0),
        (10, 10.0),
        (11, 11.0),
    ]


def test_pruner_registry() -> None:
    assert isinstance(make_pruner("median"), MedianPruner)
    none = make_pruner("none")
    assert isinstance(none, NoPruner)
    assert not none.prune(CurveHistory(DONE), [1e9] * 100)
    assert isinstance(make_pruner("successive_halving"), SuccessiveHalvingPruner)
    assert isinstance(make_pruner("hyperband"), HyperbandPruner)
    with pytest.raises(ConfigError, match=r"unknown search\.pruning 'asha'; choose one of"):
        make_pruner("asha")
    with pytest.raises(ValueError, match="interval >= 1"):
        MedianPruner(interval=0)


# A tiny study where some trials trail: depths 2-6 at learning rates from 0.3 to 1 (the
# median pruner judges a rate below 0.3 later than round 20, past these 30 rounds), no
# early stopping so every trial reports all its rounds.
PRUNY = [
    *FAST,
    "model.early_stopping_rounds=null",
    "space.learning_rate=loguniform(-1.2, 0)",
]


def _study(
    sample_paths: tuple[str, str], pruning: str, max_evals: int = 14, model: str = "xgboost"
) -> tunetrack.Study:
    train, valid = sample_paths
    return tunetrack.tune(
        train=train,
        valid=valid,
        model=model,
        max_evals=max_evals,
        overrides=[*PRUNY, f"search.pruning={pruning}"],
        progress=False,
    )


@pytest.mark.parametrize("model", ["xgboost", "lightgbm"])
def test_a_study_prunes_trailing_trials_and_records_them(
    sample_paths: tuple[str, str], tracking_uri: str, model: str
) -> None:
    study = _study(sample_paths, "median", model=model)
    pruned = [t for t in study.trials if t.state == "pruned"]
    assert pruned, [t.state for t in study.trials]
    assert all(t.state == "ok" for t in study.trials[:5])  # the startup trials
    client = MlflowClient(tracking_uri)
    for trial in pruned:
        run = client.get_run(trial.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["tunetrack.state"] == "pruned"
        at = int(run.data.tags["tunetrack.pruned_at"])
        assert 20 <= at < 30
        # Metrics at the round it stopped: the model it kept has at most that many rounds,
        # and its loss (what Hyperopt got) is a finite RMSE.
        assert run.data.metrics["best_iteration"] <= at
        assert run.data.metrics["rounds"] == at + 1
        assert run.data.tags["model"] == model
        # The loss at that round is kept off the headline metric, at the round it stopped.
        assert "rmse" not in run.data.metrics
        assert math.isfinite(run.data.metrics["rmse_at_prune"])
        (partial,) = client.get_metric_history(trial.run_id, "rmse_at_prune")
        assert partial.step == at
        # The curve so far is stored as metric history: every 5 rounds and the last one.
        curve = client.get_metric_history(trial.run_id, "validation_loss")
        assert sorted(m.step for m in curve) == sorted({*range(0, at + 1, 5), at})
    assert study.best.state == "ok"
    assert study.best not in pruned
    reloaded = tunetrack.load_study(study.run_id)
    assert [t.state for t in reloaded.trials] == [t.state for t in study.trials]
    # Read back, a pruned trial's partial loss is its rmse again (what the sampler learnt).
    assert [t.metrics.get("rmse") for t in reloaded.trials] == [
        pytest.approx(t.metrics.get("rmse")) for t in study.trials
    ]


def test_pruning_none_never_prunes(sample_paths: tuple[str, str]) -> None:
    study = _study(sample_paths, "none")
    assert {t.state for t in study.trials} == {"ok"}


def test_native_default_space_samples_sane_values() -> None:
    from hyperopt.pyll import stochastic

    from tunetrack.models import Task, get_model

    family = get_model("xgboost")
    space = build_space(family.default_space(Task(), "native"))
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        params = stochastic.sample(space, rng=rng)
        assert isinstance(params["max_depth"], int)
        assert 6 <= params["max_depth"] <= 12
        assert 0.049 <= params["learning_rate"] <= 0.302
        assert 4.9 <= params["min_child_weight"] <= 201.0
        assert 0.7 <= params["subsample"] <= 1.0
    assert family.default_space(Task(), "onehot")["max_depth"] == {"quniform": [4, 100, 1]}
    # The start point lies inside the space it starts.
    for point in family.start_points(Task(), "native"):
        assert set(point) == {
            "max_depth",
            "learning_rate",
            "min_child_weight",
            "subsample",
            "reg_lambda",
        }
    assert family.start_points(Task(), "onehot") == []


def test_the_default_study_starts_at_its_start_point_and_counts_it(
    sample_paths: tuple[str, str],
) -> None:
    from tunetrack.models import Task, get_model

    train, valid = sample_paths
    overrides = ["model.num_boost_round=30", "model.early_stopping_rounds=5"]
    study = tunetrack.tune(train=train, valid=valid, max_evals=3, overrides=overrides)
    assert len(study.trials) == 3  # max_evals counts the start points
    points = get_model("xgboost").start_points(Task(), "native")
    for trial, point in zip(study.trials, points, strict=False):
        assert trial.params["max_depth"] == int(point["max_depth"])
        assert trial.params["learning_rate"] == point["learning_rate"]
    # An edited space has no start point: its first trial is sampled.
    edited = tunetrack.tune(train=train, valid=valid, max_evals=1, overrides=[*overrides, *FAST])
    assert edited.trials[0].params["max_depth"] <= 6


def test_resume_may_change_pruning(sample_paths: tuple[str, str]) -> None:
    first = _study(sample_paths, "none", max_evals=2)
    resumed = tunetrack.tune(
        train=sample_paths[0],
        valid=sample_paths[1],
        max_evals=3,
        overrides=[*PRUNY, "search.pruning=median"],
        progress=False,
        resume=True,
    )
    assert resumed.run_id == first.run_id
    assert len(resumed.trials) == 3


def test_pruning_survives_resume_from_stored_curves(sample_paths: tuple[str, str]) -> None:
    # Five trials without pruning store their curves; the resumed process has seen no
    # trial complete itself, yet prunes from the stored curves at once.
    first = _study(sample_paths, "none", max_evals=5)
    client = MlflowClient()
    for trial in first.trials:
        steps = client.get_metric_history(trial.run_id, "validation_loss")
        assert trial.metrics["rounds"] == 30
        assert sorted(m.step for m in steps) == [0, 5, 10, 15, 20, 25, 29]
    resumed = tunetrack.tune(
        train=sample_paths[0],
        valid=sample_paths[1],
        max_evals=14,
        overrides=[*PRUNY, "search.pruning=median"],
        progress=False,
        resume=True,
    )
    assert resumed.run_id == first.run_id
    assert any(t.state == "pruned" for t in resumed.trials[5:])


# Optuna's own pruners behind the seam (pruners/optuna.py).


# Ten curves with different speeds and floors: some would be stopped at an early rung,
# some later, some never. Round r of curve i: floor + scale / (r + 1) with a little
# wobble, so curves cross.
def _curve(i: int, rounds: int = 40) -> list[float]:
    floor, scale = 1.0 + (i * 7 % 10) / 10, 1.0 + (i * 3 % 10)
    return [floor + scale / (r + 1) + 0.01 * ((i + r) % 3) for r in range(rounds)]


CURVES = [_curve(i) for i in range(12)]


def _running_min(values: list[float]) -> list[float]:
    return [min(values[: k + 1]) for k in range(len(values))]


def _optuna_prune_rounds(pruner: object) -> list[int | None]:
    """Optuna itself, run live: each curve reports its best so far every round."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", pruner=pruner)  # type: ignore[arg-type]
    stopped: list[int | None] = []
    for curve in CURVES:
        trial, at = study.ask(), None
        for step, value in enumerate(_running_min(curve)):
            trial.report(value, step)
            if trial.should_prune():
                at = step
                break
        state = optuna.trial.TrialState.PRUNED if at is not None else None
        if at is None:
            study.tell(trial, _running_min(curve)[-1])
        else:
            study.tell(trial, state=state)
        stopped.append(at)
    return stopped


def _seam_prune_rounds(pruner: SuccessiveHalvingPruner) -> list[int | None]:
    """The seam's pruner on the same curves, its history built as a study builds it:
    every curve stored as it finished (a pruned one up to the round it stopped at)."""
    history = CurveHistory()
    stopped: list[int | None] = []
    for curve in CURVES:
        snapshot, at = history.snapshot(), None
        for step in range(len(curve)):
            if pruner.prune(snapshot, curve[: step + 1]):
                at = step
                break
        kept = curve if at is None else curve[: at + 1]
        history.add(_every_round(kept), complete=at is None)
        stopped.append(at)
    return stopped


@pytest.mark.parametrize(("min_resource", "reduction_factor"), [(2, 2), (3, 3), (1, 4)])
def test_successive_halving_decides_as_optuna_does_live(
    min_resource: int, reduction_factor: int
) -> None:
    import optuna

    ours = _seam_prune_rounds(SuccessiveHalvingPruner(min_resource, reduction_factor))
    theirs = _optuna_prune_rounds(
        optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=reduction_factor
        )
    )
    assert ours == theirs
    assert any(at is not None for at in ours)
    assert any(at is None for at in ours)


def test_hyperband_prunes_only_at_rungs_and_is_deterministic() -> None:
    first = _seam_prune_rounds(HyperbandPruner(min_resource=2, reduction_factor=2))
    assert first == _seam_prune_rounds(HyperbandPruner(min_resource=2, reduction_factor=2))
    rungs = {2 * 2**k for k in range(6)}
    assert {at for at in first if at is not None} <= rungs
    assert any(at is not None for at in first)


def test_optuna_pruners_travel_without_their_replay() -> None:
    import pickle

    pruner = SuccessiveHalvingPruner(min_resource=2, reduction_factor=2)
    _seam_prune_rounds(pruner)
    copy = pickle.loads(pickle.dumps(pruner))
    assert copy._trial is None
    assert copy.min_resource == 2
    assert _seam_prune_rounds(copy) == _seam_prune_rounds(
        SuccessiveHalvingPruner(min_resource=2, reduction_factor=2)
    )


@pytest.mark.parametrize(
    ("engine", "pruning"), [("hyperopt", "successive_halving"), ("optuna", "hyperband")]
)
def test_optuna_pruners_stop_trials_on_either_engine(
    sample_paths: tuple[str, str], tracking_uri: str, engine: str, pruning: str
) -> None:
    train, valid = sample_paths
    study = tunetrack.tune(
        train=train,
        valid=valid,
        engine=engine,
        max_evals=10,
        overrides=[*PRUNY, f"search.pruning={pruning}"],
        progress=False,
    )
    pruned = [t for t in study.trials if t.state == "pruned"]
    assert pruned, [t.state for t in study.trials]
    client = MlflowClient(tracking_uri)
    for trial in pruned:
        tags = client.get_run(trial.run_id).data.tags
        assert tags["tunetrack.state"] == "pruned"
        assert int(tags["tunetrack.pruned_at"]) == 20  # the first rung (30 rounds at most)
    assert study.best.state == "ok"


# --- issue #17: pruning that does not bias the search ---------------------------------


def _one_d() -> dict[str, object]:
    from tunetrack.space import describe_space

    return describe_space({"x": {"uniform": [0, 10]}, "objective": "reg:squarederror"})


def _told(engine: str, live: bool) -> tuple[object, list[float]]:
    """An engine told two completed trials (3 and 5), then a trial pruned at round 20
    with a partial loss of 1 (below both), then a completed 7; ``live``: the points
    were asked of it, else told as a resumed study's history."""
    from tunetrack.samplers import Suggestion, make_sampler

    space = _one_d()
    sampler = make_sampler(engine, "tpe", space, 0)
    told: list[float] = []
    for loss, pruned_at in ((3.0, None), (5.0, None), (1.0, 20), (7.0, None)):
        suggestion = sampler.ask() if live else Suggestion({**space, "x": loss})
        sampler.tell(suggestion, loss, pruned_at=pruned_at)
        told.append(loss)
    return sampler, told


@pytest.mark.parametrize("live", [True, False], ids=["asked", "history"])
@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_a_pruned_trial_never_reads_as_a_final_result(engine: str, live: bool) -> None:
    sampler, _ = _told(engine, live)
    if engine == "optuna":
        from optuna.trial import TrialState

        trials = sampler._study.trials  # type: ignore[attr-defined]
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [
            TrialState.PRUNED,
            TrialState.COMPLETE,
        ]
        # (Optuna itself copies a pruned trial's last intermediate value into its value;
        # its state keeps it out of best_value and apart in TPE's split.)
        assert trials[2].intermediate_values == {20: 1.0}
        assert sampler._study.best_value == 3.0  # type: ignore[attr-defined]
    else:
        # Hyperopt has no PRUNED state: the pruned trial ranks with the worst completed
        # one (7 once it is told), never as the best loss 1.
        losses = sampler._trials.losses()  # type: ignore[attr-defined]
        assert losses == [3.0, 5.0, 7.0, 7.0]
    # The engine still asks for new points after a pruned trial.
    assert "x" in sampler.ask().params  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("params", "warmup"),
    [
        ({}, 20),  # no learning rate: the fixed warm-up
        ({"learning_rate": 0.3}, 20),
        ({"learning_rate": 1.0}, 20),  # never shorter than the fixed warm-up
        ({"learning_rate": 0.15}, 40),
        ({"learning_rate": 0.05}, 120),
        ({"eta": 0.1}, 60),  # XGBoost's alias
        ({"shrinkage_rate": 0.1}, 60),  # LightGBM's alias
        ({"learning_rate": True}, 20),  # not a rate
    ],
)
def test_the_median_warm_up_follows_the_learning_rate(
    params: dict[str, object], warmup: int
) -> None:
    pruner = MedianPruner().for_trial(params)
    assert isinstance(pruner, MedianPruner)
    assert pruner.n_warmup_rounds == warmup
    # A slow trial trailing from the start is not judged before its warm-up ends.
    done = CurveHistory([_every_round([1.0] * 200)] * 5)
    curve = [5.0] * 200
    first = next(r for r in range(200) if pruner.prune(done, curve[: r + 1]))
    assert first == warmup
    assert MedianPruner().n_warmup_rounds == 20  # the shared pruner is left as it was
