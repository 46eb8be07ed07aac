"""The import rules hold: the layers and library homes in .importlinter, and a cheap
``import tunetrack`` (heavy libraries load where they are used, not on import; that is
what keeps it near 0.15 s, measured, rather than 3.4 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
# What `import tunetrack` must not pull in: each costs from a tenth of a second to seconds.
HEAVY = (
    "hyperopt",
    "lightgbm",
    "matplotlib",
    "mlflow",
    "pandas",
    "plotly",
    "pyspark",
    "scipy",
    "sklearn",
    "xgboost",
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_import_contracts_are_kept() -> None:
    # A fresh process (the graph is built from the files, not this test run's imports);
    # no_cache: no .import_linter_cache folder left in the working tree.
    result = _python(
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True))"
    )
    report = result.stdout + result.stderr
    assert "Contracts:" in report, report
    assert result.returncode == 0, report[report.find("Broken contracts") :] or report


def test_import_tunetrack_loads_no_heavy_library() -> None:
    result = _python(
        "import json, sys, tunetrack; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
