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
MASTERS = ["local", "local[2]", "local-cluster[2,1]"]


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """The runner started at once on each master this session's tests here ask for: master ->
    (process, its directory).  PySpark's tests mostly wait (tasks that sleep, barriers, a job
    group cancelled after 3 s), so the runs side by side take about as long as the longest
    (~105 s on ``local``, against ~280 s one after another on 2 cores)."""
    wanted = dict.fromkeys(item.callspec.params["master"] for item in request.session.items
                           if item.module is request.module and hasattr(item, "callspec"))
    zip_path = os.path.join(pyspark_home(), "python", "lib", "pyspark.zip")
    started = {}
    try:
        for master in wanted:
            directory = tmp_path_factory.mktemp("pyspark-unit-tests")
            with open(directory / "stdout", "wb") as out, open(directory / "stderr", "wb") as err:
                started[master] = (subprocess.Popen(
                    [sys.executable, RUNNER, zip_path, master, str(directory / "results.json")],
                    cwd=str(directory), env=clean_env(), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=err), directory)
        yield started
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@requires_pyspark
@pytest.mark.timeout(900)
@pytest.mark.parametrize("master", MASTERS)
def test_at_least_90_percent_of_pyspark_rdd_unit_tests_pass(master, runs):
    """PySpark's RDD unit tests, less the commented exclusions, pass at >= 90% on ``master``."""
    proc, directory = runs[master]
    proc.wait(timeout=840)
    results = directory / "results.json"
    assert results.exists(), (directory / "stderr").read_text(errors="replace")[-5000:]
    rate, counted, report = pass_rate(str(results), master, "tests", -1)
    print(report)
    assert counted >= 80, "too few of PySpark's tests ran; did the modules load?"
    assert rate >= REQUIRED_PASS_RATE, report
