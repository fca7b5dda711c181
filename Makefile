# Two commands: `make run` (install, index the seeds if needed, serve the chat) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INDEX_DIR ?= $(or $(RAG_INDEX_DIR),index)
PORT ?= 8501
# The chat listens on this machine only; `make run ADDRESS=0.0.0.0` serves it to the local network.
ADDRESS ?= 127.0.0.1
# `make run WATCH=1`: the app also watches the corpus folder and indexes new, changed or removed files.
WATCH ?=

.PHONY: install run index watch test test-fast lint browser bench clean

# torch first, from the CPU wheel on disk: any other torch request would pull the CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(BIN)/rag index --index-dir $(INDEX_DIR)

# Keep the index in step with the corpus folder until Ctrl-C (a line per update on stderr).
watch: $(STAMP)
	$(BIN)/rag index --watch --index-dir $(INDEX_DIR)

run: $(STAMP)
	@test -f $(INDEX_DIR)/manifest.json || $(BIN)/rag index --index-dir $(INDEX_DIR)
	RAG_INDEX_DIR=$(INDEX_DIR) $(if $(WATCH),RAG_WATCH=true) $(BIN)/streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The cluster extra (PostgreSQL + pgvector, Ray) for the `cluster` tests (tests/cluster, docs/scaling.md).
test: $(STAMP) browser
	$(BIN)/python -m pip install -q -e '.[test,cluster]'
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not e2e and not cluster"

# Benchmarks (docs/benchmarks.md): ~35 min on a quiet machine; BENCH_ARGS=--quick only checks the scripts.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts
