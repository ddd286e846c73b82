"""PySpark 4.3's own unit tests for the RDD API, run against Vega through ``--pyspark-compat``.

The eleven test modules (test_rdd, test_context, test_join, test_broadcast, test_taskcontext,
test_statcounter, test_worker, test_conf, test_rddsampler, test_rddbarrier, and
pyspark.resource's test_resources) come from the installed PySpark's ``pyspark.zip`` at test
time; ``pyspark_run.py`` runs them on one master and ``pyspark_run.EXCLUDED`` lists, with
reasons, the tests that need the JVM, SQL, more CPUs per task or executor slots than the
master has, or PySpark's internals.
At least 90% of the others must pass on every master.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from proc_helpers import clean_env
from pyspark_install import pyspark_home, requires_pyspark
from pyspark_outcomes import pass_rate

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyspark_run.py")
REQUIRED_PASS_RATE = 0.90


@requires_pyspark
@pytest.mark.timeout(900)
@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_at_least_90_percent_of_pyspark_rdd_unit_tests_pass(master, tmp_path):
    """PySpark's RDD unit tests, less the commented exclusions, pass at >= 90% on ``master``."""
    results = tmp_path / "results.json"
    zip_path = os.path.join(pyspark_home(), "python", "lib", "pyspark.zip")
    run = subprocess.run([sys.executable, RUNNER, zip_path, master, str(results)],
                         cwd=str(tmp_path), env=clean_env(), capture_output=True, text=True,
                         timeout=840)
    assert results.exists(), run.stderr[-5000:]
    rate, counted, report = pass_rate(str(results), master, "tests", -1)
    print(report)
    assert counted >= 80, "too few of PySpark's tests ran; did the modules load?"
    assert rate >= REQUIRED_PASS_RATE, report
