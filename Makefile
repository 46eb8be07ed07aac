# Two entry points for a fresh clone: `make demo` and `make test`.
# Both install the exact versions in requirements/lock.txt (the package itself declares
# ranges in pyproject.toml); `make lock` regenerates the lock from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt

# The oldest supported releases (the lower bounds in pyproject.toml), for `make test-compat`.
COMPAT_VENV := .venv-compat
COMPAT_BIN := $(COMPAT_VENV)/bin
COMPAT_STAMP := $(COMPAT_VENV)/.installed
COMPAT_LOCK := requirements/oldest.txt
# What the oldest releases need beyond their own metadata (see the file).
COMPAT_EXTRA := requirements/oldest-extra.in
# The tracking contract: the tests that talk to MLflow; files not written yet are skipped.
COMPAT_TESTS ?= $(wildcard tests/test_tune.py tests/test_selection.py tests/test_storage_contract.py)

# The lock tool, pinned, run from a throwaway virtualenv.
UV_VERSION := 0.13.9
LOCK_FLAGS := --universal --python-version 3.11 --no-emit-package tunetrack --quiet

.PHONY: demo test test-fast test-integration test-compat lint bench bench-quick lock clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(COMPAT_STAMP): pyproject.toml $(COMPAT_LOCK)
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_BIN)/python -m pip install --quiet --upgrade pip
	$(COMPAT_BIN)/python -m pip install --quiet -r $(COMPAT_LOCK)
	$(COMPAT_BIN)/python -m pip install --quiet --no-deps -e .
	touch $(COMPAT_STAMP)

# A minute of the default study: a cheap start point first (~6.03), then a known-good one (~5.98).
demo: $(STAMP)
	$(BIN)/tunetrack tune --timeout 60
	@echo "(run the commands above inside the virtualenv: . $(VENV)/bin/activate)"

# The default run: everything but the integration tests (kept under 10 minutes on 2 cores),
# one pytest-xdist worker per core, each test file on one worker (its module fixtures once).
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -m "not integration" -n auto --dist loadfile

# What starts outside services (PostgreSQL, a Spark cluster, Chromium, tracking servers
# killed mid-study) or kills and resumes a whole study: CI runs it after `make test`.
test-integration: $(STAMP)
	$(BIN)/python -m pytest -m integration || [ $$? -eq 5 ]

# The inner loop: lint and every test not marked slow (real subprocesses, signals, servers,
# a browser, whole studies over ~5 s). `make test` still runs everything.
test-fast: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -m "not slow and not integration" -n auto --dist loadfile

# The tracking contract on the oldest supported MLflow, XGBoost, Hyperopt, ... (CI runs
# it after `make test`). Exit code 5 (no tests collected) is not a failure here.
test-compat: $(COMPAT_STAMP)
	$(COMPAT_BIN)/python -m pytest -q $(COMPAT_TESTS) || [ $$? -eq 5 ]

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

# Regenerate both locks from pyproject.toml (the oldest-releases lock leaves out Spark and the
# bench's peer tools: its tests need neither). Versions already locked are kept; upgrade
# with `make lock UPGRADE=--upgrade` (or `UPGRADE="--upgrade-package mlflow"`).
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && "$$tmp/bin/python" -m pip install --quiet uv==$(UV_VERSION) && \
	"$$tmp/bin/uv" pip compile pyproject.toml --extra test --extra spark --extra bench \
		$(LOCK_FLAGS) $(UPGRADE) -o $(LOCK) && \
	"$$tmp/bin/uv" pip compile pyproject.toml $(COMPAT_EXTRA) --extra test $(LOCK_FLAGS) \
		$(UPGRADE) --resolution lowest-direct -o $(COMPAT_LOCK)

# Side by side with the tutorial's loop (bench/speed.py); the full run takes about 2 hours,
# `ARGS="--only loop,default"` a part. `make bench-quick`: a subsample, ~10 minutes.
bench: $(STAMP)
	$(BIN)/python bench/speed.py $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python bench/speed.py --quick $(ARGS)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) mlflow.db mlartifacts
