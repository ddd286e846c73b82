"""A Context made inside a task: refused unless its conf sets vega.executor.allow_context
(Spark's spark.executor.allowSparkContext, SPARK-32160); allowed, it runs its own jobs (on
master ``local`` unless it names one) and lives no longer than the task."""

import os
import re

import pytest
from proc_helpers import wait_for

from vega_runtime import Context, DriverOnlyError, TaskContext, TaskFailed

ALLOW = {"vega.executor.allow_context": True}


def squares_in_own_context(x):
    """(a task) the sum of squares below x + 3 by a Context of the task's own; its master;
    the task's partition once that Context stopped; what the task prints after it."""
    with Context(conf=ALLOW) as own:
        total = own.parallelize(range(x + 3), 2).map(lambda v: v * v).sum()
        master = own.master
    print(f"after the own Context of {x}")
    return x, total, master, TaskContext.get().partition_id()


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_a_task_makes_a_context_of_its_own_when_its_conf_allows_it(fresh_ctx, capsys, master):
    """The task's own Context runs its job on master local (in the task's process) and stops;
    the task is still its task after it (TaskContext, its output's prefix); before, every
    Context made in a task was refused."""
    ctx = fresh_ctx(master=master)
    assert ctx.parallelize([1, 2], 2).map(squares_in_own_context).collect() == [
        (1, 14, "local", 0), (2, 30, "local", 1)]
    where = "driver" if master == "local" else r"exec-\d"
    assert re.search(rf"^\[localhost {where} 0\.0\] after the own Context of 1$",
                     capsys.readouterr().out, re.MULTILINE)


def get_or_create_in_task(_):
    """(a task) SparkContext.getOrCreate() without spark.executor.allowSparkContext, then
    with it: the second's master, whether getOrCreate() then gives it again, its job."""
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    try:
        running = SparkContext.getOrCreate()
    except DriverOnlyError:
        pass
    else:  # (a job of the driver's Context from its own task on local would never end)
        return "not refused: got", running.app_name
    sc = SparkContext.getOrCreate(SparkConf().set("spark.executor.allowSparkContext", "true"))
    with sc:
        return sc.master, SparkContext.getOrCreate() is sc, sc.parallelize([1, 2], 2).sum()


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_get_or_create_in_a_task_gives_the_tasks_own_context(fresh_ctx, master):
    """As PySpark's Python worker, which has no SparkContext: in a task getOrCreate() makes
    one, refused without the setting, and gives the task's own once it runs; the driver's
    stays its process's. Before, it gave the driver's (on local[2] the executor's fork of
    it), whose job, on local, never ended."""
    ctx = fresh_ctx(master=master)
    assert ctx.parallelize([0], 1).map(get_or_create_in_task).collect() == [("local", True, 3)]
    assert Context.get_or_create() is ctx


def test_a_context_in_a_task_is_refused_naming_the_setting_that_allows_it(fresh_ctx):
    """Without the setting the task fails at its first attempt with PySpark's error class,
    and the message says how to allow it (Vega's and Spark's name of the setting)."""
    ctx = fresh_ctx(master="local[2]")
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda x: Context(master="local")).collect()
    assert (info.value.error_type, info.value.attempts) == (DriverOnlyError.__name__, 1)
    assert str(DriverOnlyError("creating a Context", "vega.executor.allow_context")) in \
        info.value.message
    assert "set vega.executor.allow_context (Spark's spark.executor.allowSparkContext) to " \
           "true in its conf" in info.value.message


def left_running(x):
    """(a task) a local[2] Context of the task's own, run and not stopped: its id, directory."""
    own = Context(master="local[2]", conf=ALLOW)
    assert own.parallelize(range(4), 2).sum() == 6
    return own.application_id, own.app_dir


def processes_of(application_id):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if f"--app-id\0{application_id}\0".encode() in fh.read():
                    found.append(pid)
        except OSError:
            pass  # (ended meanwhile)
    return found


def test_a_context_a_task_left_running_stops_with_the_task(fresh_ctx):
    """One the task did not stop is stopped as the task ends: its executors (forked from the
    outer executor) end and its directory goes; before, the directory stayed behind once the
    outer executor exited."""
    ctx = fresh_ctx(master="local[2]")
    [(application_id, app_dir)] = ctx.parallelize([1], 1).map(left_running).collect()
    assert not os.path.exists(app_dir)
    wait_for(lambda: not processes_of(application_id), 10, "the own Context's executors to end")


def pyspark_context_in_task(_):
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    with SparkContext(conf=SparkConf().set("spark.executor.allowSparkContext", "true")) as sc:
        return sc.master, sc.parallelize([1, 2, 3]).sum()


def test_pyspark_spark_context_in_a_task_with_allow_spark_context():
    """PySpark's test_allow_to_create_spark_context_in_executors on local, whose task runs
    in the driver's process: the task's SparkContext is not that process's running one
    (before: "Cannot run multiple SparkContexts").  (PySpark's own test, run by
    test_pyspark_unit_tests on its local-cluster[3,1,1024], hung before: the cluster's
    executors were forked while the lock SparkContexts start under was held.)"""
    from vega_runtime.pyspark_compat import SparkContext

    with SparkContext("local", "outer") as sc:
        assert sc.parallelize([0], 1).map(pyspark_context_in_task).collect() == [("local", 6)]
        assert SparkContext._active_spark_context is sc


def test_a_tasks_spark_context_takes_none_of_the_drivers_submitted_properties(monkeypatch):
    """The Spark properties vega submit gave the driver (its master, its name) are the
    driver's, as a JVM's system properties are in Spark: a task's SparkContext, in the
    driver's process on local, runs on local all the same (before: the driver's master)."""
    from vega_runtime.pyspark_compat import SparkContext
    from vega_runtime.spark_settings import SPARK_PROPERTIES_ENV

    monkeypatch.setenv(SPARK_PROPERTIES_ENV, '{"spark.master": "local[2]", "spark.app.name": "job"}')
    with SparkContext("local") as sc:
        assert sc.appName == "job"
        assert sc.parallelize([0], 1).map(pyspark_context_in_task).collect() == [("local", 6)]
