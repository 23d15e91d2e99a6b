# Two commands set everything up on a fresh machine:
#   make run    create .venv, install gencls, run the first run (zero-shot, then the auto recipe) on the embedded default
#   make test   create .venv, install gencls with test extras and the example plugin, lint (ruff), type-check
#               the core (mypy), check the import layers, run both test suites
PYTHON ?= python3
VENV   ?= .venv
# The CPU build of torch; override (e.g. TORCH=torch) where another build is wanted.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install clean

install: $(STAMP)

EXAMPLE := examples/gencls-plugin-example

$(STAMP): pyproject.toml $(EXAMPLE)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)" -e ".[dev]" -e $(EXAMPLE)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gencls run --config examples/first-run.yaml

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q tests $(EXAMPLE)/tests

clean:
	rm -rf $(VENV) runs .pytest_cache
