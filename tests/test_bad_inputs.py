"""Issue 19's bad inputs, every command: each ends in one line (exit 2), no traceback, no
hang, and the store and the user's files byte-for-byte as they were (tests/badinput.py).
With tests/test_bad_input.py's table (run through the same checks) they make the suite
the README's "When things go wrong" counts."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tunetrack.cli import app
from tunetrack.files import atomic_file
from tunetrack.storage.mlflow import artifact_folder

from .badinput import HANG_S, check_refused, store_state
from .conftest import TRAIN_SAMPLE, VALID_SAMPLE

TAXI = ["--train", str(TRAIN_SAMPLE), "--valid", str(VALID_SAMPLE)]
QUICK = ["--quiet", "--max-evals", "2", "--set", "model.num_boost_round=5"]
MODEL = "models:/taxi@live"


def _own(t: Path, name: str = "own.csv", **columns: object) -> list[str]:
    """A user's small table (num, cat, y, plus ``columns``) as --train/--target args."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"num": rng.normal(size=60), "cat": rng.choice(["a", "b"], 60)})
    frame["y"] = 2 * frame["num"] + rng.normal(size=60)
    for column, value in columns.items():
        frame[column] = value
    path = t / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return ["--train", str(path), "--target", "y"]


def _named(t: Path, column: str, family: str) -> list[str]:
    frame = pd.DataFrame({column: np.arange(40.0), "y": np.arange(40.0) * 2})
    path = t / "named.csv"
    frame.to_csv(path, index=False)
    return ["--train", str(path), "--target", "y", "--model", family]


def _yaml(t: Path, text: str) -> list[str]:
    path = t / "study.yaml"
    path.write_text(text)
    return [str(path)]


def _fifo(t: Path, name: str = "pipe.csv") -> str:
    path = t / name
    os.mkfifo(path)
    return str(path)


def _dated(t: Path) -> list[str]:
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=40, freq="D").astype(str),
            "ts_year": np.arange(40.0),
            "y": np.arange(40.0),
        }
    )
    frame.to_csv(t / "dated.csv", index=False)
    return ["--train", str(t / "dated.csv"), "--target", "y"]


