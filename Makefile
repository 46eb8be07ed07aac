# Two entry points for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A minute of the default study: its start point alone reaches ~5.98 in seconds.
demo: $(STAMP)
	$(BIN)/tunetrack tune --timeout 60
	@echo "(run the commands above inside the virtualenv: . $(VENV)/bin/activate)"

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Side by side with the tutorial's loop (bench/speed.py); the full run takes about 2 hours,
# `ARGS="--only loop,default"` a part. `make bench-quick`: a subsample, ~10 minutes.
bench: $(STAMP)
	$(BIN)/python bench/speed.py $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python bench/speed.py --quick $(ARGS)

clean:
	rm -rf $(VENV) mlflow.db mlartifacts
