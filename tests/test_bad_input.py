"""Every bad input: one line naming the problem and the fix, exit code 2, no traceback,
and the tracking store exactly as it was (no new experiment, no new run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunetrack.config import apply_overrides, build_config
from tunetrack.exceptions import ConfigError, TunetrackError
from tunetrack.preparation import default_space_spec
from tunetrack.space import DISTRIBUTIONS, build_space

from .badinput import check_refused
from .conftest import TRAIN_SAMPLE, VALID_SAMPLE


def _frame() -> pd.DataFrame:
    return pd.read_parquet(TRAIN_SAMPLE)


def _write(tmp: Path, name: str, content: bytes | str) -> str:
    path = tmp / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def _parquet(tmp: Path, name: str, frame: pd.DataFrame) -> str:
    path = tmp / name
    frame.to_parquet(path)
    return str(path)


def _shifted(frame: pd.DataFrame, minutes: float) -> pd.DataFrame:
    frame = frame.copy()
    frame["lpep_dropoff_datetime"] = frame["lpep_pickup_datetime"] + pd.Timedelta(minutes=minutes)
    return frame


def _tabular(tmp: Path, *, valid_label: str | None = None, one_class: bool = False) -> list[str]:
    """A user's own CSV pair (not taxis): --train/--valid args for it."""
    rng = np.random.default_rng(0)
    frames = []
    for n in (60, 30):
        frame = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["a", "b"], n)})
        frame["y"] = 2 * frame["num"] + rng.normal(size=n)
        frame["label"] = "same" if one_class else np.where(frame["y"] > 0, "high", "low")
        frames.append(frame)
    if valid_label is not None:
        frames[1].loc[0, "label"] = valid_label
    frames[0].to_csv(tmp / "own_train.csv", index=False)
    frames[1].to_csv(tmp / "own_valid.csv", index=False)
    return ["--train", str(tmp / "own_train.csv"), "--valid", str(tmp / "own_valid.csv")]


