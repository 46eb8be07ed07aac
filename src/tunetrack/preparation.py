"""From the study's config and tables to what the models train on, in one place.

The tuner and ``select`` (which refits a trial) both call this, so a refit sees exactly
the rows, columns, task and encoding the trial saw. Everything fitted here (column
types, vocabularies, classes) is fitted on the training rows only.

It is also where the config meets the registries: ``tunetrack.config`` checks only its
own shape, and :func:`check_config` checks the names the model, recipe and metric
registries know, before anything is read or tracked.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tunetrack.config import (
    ALL_MODELS,
    ENCODINGS,
    TABULAR_RECIPE,
    TAXI_RECIPE,
    DataConfig,
    FeaturesConfig,
    ModelConfig,
    StudyConfig,
    one_of,
    split_model_names,
)
from tunetrack.data import (
    BUNDLED_TRAIN,
    BUNDLED_VALID,
    DEFAULT_VALID_FRACTION,
    Recipe,
    Table,
    TabularRecipe,
    TaxiDurationRecipe,
    bundled_path,
    check_recipe_name,
    choose_columns,
    decide_task,
    encode_target,
    get_recipe,
    read_table,
    split_table,
)
from tunetrack.exceptions import ConfigError, DataError
from tunetrack.features import FeatureEncoder
from tunetrack.metrics import LOSSES, check_metric_name
from tunetrack.models import MODELS, REGRESSION, Task, default_space_for

MIN_TRAIN_ROWS = 10
_SHOWN_LEFT_OUT = 4


@dataclass(frozen=True, eq=False)
class StudyData:
    """The prepared study data: recipe, task and encoder fitted on train, both sides."""

    recipe: Recipe
    task: Task
    encoder: FeatureEncoder
    train: pd.DataFrame  # the recipe's output: feature columns and the target
    valid: pd.DataFrame
    y_train: np.ndarray
    y_valid: np.ndarray
    notes: tuple[str, ...] = ()  # what was inferred, for the user to read
    warnings: tuple[str, ...] = ()  # what may mislead the user, said whatever the verbosity
    # Rows each side read, and left out per recipe reason: {"train": {"read": 600, ...}}.
    rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # Classes the training rows have and the validation rows lack (labels).
    valid_missing_classes: tuple[Any, ...] = ()

    @property
    def target(self) -> str:
        return self.recipe.target

    def x_train(self) -> Any:
        return self.encoder.transform(self.train)

    def x_valid(self) -> Any:
        return self.encoder.transform(self.valid)


def model_names(name: str) -> tuple[str, ...]:
    """The families a ``model.name`` value searches: one, a comma list, or ``all``;
    a ConfigError naming the valid ones for a name the registry does not know."""
    if name.strip() == ALL_MODELS:
        return tuple(MODELS)
    names = split_model_names(name)
    if not names:
        raise ConfigError(f"model.name must name a model family, got {name!r}")
    for one in names:
        one_of("model.name", one, (*MODELS, ALL_MODELS))
    return names


def check_config(config: StudyConfig) -> None:
    """The checks ``build_config`` leaves to the registries: model families, the recipe
    and the metric. Raises ConfigError (one line, naming the valid choices); called
    before anything is read or tracked."""
    model = config.model
    names = model_names(model.name)
    if len(names) > 1 and model.params:
        raise ConfigError(
            "model.params fixes one family's settings, but model.name lists "
            f"{', '.join(names)}; put fixed values in each family's branch of the space"
        )
    check_recipe_name(config.data.recipe)
    if config.search.metric is not None:
        check_metric_name(config.search.metric)


def default_space_spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The default space (a spec) of the model and encoding a raw config names, for
    ``apply_overrides(..., default_space=default_space_spec)`` to edit."""
    model = raw.get("model") or {}
    name = model.get("name", ModelConfig.name) if isinstance(model, Mapping) else ModelConfig.name
    data = raw.get("data") or {}
    task = data.get("task") if isinstance(data, Mapping) else None
    features = raw.get("features") or {}
    encoding = FeaturesConfig.encoding
    if isinstance(features, Mapping) and features.get("encoding") in ENCODINGS:
        encoding = features["encoding"]  # anything else is reported by build_config
    # The task may still be "auto" (decided from the data); edits to a classification
    # study's space are then made on the regression space, which shares its keys.
    names = model_names(str(name))
    return copy.deepcopy(dict(default_space_for(names, str(task or "auto"), encoding)))


