"""The recipe registry: fixed recipes by name, and the ones a study configures.

Imports go one way: this registry imports each recipe (``taxi``, ``tabular``), and each
recipe imports only ``base``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunetrack.data.recipes.base import Recipe, shown_columns
from tunetrack.data.recipes.tabular import ColumnChoice, TabularRecipe, choose_columns
from tunetrack.data.recipes.taxi import TaxiDurationRecipe
from tunetrack.exceptions import ConfigError

RECIPES: dict[str, Recipe] = {TaxiDurationRecipe.name: TaxiDurationRecipe()}

# Recipes configured by the study (target, columns) rather than fixed.
CONFIGURED_RECIPES = (TabularRecipe.name,)


def recipe_names() -> tuple[str, ...]:
    """Every valid ``data.recipe`` value."""
    return (*RECIPES, *CONFIGURED_RECIPES)


def check_recipe_name(name: str) -> None:
    """A ConfigError naming the valid recipes when ``name`` is not one of them."""
    if name not in recipe_names():
        raise ConfigError(
            f"unknown data.recipe {name!r}; choose one of: {', '.join(recipe_names())}"
        )


def get_recipe(name: str) -> Recipe:
    """The registered fixed recipe called ``name``."""
    try:
        return RECIPES[name]
    except KeyError:
        check_recipe_name(name)
        raise ConfigError(
            f"data.recipe {name!r} is built from the study's config, not looked up; "
            "use tunetrack.data.TabularRecipe"
        ) from None


def recipe_from_json(data: Mapping[str, Any]) -> Recipe:
    """The recipe a packaged model stored with :meth:`Recipe.to_json`."""
    if data.get("name") == TabularRecipe.name:
        return TabularRecipe.from_json(data)
    if data.get("name") == TaxiDurationRecipe.name:
        return TaxiDurationRecipe(drop_refunds=bool(data.get("drop_refunds", True)))
    return get_recipe(str(data.get("name")))


__all__ = [
    "CONFIGURED_RECIPES",
    "RECIPES",
    "ColumnChoice",
    "Recipe",
    "TabularRecipe",
    "TaxiDurationRecipe",
    "check_recipe_name",
    "choose_columns",
    "get_recipe",
    "recipe_from_json",
    "recipe_names",
    "shown_columns",
]
