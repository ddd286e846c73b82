# Every target does its own set-up: `make run` and `make test` work on a fresh machine.
# Python packages come from the lock files in requirements/ (exact versions and hashes);
# `make lock` regenerates them, `make test-latest` tries the newest releases setup.cfg allows.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
PIP_LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps --no-build-isolation

.PHONY: run wheel test test-latest bench lock clean

# A venv whose pip, setuptools and wheel come from build.txt: packages are then built
# without an isolated build environment, which would fetch unpinned versions.
%/bin/python:
	$(PYTHON) -m venv $*
	$@ $(PIP_LOCKED) -r requirements/build.txt

# The lock files are for CPython 3.11 (requirements/README.md): some of their pins
# (numpy, ipython, hypothesis) need 3.11 or newer.
$(STAMP): $(BIN)/python requirements/lock.txt setup.cfg pyproject.toml
	@$(BIN)/python -c 'import sys; sys.exit(None if sys.version_info >= (3, 11) else \
	    "make: $(VENV) is Python %d.%d; requirements/lock.txt needs Python 3.11 or newer:" \
	    " rm -r $(VENV) and run make again with PYTHON=python3.11 (or newer)" % sys.version_info[:2])'
	$(BIN)/python $(PIP_LOCKED) -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

run: $(STAMP)
	$(BIN)/vega submit jobs/wordcount.py data/sample.txt

# Vega's wheel in dist/, built from a clean copy of its sources (vega_cli/wheel_cache.py, as
# --bootstrap builds it): pip wheel run in the checkout would leave build/ here and pack what
# it holds, a module deleted since an earlier build included.
wheel: $(STAMP)
	$(BIN)/python -m vega_cli.wheel_cache . dist

# The tests start hundreds of Python processes: compile the sources once for all of them
# (with PYTHONDONTWRITEBYTECODE set, each would otherwise compile what it imports).
# They run in PYTEST_WORKERS processes (pytest-xdist): a test mostly waits for the processes
# it starts, so four share two cores well (clean-clone .ci/run on 2 cores: 1225 s with 4,
# against 1292 s with 3 a few commits earlier, 1578 s with 2; with 4, vmstat shows no idle
# CPU until the last minute). A file's tests stay together (its module-wide Contexts start
# once) and the tests of network namespaces, sshd and Slurm run in one worker
# (tests/conftest.py: HOST_FILES); PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= 4
XDIST := -n $(PYTEST_WORKERS)
test: $(STAMP)
	$(BIN)/python -m compileall -q vega_runtime vega_cli vega_testing tests
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The whole suite against the newest releases setup.cfg allows, in a venv of its own:
# drift in a dependency shows here before users meet it.
test-latest: .venv-latest/bin/python
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[test]'
	.venv-latest/bin/python -m pip list --format=freeze
	.venv-latest/bin/python -m compileall -q vega_runtime vega_cli vega_testing tests
	.venv-latest/bin/python -m pytest $(XDIST) $(PYTEST_ARGS)

bench: $(STAMP)
	bash scripts/bench/setup_env.sh
	.venv-bench/bin/python scripts/bench/harness.py $(BENCH_ARGS)

# Regenerate every lock file from setup.cfg and requirements/*.in (see requirements/README.md).
# uv keeps the versions a lock file already pins while setup.cfg still allows them: `make lock`
# after editing setup.cfg changes only what must change. `make lock UPGRADE=1` moves every
# pin to the newest release allowed (what `make test-latest` tests, and what users get).
LOCK_FLAGS += $(if $(UPGRADE),--upgrade)
lock: $(BIN)/python
	$(BIN)/python $(PIP_LOCKED) -r requirements/tools.txt
	$(BIN)/uv pip compile requirements/tools.in $(LOCK_FLAGS) -o requirements/tools.txt
	$(BIN)/uv pip compile setup.cfg requirements/build.in --extra test $(LOCK_FLAGS) -o requirements/lock.txt
	$(BIN)/uv pip compile requirements/build.in -c requirements/lock.txt $(LOCK_FLAGS) -o requirements/build.txt
	$(BIN)/uv pip compile setup.cfg $(LOCK_FLAGS) -o requirements/runtime.txt
	$(BIN)/uv pip compile setup.cfg --resolution lowest-direct $(LOCK_FLAGS) -o requirements/lowest.txt
	$(BIN)/uv pip compile setup.cfg requirements/bench.in requirements/build.in $(LOCK_FLAGS) -o requirements/bench.txt

clean:
	rm -rf $(VENV) .venv-latest .venv-bench build *.egg-info .pytest_cache
