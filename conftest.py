"""What every doctest sees: ``ctx``, a Context on the ``local`` master (one for the whole
run, stopped at its end), as pysparkling gives its doctests, and ``operator``.  Lives at the top of the
checkout so it reaches the doctests of vega_runtime, vega_cli and vega_testing, and stays
out of the wheel."""

import operator

import pytest


@pytest.fixture(scope="session")
def doctest_context():
    from vega_runtime import Context

    context = Context(master="local", app_name="doctests")
    yield context
    context.stop()


@pytest.fixture(autouse=True)
def _doctest_ctx(request):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    namespace = request.getfixturevalue("doctest_namespace")
    context = namespace["ctx"] = request.getfixturevalue("doctest_context")
    namespace["operator"] = operator
    was_running = not context._stopped
    yield
    # Else the doctests after it would fail instead, whichever a worker runs next: one that
    # stops what getOrCreate() gives must make that Context itself.
    assert not (was_running and context._stopped), \
        f"{request.node.name} stopped the doctests' shared ctx"
