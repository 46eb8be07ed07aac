"""None is a value, not "absent" (issue 18, item 7).

A random forest's ``max_depth: choice([None, ...])`` samples None: no depth limit. A
trial that samples it must never read like a trial that lacks the param (a branch not
taken). One real study (random forest, real MLflow) is read back through every place a
trial's params show up; each place must tell None from absent, and say each as itself.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import tunetrack
from tunetrack.exceptions import SearchSpaceError
from tunetrack.report import data, views
from tunetrack.samplers import Suggestion, make_sampler
from tunetrack.space import describe_space
from tunetrack.storage import schema

# max_depth: None or an int in every trial; max_samples: None, a share, or absent (the
# bootstrap=False branch has none).
SPACE: dict[str, Any] = {
    "n_estimators": 4,
    "max_depth": {"choice": [None, {"randint": [2, 5]}]},
    "sampling": {
        "choice": [
            {"bootstrap": True, "max_samples": {"choice": [None, "uniform(0.5, 1.0)"]}},
            {"bootstrap": False},
        ]
    },
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path) -> tunetrack.Study:
    """Six trials, resumed to eight: the store holds Nones, absences and numbers."""
    tmp = tmp_path_factory.mktemp("none")
    shutil.copy(_migrated_store, tmp / "mlflow.db")  # MLflow's schema, made once a session
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    frame["y"] = 2 * frame["x1"] - frame["x2"] + rng.normal(scale=0.1, size=200)
    train = tmp / "clean.csv"
    frame.to_csv(train, index=False)
    args: dict[str, Any] = {
        "train": str(train),
        "target": "y",
        "model": "random_forest",
        "space": SPACE,
        "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
        "experiment": "none-is-a-value",
        "progress": False,
    }
    first = tunetrack.tune(**args, max_evals=6)
    return tunetrack.tune(**args, max_evals=8, resume=first.run_id)


def _pick(study: tunetrack.Study, key: str, kind: str) -> tunetrack.FrozenTrial:
    """A completed trial whose ``key`` is None (kind "none") or missing ("absent")."""
    for trial in study.trials:
        if trial.state != "ok":
            continue
        if kind == "none" and key in trial.params and trial.params[key] is None:
            return trial
        if kind == "absent" and key not in trial.params:
            return trial
    raise AssertionError(f"the study has no trial with {key} {kind}")


def _mlflow_params(study: tunetrack.Study, trial: Any) -> dict[str, str]:
    return MlflowClient(study.tracking_uri).get_run(trial.run_id).data.params


def _tag(study: tunetrack.Study, trial: Any) -> dict[str, Any]:
    run = MlflowClient(study.tracking_uri).get_run(trial.run_id)
    return json.loads(run.data.tags[schema.TAG_PARAMS])


def _loaded(study: tunetrack.Study, trial: Any) -> dict[str, Any]:
    again = tunetrack.load_study(study.run_id, tracking_uri=study.tracking_uri)
    return dict(next(t for t in again.trials if t.run_id == trial.run_id).params)


def _frame_cell(study: tunetrack.Study, trial: Any, key: str) -> Any:
    again = tunetrack.load_study(study.run_id, tracking_uri=study.tracking_uri)
    return again.to_frame().loc[trial.number, f"params.{key}"]


def _table_cell(study: tunetrack.Study, trial: Any, key: str) -> Any:
    table = data.trials_table(study)
    return table.loc[table["number"] == trial.number, key].item()


def _parallel_tick(study: tunetrack.Study, trial: Any, key: str) -> str:
    """The tick label at the trial's place on the parallel-coordinates axis, or the
    place relative to the axis's values: 'above' / 'below'."""
    par = views.parallel_coordinates(study, top_k=None)
    dim = next(d for d in par.dimensions if d.label == key)
    value = dim.values[par.run_ids.index(trial.run_id)]
    for tick, text in zip(dim.tickvals, dim.ticktext, strict=True):
        if math.isclose(tick, value):
            return text
    return "a value"


def _scatter(study: tunetrack.Study, trial: Any, key: str) -> str:
    panel = next(p for p in views.scatter(study) if p.param == key)
    if trial.number in panel.none_numbers:
        return "None, drawn apart"
    return "a value" if trial.number in panel.numbers else "left out"


