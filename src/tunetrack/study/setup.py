"""Everything a study needs before its first write, checked in full.

config -> tables -> features -> space -> families and their prepared training data. A
bad config, table or space raises here, so a study that fails its checks leaves nothing
in the tracking store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunetrack import config as config_mod
from tunetrack.config import StudyConfig
from tunetrack.data.loaders import Table
from tunetrack.exceptions import DataError
from tunetrack.execution import check_executor, trial_threads
from tunetrack.metrics import default_metric
from tunetrack.models import (
    ModelFamily,
    TrainingData,
    default_space_for,
    family_branches,
    family_spaces,
    get_model,
)
from tunetrack.preparation import (
    StudyData,
    check_config,
    default_space_spec,
    load_tables,
    model_names,
    prepare_study_data,
)
from tunetrack.pruners import check_pruner
from tunetrack.samplers import check_engine
from tunetrack.space import build_space, describe_space, space_leaves
from tunetrack.space.ranges import check_draws, check_whole_params
from tunetrack.storage import DatasetRecord, schema
from tunetrack.trial import DataSource, FamilySource

ConfigLike = StudyConfig | Mapping[str, Any] | str | os.PathLike[str] | None


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Iterable[str] = ()
) -> StudyConfig:
    """A validated config from a YAML file (None: all defaults) and ``--set`` overrides,
    whose ``space.<param>`` edits apply to the named model's default space.

    Raises ConfigError naming the first problem."""
    config = config_mod.load_config(path, overrides, default_space=default_space_spec)
    check_config(config)
    return config


def build_config(raw: Mapping[str, Any]) -> StudyConfig:
    """A validated config from a mapping in the YAML's shape: its shape and types, then
    the names the model, recipe and metric registries know. Raises ConfigError."""
    config = config_mod.build_config(raw)
    check_config(config)
    return config


def resolve_config(
    config: ConfigLike, *, overrides: Iterable[str] = (), **kwargs: Any
) -> StudyConfig:
    """Merge a config source, ``--set`` overrides and keyword arguments, then validate.

    ``config`` is a YAML path, a mapping in the YAML's shape, a ``StudyConfig`` or None.
    Raises ConfigError naming the first problem."""
    if isinstance(config, StudyConfig):
        raw = config.to_raw()
    elif isinstance(config, Mapping):
        raw = dict(config)
    elif config is None:
        raw = {}
    else:
        raw = config_mod.load_yaml(config)
    # The model, task and space go in first, so ``space.<param>`` overrides edit the
    # space of the model and task named here (or the space given). The other arguments
    # then win over --set, as the model and task do.
    first = {k: v for k, v in kwargs.items() if k in ("model", "task", "space")}
    raw = config_mod.apply_overrides(
        _place(raw, first), overrides, default_space=default_space_spec
    )
    rest = {k: v for k, v in kwargs.items() if k != "space"}
    return build_config(_place(raw, rest))


_PLACEMENT = {
    "train": ("data", "train"),
    "valid": ("data", "valid"),
    "model": ("model", "name"),
    "target": ("data", "target"),
    "task": ("data", "task"),
    "valid_fraction": ("data", "valid_fraction"),
    "max_evals": ("search", "max_evals"),
    "timeout": ("search", "timeout"),
    "seed": ("search", "seed"),
    "algo": ("search", "algo"),
    "engine": ("search", "engine"),
    "warm_start": ("search", "warm_start"),
    "executor": ("search", "executor"),
    "parallelism": ("search", "parallelism"),
    "spark_master": ("search", "spark_master"),
    "experiment": ("tracking", "experiment"),
    "tracking_uri": ("tracking", "tracking_uri"),
}


def _place(raw: dict[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with keyword arguments put where the config keeps them (None: unset)."""
    raw = dict(raw)
    for key, value in kwargs.items():
        if value is None:
            continue
        if key == "space":
            raw["space"] = value
            continue
        section, name = _PLACEMENT[key]
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        current = raw.get(section) or {}
        if isinstance(current, Mapping):  # else build_config names the broken section
            raw[section] = {**current, name: value}
    return raw


@dataclass(frozen=True)
class StudyInputs:
    """Everything a study needs before its first tracked write, validated."""

    families: dict[str, ModelFamily]  # by name, in model.name's order
    described_space: dict[str, Any]  # the space as JSON (what the store keeps)
    study_data: StudyData
    training: dict[str, TrainingData]  # each family's structures, built once
    metric: str
    datasets: list[DatasetRecord]
    start_points: list[dict[str, Any]]  # typed params, tried first; default space only
    # What rebuilds ``training`` in a worker process (parallel executors), once a worker.
    source: DataSource | None = None

    @property
    def model_label(self) -> str:
        """The study's ``model`` tag: the family, or the families searched, comma-joined."""
        return ",".join(self.families)


