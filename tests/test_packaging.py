"""The package declares ranges, the locks stay inside them, and every import is declared.

pyproject.toml names the oldest and newest releases tunetrack supports; the exact
versions live in requirements/lock.txt (``make test``) and requirements/oldest.txt
(``make test-compat``, the lower bounds). These tests read the files, not the
environment, except the import scan, which maps import names to distributions.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
LOCK = ROOT / "requirements" / "lock.txt"
OLDEST = ROOT / "requirements" / "oldest.txt"
SRC = ROOT / "src" / "tunetrack"

# Libraries a user may not want: installed only with an extra, never as a core dependency.
EXTRA_ONLY = {"lightgbm": "lightgbm", "cmaes": "optuna", "psycopg2-binary": "server"}
# The model family every study starts from stays a core dependency.
# Optuna is the default engine (issue #14), Hyperopt the tutorial's: both are core.
CORE = ("mlflow", "optuna", "hyperopt", "xgboost", "skops", "pandas", "numpy", "scikit-learn")


# Extras the oldest-releases lock leaves out (the compat tests need neither).
NOT_IN_OLDEST = ("spark", "bench")


def _requirements(include_extras: bool, leave_out: tuple[str, ...] = ()) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    if include_extras:
        for name, extra in PROJECT["optional-dependencies"].items():
            if name == "test" or name in leave_out:
                continue
            reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != "tunetrack"]


def _lock(path: Path) -> dict[str, Version]:
    """``name -> version`` for the lines of a lock that apply to Linux, CPython 3.11."""
    env = default_environment() | {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "python_version": "3.11",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    pins: dict[str, Version] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        operators = [spec.operator for spec in req.specifier]
        assert operators == ["=="], f"{path.name}: not an exact pin: {raw}"
        if req.marker is None or req.marker.evaluate(env):
            (spec,) = req.specifier
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_dependencies_are_ranges_not_pins():
    for req in _requirements(include_extras=True):
        operators = {spec.operator for spec in req.specifier}
        assert not operators & {"==", "==="}, f"{req} pins an exact version: use a range"
        assert any(op in {">=", ">", "~="} for op in operators), f"{req} has no lower bound"


@pytest.mark.parametrize("name", CORE)
def test_core_dependency_is_bounded_above(name):
    by_name = {canonicalize_name(r.name): r for r in _requirements(include_extras=False)}
    assert name in by_name, f"{name} is not a core dependency"
    assert any(s.operator in {"<", "<="} for s in by_name[name].specifier), (
        f"{by_name[name]}: no upper bound (the next major we have not tested)"
    )


@pytest.mark.parametrize(("module", "extra"), sorted(EXTRA_ONLY.items()))
def test_optional_library_is_an_extra_not_core(module, extra):
    core = {canonicalize_name(r.name) for r in _requirements(include_extras=False)}
    assert module not in core, f"{module} is a core dependency; it belongs in an extra"
    extras = PROJECT["optional-dependencies"]
    assert any(Requirement(r).name == module for r in extras[extra])
    assert f"tunetrack[{extra}]" in extras["all"]


@pytest.mark.parametrize(
    ("lock", "at_lower_bound"), [(LOCK, False), (OLDEST, True)], ids=["lock", "oldest"]
)
def test_locked_versions_satisfy_the_ranges(lock, at_lower_bound):
    pins = _lock(lock)
    leave_out = NOT_IN_OLDEST if at_lower_bound else ()
    for req in _requirements(include_extras=True, leave_out=leave_out):
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock.name} lacks {name}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name}: {name}=={pins[name]} is outside pyproject's {req}"
        )
    if at_lower_bound:
        # The compat environment really is the oldest: each tracked library sits on its
        # lower bound (as written, e.g. >=3.5 locks 3.5.0).
        for req in _requirements(include_extras=True):
            name = canonicalize_name(req.name)
            if name not in {"mlflow", "xgboost", "hyperopt", "lightgbm", "skops", "optuna"}:
                continue
            lower = next(Version(s.version) for s in req.specifier if s.operator == ">=")
            assert pins[name] == lower, f"{lock.name}: {name}=={pins[name]}, bound {lower}"


def test_test_extra_pins_its_tools_and_the_lock_has_them():
    pins = _lock(LOCK)
    for raw in PROJECT["optional-dependencies"]["test"]:
        req = Requirement(raw)
        if canonicalize_name(req.name) == "tunetrack":
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"test tool {req} is not pinned"
        assert pins[canonicalize_name(req.name)] == Version(spec.version)


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module name -> the files of src/tunetrack that import it."""
    stdlib = set(sys.stdlib_module_names)
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "tunetrack" and top not in stdlib and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    # Modules imported by name through tunetrack.extras.require("...", extra=...).
    pattern = re.compile(r"""require\(\s*["']([A-Za-z_][\w.]*)["']""")
    for path in sorted(SRC.rglob("*.py")):
        for name in pattern.findall(path.read_text()):
            found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    declared = {canonicalize_name(r.name) for r in _requirements(include_extras=True)}
    dists = packages_distributions()
    missing = []
    for module, files in sorted(_third_party_imports().items()):
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        if not providers:
            missing.append(f"{module} (imported by {', '.join(sorted(files))}) is not installed")
        elif not providers & declared:
            missing.append(
                f"{module} (imported by {', '.join(sorted(files))}) comes from "
                f"{'/'.join(sorted(providers))}, which pyproject.toml does not declare"
            )
    assert not missing, "\n".join(missing)


def test_the_import_scan_sees_the_libraries_we_know_about():
    # Guards the scan itself: if it found nothing, the test above would pass vacuously.
    found = _third_party_imports()
    for module in ("mlflow", "hyperopt", "xgboost", "lightgbm", "pandas", "numpy", "yaml"):
        assert module in found, f"the import scan missed {module}"
