# Two entry points: `make demo` (main job on the embedded default model) and `make test`.
# Each creates .venv from nothing; torch is installed first and pinned, since an unpinned
# torch resolves to a multi-GB CUDA build.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
LANGMIX_DATA_DIR ?= $(wildcard $(abspath ../shared/data))
export LANGMIX_DATA_DIR

.PHONY: install demo test lint bench clean

$(BIN)/langmix: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/langmix

demo: install
	$(BIN)/langmix demo

test: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

bench: install
	$(BIN)/python benchmarks/eval_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