def _top(study: tunetrack.Study, trial: Any, key: str) -> Any:
    top = data.top_trials(study, k=len(study.trials))
    return top.loc[top["number"] == trial.number, key].item()


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# place -> (what it shows for a trial, for the key), what None reads as, what absent reads as
Place = tuple[Callable[[Any, Any, str], Any], Callable[[Any], bool], Callable[[Any], bool]]
PLACES: dict[str, Place] = {
    "MLflow params": (
        lambda s, t, k: _mlflow_params(s, t)[k],
        lambda v: v == "None",
        lambda v: v == schema.ABSENT_TEXT,  # max_samples can be None: text, not -1
    ),
    "tunetrack.params tag": (
        lambda s, t, k: _tag(s, t).get(k, "missing"),
        lambda v: v is None,
        lambda v: v == "missing",
    ),
    "load_study trial params": (
        lambda s, t, k: _loaded(s, t).get(k, "missing"),
        lambda v: v is None,
        lambda v: v == "missing",
    ),
    "Study.to_frame": (_frame_cell, lambda v: v is None, _is_nan),
    "report trials_table": (_table_cell, lambda v: v == math.inf, _is_nan),
    "parallel coordinates tick": (
        _parallel_tick,
        lambda v: v == data.NONE_LABEL,
        lambda v: v == data.ABSENT_LABEL,
    ),
    "scatter": (_scatter, lambda v: v == "None, drawn apart", lambda v: v == "left out"),
    "top trials table": (_top, lambda v: v == "None", _is_nan),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_none_and_absent_read_differently_everywhere(place: str, study: tunetrack.Study) -> None:
    show, reads_none, reads_absent = PLACES[place]
    none_trial = _pick(study, "max_samples", "none")
    absent_trial = _pick(study, "max_samples", "absent")
    as_none = show(study, none_trial, "max_samples")
    as_absent = show(study, absent_trial, "max_samples")
    assert reads_none(as_none), (place, as_none)
    assert reads_absent(as_absent), (place, as_absent)
    # max_depth is never absent, and its None is None too
    assert reads_none(show(study, _pick(study, "max_depth", "none"), "max_depth"))


def test_the_deepest_trees_are_not_drawn_as_the_shallowest(study: tunetrack.Study) -> None:
    """The issue's plot: max_depth=None above every depth on its axis, not below."""
    par = views.parallel_coordinates(study, top_k=None)
    dim = next(d for d in par.dimensions if d.label == "max_depth")
    depths = {
        run_id: next(t for t in study.trials if t.run_id == run_id).params["max_depth"]
        for run_id in par.run_ids
    }
    unlimited = [v for v, r in zip(dim.values, par.run_ids, strict=True) if depths[r] is None]
    limited = [v for v, r in zip(dim.values, par.run_ids, strict=True) if depths[r] is not None]
    assert unlimited
    assert limited
    assert min(unlimited) > max(limited)
    assert data.ABSENT_LABEL not in dim.ticktext
    # MLflow's own params: a depth or "None", never the -1 of a missing param
    for trial in study.trials:
        shown = _mlflow_params(study, trial)["max_depth"]
        assert shown == (
            "None" if trial.params["max_depth"] is None else str(trial.params["max_depth"])
        )


def test_resume_feeds_the_sampler_every_none(study: tunetrack.Study) -> None:
    """The resumed study read its six trials back (None included) and ran two more."""
    assert len(study.trials) == 8
    assert [t.number for t in study.trials] == list(range(8))
    described = describe_space(SPACE)
    for engine in ("hyperopt", "optuna"):
        sampler = make_sampler(engine, "tpe", described, seed=0)
        for trial in study.trials:  # what _resumed_sampler tells: never refused
            sampler.tell(Suggestion(trial.params), trial.value(study.metric))


@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_a_point_with_none_is_its_own_point(engine: str) -> None:
    """Start points and told history: None picks the None option; a missing key is not a
    point of the space (it is not read as None)."""
    described = describe_space(SPACE)
    sampler = make_sampler(engine, "tpe", described, seed=0)
    point = {
        "n_estimators": 4,
        "max_depth": None,
        "bootstrap": True,
        "max_samples": None,
    }
    sampler.enqueue(point)
    assert sampler.ask().params == point
    lacking = {k: v for k, v in point.items() if k != "max_depth"}
    with pytest.raises(SearchSpaceError, match="not a point of the search space"):
        sampler.enqueue(lacking)
    if engine == "hyperopt":
        vals = sampler.vals_for(point)  # type: ignore[attr-defined]
        assert vals["max_depth"] == [0]  # the None option, not an inactive label
        assert vals["max_depth.1"] == []


def test_ui_params_mark_only_what_is_missing() -> None:
    from tunetrack.space import space_leaves

    leaves = space_leaves(describe_space(SPACE))
    shown = schema.ui_params({"n_estimators": 4, "max_depth": None, "bootstrap": False}, leaves)
    assert {k: schema.param_text(v) for k, v in shown.items()} == {
        "n_estimators": "4",
        "max_depth": "None",
        "bootstrap": "False",
        "max_samples": schema.ABSENT_TEXT,
    }
    assert not leaves["max_depth"].conditional
    assert leaves["max_depth"].nullable
    assert leaves["max_samples"].conditional
