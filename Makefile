# Every target does its own set-up: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BIN)/vega: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/vega
	$(BIN)/vega submit jobs/wordcount.py data/sample.txt

# The tests start hundreds of Python processes: compile the sources once for all of them
# (with PYTHONDONTWRITEBYTECODE set, each would otherwise compile what it imports).
test: $(STAMP)
	$(BIN)/python -m compileall -q vega_runtime vega_cli tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(BIN)/vega
	bash scripts/bench/setup_env.sh
	.venv-bench/bin/python scripts/bench/harness.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-bench build *.egg-info .pytest_cache
