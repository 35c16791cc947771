# Two commands do all set-up on a fresh machine: `make bench` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench test lint fuzz-nightly clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# PyTorch's CPU build first: with it installed, proctor[transparency]'s torch range
	# takes nothing more (a plain `torch` would pull a CUDA build of several GB).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,llm,review,ray,transparency]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/proctor bench --quick --out runs/quick

test: $(STAMP)
	$(BIN)/python -m pytest

# The parsers' property tests at 2,000 examples each (make test runs them at 50; ~5 min).
fuzz-nightly: $(STAMP)
	HYPOTHESIS_PROFILE=nightly $(BIN)/python -m pytest tests/test_fuzz.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