def load_tables(
    config: StudyConfig,
    train_frame: pd.DataFrame | None = None,
    valid_frame: pd.DataFrame | None = None,
) -> tuple[Table, Table, list[str]]:
    """Read (or split) the train and validation tables the config names, after
    :func:`check_config`."""
    check_config(config)
    data = config.data
    train_source: Any = train_frame if train_frame is not None else data.train
    if train_source is None:
        train_source = bundled_path(BUNDLED_TRAIN)
    train = read_table(train_source, role="train")
    valid_source: Any = valid_frame if valid_frame is not None else data.valid
    if not splits_train(data, valid_given=valid_source is not None):
        source = valid_source if valid_source is not None else bundled_path(BUNDLED_VALID)
        return train, read_table(source, role="valid"), []
    return split(train, data, config.search.seed)


def splits_train(data: DataConfig, *, valid_given: bool) -> bool:
    """Whether the validation rows come out of the train table: no validation data was
    given, and a split was asked for or the recipe has no bundled validation month."""
    if valid_given:
        return False
    asked = data.valid_fraction is not None or data.split_column is not None
    return asked or data.recipe != TAXI_RECIPE


def split(
    train: Table, data: DataConfig, seed: int, *, by_class: bool = True
) -> tuple[Table, Table, list[str]]:
    """Split ``train`` as the config says; notes say how when the user did not.
    ``by_class=False`` splits a classification table as older studies did (plain
    random), for ``select`` to rebuild their validation rows."""
    fraction = data.valid_fraction or DEFAULT_VALID_FRACTION
    stratify = _class_column(train, data) if by_class else None
    train_part, valid_part = split_table(
        train, fraction=fraction, seed=seed, split_column=data.split_column, stratify=stratify
    )
    if data.split_column:
        how = f"the latest {fraction:.0%} by {data.split_column}"
    elif stratify:
        how = f"a random {fraction:.0%} (seed {seed}, stratified by {stratify})"
    else:
        how = f"a random {fraction:.0%} (seed {seed})"
    notes = [] if data.valid_fraction else [f"validation: {how} of the train rows (no --valid)"]
    return train_part, valid_part, notes


def _class_column(train: Table, data: DataConfig) -> str | None:
    """The target column when a random split should keep each class's share: a tabular
    study whose target is (or, for task auto, reads as) classes."""
    target = data.target
    if data.split_column is not None or data.recipe != TABULAR_RECIPE or target is None:
        return None
    if target not in train.frame.columns or data.task == REGRESSION:
        return None  # a missing target column is reported by the recipe
    try:
        task, _ = decide_task(train.frame[target], data.task, target)
    except DataError:
        return None  # e.g. one class: the same check on the training rows says so
    return target if task.is_classification else None


