"""The driver runs the Python the application names (PySpark's spark.pyspark.driver.python,
PYSPARK_DRIVER_PYTHON), in client and cluster deploy mode and in ``vega shell``; one that
cannot run it is refused with one message.

The interpreters are test_executor_python's real second ones (``envs``: a ``venv --copies``
with Vega importable and one without, each packed and as made).
"""

import sys

from proc_helpers import write_job
from test_executor_python import JOB, _tasks_python, envs  # noqa: F401 (a fixture)

SPARK_SETTING = "(vega.driver.python, Spark's spark.pyspark.driver.python)"


def _made(packed: str) -> str:
    """The interpreter of the venv ``packed`` was made from (not from the archive)."""
    return packed[:-len(".tar.gz")] + "/bin/python"


def test_pyspark_driver_python_runs_a_client_mode_driver_and_the_archive_path_is_the_executors(
        vega_cli, envs, tmp_path):
    """PySpark's client-mode idiom: PYSPARK_DRIVER_PYTHON names the driver's Python and
    spark.pyspark.python=./environment/bin/python (--archives) the executors': the driver
    runs the first (importing what only it has), the tasks the shipped one. Before, the
    driver ran vega's own Python whatever was named."""
    job = write_job(tmp_path, "job.py", JOB + "    print(__import__('only_in_shipped_env').NAME)\n")
    result = vega_cli("submit", "--master", "local[1]", "--archives", f"{envs[0]}#environment",
                      "--conf", "spark.pyspark.python=./environment/bin/python", job,
                      env={"PYSPARK_DRIVER_PYTHON": _made(envs[0])})
    assert result.returncode == 0, result.stderr
    tasks, driver = _tasks_python(result.stdout)
    assert (driver, result.stdout.splitlines()[2]) == (_made(envs[0]), "env")
    assert [(path.split("/files/")[1], name) for path, name in tasks] == \
        [("exec-1/environment/bin/python", "env")]


def test_spark_pyspark_driver_python_setting_runs_the_driver_and_a_front_end_is_passed_over(
        vega_cli, envs, tmp_path):
    """--conf spark.pyspark.driver.python (ahead of PYSPARK_DRIVER_PYTHON, as spark-submit
    reads them) runs the driver, the command's warnings said once; PYSPARK_DRIVER_PYTHON=jupyter, a front end of the pyspark
    shell, names no Python for a job: vega's own runs it, saying so."""
    job = write_job(tmp_path, "job.py", "import sys\nprint(sys.executable)\n")
    named = vega_cli("submit", "--master", "local", "--conf",
                     f"spark.pyspark.driver.python={_made(envs[0])}", "--conf",
                     "spark.ui.port=4040", job, env={"PYSPARK_DRIVER_PYTHON": "python3.0"})
    assert (named.returncode, named.stdout) == (0, _made(envs[0]) + "\n")
    assert named.stderr == ("Vega has no use for these Spark settings and ignores them: "
                            "spark.ui.port (--conf)\n")  # once: not again in that Python
    front_end = vega_cli("submit", "--master", "local", job,
                         env={"PYSPARK_DRIVER_PYTHON": "jupyter"})
    assert (front_end.returncode, front_end.stdout) == (0, sys.executable + "\n")
    assert front_end.stderr == (
        "vega: warning: jupyter (PYSPARK_DRIVER_PYTHON in this environment) is a front end of "
        "the pyspark shell, not a Python: the job's driver runs in vega's own Python\n")


def test_a_driver_python_without_vega_is_refused_in_one_message(vega_cli, envs, tmp_path):
    """A Python Vega is not installed in is refused before anything runs (exit 2), saying
    what to do; it ran the job in vega's own Python, ignoring the setting."""
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    bare = _made(envs[1])
    result = vega_cli("submit", "--master", "local", "--conf",
                      f"spark.pyspark.driver.python={bare}", job, env={"PYTHONPATH": ""})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"vega: error: the driver's Python {bare} {SPARK_SETTING} cannot import Vega's command "
        "line (ModuleNotFoundError: No module named 'vega_cli'): install Vega into that "
        "environment (pip install vega and its dependencies), or name a Python that has it\n")


