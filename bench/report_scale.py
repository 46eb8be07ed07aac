"""How long `build_report` takes as a study grows (synthetic trials, real tracking path).

    .venv/bin/python bench/report_scale.py [250 500 1000 2000]

Prints, per size: seconds to load the study from SQLite and seconds to build the report.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tunetrack.report import build_report
from tunetrack.study import load_study
from tunetrack.synthetic import synthetic_study


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        print(f"{'trials':>7} {'load_s':>7} {'report_s':>9}")
        for n in sizes:
            synthetic_study(n, experiment=f"bench-{n}", failed_every=50, tracking_uri=uri)
            started = time.perf_counter()
            study = load_study(experiment=f"bench-{n}", tracking_uri=uri)
            loaded = time.perf_counter()
            build_report(study, Path(tmp) / f"report-{n}")
            done = time.perf_counter()
            print(f"{n:>7} {loaded - started:>7.2f} {done - loaded:>9.2f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [250, 500, 1000, 2000])
