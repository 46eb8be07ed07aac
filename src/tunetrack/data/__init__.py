"""Data loading (files, URLs, DataFrames) and recipes that turn tables into model input."""

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
    TaxiDurationRecipe,
    get_recipe,
    recipe_from_json,
)
from tunetrack.data.split import DEFAULT_VALID_FRACTION, split_table
from tunetrack.data.tabular import TabularRecipe, choose_columns
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
    "choose_columns",
    "decide_task",
    "encode_target",
    "frame_digest",
    "get_recipe",
    "read_table",
    "recipe_from_json",
    "split_table",
]
