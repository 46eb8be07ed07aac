"""Who ran a study, from what code, with which library versions: its run's lineage.

MLflow's fluent ``start_run`` sets user and source tags from its run context; a study run
is created with ``MlflowClient.create_run``, which sets none, so the MLflow store writes
these under MLflow's own tag names (``storage.mlflow``). Versions go in
``tunetrack.version.<package>`` so a refit can tell when the libraries it runs with are
not the study's.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION_TAG_PREFIX = "tunetrack.version."
# What a trial's result depends on (the Python packages by their distribution names).
VERSIONED = (
    "tunetrack",
    "xgboost",
    "lightgbm",
    "scikit-learn",
    "hyperopt",
    "optuna",
    "mlflow",
    "numpy",
    "pandas",
)
PYTHON = "python"
NOT_INSTALLED = "not installed"


def running_versions() -> dict[str, str]:
    """Each versioned package's installed version here, and Python's."""
    versions = {}
    for package in VERSIONED:
        own = getattr(sys.modules.get(package), "__version__", None)  # tunetrack as it runs
        if package == "tunetrack" and own:
            versions[package] = str(own)
            continue
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = NOT_INSTALLED
    versions[PYTHON] = platform.python_version()
    return versions


@dataclass(frozen=True)
class Lineage:
    """Who ran a study and from what code; ``git`` is (commit, branch) in a checkout."""

    user: str
    source: str
    git: tuple[str, str] | None
    versions: Mapping[str, str]

    def version_tags(self) -> dict[str, str]:
        return {f"{VERSION_TAG_PREFIX}{k}": v for k, v in self.versions.items()}


def current_lineage() -> Lineage:
    """This process's user, source (the script or entry point; git commit and branch when
    its code is in a git checkout) and library versions."""
    source = _source_name()
    return Lineage(_user(), source, _git(_code_directory(source)), running_versions())


def recorded_versions(tags: Mapping[str, str]) -> dict[str, str]:
    """The versions a study run recorded (empty for a study from before they were)."""
    return {
        key[len(VERSION_TAG_PREFIX) :]: value
        for key, value in tags.items()
        if key.startswith(VERSION_TAG_PREFIX)
    }


def version_changes(tags: Mapping[str, str]) -> list[str] | None:
    """``package recorded -> running`` for each version that differs from the study's;
    None when the study recorded no versions (nothing to compare)."""
    recorded = recorded_versions(tags)
    if not recorded:
        return None
    running = running_versions()
    return [
        f"{package} {version} -> {running.get(package, NOT_INSTALLED)}"
        for package, version in sorted(recorded.items())
        if running.get(package, NOT_INSTALLED) != version
    ]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): as MLflow does, say so
        return "unknown"


def _source_name() -> str:
    """What ran: the script or entry point (``sys.argv[0]``), as MLflow names it."""
    main = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not main or main == "-c":
        return "<console>"
    path = Path(main)
    return str(path.resolve()) if path.exists() else main


def _code_directory(source: str) -> Path:
    """Where the code that ran lives: a script's folder, or, for an installed entry point
    (the ``tunetrack`` command, pytest, a notebook kernel), the working directory."""
    path = Path(source)
    installed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    if path.is_file() and not any(p in path.parents for p in installed):
        return path.parent
    return Path.cwd()


def _git(directory: Path) -> tuple[str, str] | None:
    """(commit, branch) of the git checkout holding ``directory``; None when there is no
    checkout, no commit yet, or no git."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(directory), *args],
                capture_output=True,
                text=True,
                timeout=10,
                env=env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = ask("rev-parse", "--verify", "HEAD")
    if not commit:
        return None
    branch = ask("rev-parse", "--abbrev-ref", "HEAD")
    return commit, "" if branch in (None, "HEAD") else branch
