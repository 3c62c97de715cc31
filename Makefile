# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench bench-smoke replicas clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## gateway + simulated providers + traffic, shown in the terminal
	$(BIN)/plano demo

test: $(STAMP) lint typecheck unit  ## everything CI runs

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports  # the import contract in pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)  ## full benchmark run, writes docs/benchmarks/
	$(BIN)/python -m bench.run

bench-smoke: $(STAMP)  ## seconds-long run of the harness (CI)
	$(BIN)/python -m bench.run --smoke

replicas: $(STAMP)  ## three replicas + load balancer on one Redis and PostgreSQL; kill one, reload one
	$(BIN)/python -m tests.e2e.replicas_scenario

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build src/*.egg-info
