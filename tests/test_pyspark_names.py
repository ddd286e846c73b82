"""``import pyspark`` means Vega (``--pyspark-compat``'s switch): PySpark's modules and
names, on the driver and inside tasks.  Each test runs in a fresh process, since the
switch stays on in the process that turns it on."""

import subprocess
import sys

from proc_helpers import REPO, clean_env


def in_pyspark_compat_process(source: str) -> str:
    """What ``source`` prints in a fresh process with ``--pyspark-compat``'s switch on (it
    stays on in the process that turns it on)."""
    run = subprocess.run([sys.executable, "-c",
                          "from vega_runtime.pyspark_alias import install\ninstall()\n" + source],
                         cwd=REPO, env=clean_env(PYTHONPATH=REPO), capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_pyspark_core_modules_import_under_the_compat_switch():
    """PySpark 4's homes of the RDD API (pyspark.core.rdd, .context, .broadcast, .files), as
    its own docs import them, are Vega's modules; pyspark.rdd has BoundedFloat."""
    assert in_pyspark_compat_process(
        "from pyspark.core.context import SparkContext\n"
        "from pyspark.core.rdd import RDD\n"
        "from pyspark.core.broadcast import Broadcast\n"
        "from pyspark.core.files import SparkFiles\n"
        "from pyspark.rdd import BoundedFloat\n"
        "import pyspark\n"
        "print(SparkContext is pyspark.SparkContext, RDD is pyspark.RDD,\n"
        "      Broadcast is pyspark.Broadcast, SparkFiles is pyspark.SparkFiles,\n"
        "      BoundedFloat(100.0, 0.95, 95.0, 105.0))\n") == "True True True True 100.0\n"


def test_a_context_starts_after_an_import_of_pyspark_resource_requests():
    """``pyspark.resource.requests`` is Vega's ``resources`` module, as its package is: the
    import system sets each submodule on its package, so importing it made the module's
    own ``requests`` function the module, and every Context started after it failed with
    "'module' object is not callable" (all of PySpark's doctests on a master once a module
    of them imported it)."""
    assert in_pyspark_compat_process(
        "from pyspark.resource.requests import ExecutorResourceRequests\n"
        "from pyspark import SparkContext\n"
        "sc = SparkContext('local[2]', 'after')\n"
        "print(sc.parallelize([1, 2]).count())\n"
        "sc.stop()\n") == "2\n"


def test_pyspark_status_imports_under_the_compat_switch():
    """``from pyspark.status import StatusTracker, SparkJobInfo, SparkStageInfo`` (PySpark's
    module of what ``sc.statusTracker()`` gives) works; before: ImportError 'pyspark.status
    is not available'."""
    assert in_pyspark_compat_process(
        "from pyspark import SparkContext\n"
        "from pyspark.status import StatusTracker, SparkJobInfo, SparkStageInfo\n"
        "sc = SparkContext('local', 'status')\n"
        "sc.setJobGroup('g', 'd')\n"
        "sc.parallelize([1, 2], 2).count()\n"
        "tracker = sc.statusTracker()\n"
        "job = tracker.getJobInfo(tracker.getJobIdsForGroup('g')[0])\n"
        "stage = tracker.getStageInfo(job.stageIds[0])\n"
        "print(isinstance(tracker, StatusTracker), isinstance(job, SparkJobInfo),\n"
        "      isinstance(stage, SparkStageInfo), job.status, stage.numTasks)\n"
        "sc.stop()\n") == "True True True SUCCEEDED 2\n"


def test_portable_hash_imports_from_pyspark_rdd_under_the_compat_switch():
    """`from pyspark.rdd import portable_hash` works with --pyspark-compat (in a fresh
    process: the switch stays installed in the one that turns it on)."""
    assert in_pyspark_compat_process(
        "from pyspark.rdd import portable_hash\n"
        "from vega_runtime.rdd.partitioner import portable_hash as vegas\n"
        "print(portable_hash is vegas)\n") == "True\n"


def test_resources_are_empty_and_pysparks_top_level_names_import():
    """Vega schedules cores only: a task's and the driver's custom resources are {}, what
    PySpark gives when none are configured; ``from pyspark import StatusTracker, Row...``
    and ``from pyspark.rdd import Partitioner, StatCounter`` work as in PySpark."""
    assert in_pyspark_compat_process(
        "from pyspark import SparkContext, TaskContext, StatusTracker, SparkJobInfo, "
        "SparkStageInfo, Row\n"
        "from pyspark.rdd import Partitioner, StatCounter\n"
        "with SparkContext('local[2]', 'resources') as sc:\n"
        "    print(sc.resources, sc.parallelize([1], 1)"
        ".map(lambda _: TaskContext.get().resources()).collect())\n") == "{} [{}]\n"


def test_import_pyspark_inside_a_task_means_vega_on_a_clusters_executors():
    """A task's function that imports pyspark (``from pyspark import TaskContext`` inside
    ``mapPartitionsWithIndex``) gets Vega's module on a cluster's executors, as the driver
    does; PySpark gives [(0, 0), (1, 1)].  Before, those executors (not forked from the
    driver) had no switch: ModuleNotFoundError: No module named 'pyspark'."""
    assert in_pyspark_compat_process(
        "from pyspark import SparkContext\n"
        "sc = SparkContext('local-cluster[2,1]', 'compat-in-tasks')\n"
        "def ids(index, it):\n"
        "    from pyspark import TaskContext\n"
        "    return [(index, TaskContext.get().partitionId())]\n"
        "print(sc.parallelize(range(4), 2).mapPartitionsWithIndex(ids).collect())\n"
        "sc.stop()\n") == "[(0, 0), (1, 1)]\n"


def test_spark_settings_with_a_vega_counterpart_take_effect_and_are_not_called_useless():
    """A PySpark program's speculation, dynamic allocation, executor heartbeat and timeout
    and driver address settings set Vega's (conf/vega-defaults.yaml names them as their
    Spark counterparts); before, the warning said Vega had no use for them, and they were
    dropped."""
    run = subprocess.run(
        [sys.executable, "-c",
         "from vega_runtime.pyspark_alias import install\ninstall()\n"
         "from pyspark import SparkConf, SparkContext\n"
         "conf = SparkConf().setAll([\n"
         "    ('spark.speculation', 'true'), ('spark.speculation.multiplier', '3'),\n"
         "    ('spark.speculation.quantile', '0.5'),\n"
         "    ('spark.speculation.minTaskRuntime', '250ms'),\n"
         "    ('spark.dynamicAllocation.enabled', 'false'),\n"
         "    ('spark.dynamicAllocation.minExecutors', '1'),\n"
         "    ('spark.dynamicAllocation.maxExecutors', '4'),\n"
         "    ('spark.dynamicAllocation.initialExecutors', '2'),\n"
         "    ('spark.dynamicAllocation.schedulerBacklogTimeout', '2s'),\n"
         "    ('spark.dynamicAllocation.sustainedSchedulerBacklogTimeout', '3s'),\n"
         "    ('spark.dynamicAllocation.executorIdleTimeout', '1min'),\n"
         "    ('spark.dynamicAllocation.cachedExecutorIdleTimeout', 'infinity'),\n"
         "    ('spark.executor.heartbeatInterval', '5s'), ('spark.network.timeout', '300s'),\n"
         "    ('spark.driver.host', '127.0.0.1'), ('spark.driver.bindAddress', '127.0.0.1'),\n"
         "    ('spark.ui.port', '4050')])\n"
         "sc = SparkContext('local[2]', 'mapped', conf=conf)\n"
         "keys = ['speculation', 'speculation.multiplier', 'speculation.quantile',\n"
         "        'speculation.min_runtime', 'dynamic_allocation.enabled',\n"
         "        'dynamic_allocation.min_executors', 'dynamic_allocation.max_executors',\n"
         "        'dynamic_allocation.initial_executors',\n"
         "        'dynamic_allocation.scheduler_backlog_timeout',\n"
         "        'dynamic_allocation.sustained_scheduler_backlog_timeout',\n"
         "        'dynamic_allocation.executor_idle_timeout',\n"
         "        'dynamic_allocation.cached_executor_idle_timeout',\n"
         "        'executor.heartbeat_interval', 'executor.timeout',\n"
         "        'driver.host', 'driver.bind']\n"
         "print([sc.conf['vega.' + k] for k in keys])\n"
         "sc.stop()\n"],
        cwd=REPO, env=clean_env(PYTHONPATH=REPO), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("[True, 3.0, 0.5, 0.25, False, 1, 4, 2, 2.0, 3.0, 60.0, inf, 5.0, "
                          "300.0, '127.0.0.1', '127.0.0.1']\n")
    ignored = [line for line in run.stderr.splitlines() if "no use for these Spark" in line]
    assert [line.split("ignores them: ")[1] for line in ignored] == ["spark.ui.port"]


def test_from_pyspark_import_of_a_module_vega_lacks_names_it_and_says_why():
    """``from pyspark.sql import functions as F`` (and ``from pyspark import ml``, ``pandas``),
    PySpark programs' usual spelling, raise the ImportError that ``import pyspark.sql.functions``
    raises, naming PySpark's module and what Vega implements; it was Python's "cannot import
    name 'functions' from 'vega_runtime.pyspark_compat.sql'", naming a module of Vega's."""
    out = in_pyspark_compat_process(
        "for source in ('from pyspark.sql import functions as F',\n"
        "               'from pyspark.sql.types import StructType',\n"
        "               'from pyspark import ml', 'from pyspark import pandas as ps',\n"
        "               'import pyspark.sql.functions'):\n"
        "    try:\n"
        "        exec(source)\n"
        "    except ImportError as exc:\n"
        "        print(type(exc).__name__, exc.name, '|', str(exc)[:str(exc).find('(')])\n"
        "from pyspark import sql, SparkContext\n"
        "from pyspark.sql import SparkSession, session\n"
        "from pyspark.sql.types import Row\n"  # Row's canonical home (a row's class, too)
        "print(hasattr(sql, 'functions'), Row is sql.Row, Row(a=1).asDict())\n")
    head = "is not available: Vega implements PySpark's RDD API "
    assert out.splitlines() == [
        f"NotInVega pyspark.sql.functions | pyspark.sql.functions {head}",
        f"NotInVega pyspark.sql.types.StructType | pyspark.sql.types.StructType {head}",
        f"NotInVega pyspark.ml | pyspark.ml {head}",
        f"NotInVega pyspark.pandas | pyspark.pandas {head}",
        f"NotInVega pyspark.sql.functions | pyspark.sql.functions {head}",
        "False True {'a': 1}"]


def test_a_pyspark_job_runs_with_its_imports_changed_to_vega_runtime(tmp_path):
    """docs/api.md's way off ``--pyspark-compat``: ``from pyspark import X`` becomes ``from
    vega_runtime import X`` for each of PySpark's top-level names Vega implements.  A job
    importing ``SparkConf``, PySpark's usual first line, failed with "cannot import name
    'SparkConf' from 'vega_runtime'" (and so did StatusTracker, BasicProfiler, RDDBarrier,
    InheritableThread ...) under a plain ``vega submit``."""
    from proc_helpers import vega
    import vega_runtime.pyspark_compat as compat

    names = sorted(set(compat.__all__) - {"Row"})  # Row is pyspark.sql's, not pyspark's
    job = tmp_path / "job.py"
    job.write_text(
        f"from vega_runtime import {', '.join(names)}\n"
        "import vega_runtime.pyspark_compat as compat\n"
        # vega_runtime's SparkContext is the Context, which takes a SparkConf too
        f"print([n for n in {names!r} if globals()[n] is not getattr(compat, n)])\n"
        "sc = SparkContext(conf=SparkConf().setAppName('migrated').setMaster('local'))\n"
        "print(sc.app_name, SparkConf().get('spark.myapp.input'),\n"
        "      sc.parallelize(range(4)).map(lambda x: x * 2).sum())\n"
        "sc.stop()\n")
    run = vega("submit", "--conf", "spark.myapp.input=/data/in", str(job), timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "['SparkContext']\nmigrated /data/in 12\n"
