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
    if isinstance(request.node, pytest.DoctestItem):
        namespace = request.getfixturevalue("doctest_namespace")
        namespace["ctx"] = request.getfixturevalue("doctest_context")
        namespace["operator"] = operator
