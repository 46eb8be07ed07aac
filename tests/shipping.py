"""Shared set-up for the select/ship tests: one study and one registered model per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tunetrack
from tunetrack.selection import Shipped, choose, ship

from .conftest import FAST, TRAIN_SAMPLE, VALID_SAMPLE

MODEL_NAME = "taxi-duration"
ALIAS = "champion"


@dataclass(frozen=True)
class ShippedStudy:
    uri: str
    study: tunetrack.Study
    shipped: Shipped


def tune_sample(*extra: str, max_evals: int = 4, seed: int = 42) -> tunetrack.Study:
    return tunetrack.tune(
        train=str(TRAIN_SAMPLE),
        valid=str(VALID_SAMPLE),
        overrides=[*FAST, *extra],
        max_evals=max_evals,
        seed=seed,
        progress=False,
    )


def shipped_study(
    tmp_path_factory: pytest.TempPathFactory, template: Path
) -> Iterator[ShippedStudy]:
    """A store of its own with a tuned study whose best trial is registered as
    ``models:/taxi-duration@champion``; built once per module (it takes seconds)."""
    root = tmp_path_factory.mktemp("shipped")
    db = root / "mlflow.db"
    shutil.copy(template, db)
    uri = f"sqlite:///{db}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)
        study = tune_sample()
        shipped = ship(study, choose(study).chosen, register=MODEL_NAME, alias=ALIAS)
        yield ShippedStudy(uri, study, shipped)
