"""The examples of PySpark 4.3's own API documentation, run against Vega through
``--pyspark-compat``.

The doctests of PySpark's ``rdd``, ``context``, ``statcounter``, ``accumulators``,
``broadcast``, ``files``, ``storagelevel``, ``taskcontext``, ``conf`` and ``util`` modules are
read at test time from the installed PySpark's sources; ``pyspark_doctest_run.py`` runs them
on one master with the globals each module's ``_test()`` gives them (``sc`` or ``spark``), and
``pyspark_doctest_run.EXCLUDED`` lists, with reasons, the examples that need the JVM, SQL,
resource profiles, Hadoop formats or more executor slots than the master has, or that fail
on PySpark itself.  At least 97% of the others must pass (measured: 589 of 598 on local[2]
and on local-cluster[2,1];
``pyspark_doctest_run.DIFFERENCES`` says why the rest differ).
"""

from __future__ import annotations

import os
import sys

import pytest

from head_start import taken
from proc_helpers import clean_env
from pyspark_install import pyspark_home, requires_pyspark
from pyspark_outcomes import SideBySide, pass_rate, results_of

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyspark_doctest_run.py")
REQUIRED_PASS_RATE = 0.97


def head_start(masters):
    """The runner on each master at once, from the session's start (``head_start``): ~12 s
    side by side, ~23 s one after another.  A fixed hash seed: PySpark's portable_hash needs
    one, and a set prints in one order."""
    return SideBySide(masters if pyspark_home() else [],
                      lambda master, results: [sys.executable, RUNNER, pyspark_home(), master,
                                               results], clean_env(PYTHONHASHSEED="0"))


@pytest.fixture(scope="module")
def runs(request):
    with taken(request) as started:
        yield started


@requires_pyspark
@pytest.mark.timeout(300)
@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_at_least_97_percent_of_pysparks_documentation_examples_pass(master, runs):
    """PySpark's doctests of its RDD API, less the commented exclusions, pass at >= 97%."""
    results = results_of(runs[master], timeout=280)
    rate, counted, report = pass_rate(results, master, "examples", 0)
    print(report)
    assert counted >= 450, "too few of PySpark's examples ran; were the sources read?"
    assert rate >= REQUIRED_PASS_RATE, report
