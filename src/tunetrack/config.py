"""The study configuration: a validated, frozen tree built from YAML, flags and overrides.

The bottom layer: this module imports nothing from tunetrack but its exceptions. It checks
the config's own shape (sections, keys, types, ranges, fixed choices); the names only a
registry knows (model families, recipes, metrics) are checked by
``tunetrack.preparation.check_config``. The public ``tunetrack.build_config`` and
``tunetrack.load_config`` (``tunetrack.study.setup``) run both, and so does every study
before it reads data, so nothing reaches the tracking store before the whole
configuration is known to be good.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import types
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from tunetrack.exceptions import ConfigError

ENGINES = ("hyperopt", "optuna")
# search.algo per search.engine (samplers/hyperopt.py, samplers/optuna.py)
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "hyperopt": ("tpe", "rand", "anneal", "atpe"),
    "optuna": ("tpe", "random", "cmaes", "gp"),
}
ENCODINGS = ("native", "onehot")
TASK_CHOICES = ("auto", "regression", "classification")
PRUNING = ("median", "none", "successive_halving", "hyperband")
EXECUTORS = ("inline", "processes", "spark")
DEFAULT_EXPERIMENT = "nyc-taxi-duration"
TAXI_RECIPE = "nyc-taxi"
TABULAR_RECIPE = "tabular"
# model.name values that search across several families.
ALL_MODELS = "all"


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and what to predict.

    With no ``target`` the bundled NYC taxi months and the ``nyc-taxi`` recipe are used;
    with one, any table works (the ``tabular`` recipe). No ``valid`` file means a seeded
    random split of ``train`` (``valid_fraction``, 0.2 unless set), or a time split when
    ``split_column`` names the column to order by (the latest rows validate); a
    classification target's random split is stratified by class. ``drop_refunds``
    (nyc-taxi only) drops trips with a negative fare or total.
    """

    train: str | None = None
    valid: str | None = None
    recipe: str = TAXI_RECIPE
    target: str | None = None
    task: str = "auto"
    valid_fraction: float | None = None
    split_column: str | None = None
    drop_refunds: bool = True


