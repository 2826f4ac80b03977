# `make run` and `make test` work on a fresh clone with nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The demo key is the one the product's examples use; never use it in production.
AI_GATEWAY_API_KEY ?= abc123
export AI_GATEWAY_API_KEY

.PHONY: install run test lint typecheck unit protos schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Control plane + data plane + a demo model service, configured by deploy/demo/config.yaml.
run: $(STAMP)
	$(BIN)/ai-gateway-cli up --demo --config deploy/demo/config.yaml --cluster aimlops

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

schema: $(STAMP)
	$(BIN)/python -m control_plane.domain.schema

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Needs wrk (and nginx for the comparison): apt-get install wrk nginx-light
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk nginx-light"; exit 2; }
	$(BIN)/python bench/run.py
	$(BIN)/python bench/config_fanout.py
