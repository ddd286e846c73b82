"""Shared fixtures.

``ctx`` is the heart of the suite: every RDD test runs once per master kind
(``local``: inline, deterministic; ``local[2]``: forked executor processes),
so the same behaviour is checked on every code path.  The cluster runtime
adds ``local-cluster[2,1]`` to ``MASTERS``.
"""

import os
import sys
import tempfile

import pytest

from vega_runtime import Context

MASTERS = ["local", "local[2]", "local-cluster[2,1]"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Event logs of the suite's applications go to a throwaway directory, not ~/.vega/events.
os.environ.setdefault("VEGA_EVENTLOG_DIR", tempfile.mkdtemp(prefix="vega-test-events-"))


@pytest.fixture(scope="module", params=MASTERS)
def ctx(request):
    """A Context per master kind, shared by a module's tests (startup is not free)."""
    context = Context(master=request.param, app_name="tests")
    yield context
    context.stop()


@pytest.fixture
def fresh_ctx(request):
    """A Context of one's own, for tests that change settings or stop it."""
    contexts = []

    def make(master="local[2]", **kwargs):
        context = Context(master=master, app_name="tests", **kwargs)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.stop()


@pytest.fixture
def vega_cli():
    """Run the ``vega`` command as a user would: a real process, from the repo root."""
    import subprocess

    def run(*args, input=None, env=None, timeout=120, cwd=REPO):
        full_env = dict(os.environ)
        full_env.pop("VEGA_MASTER", None)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "vega_cli.main", *args], cwd=cwd,
                              input=input, capture_output=True, text=True, env=full_env,
                              timeout=timeout)

    return run
