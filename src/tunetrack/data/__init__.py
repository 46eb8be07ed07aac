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
from tunetrack.data.recipes import RECIPES, Recipe, TaxiDurationRecipe, get_recipe

__all__ = [
    "BUNDLED_TRAIN",
    "BUNDLED_VALID",
    "RECIPES",
    "Recipe",
    "Table",
    "TaxiDurationRecipe",
    "bundled_path",
    "frame_digest",
    "get_recipe",
    "read_table",
]
