# Two commands for a newcomer: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint dev bench validate clean

$(STAMP): setup.cfg pyproject.toml
	@echo "Installing into $(VENV) (first run, about a minute) ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,postgres,celery,k8s,aws]'
	touch $(STAMP)

## Run the whole asset graph on the bundled demo (local Labelbox sandbox, no account, no network).
demo: $(STAMP)
	$(BIN)/lb-assets demo

## Install and run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## Lint gates: ruff (lint and format check) and mypy (configuration in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check lb_assets && $(BIN)/ruff format --check lb_assets && $(BIN)/mypy

## Start the sandbox and `dagster dev` (UI on http://127.0.0.1:3000).
dev: $(STAMP)
	$(BIN)/lb-assets dev

## Benchmarks (on demand; prints ratios measured in the same run).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_frames.py
	$(BIN)/python benchmarks/bench_annotations.py
	$(BIN)/python benchmarks/bench_real.py
	$(BIN)/python benchmarks/bench_sensor.py
	$(BIN)/python benchmarks/bench_shards.py

validate: $(STAMP)
	$(BIN)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf $(VENV) demo_output .lb_assets_data
