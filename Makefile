# Two commands do all set-up on a fresh machine: `make bench` and `make test`.
# `make bench` installs proctor's base dependencies only (no PyTorch, Ray, Playwright or
# Inspect AI: the scripted quick sweep needs none of them); `make test` adds the extras the
# tests need. Each has its own stamp, so `make test` after `make bench` adds only the extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed

.PHONY: bench test lint fuzz-nightly wheel-smoke clean

$(BASE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(BASE_STAMP)

$(STAMP): $(BASE_STAMP)
	# PyTorch's CPU build first: with it installed, proctor[transparency]'s torch range
	# takes nothing more (a plain `torch` would pull a CUDA build of several GB).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,llm,review,ray,transparency,control-arena]'
	touch $(STAMP)

bench: $(BASE_STAMP)
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

# Build the wheel, install it with base dependencies only into a fresh venv, run a smoke test.
wheel-smoke:
	.ci/wheel-smoke

clean:
	rm -rf $(VENV) runs .pytest_cache dist build