TuneCase = tuple[str, Callable[[Path], list[str]], list[str]]
TUNE: list[TuneCase] = [
    # kind 1: names and columns the libraries refuse, checked before any work
    *[
        (f"feature {col!r} for {fam}", lambda t, c=col, f=fam: _named(t, c, f), ["rename"])
        for col, fam in [
            ("dist[km]", "xgboost"),
            ("dist[km]", "lightgbm"),
            ("fare<10", "xgboost"),
            ("a]b", "xgboost"),
            ('a:"b', "lightgbm"),
            ("a,b", "lightgbm"),
            ("{x}", "lightgbm"),
            ("dist[km]", "xgboost,lightgbm"),
        ]
    ],
    (
        "a list column named as a feature",
        lambda t: [*_own(t, "l.parquet", l=[[1, 2]] * 60), "--set", "features.numeric=[num, l]"],
        ["'l'", "lists or records"],
    ),
    (
        "a struct column named as a feature",
        lambda t: [
            *_own(t, "s.parquet", s=[{"a": 1}] * 60),
            "--set",
            "features.categorical=[s]",
        ],
        ["'s'", "flatten"],
    ),
    (
        "features.numeric=[]",
        lambda t: [*_own(t), "--set", "features.numeric=[]"],
        ["name no column", "features.numeric"],
    ),
    (
        "every feature list empty",
        lambda t: [*_own(t), "--set", "features.numeric=[]", "--set", "features.categorical=[]"],
        ["name no column"],
    ),
    (
        "a mysql store without its driver",
        lambda t: ["--tracking-uri", "mysql://u:p@127.0.0.1/db"],
        ["'MySQLdb'", "install"],
    ),
    (
        "an mssql store without its driver",
        lambda t: ["--tracking-uri", "mssql://u:p@127.0.0.1/db"],
        ["driver", "install"],
    ),
    ("--tracking-uri a folder", lambda t: ["--tracking-uri", "."], ["folder", "sqlite:///"]),
    (
        "--tracking-uri ./somedir",
        lambda t: ["--tracking-uri", "./somedir"],
        ["folder", "sqlite:///"],
    ),
    ("--tracking-uri file:", lambda t: ["--tracking-uri", f"file://{t}"], ["folder"]),
    ("an experiment name over 500", lambda t: ["--experiment", "x" * 501], ["501", "500"]),
    (
        "a blank experiment name",
        lambda t: ["--experiment", "  "],
        ["tracking.experiment", "non-empty"],
    ),
    (
        "YAML nested 5000 deep (flow)",
        lambda t: _yaml(t, "a: " + "[" * 5000 + "]" * 5000),
        ["deeper than 50"],
    ),
    (
        "YAML nested 60 deep (block)",
        lambda t: _yaml(t, "search:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60))),
        ["deeper than 50"],
    ),
    (
        "an endless training file (/dev/zero)",
        lambda t: ["--train", "/dev/zero"],
        ["not a regular file"],
    ),
    (
        "an endless validation file (/dev/urandom)",
        lambda t: ["--valid", "/dev/urandom"],
        ["not a regular file"],
    ),
    ("a FIFO as training data", lambda t: ["--train", _fifo(t)], ["not a regular file"]),
    ("a FIFO as the config", lambda t: [_fifo(t, "c.yaml")], ["not a regular file"]),
    ("a folder as the config", lambda t: [str(t)], ["not a regular file"]),
    # kind 2: found before the first write now
    (
        "a classification objective on regression (xgboost)",
        lambda t: ["--set", "model.params.objective=binary:logistic"],
        ["'binary:logistic'", "regression"],
    ),
    (
        "a classification objective on regression (lightgbm)",
        lambda t: ["--model", "lightgbm", "--set", "model.params.objective=multiclass"],
        ["'multiclass'", "regression"],
    ),
    (
        "a classification objective in a space choice",
        lambda t: ["--set", "space.objective=choice(['reg:squarederror', 'multi:softmax'])"],
        ["'multi:softmax'"],
    ),
    (
        "a booster that does not exist",
        lambda t: ["--set", "model.params.booster=nonsense"],
        ["booster"],
    ),
    (
        "a family key naming a family not searched",
        lambda t: _yaml(
            t,
            "model: {name: 'xgboost,linear'}\nspace:\n  family: lightgbm\n",
        ),
        ["family"],
    ),
    (
        "loguniform beyond floats",
        lambda t: ["--set", "space.learning_rate=loguniform(0, 1000)"],
        ["+-700"],
    ),
    (
        "qloguniform beyond floats",
        lambda t: ["--set", "space.max_depth=qloguniform(0, 800, 1)"],
        ["+-700"],
    ),
    (
        "loguniform below floats",
        lambda t: ["--set", "space.learning_rate=loguniform(-900, 0)"],
        ["+-700"],
    ),
    (
        "a duplicate key",
        lambda t: _yaml(t, "search:\n  max_evals: 3\n  max_evals: 5\n"),
        ["repeats the key 'max_evals'"],
    ),
    (
        "a duplicate section",
        lambda t: _yaml(t, "search: {}\nmodel: {}\nsearch: {}\n"),
        ["repeats the key 'search'"],
    ),
    (
        "a duplicate space key",
        lambda t: _yaml(t, "space:\n  eta: 0.1\n  eta: 0.2\n"),
        ["repeats the key 'eta'"],
    ),
    # kind 6: hangs and bombs
    ("a YAML alias", lambda t: _yaml(t, "a: &x [1]\nsearch: {max_evals: *x}\n"), ["alias"]),
    (
        "a 441-byte YAML alias bomb",
        lambda t: _yaml(
            t,
            "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
            + "".join(
                f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                for p, n in zip("abcdefgh", "bcdefghi", strict=True)
            ),
        ),
        ["alias"],
    ),
    (
        "a YAML merge key",
        lambda t: _yaml(t, "base: &b {max_evals: 3}\nsearch: {<<: *b}\n"),
        ["alias"],
    ),
    ("an alias in --set", lambda t: ["--set", "search.max_evals=[*a]"], ["alias"]),
    ("a config file over 1 MB", lambda t: _yaml(t, "#" * 1_100_000), ["bytes"]),
    # kind 7
    ("a date part that shadows a column", _dated, ["'ts_year'", "rename"]),
    # the new setting itself
    (
        "stop_after_failures=0",
        lambda t: ["--set", "search.stop_after_failures=0"],
        ["search.stop_after_failures"],
    ),
    (
        "stop_after_failures=-1",
        lambda t: ["--set", "search.stop_after_failures=-1"],
        ["search.stop_after_failures"],
    ),
    (
        "stop_after_failures=many",
        lambda t: ["--set", "search.stop_after_failures=many"],
        ["search.stop_after_failures"],
    ),
]


@pytest.mark.parametrize(("make_args", "words"), [c[1:] for c in TUNE], ids=[c[0] for c in TUNE])
def test_tune_refuses(
    make_args: Callable[[Path], list[str]], words: list[str], tmp_path: Path
) -> None:
    (tmp_path / "somedir").mkdir()
    args = make_args(tmp_path)
    defaults = [] if "--train" in args else TAXI
    check_refused(
        ["tune", *QUICK, *defaults, *args], words, db=tmp_path / "mlflow.db", roots=[tmp_path]
    )


# -- downloads bounded in total time and size -------------------------------------------


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # one byte every 0.5 s, for ever (the trickle of the issue)
        self.send_response(200)
        self.end_headers()
        with contextlib.suppress(OSError):
            while True:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.5)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _trickle() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jan.parquet"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TUNETRACK_DOWNLOAD_TIMEOUT": "2"}, ["longer than 2 s", "TUNETRACK_DOWNLOAD_TIMEOUT"]),
        ({"TUNETRACK_DOWNLOAD_MAX_MB": "0.000002"}, ["larger than", "TUNETRACK_DOWNLOAD_MAX_MB"]),
        ({"TUNETRACK_DOWNLOAD_TIMEOUT": "soon"}, ["TUNETRACK_DOWNLOAD_TIMEOUT", "positive"]),
    ],
    ids=["a trickling URL", "an oversized URL", "a bad download limit"],
)
def test_downloads_are_bounded(
    env: dict[str, str], words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with _trickle() as url:
        args = ["tune", *QUICK, "--train", url, "--valid", str(VALID_SAMPLE)]
        check_refused(args, words, db=tmp_path / "mlflow.db", roots=[tmp_path])


# -- the commands that read a study or a model: one template store, copied per test ------


@pytest.fixture(scope="session")
def _shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a 2-trial study and its model registered as taxi@live."""
    where = tmp_path_factory.mktemp("shipped")
    uri = f"sqlite:///{where / 'mlflow.db'}"
    runner = CliRunner()
    tuned = runner.invoke(app, ["tune", *QUICK, *TAXI, "--tracking-uri", uri])
    assert tuned.exit_code == 0, tuned.output
    chosen = runner.invoke(
        app, ["select", "--register", "taxi", "--alias", "live", "--tracking-uri", uri]
    )
    assert chosen.exit_code == 0, chosen.output
    return where


@pytest.fixture
def shipped(_shipped: Path, tmp_path: Path) -> Path:
    """This test's copy of the template store (its artifacts stay in the template's
    folder, which every check snapshots too); returns the template folder."""
    with (
        contextlib.closing(sqlite3.connect(_shipped / "mlflow.db")) as source,
        contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as copy,
    ):
        source.backup(copy)
    rows = pd.read_parquet(VALID_SAMPLE).head(50)
    rows.to_parquet(tmp_path / "rows.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows.assign(trip_distance="far").to_parquet(tmp_path / "text.parquet")
    rows.drop(columns="trip_distance").to_parquet(tmp_path / "short.parquet")
    (tmp_path / "taken.parquet").write_bytes(b"the user's own file")
    (tmp_path / "folder").mkdir()
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "mine.txt").write_text("keep me")
    return _shipped


@contextlib.contextmanager
def _busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


StoreCase = tuple[str, Callable[[Path], list[str]], list[str]]
STORE: list[StoreCase] = [
    # report
    ("report --out a file", lambda t: ["report", "--out", str(t / "taken.parquet")], ["is a file"]),
    (
        "report --out a folder with files",
        lambda t: ["report", "--out", str(t / "report")],
        ["already exists", "--overwrite"],
    ),
    (
        "report --out in a missing folder",
        lambda t: ["report", "--out", str(t / "no" / "r")],
        ["does not exist"],
    ),
    ("report on an unknown study", lambda t: ["report", "--study", "0" * 32], ["0" * 32]),
    ("report on an unknown experiment", lambda t: ["report", "--experiment", "nope"], ["'nope'"]),
    (
        "report from a folder store",
        lambda t: ["report", "--tracking-uri", str(t / "folder")],
        ["folder"],
    ),
    (
        "report from a mysql store",
        lambda t: ["report", "--tracking-uri", "mysql://u@127.0.0.1/d"],
        ["driver"],
    ),
    (
        "report with an over-long experiment",
        lambda t: ["report", "--experiment", "e" * 600],
        ["500"],
    ),
    # select: registry names refused before anything is read or written
    *[
        (
            f"select --register {name!r}",
            lambda t, n=name: ["select", "--register", n],
            ["--register"],
        )
        for name in ["", " ", "a/b", "a:b", "..", ".", "../up", "a/../b"]
    ],
    *[
        (
            f"select --alias {alias!r}",
            lambda t, a=alias: ["select", "--register", "taxi", "--alias", a],
            ["--alias"],
        )
        for alias in ["latest", "LATEST", "v3", "V12", "a b", "a/b", "", "x" * 256, "é!"]
    ],
    ("select --alias without --register", lambda t: ["select", "--alias", "live"], ["--register"]),
    ("select --policy unknown", lambda t: ["select", "--policy", "luckiest"], ["luckiest"]),
    ("select --trial that does not exist", lambda t: ["select", "--trial", "999"], ["999"]),
    ("select --run-id unknown", lambda t: ["select", "--run-id", "f" * 32], ["f" * 32]),
    ("select on an unknown experiment", lambda t: ["select", "--experiment", "nope"], ["'nope'"]),
    # predict: the user's files are never overwritten or half-written
    (
        "predict --out the input",
        lambda t: ["predict", MODEL, str(t / "rows.parquet"), "--out", str(t / "rows.parquet")],
        ["is the input"],
    ),
    (
        "predict --out the input, spelt otherwise",
        lambda t: [
            "predict",
            MODEL,
            str(t / "rows.csv"),
            "--out",
            str(t / "folder" / ".." / "rows.csv"),
        ],
        ["is the input"],
    ),
    (
        "predict --out an existing file",
        lambda t: ["predict", MODEL, str(t / "rows.parquet"), "--out", str(t / "taken.parquet")],
        ["already exists", "--overwrite"],
    ),
    (
        "predict --out a folder",
        lambda t: ["predict", MODEL, str(t / "rows.parquet"), "--out", str(t / "folder")],
        ["not a regular file"],
    ),
    (
        "predict --out in a missing folder",
        lambda t: ["predict", MODEL, str(t / "rows.parquet"), "--out", str(t / "no" / "p.csv")],
        ["does not exist"],
    ),
    (
        "predict text in a numeric column",
        lambda t: ["predict", MODEL, str(t / "text.parquet"), "--out", str(t / "p.csv")],
        ["trip_distance"],
    ),
    (
        "predict text in a numeric column, small batches",
        lambda t: [
            "predict",
            MODEL,
            str(t / "text.parquet"),
            "--out",
            str(t / "p.parquet"),
            "--batch-rows",
            "7",
        ],
        ["trip_distance"],
    ),
    (
        "predict input missing a column",
        lambda t: ["predict", MODEL, str(t / "short.parquet"), "--out", str(t / "p.csv")],
        ["trip_distance"],
    ),
    (
        "predict a missing input",
        lambda t: ["predict", MODEL, str(t / "none.parquet")],
        ["not found"],
    ),
    ("predict a folder", lambda t: ["predict", MODEL, str(t / "folder")], ["not found"]),
    (
        "predict from a FIFO",
        lambda t: ["predict", MODEL, _fifo(t, "rows.fifo.parquet")],
        ["not found"],
    ),
    (
        "predict an unknown model",
        lambda t: ["predict", "models:/nope@live", str(t / "rows.parquet")],
        ["nope"],
    ),
    (
        "predict an unknown alias",
        lambda t: ["predict", "models:/taxi@gone", str(t / "rows.parquet")],
        ["taxi@gone"],
    ),
    (
        "predict --batch-rows 0",
        lambda t: ["predict", MODEL, str(t / "rows.parquet"), "--batch-rows", "0"],
        ["--batch-rows"],
    ),
    # serve and ui: a port that cannot be listened on is an error before "ready"
    ("serve on port 70000", lambda t: ["serve", MODEL, "--port", "70000"], ["70000"]),
    ("serve on port 0", lambda t: ["serve", MODEL, "--port", "0"], ["TCP port"]),
    ("serve on port -1", lambda t: ["serve", MODEL, "--port", "-1"], ["TCP port"]),
    (
        "serve on a host that is not here",
        lambda t: ["serve", MODEL, "--host", "no.such.host.invalid"],
        ["--host"],
    ),
    (
        "serve on an address of another machine",
        lambda t: ["serve", MODEL, "--host", "192.0.2.1"],
        ["192.0.2.1"],
    ),
    (
        "serve an unknown model",
        lambda t: ["serve", "models:/nope@live", "--port", "5999"],
        ["nope"],
    ),
    ("ui on port 70000", lambda t: ["ui", "--port", "70000"], ["70000"]),
    (
        "ui on a host that is not here",
        lambda t: ["ui", "--host", "no.such.host.invalid"],
        ["--host"],
    ),
    (
        "ui on an unknown experiment",
        lambda t: ["ui", "--experiment", "nope", "--port", "5998"],
        ["'nope'"],
    ),
    (
        "ui on a folder store",
        lambda t: ["ui", "--tracking-uri", str(t / "folder"), "--port", "5997"],
        ["folder"],
    ),
]


@pytest.mark.parametrize(("make_args", "words"), [c[1:] for c in STORE], ids=[c[0] for c in STORE])
def test_commands_refuse(
    make_args: Callable[[Path], list[str]], words: list[str], tmp_path: Path, shipped: Path
) -> None:
    check_refused(make_args(tmp_path), words, db=tmp_path / "mlflow.db", roots=[tmp_path, shipped])


@pytest.mark.parametrize("command", ["serve", "ui"])
def test_a_busy_port_is_an_error_before_ready(command: str, tmp_path: Path, shipped: Path) -> None:
    with _busy_port() as port:
        args = [command, *([MODEL] if command == "serve" else []), "--port", str(port)]
        line = check_refused(
            args,
            [f":{port}", "another --port"],
            db=tmp_path / "mlflow.db",
            roots=[tmp_path, shipped],
        )
    assert "serving" not in line
    assert "MLflow UI" not in line


# -- what the refusals protect, and what still works ------------------------------------


def test_predict_overwrite_replaces_whole(tmp_path: Path, shipped: Path) -> None:
    out = tmp_path / "taken.parquet"
    args = ["predict", MODEL, str(tmp_path / "rows.parquet"), "--out", str(out), "--overwrite"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 50
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow  # builds a whole report (over 5 s on a busy machine)
def test_report_overwrite_swaps_the_folder_whole(tmp_path: Path, shipped: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--out", "report", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "report.html").is_file()
    assert not (tmp_path / "report" / "mine.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_an_interrupted_write_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old")

    def interrupted() -> None:
        with atomic_file(out) as partial:
            partial.write_text("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".db") == ["out.csv"]


@pytest.mark.parametrize(
    ("names", "same"),
    [
        (["a/b", "a_b"], False),
        (["..", "__"], False),
        ([".", "_"], False),
        (["a b", "a_b"], False),
        (["x", "x"], True),
    ],
)
def test_experiment_folders_neither_escape_nor_collide(names: list[str], same: bool) -> None:
    folders = [artifact_folder(n) for n in names]
    assert (folders[0] == folders[1]) is same
    for folder in folders:
        assert "/" not in folder
        assert folder not in ("", ".", "..")
        assert not folder.startswith(".")


def test_experiment_dotdot_keeps_artifacts_inside_the_store(
    tmp_path: Path, tracking_uri: str
) -> None:
    client = MlflowClient(tracking_uri)
    result = CliRunner().invoke(app, ["tune", *QUICK, *TAXI, "--experiment", ".."])
    assert result.exit_code == 0, result.output
    location = client.get_experiment_by_name("..").artifact_location
    assert location.startswith((tmp_path / "mlartifacts").as_uri() + "/")
    assert not (tmp_path.parent / "__").exists()


def test_same_failure_stops_the_study_early(tmp_path: Path, tracking_uri: str) -> None:
    args = ["tune", *TAXI, "--quiet", "--max-evals", "20", "--model", "lightgbm"]
    args += ["--set", "model.num_boost_round=5", "--set", "model.params.boosting=nonsense"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "first 3 trials all failed the same way" in result.stderr
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("nyc-taxi-duration")
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if r.data.tags.get("tunetrack.role") == "trial"]
    assert len(trials) == 3
    study = next(r for r in runs if r.data.tags.get("tunetrack.role") == "study")
    assert study.data.tags["tunetrack.stop_reason"] == "same_failure"


def test_an_internal_error_is_one_line_exit_1_and_debug_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tunetrack.study as study_api

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(study_api, "tune", broken)
    result = CliRunner().invoke(app, ["tune"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1, result.output
    assert "internal error: ZeroDivisionError: a bug" in lines[0]
    assert "--debug" in lines[0]
    debug = CliRunner().invoke(app, ["--debug", "tune"])
    assert isinstance(debug.exception, ZeroDivisionError)


# -- a few through a real process: the exit code and stderr a shell sees -----------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make_args", "code", "word"),
    [
        (lambda t: ["tune", *_named(t, "dist[km]", "xgboost"), *QUICK], 2, "rename"),
        (lambda t: ["tune", *_yaml(t, "a: " + "[" * 3000 + "]" * 3000)], 2, "deeper"),
        (lambda t: ["tune", "--train", "/dev/zero"], 2, "regular file"),
        (lambda t: ["report", "--tracking-uri", "mysql://u@127.0.0.1/d"], 2, "driver"),
    ],
    ids=["feature name", "deep YAML", "/dev/zero", "missing driver"],
)
def test_in_a_real_process(
    make_args: Callable[[Path], list[str]], code: int, word: str, tmp_path: Path
) -> None:
    args = make_args(tmp_path)
    before = store_state(tmp_path / "mlflow.db", tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "tunetrack.cli", *args],
        capture_output=True,
        text=True,
        timeout=HANG_S * 3,  # a process start on a busy machine, plus the case
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1
    assert word in lines[0]
    assert "Traceback" not in proc.stderr
    assert store_state(tmp_path / "mlflow.db", tmp_path) == before
