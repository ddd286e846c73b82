"""``vega status DRIVER_ID`` (spark-submit's ``--status SUBMISSION_ID``) and what a killed
cluster-mode driver's application is reported as, through the real CLI."""

import json
import re

import pytest

from proc_helpers import vega, wait_for
from test_cluster_cli import cluster, write  # noqa: F401  (the module's master and worker)


def _submit_sleeper(cluster, tmp_path, name, *options):  # noqa: F811
    """A detached cluster-mode driver whose application runs a task for two minutes; its
    driver id and its application's id once that runs."""
    job = write(tmp_path / f"{name}.py",
                "import time\nfrom vega_runtime import Context\n"
                f"with Context(app_name={name!r}) as ctx:\n"
                "    ctx.parallelize([1], 1).map(lambda x: time.sleep(120)).collect()\n")
    submitted = vega("submit", "--deploy-mode", "cluster", "--detach", *options, job,
                     env=cluster["env"])
    assert submitted.returncode == 0, submitted.stderr
    driver_id = re.search(r"driver-\d{14}-\d{4}", submitted.stderr).group(0)

    def running_app():
        apps = json.loads(vega("status", "--json", env=cluster["env"]).stdout)["applications"]
        return [a["id"] for a in apps if a["name"] == name and a["state"] == "running"]

    return driver_id, wait_for(running_app, what="the driver's application to run")[0]


def _status(cluster):  # noqa: F811
    return json.loads(vega("status", "--json", env=cluster["env"]).stdout)


def test_vega_status_of_a_driver_shows_its_state_host_start_and_application(  # noqa: F811
        cluster, tmp_path):
    """vega status DRIVER_ID: the driver's state in Spark's DriverState words, the host it
    runs on (the master's), when it started and its application; --json the same as a
    document.  Exit code 0 whatever the state."""
    driver_id, app_id = _submit_sleeper(cluster, tmp_path, "status-of-one")
    try:
        result = vega("status", driver_id, env=cluster["env"])
        assert result.returncode == 0, result.stderr
        fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1)
                      for line in result.stdout.splitlines() if line.strip())
        driver = [d for d in _status(cluster)["drivers"] if d["id"] == driver_id][0]
        assert fields["driver"] == driver_id and fields["state"] == "RUNNING"
        assert fields["name"] == "status-of-one" and fields["host"] == "127.0.0.1"
        assert fields["pid"] == str(driver["pid"]) and fields["restarts"] == "0"
        assert fields["application"] == f"{app_id} (running)"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", fields["started"])
        as_json = json.loads(vega("status", "--json", driver_id, env=cluster["env"]).stdout)
        assert (as_json["id"], as_json["state"], as_json["spark_state"], as_json["host"],
                as_json["application"]) == (driver_id, "running", "RUNNING", "127.0.0.1", app_id)
    finally:
        assert vega("kill", driver_id, env=cluster["env"]).returncode == 0
    killed = vega("status", driver_id, env=cluster["env"])
    assert killed.returncode == 0 and re.search(r"^state\s+KILLED$", killed.stdout, re.M)


def test_a_killed_cluster_mode_drivers_application_is_shown_killed(  # noqa: F811
        cluster, tmp_path):
    """vega kill DRIVER_ID: the driver is killed and so is its application (it was shown
    finished, as if its job had ended well), in vega status and the web UI's JSON."""
    driver_id, app_id = _submit_sleeper(cluster, tmp_path, "killed-driver")
    killed = vega("kill", driver_id, env=cluster["env"])
    assert killed.returncode == 0, killed.stderr

    def ended():
        status = _status(cluster)
        app = [a for a in status["applications"] if a["id"] == app_id][0]
        driver = [d for d in status["drivers"] if d["id"] == driver_id][0]
        return (driver["state"], app["state"]) if app["state"] != "running" else None

    assert wait_for(ended, timeout=20, what="the application to end") == ("killed", "killed")


def test_vega_status_of_an_unknown_malformed_or_unreachable_id_says_so(  # noqa: F811
        cluster, tmp_path):
    """An id the master does not know: exit 1 naming it; one no driver can have: exit 2
    with the form ids take; a master that does not answer: exit 3."""
    unknown = vega("status", "driver-20000101000000-0042", env=cluster["env"])
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "the master knows no application or driver 'driver-20000101000000-0042'" \
        in unknown.stderr
    malformed = vega("status", "driver-42", env=cluster["env"])
    assert malformed.returncode == 2
    assert "'driver-42' is no application or driver id: ids look like" in malformed.stderr
    gone = vega("status", "--master", "vega://127.0.0.1:9", "driver-20000101000000-0042",
                env=cluster["env"])
    assert gone.returncode == 3 and "cannot reach the master at vega://127.0.0.1:9" \
        in gone.stderr


