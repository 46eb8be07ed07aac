"""Data loading (files, URLs, DataFrames) and recipes that turn tables into model input.

Below the models: nothing here imports tunetrack.models, tunetrack.config or anything
above them (the task vocabulary comes from tunetrack._core).
"""

from __future__ import annotations

from tunetrack.data.loaders import (
    BUNDLED_TRAIN,
    BUNDLED_VALID,
    Table,
    bundled_path,
    frame_digest,
    read_table,
)
from tunetrack.data.recipes import (
    CONFIGURED_RECIPES,
    RECIPES,
    Recipe,
    TabularRecipe,
    TaxiDurationRecipe,
    check_recipe_name,
    choose_columns,
    get_recipe,
    recipe_from_json,
    recipe_names,
)
from tunetrack.data.split import DEFAULT_VALID_FRACTION, split_table
from tunetrack.data.target import decide_task, encode_target

__all__ = [
    "BUNDLED_TRAIN",
    "BUNDLED_VALID",
    "CONFIGURED_RECIPES",
    "DEFAULT_VALID_FRACTION",
    "RECIPES",
    "Recipe",
    "Table",
    "TabularRecipe",
    "TaxiDurationRecipe",
    "bundled_path",
    "check_recipe_name",
    "choose_columns",
    "decide_task",
    "encode_target",
    "frame_digest",
    "get_recipe",
    "read_table",
    "recipe_from_json",
    "recipe_names",
    "split_table",
]