# Each case: (id, builder of extra CLI args from a tmp dir, words the message must hold).
Case = tuple[str, Callable[[Path], list[str]], list[str]]
CASES: list[Case] = [
    ("missing train file", lambda t: ["--train", str(t / "no.parquet")], ["train data not found"]),
    ("missing valid file", lambda t: ["--valid", str(t / "no.parquet")], ["valid data not found"]),
    ("empty file", lambda t: ["--train", _write(t, "e.parquet", b"")], ["empty"]),
    (
        "truncated parquet",
        lambda t: ["--train", _write(t, "cut.parquet", TRAIN_SAMPLE.read_bytes()[:5000])],
        ["cut.parquet"],
    ),
    ("wrong format", lambda t: ["--train", _write(t, "notes.txt", "hello")], [".parquet"]),
    (
        "binary junk as csv",
        lambda t: ["--train", _write(t, "junk.csv", b"\x00\xff\x00\x13" * 100)],
        ["junk.csv"],
    ),
    ("directory as data", lambda t: ["--train", str(t)], ["directory"]),
    (
        "zero rows",
        lambda t: ["--train", _parquet(t, "none.parquet", _frame().iloc[:0])],
        ["no rows"],
    ),
    (
        "missing column",
        lambda t: [
            "--train",
            _parquet(t, "nodist.parquet", _frame().drop(columns="trip_distance")),
        ],
        ["trip_distance"],
    ),
    (
        "wrong dtype",
        lambda t: ["--train", _parquet(t, "strdist.parquet", _frame().assign(trip_distance="far"))],
        ["trip_distance"],
    ),
    (
        "nothing left after filtering",
        lambda t: ["--train", _parquet(t, "long.parquet", _shifted(_frame(), 120))],
        ["1-60", "minute"],
    ),
    (
        "NaN targets",
        lambda t: [
            "--train",
            _parquet(t, "nat.parquet", _frame().assign(lpep_dropoff_datetime=pd.NaT)),
        ],
        ["train"],
    ),
    (
        "a single row",
        lambda t: ["--train", _parquet(t, "one.parquet", _frame().iloc[:1])],
        ["1 usable row", "at least"],
    ),
    ("bad YAML", lambda t: [_write(t, "bad.yaml", "search: [1,\n")], ["YAML"]),
    ("YAML list at top", lambda t: [_write(t, "list.yaml", "- 1\n- 2\n")], ["mapping"]),
    ("unknown section", lambda t: [_write(t, "sec.yaml", "serch: {}\n")], ["serch", "search"]),
    ("unknown key", lambda t: ["--set", "search.max_eval=3"], ["search.max_eval", "max_evals"]),
    ("wrong type", lambda t: ["--set", "search.seed=ten"], ["search.seed", "integer"]),
    ("unknown distribution", lambda t: ["--set", "space.eta=gaussian(0, 1)"], ["space.eta"]),
    (
        "low >= high",
        lambda t: ["--set", "space.max_depth=quniform(9, 2, 1)"],
        ["space.max_depth", "low"],
    ),
    ("q <= 0", lambda t: ["--set", "space.max_depth=quniform(2, 9, 0)"], ["space.max_depth", "q"]),
    ("empty choice", lambda t: ["--set", "space.booster=choice([])"], ["space.booster"]),
    (
        "pchoice not summing to 1",
        lambda t: ["--set", "space.booster={pchoice: [[0.5, gbtree], [0.2, dart]]}"],
        ["space.booster"],
    ),
    ("negative max evals", lambda t: ["--max-evals", "-3"], ["search.max_evals"]),
    ("negative timeout", lambda t: ["--timeout", "-1"], ["search.timeout", "positive"]),
    ("negative seed", lambda t: ["--seed", "-1"], ["search.seed"]),
    ("unknown model", lambda t: ["--model", "catboost"], ["model.name", "xgboost"]),
    (
        "unknown engine",
        lambda t: ["--set", "search.engine=nevergrad"],
        ["search.engine", "hyperopt", "optuna"],
    ),
    ("unknown algorithm", lambda t: ["--algo", "bayes"], ["search.algo", "tpe"]),
    (
        "unknown pruning",
        lambda t: ["--set", "search.pruning=asha"],
        ["search.pruning", "median", "none"],
    ),
    ("pruning as a number", lambda t: ["--set", "search.pruning=1"], ["search.pruning", "string"]),
    (
        "pruning off (YAML false)",
        lambda t: ["--set", "search.pruning=off"],
        ["search.pruning", "quote"],
    ),
    (
        "misspelt XGBoost param",
        lambda t: ["--set", "space.max_dept=quniform(2, 9, 1)"],
        ["space.max_dept", "did you mean 'max_depth'"],
    ),
    ("two names of one param", lambda t: ["--set", "space.eta=0.1"], ["eta", "learning_rate"]),
    (
        "unknown fixed param",
        lambda t: ["--set", "model.params.nthreads=2"],
        ["model.params.nthreads", "nthread"],
    ),
    ("unknown encoding", lambda t: ["--set", "features.encoding=hash"], ["features.encoding"]),
    ("bad --set syntax", lambda t: ["--set", "search.max_evals"], ["key.path=value"]),
    ("missing config", lambda t: [str(t / "nope.yaml")], ["config file not found"]),
    ("unsupported URL scheme", lambda t: ["--train", "ftp://example.invalid/a.parquet"], ["ftp"]),
    (
        "unreachable data URL",
        lambda t: ["--train", "http://127.0.0.1:9/jan.parquet"],
        ["127.0.0.1:9"],
    ),
    (
        "unwritable store directory",
        lambda t: ["--tracking-uri", "sqlite:////proc/tt/mlflow.db"],
        ["/proc/tt"],
    ),
    ("malformed tracking URI", lambda t: ["--tracking-uri", "sqlite://"], ["sqlite"]),
    (
        "unknown target column",
        lambda t: [*_tabular(t), "--target", "nope"],
        ["no target column 'nope'", "--target"],
    ),
    (
        "regression on a label target",
        lambda t: [*_tabular(t), "--target", "label", "--task", "regression"],
        ["not numbers", "--task classification"],
    ),
    (
        "a validation class the train data lacks",
        lambda t: [*_tabular(t, valid_label="unheard"), "--target", "label"],
        ["'unheard'", "train data lacks"],
    ),
    (
        "a target with one class",
        lambda t: [*_tabular(t, one_class=True), "--target", "label", "--task", "classification"],
        ["at least two"],
    ),
    ("unknown task", lambda t: [*_tabular(t), "--target", "y", "--task", "clustering"], ["task"]),
    (
        "a validation file and a fraction",
        lambda t: [*_tabular(t), "--target", "y", "--valid-fraction", "0.2"],
        ["nothing to split"],
    ),
    (
        "a fraction out of range",
        lambda t: ["--set", "data.valid_fraction=1.5"],
        ["data.valid_fraction", "between 0 and 1"],
    ),
    (
        "a loss of the other task",
        lambda t: [*_tabular(t), "--target", "y", "--set", "search.metric=log_loss"],
        ["log_loss", "regression", "rmse"],
    ),
    ("unknown metric", lambda t: ["--set", "search.metric=auc"], ["search.metric", "log_loss"]),
    (
        "fixed params for several families",
        lambda t: ["--model", "xgboost,linear", "--set", "model.params.nthread=1"],
        ["model.params", "branch"],
    ),
    ("unknown family in a list", lambda t: ["--model", "xgboost,catboost"], ["catboost"]),
    (
        "a target the taxi recipe cannot predict",
        lambda t: ["--target", "fare_amount", "--set", "data.recipe=nyc-taxi"],
        ["nyc-taxi", "data.recipe=tabular"],
    ),
    (
        "a feature list naming a missing column",
        lambda t: [*_tabular(t), "--target", "y", "--set", "features.numeric=[num, nope]"],
        ["features.numeric", "'nope'"],
    ),
    (
        "a cross-family space without family branches",
        lambda t: ["--model", "xgboost,linear", "--set", "space.max_depth=quniform(2, 4, 1)"],
        ["family"],
    ),
    (
        "unknown tracking scheme",
        lambda t: ["--tracking-uri", "mongo://localhost/db"],
        ["tracking URI"],
    ),
    (
        "unreachable tracking server",
        lambda t: ["--tracking-uri", "http://127.0.0.1:9"],
        ["cannot reach the tracking server"],
    ),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("make_args", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(
    make_args: Callable[[Path], list[str]], words: list[str], tmp_path: Path
) -> None:
    args = make_args(tmp_path)
    defaults = [
        "--train",
        str(TRAIN_SAMPLE),
        "--valid",
        str(VALID_SAMPLE),
        "--max-evals",
        "2",
        "--set",
        "model.num_boost_round=5",
    ]
    # exit 2, one "error: " line holding the words, no traceback or hang, and the store
    # and every file byte-for-byte unchanged (tests/badinput.py)
    check_refused(
        ["tune", "--quiet", *defaults, *args], words, db=tmp_path / "mlflow.db", roots=[tmp_path]
    )


# -- fuzzing the parsers: whatever the input, only the project's own errors come out ------


def _own_error(
    fn: Callable[[object], object], arg: object, kind: type[Exception] = TunetrackError
) -> str:
    """The message of the project error ``fn`` raised, or ''; any other error escapes."""
    try:
        fn(arg)
    except kind as error:
        return str(error)
    return ""


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_names = st.sampled_from(
    [*DISTRIBUTIONS, "type", "low", "high", "q", "mu", "sigma", "x", "gaussian"]
)
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_names, st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)
_call_strings = st.builds(
    lambda name, args: f"{name}({args})",
    _names,
    st.text(alphabet="0123456789-., []'abc=", max_size=16),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.text(min_size=1, max_size=10), st.one_of(_trees, _call_strings), max_size=5)
)
def test_space_parser_raises_only_its_own_errors(spec: dict) -> None:
    assert "\n" not in _own_error(build_space, spec)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["data", "features", "model", "search", "tracking", "space", "other"]),
        _trees,
        max_size=4,
    )
)
def test_config_parser_raises_only_its_own_errors(raw: dict) -> None:
    assert "\n" not in _own_error(build_config, raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_overrides_raise_only_config_errors(overrides: list[str]) -> None:
    assert "\n" not in _own_error(
        lambda o: build_config(apply_overrides({}, o, default_space=default_space_spec)),
        overrides,
        kind=ConfigError,
    )