def prepare_study_data(
    config: StudyConfig, train_table: Table, valid_table: Table, notes: Sequence[str] = ()
) -> StudyData:
    """Clean, type and encode both sides; the target becomes values or class codes."""
    notes = list(notes)
    recipe = _recipe(config, train_table.frame, notes)
    train_df, train_dropped = recipe.prepare_counted(train_table.frame, role="train")
    valid_df, valid_dropped = recipe.prepare_counted(valid_table.frame, role="valid")
    rows = {
        "train": {"read": len(train_table.frame), **train_dropped},
        "valid": {"read": len(valid_table.frame), **valid_dropped},
    }
    notes += [_dropped_note(recipe, role, counts) for role, counts in rows.items()]
    notes = [n for n in notes if n]
    if len(train_df) < MIN_TRAIN_ROWS:
        raise DataError(
            f"train data has {len(train_df)} usable row(s) after filtering; tuning needs at "
            f"least {MIN_TRAIN_ROWS}: pass a larger --train file"
        )
    if config.data.recipe == TAXI_RECIPE:
        if config.data.task not in ("auto", REGRESSION):
            raise ConfigError(
                "the nyc-taxi recipe predicts a duration (regression); drop data.task or set "
                "data.recipe=tabular with your own --target"
            )
        task = Task(REGRESSION)
    else:
        task, note = decide_task(train_df[recipe.target], config.data.task, recipe.target)
        if note:
            notes.append(f"task: {note}")
    metric = config.search.metric
    if metric is not None and metric not in LOSSES[task.kind]:
        raise ConfigError(
            f"search.metric {metric!r} does not score {task.kind}; choose one of: "
            f"{', '.join(LOSSES[task.kind])}"
        )
    encoder = FeatureEncoder.fit(
        train_df,
        encoding=config.features.encoding,
        categorical=recipe.categorical,
        numeric=recipe.numeric,
        cross=config.data.recipe == TAXI_RECIPE,
    )
    y_train = encode_target(train_df[recipe.target], task, "train", recipe.target)
    y_valid = encode_target(valid_df[recipe.target], task, "valid", recipe.target)
    missing = _missing_classes(task, y_train, y_valid)
    warnings = [_missing_classes_warning(task, y_train, len(y_valid), missing)] if missing else []
    return StudyData(
        recipe=recipe,
        task=task,
        encoder=encoder,
        train=train_df,
        valid=valid_df,
        y_train=y_train,
        y_valid=y_valid,
        notes=tuple(notes),
        warnings=tuple(warnings),
        rows=rows,
        valid_missing_classes=tuple(task.classes[code] for code in missing),
    )


def _dropped_note(recipe: Recipe, role: str, counts: Mapping[str, int]) -> str:
    """``"train data: left out 3 of 600 rows (3 with no target value)"``, or ''."""
    parts = [f"{counts[key]:,} {why}" for key, why in recipe.drop_reasons.items() if counts[key]]
    left_out = sum(counts[key] for key in recipe.drop_reasons)
    if not left_out:
        return ""
    return f"{role} data: left out {left_out:,} of {counts['read']:,} rows ({', '.join(parts)})"


def _missing_classes(task: Task, y_train: np.ndarray, y_valid: np.ndarray) -> list[int]:
    if not task.is_classification:
        return []
    return sorted(set(np.unique(y_train).tolist()) - set(np.unique(y_valid).tolist()))


def _missing_classes_warning(
    task: Task, y_train: np.ndarray, n_valid: int, missing: Sequence[int]
) -> str:
    counts = np.bincount(y_train, minlength=task.n_classes)
    shown = ", ".join(f"{task.classes[c]!r} ({counts[c]} train rows)" for c in missing)
    return (
        f"the {n_valid} validation rows hold no row of class(es) {shown}, so the metrics "
        "cannot tell how the model predicts them (accuracy can look perfect, AUC may be "
        "missing); pass a --valid file with every class, or more rows"
    )


def _recipe(config: StudyConfig, train: pd.DataFrame, notes: list[str]) -> Recipe:
    if config.data.recipe == TAXI_RECIPE:
        return TaxiDurationRecipe(drop_refunds=config.data.drop_refunds)
    if config.data.recipe != TABULAR_RECIPE:
        return get_recipe(config.data.recipe)
    features = config.features
    assert config.data.target is not None  # build_config requires it for this recipe
    choice = choose_columns(
        train,
        target=config.data.target,
        numeric=features.numeric,
        categorical=features.categorical,
        datetime=features.datetime,
        drop=features.drop,
    )
    kinds = [
        f"{len(cols)} {kind}"
        for kind, cols in (
            ("numeric", choice.numeric),
            ("categorical", choice.categorical),
            ("datetime", choice.datetime),
        )
        if cols
    ]
    notes.append(f"features: {', '.join(kinds)}")
    if choice.left_out:
        shown = [f"{col} ({why})" for col, why in list(choice.left_out.items())[:_SHOWN_LEFT_OUT]]
        more = len(choice.left_out) - _SHOWN_LEFT_OUT
        notes.append(
            "left out: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
            + " (list columns under features to choose them yourself)"
        )
    return TabularRecipe(
        target=config.data.target,
        categorical=choice.categorical,
        raw_numeric=choice.numeric,
        datetime=choice.datetime,
    )