def test_a_cluster_mode_driver_runs_the_python_of_its_archive(vega_cli, envs, multi_host_cluster,
                                                              tmp_path):
    """--deploy-mode cluster with spark.pyspark.python=./environment/bin/python and the
    archive: the driver the master runs unpacks it in its directory and runs its Python, as
    its executors do; the submitter's PYSPARK_DRIVER_PYTHON is not the cluster's. Before,
    the driver ran the master's Python. The archive is unpacked once on the master's host:
    the driver's SparkFiles.get('environment') is the directory its Python runs from (it
    was unpacked a second time there as the Context started)."""
    url, secret = multi_host_cluster
    job = write_job(tmp_path, "job.py", JOB + "        import os\n"
                    "        from vega_runtime import SparkFiles\n"
                    "        print(os.path.samefile(SparkFiles.get('environment') + '/bin/python'"
                    ", sys.executable))\n"
                    "    print(__import__('only_in_shipped_env').NAME)\n")
    result = vega_cli("submit", "--master", url, "--deploy-mode", "cluster", "--conf",
                      f"vega.secret.file={secret}", "--archives", f"{envs[0]}#environment",
                      "--conf", "spark.pyspark.python=./environment/bin/python", job,
                      env={"PYSPARK_DRIVER_PYTHON": "/nonexistent/python"})
    assert result.returncode == 0, result.stderr
    assert "PYSPARK_DRIVER_PYTHON" not in result.stderr  # (a setting names it: no warning)
    tasks, driver = _tasks_python(result.stdout)
    assert driver.split("/apps/")[1].split("/", 1)[1] == "environment/bin/python"
    assert result.stdout.splitlines()[2:] == ["True", "env"]
    assert {(path.endswith("/environment/bin/python"), name) for path, name in tasks} == \
        {(True, "env")}


def test_a_cluster_mode_driver_python_in_an_archive_not_shipped_is_refused_before_upload(
        vega_cli, tmp_path):
    """Said by the submitter before anything is sent (the master's address is not even
    tried), not by the driver after the upload; PYSPARK_DRIVER_PYTHON alone, which does not
    reach the driver, is warned of."""
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega_cli("submit", "--master", "vega://127.0.0.1:1", "--deploy-mode", "cluster",
                      "--conf", "spark.pyspark.driver.python=./environment/bin/python", job)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"vega: error: the driver's Python ./environment/bin/python {SPARK_SETTING} is in an "
        "archive unpacked as 'environment', which the application does not ship: ship it with "
        "--archives ENV.tar.gz#environment (spark.archives; a local file: the driver starts "
        "before it could fetch a URL)\n")
    unset = vega_cli("submit", "--master", "vega://127.0.0.1:1", "--deploy-mode", "cluster", job,
                     env={"PYSPARK_DRIVER_PYTHON": "/opt/env/bin/python"})
    assert unset.returncode == 3  # (the master is not there)
    assert unset.stderr.startswith(
        "vega: warning: PYSPARK_DRIVER_PYTHON (/opt/env/bin/python) does not reach a "
        "cluster-mode driver, which runs on the master's host: name its Python with --conf "
        "spark.pyspark.driver.python=... (a path there, or ./environment/bin/python in "
        "--archives ENV.tar.gz#environment)\n")


def test_vega_shell_runs_in_pyspark_driver_python_and_refuses_jupyter(vega_cli, envs):
    """vega shell under PYSPARK_DRIVER_PYTHON (a Python): the session's Python is that one;
    PYSPARK_DRIVER_PYTHON=jupyter with PYSPARK_DRIVER_PYTHON_OPTS=notebook (pyspark's notebook
    idiom) is refused, saying how a notebook gets a Context instead."""
    session = vega_cli("shell", "--master", "local", input="import sys; print(sys.executable)\n",
                       env={"PYSPARK_DRIVER_PYTHON": _made(envs[0])})
    assert (session.returncode, session.stdout) == (0, _made(envs[0]) + "\n"), session.stderr
    refused = vega_cli("shell", input="print(1)\n", env={
        "PYSPARK_DRIVER_PYTHON": "jupyter", "PYSPARK_DRIVER_PYTHON_OPTS": "notebook"})
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        "vega: error: vega shell does not start Jupyter (PYSPARK_DRIVER_PYTHON=jupyter, "
        "PYSPARK_DRIVER_PYTHON_OPTS=notebook)\nStart it yourself (jupyter notebook) and make "
        "the Context in a cell: from vega_runtime import Context; sc = Context(master=...) "
        "(docs/api.md, \"In a notebook\").\n")
