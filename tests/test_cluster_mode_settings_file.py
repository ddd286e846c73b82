"""A ``--config`` settings file in cluster deploy mode: the driver, which the master runs on
its host, got the ``--conf`` settings only, so the file's went unused without a word
(spark-submit sends its properties file's with the driver).  A real master and worker."""

from __future__ import annotations

import pytest

from proc_helpers import REPO, master_and_worker, vega, write_job

JOB = """
from pyspark import SparkContext
sc = SparkContext()
print("SETTINGS", sc.conf["vega.task.max_attempts"], sc.conf["vega.default.parallelism"],
      sc.conf["vega.executor.memory"] >> 20, sorted(sc.conf["vega.executor.labels"]),
      sc.getConf().get("spark.myapp.input"))
sc.stop()
"""
SETTINGS = ("vega.task.max_attempts: 7\n"
            "vega:\n  default:\n    parallelism: 3\n"
            "vega.executor.labels: [a, b]\n"
            "spark.executor.memory: 300m\n"
            "spark.myapp.input: /in\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_a_settings_files_settings_reach_the_driver_in_either_deploy_mode(tmp_path, cluster,
                                                                          deploy_mode):
    """Vega's names (nested too, a list), Spark's translated and Spark's own property reach
    the driver the master runs as they reach one run here; --conf still wins over the
    file."""
    settings = tmp_path / "site.yaml"
    settings.write_text(SETTINGS)
    job = write_job(tmp_path, "job.py", JOB)
    result = vega("submit", "--pyspark-compat", "--master", cluster["url"], "--deploy-mode",
                  deploy_mode, "--config", str(settings), "--conf",
                  "spark.default.parallelism=5", job, cwd=str(tmp_path),
                  env={**cluster["env"], "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr
    assert "SETTINGS 7 5 300 ['a', 'b'] /in" in result.stdout.splitlines()