def prepare_inputs(
    config: StudyConfig, train_frame: pd.DataFrame | None, valid_frame: pd.DataFrame | None
) -> StudyInputs:
    """Read, check and prepare everything (see the module docstring)."""
    names = model_names(config.model.name)
    families = {name: get_model(name) for name in names}
    check_engine(config.search.engine, config.search.algo)
    check_pruner(config.search.pruning)
    check_executor(config.search.executor)
    train_table, valid_table, notes = load_tables(config, train_frame, valid_frame)
    study_data = prepare_study_data(config, train_table, valid_table, notes)
    task = study_data.task
    encoding = config.features.encoding
    default_spec = default_space_for(names, task, encoding)
    space_spec = config.space if config.space is not None else default_spec
    if config.space is not None and config.data.task == "auto" and task.is_classification:
        space_spec = _without_regression_objective(space_spec, names, encoding)
    build_space(space_spec)  # raises SearchSpaceError for a space that cannot be sampled
    described = json_roundtrip(describe_space(space_spec))
    # A family's start points belong to its own default space: in any other space (even
    # one edited by a single --set space.x) they might lie outside it.
    start_points: list[dict[str, Any]] = []
    in_default_space = described == json_roundtrip(describe_space(default_spec))
    if config.search.start_points and len(names) == 1 and in_default_space:
        constants = {k: v for k, v in described.items() if not isinstance(v, Mapping)}
        start_points = [
            {**constants, **point} for point in families[names[0]].start_points(task, encoding)
        ]
    for name, params in family_branches(described, names).items():
        families[name].check_param_names(params, where="space")
    # Every draw inside its own bounds, and whole numbers where a family needs them.
    check_draws(described)
    for name, where, part in family_spaces(described, names):
        check_whole_params(part, families[name].whole_params, family=name, path=where)
    tuned = tuned_values(described, names)
    for name, family in families.items():
        family.check_param_names(config.model.params, where="model.params")
        family.check_settings(config.model.params, tuned[name])
        family.check_objective(config.model.params, tuned[name], study_data.task)
    x_train, x_valid = study_data.x_train(), study_data.x_valid()
    feature_names = study_data.encoder.feature_names
    if not feature_names:
        raise DataError(
            "no feature columns left to train on; list some under features.numeric, "
            "features.categorical or features.datetime (or leave them unset to infer)"
        )
    for family in families.values():
        family.check_feature_names(feature_names)
        family.check_input(x_train, feature_names, "train")
        family.check_input(x_valid, feature_names, "valid")
    source = DataSource(
        {
            name: FamilySource(
                x_train,
                study_data.y_train,
                x_valid,
                study_data.y_valid,
                task,
                fixed_params=dict(config.model.params),
                tuned=tuned[name],
            )
            for name in families
        }
    )
    training = source.build()
    target = study_data.target
    datasets = [
        _dataset(train_table, study_data.train, "train", target),
        _dataset(valid_table, study_data.valid, "valid", target),
    ]
    metric = config.search.metric or default_metric(task)
    return StudyInputs(
        families, described, study_data, training, metric, datasets, start_points, source
    )


def _without_regression_objective(
    space: Mapping[str, Any], names: Sequence[str], encoding: str
) -> Mapping[str, Any]:
    """``space`` without the regression default's objective constant.

    With the task left to the data, ``--set space.x`` edits the regression default space
    (the task is not known yet), whose objective constant would then train a classifier
    with a regression loss; the task sets the objective instead."""
    regression = default_space_for(names, "regression", encoding)
    objective = regression.get("objective")
    if objective is None or space.get("objective") != objective:
        return space
    return {k: v for k, v in space.items() if k != "objective"}


def tuned_values(
    described: Mapping[str, Any], names: Sequence[str]
) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Each family's space parameters with the values a choice or constant may give
    (empty for a distribution): what ``ModelFamily.check_settings`` and ``prepare`` read.
    A name in several families' branches carries the values of all of them."""
    branches = family_branches(described, names)
    leaves = space_leaves(described)
    return {
        name: {p: leaves[p].options if p in leaves else () for p in sorted(branches.get(name, ()))}
        for name in names
    }


def _dataset(table: Table, frame: pd.DataFrame, role: str, target: str) -> DatasetRecord:
    source = table.source
    name = Path(source).name if "://" not in source else source.rsplit("/", 1)[-1]
    return DatasetRecord(
        name=name or role,
        role=role,
        source=source,
        sha256=table.digest,
        frame=frame,
        target=target,
    )


def study_params(config: StudyConfig, inputs: StudyInputs) -> dict[str, Any]:
    """The study run's params: the budget, seed, data shape and encoding."""
    search, model = config.search, config.model
    train, valid = (d.frame for d in inputs.datasets)
    encoder = inputs.study_data.encoder
    task = inputs.study_data.task
    return {
        "metric": inputs.metric,
        "task": task.kind,
        "target": inputs.study_data.target,
        **({"n_classes": task.n_classes} if task.is_classification else {}),
        "algo": search.algo,
        "max_evals": search.max_evals,
        "timeout": search.timeout,
        "trial_timeout": search.trial_timeout,
        "seed": search.seed,
        "no_progress_evals": search.no_progress_evals,
        "loss_threshold": search.loss_threshold,
        "num_boost_round": model.num_boost_round,
        "early_stopping_rounds": model.early_stopping_rounds,
        "encoding": encoder.encoding,
        "recipe": config.data.recipe,
        **{f"recipe.{k}": v for k, v in inputs.study_data.recipe.settings().items()},
        "n_train_rows": len(train),
        "n_valid_rows": len(valid),
        "n_features": len(encoder.feature_names),
        # Threads the trials trained with, so a refit elsewhere can match them exactly.
        "nthread": model.params.get(
            "nthread", trial_threads(search.executor, search.parallelism) or os.cpu_count() or 1
        ),
    }


def study_tags(inputs: StudyInputs) -> dict[str, str]:
    """The study run's data tags: rows read and left out, and any training class the
    validation rows lack (the run says what the metrics cannot)."""
    data = inputs.study_data
    tags = {schema.TAG_DATA_ROWS: json.dumps(data.rows, sort_keys=True)}
    if data.valid_missing_classes:
        tags[schema.TAG_VALID_MISSING_CLASSES] = json.dumps(
            list(data.valid_missing_classes), default=str
        )
    return tags


def json_roundtrip(value: Any) -> Any:
    """What the value will look like once read back from the store (tuples -> lists)."""
    return json.loads(json.dumps(value))