@dataclass(frozen=True)
class FeaturesConfig:
    """How raw columns become model input.

    ``native`` hands categorical columns to the model as categories; ``onehot`` is the
    tutorial's DictVectorizer encoding (for taxis, one-hot of the pickup_dropoff pair).
    With no lists, the tabular recipe types every column itself (numbers, categories
    by dtype and cardinality, datetime parts); listing any column type uses the lists
    only. ``drop`` leaves columns out of the automatic choice.
    """

    encoding: str = "native"
    numeric: tuple[str, ...] | None = None
    categorical: tuple[str, ...] | None = None
    datetime: tuple[str, ...] | None = None
    drop: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ModelConfig:
    """The model family (or several, comma-separated, or ``all``) and its fixed settings."""

    name: str = "xgboost"
    num_boost_round: int = 1000
    early_stopping_rounds: int | None = 50
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchConfig:
    """The optimizer and its stopping rules."""

    engine: str = "optuna"
    algo: str = "tpe"
    max_evals: int = 50
    timeout: float | None = None
    trial_timeout: float | None = None
    seed: int = 42
    no_progress_evals: int | None = None
    loss_threshold: float | None = None
    metric: str | None = None  # the loss to minimise; rmse or log_loss by task
    # Stop trials whose validation curve trails the completed ones (tunetrack.pruners).
    pruning: str = "median"
    # Try the default space's start points first (models/); false: the engine alone.
    start_points: bool = True
    # Start from another study's best trials instead: its run id, or experiment:NAME for
    # that experiment's latest study; the best warm_start_top_k that fit this space.
    warm_start: str | None = None
    warm_start_top_k: int = 5
    # Stop once this many first trials all failed the same way (null: never).
    stop_after_failures: int | None = 3
    # Where trials run (tunetrack.execution): inline (one at a time, in this process),
    # processes (local worker processes) or spark; parallelism: trials in flight at once
    # (null: the machine's cores, or Spark's default parallelism).
    executor: str = "inline"
    parallelism: int | None = None
    spark_master: str | None = None  # null: the active SparkSession, else local[parallelism]
    # Fidelity rungs (tunetrack.study.rungs): {rows: {min_rows: N or a fraction, factor: 3}}
    # runs new points on a seeded subset of the training rows first and promotes the best
    # 1/factor of each rung to the next, up to all rows. Empty: every trial on all rows.
    fidelity: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs go. A ``None`` URI defers to MLFLOW_TRACKING_URI, then local SQLite."""

    experiment: str = DEFAULT_EXPERIMENT
    tracking_uri: str | None = None


@dataclass(frozen=True)
class StudyConfig:
    """One study: data, features, model, search budget, search space and tracking.

    ``space`` is ``None`` for the model family's default space, a spec mapping
    (YAML form), or a Python Hyperopt space given through the notebook API.
    """

    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    space: Any = None

    def to_raw(self) -> dict[str, Any]:
        """The config in the raw shape ``build_config`` takes, space kept as given."""
        raw = {
            f.name: _section_to_dict(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "space"
        }
        raw["space"] = self.space
        return raw

    def to_dict(self, describe_space: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
        """A plain, YAML-serialisable dict (a Python ``hp`` space is described as a spec,
        by ``describe_space``: ``tunetrack.space.describe_space``)."""
        out = self.to_raw()
        out["space"] = None if self.space is None else describe_space(self.space)
        return out


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "features": FeaturesConfig,
    "model": ModelConfig,
    "search": SearchConfig,
    "tracking": TrackingConfig,
}
# Sections whose keys are free-form: search-space parameters and fixed model params.
_FREE_FORM = ("space", "model.params")


def _section_to_dict(section: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def split_model_names(name: str) -> tuple[str, ...]:
    """The names a ``model.name`` value lists (``all`` stays ``all``); the family
    registry expands and checks them: ``tunetrack.preparation.model_names``."""
    return tuple(dict.fromkeys(part.strip() for part in name.split(",") if part.strip()))


def valid_keys() -> list[str]:
    """Every settable key path, as ``--set`` and the README name them."""
    keys = [f"{name}.{f.name}" for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls)]
    return [*keys, "model.params.<name>", "space.<param>"]


MAX_CONFIG_BYTES = 1_000_000
# Deeper than any config needs; PyYAML itself recurses and would overflow the stack.
MAX_YAML_DEPTH = 50


_FLATTEN = "no config nests that deep: flatten it"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what a config never needs and an attacker uses:
    aliases (``&a``/``*a``: a few hundred bytes can expand to gigabytes), duplicate
    keys (the last would silently win) and nesting past ``MAX_YAML_DEPTH``."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                f"uses the YAML alias *{event.anchor}", event.start_mark, "write the value out"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(
                    f"nests deeper than {MAX_YAML_DEPTH} levels",
                    self.peek_event().start_mark,
                    _FLATTEN,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise _Refused(
                    f"repeats the key {key!r} (the last would win)",
                    key_node.start_mark,
                    "write each key once",
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_flow_depth(text: str) -> None:
    """Refuse ``[[[[...`` deeper than MAX_YAML_DEPTH before PyYAML's scanner, whose time
    grows with the square of the depth, reads it (quotes are not parsed: no real config
    nests brackets that deep, quoted or not)."""
    depth = 0
    line = 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_YAML_DEPTH:
                mark = yaml.Mark("<config>", 0, line - 1, 0, None, None)
                raise _Refused(f"nests deeper than {MAX_YAML_DEPTH} levels", mark, _FLATTEN)
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "\n":
            line += 1


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark, self.fix = problem, mark, fix


def safe_yaml(text: str) -> Any:
    """Parse YAML text with ``_StrictLoader``; raises yaml.YAMLError."""
    _check_flow_depth(text)
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a config file into a plain dict, with one-line errors for the usual mistakes."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}; check the path")
    if not p.is_file():
        raise ConfigError(f"config {p} is not a regular file; pass a YAML file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config {p} is {p.stat().st_size:,} bytes, more than a config needs "
            f"({MAX_CONFIG_BYTES:,}); pass the study's YAML file"
        )
    try:
        raw = safe_yaml(p.read_text(encoding="utf-8"))
    except _Refused as err:
        mark = err.problem_mark
        raise ConfigError(f"{p}: {err.problem} at line {mark.line + 1}; {err.fix}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{p}: {problem}{where}; fix the YAML syntax") from None
    except OSError as err:
        raise ConfigError(
            f"cannot read config {p}: {err.strerror}; check its permissions"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file; pass a YAML config file") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{p}: the top level must be a mapping of sections "
            f"({', '.join([*_SECTIONS, 'space'])}), got {type(raw).__name__}"
        )
    return raw


def apply_overrides(
    raw: Mapping[str, Any],
    overrides: Iterable[str],
    *,
    default_space: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML scalars or lists.

    ``space.<param>`` edits the model's default space when the config gives none, so
    ``--set space.max_depth='quniform(4, 20, 1)'`` narrows one parameter only; the
    default space of a raw config comes from ``default_space``
    (``tunetrack.preparation.default_space_spec``).
    """
    overrides = list(overrides)
    out = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key.path=value; e.g. search.max_evals=20")
        try:
            value = safe_yaml(text) if text.strip() else None
        except _Refused as err:
            raise ConfigError(
                f"override {key}: the value {err.problem}; write it plainly"
            ) from None
        except yaml.YAMLError:
            value = text
        parts = key.split(".")
        if parts[0] == "space" and out.get("space") is None:
            if default_space is None:  # a caller's mistake, not the user's
                raise ValueError("space.<param> overrides need default_space= to edit")
            out["space"] = copy.deepcopy(dict(default_space(_with_encoding(out, overrides))))
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {key}: {where} is not a section; set {where}=VALUE")
            node = child
        node[parts[-1]] = value
    return out


def _with_encoding(raw: Mapping[str, Any], overrides: Iterable[str]) -> Mapping[str, Any]:
    """``raw`` with the last ``features.encoding`` override applied: the default space
    depends on the encoding, whichever order the ``--set`` flags come in."""
    encoding = None
    for item in overrides:
        key, _, text = item.partition("=")
        if key.strip() == "features.encoding":
            encoding = text.strip()
    if encoding is None:
        return raw
    features = raw.get("features")
    features = dict(features) if isinstance(features, Mapping) else {}
    return {**raw, "features": {**features, "encoding": encoding}}


def build_config(raw: Mapping[str, Any] | None = None) -> StudyConfig:
    """Validate a raw dict (from YAML plus overrides) into a frozen StudyConfig."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {*_SECTIONS, "space"})
    if unknown:
        raise ConfigError(
            f"unknown config section {unknown[0]!r}; valid sections: "
            f"{', '.join([*_SECTIONS, 'space'])}"
        )
    raw = _tabular_defaults(raw)
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        value = raw.get(name)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a mapping of keys, got {type(value).__name__}")
        sections[name] = _build_section(name, cls, value)
    space = raw.get("space")
    # A Python ``hp`` space (a pyll graph) is allowed here; build_space validates it.
    if isinstance(space, str | int | float | list | tuple):
        raise ConfigError(f"space must be a mapping of parameter -> distribution, got {space!r}")
    config = StudyConfig(**sections, space=space)
    _check_ranges(config)
    return config


def _tabular_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """A target means the user's own table: the tabular recipe, and an experiment named
    after the data rather than the taxi default, unless the config says otherwise."""
    data, tracking = raw.get("data"), raw.get("tracking")
    if not isinstance(data, Mapping) or data.get("target") is None or "recipe" in data:
        return raw
    out = {**raw, "data": {**data, "recipe": TABULAR_RECIPE}}
    if tracking is None or (isinstance(tracking, Mapping) and "experiment" not in tracking):
        stem = Path(str(data.get("train") or "data")).stem.split("?")[0] or "data"
        out["tracking"] = {**(tracking or {}), "experiment": f"{stem}-{data['target']}"}
    return out


def _build_section(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{section}.{key}"
        if key not in names:
            raise ConfigError(
                f"unknown config key {path!r}; valid keys under {section!r}: {', '.join(names)}"
            )
        kwargs[key] = _coerce(path, value, hints[key])
    return cls(**kwargs)


def _coerce(path: str, value: Any, hint: Any) -> Any:
    """Check one value against its annotation; ints are accepted where floats are."""
    args = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None))
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{path} must not be empty; give a value or remove the key")
    if get_origin(base) is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(
            isinstance(i, str) and i.strip() for i in items
        ):
            raise ConfigError(
                f"{path} must be a list of column names (or one comma-separated string), "
                f"got {value!r}"
            )
        return tuple(i.strip() for i in items)
    if get_origin(base) is Mapping:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{path} must be a mapping of name: value, got {value!r}")
        return dict(value)
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = ""
            if isinstance(value, str) and _parses_as_float(value):
                hint = f"; YAML reads {value} as text: write it with a decimal point, e.g. 1.0e-3"
            raise ConfigError(f"{path} must be a number, got {value!r}{hint}")
        if not math.isfinite(value):
            raise ConfigError(f"{path} must be a finite number, got {value!r}")
        return float(value)
    if base is str:
        if isinstance(value, bool):
            raise ConfigError(
                f"{path} must be a non-empty string, got {value!r}: YAML reads yes/no/on/off "
                "as true/false; quote the word or pick another"
            )
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path} must be a non-empty string, got {value!r}")
        return value
    raise AssertionError(f"unhandled annotation {hint!r} for {path}")  # pragma: no cover


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_ranges(config: StudyConfig) -> None:
    search, model = config.search, config.model
    _require(search.max_evals >= 1, "search.max_evals", search.max_evals, "must be at least 1")
    _positive_or_none("search.timeout", search.timeout)
    _positive_or_none("search.trial_timeout", search.trial_timeout)
    one_of("search.engine", search.engine, ENGINES)
    _require(search.seed >= 0, "search.seed", search.seed, "must be 0 or more")
    _positive_or_none("search.no_progress_evals", search.no_progress_evals)
    _positive_or_none("search.stop_after_failures", search.stop_after_failures)
    if search.algo not in ALGORITHMS[search.engine]:
        # An algorithm of the other engine is most often a study written before the
        # default engine became optuna: name the engine that has it.
        other = [e for e in ENGINES if e != search.engine and search.algo in ALGORITHMS[e]]
        hint = (
            f" ({search.algo!r} is a {other[0]} algorithm: add --engine {other[0]})"
            if other
            else ""
        )
        raise ConfigError(
            f"unknown search.algo {search.algo!r} for search.engine {search.engine!r}; "
            f"choose one of: {', '.join(ALGORITHMS[search.engine])}{hint}"
        )
    one_of("search.pruning", search.pruning, PRUNING)
    one_of("search.executor", search.executor, EXECUTORS)
    row_rungs(search.fidelity)
    _positive_or_none("search.parallelism", search.parallelism)
    if search.executor == "inline" and (search.parallelism or 1) > 1:
        raise ConfigError(
            f"search.parallelism={search.parallelism} needs a parallel executor; add "
            "--executor processes (or spark)"
        )
    if search.spark_master is not None and search.executor != "spark":
        raise ConfigError(
            "search.spark_master applies to the spark executor only; add --executor spark"
        )
    _require(
        search.warm_start_top_k >= 1,
        "search.warm_start_top_k",
        search.warm_start_top_k,
        "must be at least 1",
    )
    _require(
        model.num_boost_round >= 1,
        "model.num_boost_round",
        model.num_boost_round,
        "must be at least 1",
    )
    _positive_or_none("model.early_stopping_rounds", model.early_stopping_rounds)
    _require(
        bool(split_model_names(model.name)), "model.name", model.name, "must name a model family"
    )
    one_of("features.encoding", config.features.encoding, ENCODINGS)
    _check_data(config.data)


@dataclass(frozen=True)
class RowRungs:
    """``search.fidelity.rows``: the first rung's training rows (a count, or a fraction
    of the training rows when below 1) and the factor each rung grows by."""

    min_rows: float
    factor: int = 3

    def sizes(self, n_rows: int) -> list[int]:
        """The rows each rung trains on, smallest first, the last always ``n_rows``: r0,
        r0*factor, ... while a rung times the factor still fits. One rung (all rows) when
        ``n_rows`` is below r0*factor: nothing to halve."""
        r0 = self.min_rows if self.min_rows >= 1 else self.min_rows * n_rows
        r0 = max(1, round(r0))
        sizes: list[int] = []
        rows = r0
        while rows * self.factor <= n_rows:
            sizes.append(rows)
            rows *= self.factor
        return [*sizes, n_rows]


FIDELITY_KINDS = ("rows",)


def row_rungs(fidelity: Mapping[str, Any]) -> RowRungs | None:
    """The checked ``search.fidelity`` rows setting, or None when rungs are off.

    Raises ConfigError (one line, naming the key and a valid example) for an unknown
    key, a missing or non-positive ``min_rows`` or a ``factor`` below 2."""
    example = "e.g. --set search.fidelity.rows.min_rows=2000"
    for kind in fidelity:
        if kind not in FIDELITY_KINDS:
            raise ConfigError(
                f"unknown config key 'search.fidelity.{kind}'; valid keys under "
                f"'search.fidelity': {', '.join(FIDELITY_KINDS)} ({example})"
            )
    rows = fidelity.get("rows")
    if rows is None:
        return None
    if not isinstance(rows, Mapping):
        raise ConfigError(
            f"search.fidelity.rows must be a mapping with min_rows (and factor), got {rows!r}; "
            + example
        )
    unknown = sorted(set(rows) - {"min_rows", "factor"})
    if unknown:
        raise ConfigError(
            f"unknown config key 'search.fidelity.rows.{unknown[0]}'; valid keys under "
            f"'search.fidelity.rows': min_rows, factor ({example})"
        )
    min_rows = rows.get("min_rows")
    if (
        isinstance(min_rows, bool)
        or not isinstance(min_rows, int | float)
        or not math.isfinite(min_rows)
        or min_rows <= 0
        or (min_rows > 1 and not float(min_rows).is_integer())
    ):
        raise ConfigError(
            "search.fidelity.rows.min_rows must be a whole number of rows or a fraction "
            f"between 0 and 1 of the training rows, got {min_rows!r}; {example}"
        )
    factor = rows.get("factor", 3)
    if isinstance(factor, float) and factor.is_integer():
        factor = int(factor)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise ConfigError(
            f"search.fidelity.rows.factor must be a whole number of at least 2, got {factor!r}; "
            "e.g. --set search.fidelity.rows.factor=3"
        )
    return RowRungs(float(min_rows), factor)


def _check_data(data: DataConfig) -> None:
    one_of("data.task", data.task, TASK_CHOICES)
    if data.recipe == TAXI_RECIPE and data.target not in (None, "duration"):
        raise ConfigError(
            f"data.target {data.target!r} does not fit the nyc-taxi recipe, which predicts "
            "duration; set data.recipe=tabular"
        )
    if data.recipe == TABULAR_RECIPE and data.target is None:
        raise ConfigError("the tabular recipe needs a target column; pass --target COLUMN")
    if data.recipe == TABULAR_RECIPE and data.train is None:
        raise ConfigError("the tabular recipe needs data; pass --train PATH (and --target)")
    if not data.drop_refunds and data.recipe != TAXI_RECIPE:
        raise ConfigError(
            f"data.drop_refunds applies to the {TAXI_RECIPE} recipe only (this study uses "
            f"{data.recipe!r}, which keeps every row with a target); remove it"
        )
    fraction = data.valid_fraction
    if fraction is not None and not 0 < fraction < 1:
        raise ConfigError(
            f"data.valid_fraction must be between 0 and 1 (exclusive), got {fraction!r}; e.g. 0.2"
        )
    if data.valid is not None and (fraction is not None or data.split_column is not None):
        raise ConfigError(
            "data.valid names a validation file, so data.valid_fraction/split_column have "
            "nothing to split; pass one or the other"
        )


def _require(ok: bool, path: str, value: Any, rule: str) -> None:
    if not ok:
        raise ConfigError(f"{path} {rule}, got {value!r}")


def _positive_or_none(path: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{path} must be positive (or null for no limit), got {value!r}")


def one_of(path: str, value: str, choices: tuple[str, ...]) -> None:
    """The ConfigError every config check raises for a value outside its choices."""
    if value not in choices:
        raise ConfigError(f"unknown {path} {value!r}; choose one of: {', '.join(choices)}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Iterable[str] = (),
    *,
    default_space: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
) -> StudyConfig:
    """Read an optional YAML file, apply ``key=value`` overrides (``default_space`` as in
    :func:`apply_overrides`), validate the shape (``tunetrack.preparation.check_config``
    checks the registry names)."""
    raw = load_yaml(path) if path is not None else {}
    return build_config(apply_overrides(raw, overrides, default_space=default_space))
