"""Figure data as pure functions of a Study, on small studies whose answers are known."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tunetrack.analysis import pareto_mask
from tunetrack.report import data, views
from tunetrack.space import describe_space
from tunetrack.study import Study, TrialRecord

SPACE = describe_space(
    {
        "learning_rate": "loguniform(-7, 0)",
        "max_depth": "quniform(2, 12, 1)",
        "tree": {
            "choice": [{"booster": "gbtree", "gamma": "uniform(0, 1)"}, {"booster": "gblinear"}]
        },
        "objective": "reg:squarederror",
    }
)


def _trial(number: int, state: str, params: dict[str, Any], **metrics: float) -> TrialRecord:
    return TrialRecord(
        number=number,
        run_id=f"run{number}",
        state=state,
        params=params,
        metrics=metrics,
        start_time=1000 * number,
        end_time=1000 * number + 500,
        error="ValueError: boom" if state == "failed" else None,
    )


def _study(trials: list[TrialRecord], space: Any = SPACE) -> Study:
    return Study(
        run_id="study",
        experiment_id="1",
        experiment_name="exp",
        model="xgboost",
        metric="rmse",
        trials=tuple(trials),
        search_space=space,
        config={},
        tracking_uri="sqlite:///x.db",
    )


def _p(lr: float, depth: int, booster: str = "gbtree", gamma: float | None = 0.5) -> dict:
    params: dict[str, Any] = {"learning_rate": lr, "max_depth": depth, "booster": booster}
    if gamma is not None:
        params["gamma"] = gamma
    return {**params, "objective": "reg:squarederror"}


@pytest.fixture
def small() -> Study:
    return _study(
        [
            _trial(0, "ok", _p(0.1, 4), rmse=5.0, fit_seconds=1.0, model_bytes=100.0),
            _trial(1, "failed", _p(0.5, 8)),
            _trial(
                2, "ok", _p(0.01, 6, "gblinear", None), rmse=6.0, fit_seconds=0.5, model_bytes=50.0
            ),
            _trial(3, "pruned", _p(0.3, 3), rmse=9.0),
            _trial(4, "ok", _p(0.05, 10), rmse=4.0, fit_seconds=3.0, model_bytes=400.0),
            _trial(5, "ok", _p(0.2, 5), rmse=4.5, fit_seconds=4.0, model_bytes=500.0),
        ]
    )


def test_axes_follow_the_search_space(small: Study) -> None:
    axes = {a.name: a for a in data.param_axes(small)}
    assert list(axes) == ["learning_rate", "max_depth", "booster", "gamma"]  # constant left out
    assert axes["learning_rate"].log
    assert not axes["max_depth"].log
    assert axes["max_depth"].numeric
    assert axes["booster"].categories == ("gbtree", "gblinear")
    assert axes["gamma"].scale == "linear"


def test_history_marks_best_so_far_and_keeps_failed_and_pruned(small: Study) -> None:
    frame = data.history(small)
    assert frame["state"].tolist() == ["ok", "failed", "ok", "pruned", "ok", "ok"]
    assert frame["best_so_far"].tolist() == [5.0, 5.0, 5.0, 5.0, 4.0, 4.0]
    assert frame["is_best"].tolist() == [True, False, False, False, True, False]
    assert math.isnan(frame.loc[1, "value"])  # failed trials have no metric
    assert frame.loc[3, "value"] == 9.0  # a pruned trial keeps its last value


def test_pareto_front_of_metric_against_cost(small: Study) -> None:
    frame = data.tradeoff(small, "model_bytes")
    assert frame["number"].tolist() == [2, 0, 4, 5]  # sorted by cost; pruned/failed left out
    assert frame["pareto"].tolist() == [True, True, True, False]
    assert pareto_mask(np.array([[1, 1], [1, 1], [2, 0.5], [3, 3]])).tolist() == [
        True,
        True,
        True,
        False,
    ]
    three = np.array([[1, 2, 3], [2, 1, 3], [2, 2, 4], [1, 2, 2]])
    assert pareto_mask(three).tolist() == [False, True, False, True]


def test_parallel_coordinates_top_k_log_ticks_labels_and_absent(small: Study) -> None:
    par = views.parallel_coordinates(small, top_k=3)
    assert (par.shown, par.total) == (3, 4)
    dims = {d.label: d for d in par.dimensions}
    assert list(dims)[-1] == "rmse"
    assert dims["rmse"].values == (4.0, 4.5, 5.0)  # best first
    lr = dims["learning_rate"]
    assert lr.log
    assert lr.values == pytest.approx((math.log10(0.05), math.log10(0.2), math.log10(0.1)))
    assert set(lr.ticktext) <= {"0.05", "0.1", "0.2"}
    assert "0.1" in lr.ticktext
    assert dims["booster"].ticktext == ("gbtree", "gblinear")
    everything = views.parallel_coordinates(small, top_k=None)
    gamma = {d.label: d for d in everything.dimensions}["gamma"]
    # gblinear has no gamma: it sits on an "(absent)" tick below the axis, not dropped.
    assert gamma.ticktext[0] == data.ABSENT_LABEL
    assert gamma.values[3] == gamma.tickvals[0] < min(gamma.values[:3])


def test_scatter_contour_and_top_trials(small: Study) -> None:
    by_param = {s.param: s for s in views.scatter(small)}
    assert by_param["learning_rate"].scale == "log"
    assert by_param["learning_rate"].y == (4.0, 4.5, 5.0, 6.0)
    assert by_param["gamma"].numbers == (4, 5, 0)  # the gblinear trial has no gamma
    assert by_param["booster"].x == ("gbtree", "gbtree", "gbtree", "gblinear")
    surface = views.contour(small, "learning_rate", "max_depth", grid=5)
    assert surface is not None
    assert surface.x_log
    assert not surface.y_log
    assert surface.grid_x[0] == pytest.approx(0.01)
    assert surface.grid_x[-1] == pytest.approx(0.2)
    assert len(surface.z) == 5
    assert len(surface.z[0]) == 5
    assert views.contour(_study(list(small.trials[:2])), "learning_rate", "max_depth") is None
    top = data.top_trials(small, k=2)
    assert top["run_id"].tolist() == ["run4", "run5"]
    assert top["rmse"].tolist() == [4.0, 4.5]
    assert top["rank"].tolist() == [1, 2]


def test_importance_ranks_a_known_objective() -> None:
    rng = np.random.default_rng(0)
    trials = []
    for n in range(120):
        lr = float(10 ** rng.uniform(-3, 0))
        depth = int(rng.integers(2, 13))
        gamma = float(rng.uniform(0, 1))
        rmse = 5 + 3 * (math.log10(lr) + 1.5) ** 2 + 0.2 * abs(depth - 6)  # gamma: no effect
        trials.append(_trial(n, "ok", _p(lr, depth, gamma=gamma), rmse=rmse))
    ranking = data.importance(_study(trials))
    assert list(ranking.index[:3]) == ["learning_rate", "max_depth", "gamma"]
    assert ranking["learning_rate"] > 0.5
    assert ranking["max_depth"] > ranking["gamma"]
    assert ranking.sum() == pytest.approx(1.0)
    assert data.important_pairs(_study(trials), ranking=ranking)[0] == (
        "learning_rate",
        "max_depth",
    )


def test_importance_needs_a_few_trials(small: Study) -> None:
    assert data.importance(_study(list(small.trials[:3]))).empty