def test_vega_status_of_an_application_id_shows_the_application(  # noqa: F811
        cluster, tmp_path):
    """vega status APP_ID (as vega kill and vega logs take either): its state and driver."""
    job = write(tmp_path / "quick.py", "from vega_runtime import Context\n"
                "with Context(app_name='quick-one') as ctx:\n    ctx.parallelize([1]).count()\n")
    done = vega("submit", job, env=cluster["env"])
    assert done.returncode == 0, done.stderr
    app_id = [a for a in _status(cluster)["applications"] if a["name"] == "quick-one"][0]["id"]
    result = vega("status", app_id, env=cluster["env"])
    assert result.returncode == 0, result.stderr
    assert re.search(r"^application\s+" + app_id + "$", result.stdout, re.M)
    assert re.search(r"^state\s+FINISHED$", result.stdout, re.M)


def test_a_cluster_mode_drivers_spark_conf_has_what_vega_submit_was_given(  # noqa: F811
        cluster, tmp_path):
    """--deploy-mode cluster --conf spark.myapp.input=...: the driver's SparkConf() has it,
    spark.submit.deployMode 'cluster' and its master and name, as spark-submit's cluster-mode
    driver; the setting Vega has no use for is named once (by the submitter), not again by
    the driver."""
    job = write(tmp_path / "conf_job.py",
                "from pyspark import SparkConf, SparkContext\n"
                "sc = SparkContext.getOrCreate()\n"
                "print([SparkConf().get(k) for k in ('spark.master', 'spark.app.name', "
                "'spark.myapp.input', 'spark.submit.deployMode')], flush=True)\n"
                "sc.stop()\n")
    result = vega("submit", "--deploy-mode", "cluster", "--pyspark-compat", "--name", "n",
                  "--conf", "spark.myapp.input=/data/in", job, env=cluster["env"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str([cluster["url"], "n", "/data/in", "cluster"])]
    assert result.stderr.count("spark.myapp.input") == 1, result.stderr


def test_killing_a_supervised_cluster_mode_drivers_application_kills_its_driver(  # noqa: F811
        cluster, tmp_path):
    """vega kill APP_ID of the application a supervised cluster-mode driver runs: the driver
    is killed with it, both shown killed.  Before, the driver's job failed (JobCancelled),
    the driver exited 130 and --supervise started it again: the job ran once more."""
    driver_id, app_id = _submit_sleeper(cluster, tmp_path, "supervised-app-killed",
                                        "--supervise")
    killed = vega("kill", app_id, env=cluster["env"])
    assert killed.returncode == 0, killed.stderr

    def ended():
        status = _status(cluster)
        driver = [d for d in status["drivers"] if d["id"] == driver_id][0]
        app = [a for a in status["applications"] if a["id"] == app_id][0]
        return driver["state"] not in ("running", "submitted") and (driver["state"],
                                                                    driver["restarts"],
                                                                    app["state"])

    assert wait_for(ended, timeout=20, what="the driver to end") == ("killed", 0, "killed")


@pytest.mark.parametrize("mode", ["client", "cluster"])
def test_resource_flags_on_a_cluster_master_are_in_the_jobs_spark_conf(  # noqa: F811
        cluster, tmp_path, mode):
    """vega submit --executor-memory 512m --executor-cores 1 --total-executor-cores 1 on a
    vega:// master: sc.getConf() has spark.executor.memory, spark.executor.cores and
    spark.cores.max, as spark-submit's on a standalone master (checked with Spark 4.3's own
    master and worker: ['512m', '1', '1']); on a local master, none (as Spark's local)."""
    job = write(tmp_path / "flags.py",
                "from pyspark import SparkContext\n"
                "sc = SparkContext.getOrCreate()\n"
                "print([sc.getConf().get(k) for k in ('spark.executor.memory', "
                "'spark.executor.cores', 'spark.cores.max')], flush=True)\n"
                "sc.stop()\n")
    flags = ["--executor-memory", "512m", "--executor-cores", "1", "--total-executor-cores", "1"]
    result = vega("submit", "--deploy-mode", mode, "--pyspark-compat", *flags, job,
                  env=cluster["env"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['512m', '1', '1']"]
    local = vega("submit", "--master", "local", "--pyspark-compat", *flags, job,
                 env=cluster["env"])
    assert (local.returncode, local.stdout) == (0, "[None, None, None]\n"), local.stderr
