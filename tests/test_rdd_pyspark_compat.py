"""PySpark drop-in details: attributes, missing members and behaviours that differed."""

import collections
import math
import os
import pickle
import re
import signal
import sys
import threading
import time
from operator import add
from typing import Tuple

import pytest
from proc_helpers import wait_for, wait_for_file_in_task

from vega_runtime import (RDD, Context, JobCancelled, StatCounter, StorageLevel,
                          TaskContext, TaskFailed, VegaError)


def test_rdd_context_is_a_property_returning_the_context(ctx):
    """rdd.context is the Context itself, as PySpark's property."""
    assert ctx.parallelize([1]).context is ctx


def test_is_cached_is_a_property(ctx):
    """rdd.is_cached is a bool attribute that follows cache() and unpersist()."""
    rdd = ctx.parallelize([1])
    assert rdd.is_cached is False
    rdd.cache()
    assert rdd.is_cached is True
    rdd.unpersist()
    assert rdd.is_cached is False


def test_is_checkpointed_is_a_property_and_is_checkpointed_camel_a_method(ctx, tmp_path):
    """rdd.is_checkpointed (property) and rdd.isCheckpointed() (method), as in PySpark 4."""
    ctx.set_checkpoint_dir(str(tmp_path))
    rdd = ctx.parallelize([1, 2]).map(lambda x: x)
    assert rdd.is_checkpointed is False and rdd.isCheckpointed() is False
    rdd.checkpoint()
    rdd.count()
    assert rdd.is_checkpointed is True and rdd.isCheckpointed() is True
    assert isinstance(RDD.is_checkpointed, property)


def test_get_or_create_returns_the_running_context(ctx):
    """Context.getOrCreate() (SparkContext.getOrCreate) gives back the running Context."""
    assert Context.getOrCreate() is ctx
    assert Context.get_or_create() is ctx


def test_start_time_is_epoch_milliseconds(ctx):
    """sc.startTime is an int of milliseconds since the epoch, before now."""
    assert isinstance(ctx.startTime, int)
    assert 1_600_000_000_000 < ctx.startTime <= time.time() * 1000


def test_ui_web_url_names_the_master_ui_or_none(ctx):
    """uiWebUrl: the (local) cluster's master UI, None without a UI (local, local[N])."""
    if ctx.master.startswith(("local-cluster", "vega://")):
        assert re.fullmatch(r"https://127\.0\.0\.1:\d+", ctx.uiWebUrl)
    else:
        assert ctx.uiWebUrl is None


def test_checkpoint_dir_is_per_application_and_reported(fresh_ctx, tmp_path):
    """setCheckpointDir makes a unique sub-directory; getCheckpointDir names it; RDDs go under it."""
    sc = fresh_ctx(master="local")
    assert sc.getCheckpointDir() is None
    sc.setCheckpointDir(str(tmp_path))
    directory = sc.getCheckpointDir()
    assert os.path.dirname(directory) == "file:" + str(tmp_path)
    assert re.fullmatch(r"[0-9a-f-]{36}", os.path.basename(directory))
    rdd = sc.parallelize([1, 2])
    rdd.checkpoint()
    rdd.count()
    assert os.path.dirname(rdd.getCheckpointFile()) == directory


def test_local_properties_are_per_thread(ctx):
    """setLocalProperty/getLocalProperty: a value set in one thread is not seen in another."""
    ctx.setLocalProperty("team", "search")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(ctx.getLocalProperty("team")))
    thread.start()
    thread.join()
    assert ctx.getLocalProperty("team") == "search" and seen == [None]
    ctx.setLocalProperty("team", None)
    assert ctx.getLocalProperty("team") is None


def test_tasks_see_the_local_properties_of_the_thread_that_started_their_job(ctx):
    """TaskContext.getLocalProperty reads what the submitting thread had set, as in PySpark."""
    ctx.setLocalProperty("team", "search")
    try:
        seen = ctx.parallelize([1, 2, 3], 3).map(
            lambda x: TaskContext.get().getLocalProperty("team")).collect()
        missing = ctx.parallelize([1], 1).map(
            lambda x: TaskContext.get().getLocalProperty("absent")).collect()
    finally:
        ctx.setLocalProperty("team", None)
    assert seen == ["search"] * 3 and missing == [None]


def test_binary_records_cuts_files_into_fixed_length_records(ctx, tmp_path):
    """binaryRecords(path, recordLength) gives each recordLength bytes as one record."""
    (tmp_path / "r.bin").write_bytes(b"aaaabbbbcccc")
    assert ctx.binaryRecords(str(tmp_path / "r.bin"), 4).collect() == [b"aaaa", b"bbbb", b"cccc"]
    assert ctx.binary_records(str(tmp_path), record_length=6).collect() == [b"aaaabb", b"bbcccc"]


def test_binary_records_refuses_a_partial_record(ctx, tmp_path):
    """A file that is not a whole number of records fails with InputError naming it."""
    (tmp_path / "odd.bin").write_bytes(b"12345")
    with pytest.raises(TaskFailed) as info:
        ctx.binaryRecords(str(tmp_path / "odd.bin"), 2).collect()
    assert info.value.error_type == "InputError"
    assert info.value.message.endswith("odd.bin: its 5 bytes are not a whole number of "
                                       "2-byte records")


def test_sum_approx_and_mean_approx_are_bounded_floats(ctx):
    """sumApprox/meanApprox return BoundedFloat with confidence, low and high; an exact
    result (every partition in time) is certain: confidence 1.0 whatever was asked, as
    PySpark gives (Spark's evaluators).  Before, the confidence asked for (0.9, 0.95)."""
    rdd = ctx.parallelize(range(10), 2)
    total, mean = rdd.sumApprox(1000, 0.9), rdd.meanApprox(1000)
    assert (total, total.confidence, total.low, total.high) == (45.0, 1.0, 45.0, 45.0)
    assert (mean, mean.confidence, mean.low, mean.high) == (4.5, 1.0, 4.5, 4.5)


def test_map_partitions_with_split_is_map_partitions_with_index(ctx):
    """The deprecated mapPartitionsWithSplit still works."""
    rdd = ctx.parallelize([1, 2, 3], 3)
    assert rdd.mapPartitionsWithSplit(lambda i, it: [i * 10 + sum(it)]).collect() == [1, 12, 23]


def test_stat_counter_as_dict():
    """StatCounter.asDict() and asDict(sample=True), as PySpark's: the default reports the
    sample stdev and variance, sample=True the population ones (PySpark 4.3's asDict)."""
    s = StatCounter([1.0, 2.0, 3.0])
    assert s.asDict() == {"count": 3, "mean": 2.0, "sum": 6.0, "min": 1.0, "max": 3.0,
                          "stdev": 1.0, "variance": 1.0}
    assert s.asDict(sample=True)["variance"] == 2 / 3
    assert s.asDict(sample=True)["stdev"] == math.sqrt(2 / 3)


def test_rdd_is_subscriptable_in_annotations():
    """RDD[Tuple[int, int]] works, as Spark's examples annotate."""
    alias = RDD[Tuple[int, int]]
    assert alias.__origin__ is RDD and alias.__args__ == (Tuple[int, int],)


# -- behaviours that differed from PySpark -------------------------------------------------

def test_local_checkpoint_is_reported_before_its_job(ctx):
    """isLocallyCheckpointed() is True right after localCheckpoint(), as in PySpark."""
    rdd = ctx.parallelize([1, 2]).map(lambda x: x)
    assert rdd.isLocallyCheckpointed() is False
    rdd.localCheckpoint()
    assert rdd.isLocallyCheckpointed() is True
    assert rdd.is_checkpointed is False


def test_is_checkpointed_is_true_from_the_checkpoint_call(ctx, tmp_path):
    """PySpark's RDD.checkpoint doctest: rdd.is_checkpointed is True right after checkpoint(),
    before any job; isCheckpointed() turns True once a job wrote the checkpoint."""
    ctx.set_checkpoint_dir(str(tmp_path))
    rdd = ctx.range(5)
    rdd.checkpoint()
    assert (rdd.is_checkpointed, rdd.isCheckpointed(), rdd.getCheckpointFile()) == (
        True, False, None)
    assert rdd.count() == 5
    assert (rdd.is_checkpointed, rdd.isCheckpointed()) == (True, True)
    assert rdd.getCheckpointFile() is not None


def test_a_task_context_returned_by_a_task_keeps_its_identity(ctx):
    """PySpark's TaskContext doctest returns TaskContext.get() from a task: it reached the
    driver with its partition, stage, attempt and local properties (it used to fail to pickle
    on every master: its executor's services went along)."""
    ctx.set_local_property("key1", "value")
    try:
        tc = ctx.parallelize([1], 1).map(lambda _: TaskContext.get()).first()
    finally:
        ctx.set_local_property("key1", None)
    assert (tc.partitionId(), tc.attemptNumber(), tc.getLocalProperty("key1"), tc.cpus()) == (
        0, 0, "value", 1)
    assert isinstance(tc.stageId(), int) and isinstance(tc.taskAttemptId(), int)
    assert (tc.read_shuffle, tc.blocks, tc.load_broadcast) == (None, None, None)


def test_stat_counter_copy_is_independent():
    """StatCounter.copy(), PySpark's: the same statistics, merged into separately."""
    stats = StatCounter([1.0, 2.0, 3.0])
    copied = stats.copy().merge(10.0)
    assert (stats.count(), stats.max(), copied.count(), copied.max()) == (3, 3.0, 4, 10.0)
    assert copied.copy().as_dict() == copied.as_dict()


def test_spark_context_repr_names_its_class(ctx):
    """repr(sc) of a PySpark program's SparkContext reads <SparkContext ...>, as PySpark's
    doctests show it (it read <Context ...>)."""
    from vega_runtime.pyspark_compat import SparkContext

    sc = SparkContext("local", "repr")
    try:
        assert repr(sc) == (f"<SparkContext {sc.applicationId} master=local app='repr'>")
    finally:
        sc.stop()
    assert repr(ctx).startswith(f"<Context {ctx.application_id} master=")


def test_inheritable_thread_carries_the_local_properties_it_was_started_with(fresh_ctx):
    """PySpark's InheritableThread runs with the local properties (job group included) its
    starter had at start(), inheritable_thread_target with those at decoration, a plain
    thread with none; Vega's InheritableThread was a plain thread."""
    from vega_runtime.pyspark_compat import InheritableThread, inheritable_thread_target

    sc = fresh_ctx()
    sc.set_local_property("k", "v")
    sc.set_job_group("g", "a group")
    seen = {}

    def read(name):
        in_task = sc.parallelize([1], 1).map(
            lambda _: TaskContext.get().getLocalProperty("k")).collect()
        seen[name] = (sc.get_local_property("k"), sc.get_local_property("spark.jobGroup.id"),
                      in_task)

    decorated = inheritable_thread_target(lambda: read("decorated"))
    sc.set_local_property("k", "later")
    for thread in (InheritableThread(target=read, args=("inheritable",)),
                   threading.Thread(target=decorated), threading.Thread(target=read,
                                                                        args=("plain",))):
        thread.start()
        thread.join()
    assert seen == {"inheritable": ("later", "g", ["later"]), "decorated": ("v", "g", ["v"]),
                    "plain": (None, None, [None])}
    assert sc.get_local_property("k") == "later"


def test_spark_conf_debug_string_is_sorted_and_spark_home_is_kept():
    """PySpark's SparkConf doctest: toDebugString() lists the settings sorted by key (as the
    JVM's SparkConf), and sc.sparkHome is the spark.home given (None without)."""
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    conf = SparkConf(loadDefaults=False).setSparkHome("/path")
    conf.setExecutorEnv(pairs=[("VAR3", "value3"), ("VAR1", "value1")])
    assert conf.toDebugString() == ("spark.executorEnv.VAR1=value1\n"
                                    "spark.executorEnv.VAR3=value3\nspark.home=/path")
    for given, home in ((SparkConf().setMaster("local"), None),
                        (SparkConf().setMaster("local").setSparkHome("/opt/spark"), "/opt/spark")):
        sc = SparkContext(conf=given)
        try:
            assert sc.sparkHome == home
        finally:
            sc.stop()


def test_spark_context_has_pysparks_conf_attribute():
    """sc._conf, PySpark's attribute (``sc._conf.getAll()`` is a common idiom, and
    PySpark's test_appsubmit reads a user setting through it, SPARK-19307): the settings
    the context was made with, user keys included; before: AttributeError."""
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    sc = SparkContext(conf=SparkConf().setMaster("local").set("spark.test_config", "1"))
    try:
        assert sc._conf.get("spark.test_config") == "1"
        assert ("spark.master", "local") in sc._conf.getAll()
        assert sorted(sc._conf.getAll()) == sorted(sc.getConf().getAll())
    finally:
        sc.stop()


def test_spark_context_that_fails_to_start_is_not_left_running(tmp_path):
    """SparkContext(pyFiles=[a missing file]) raises, and is stopped, as PySpark's: the next
    SparkContext starts; before, the failed one stayed the running one, with no handle to
    stop it, and every later SparkContext() raised 'Cannot run multiple SparkContexts'."""
    from vega_runtime.errors import InputError
    from vega_runtime.pyspark_compat import SparkContext

    missing = str(tmp_path / "missing.py")
    with pytest.raises(InputError) as info:
        SparkContext("local", "fails", pyFiles=[missing])
    assert str(info.value) == f"cannot read {missing}: no such file or directory"
    assert SparkContext._active_spark_context is None
    sc = SparkContext("local", "next")
    try:
        assert sc.parallelize([1, 2]).sum() == 3
    finally:
        sc.stop()


def test_py_files_given_as_one_string_is_refused_before_a_context_starts(tmp_path):
    """SparkContext(pyFiles="deps.py") (a list is meant) took each character for a file:
    "ValueError: /: add_py_file takes a .py, .zip or .egg file" (PySpark's: a Java
    FileNotFoundException for '/'); now a TypeError saying to pass a list, and nothing
    starts."""
    from vega_runtime.pyspark_compat import SparkContext

    deps = tmp_path / "deps.py"
    deps.write_text("X = 1\n")
    with pytest.raises(TypeError) as info:
        SparkContext("local", "fails", pyFiles=str(deps))
    assert str(info.value) == (f"pyFiles is a list of .py, .zip or .egg files, not one "
                               f"str: pyFiles=[{str(deps)!r}]")
    assert SparkContext._active_spark_context is None and Context.get_active() is None


def test_cogroup_takes_pysparks_other_keyword(ctx):
    """rdd.cogroup(other=..., numPartitions=...), PySpark's keywords (other= was a TypeError)."""
    a, b = ctx.parallelize([("a", 1), ("b", 4)]), ctx.parallelize([("a", 2)])
    grouped = a.cogroup(other=b, numPartitions=3)
    assert grouped.getNumPartitions() == 3
    assert sorted((k, [list(v) for v in vs]) for k, vs in grouped.collect()) == [
        ("a", [[1], [2]]), ("b", [[4], []])]


def test_take_sample_of_maxsize_is_refused(ctx):
    """takeSample(False, sys.maxsize) raises ValueError, as PySpark, even for a small RDD."""
    with pytest.raises(ValueError) as info:
        ctx.parallelize(range(3)).takeSample(False, sys.maxsize)
    limit = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))
    assert str(info.value) == f"Sample size cannot be greater than {limit}."


def test_storage_level_has_pyspark_constructor_repr_and_str():
    """StorageLevel(useDisk, useMemory, useOffHeap, deserialized, replication), repr and str."""
    level = StorageLevel(False, True, False, False, 1)
    assert level == StorageLevel.MEMORY_ONLY
    assert repr(level) == "StorageLevel(False, True, False, False, 1)"
    assert str(level) == "Memory Serialized 1x Replicated"
    assert str(StorageLevel.MEMORY_AND_DISK_DESER) == "Disk Memory Deserialized 1x Replicated"
    assert str(StorageLevel.OFF_HEAP) == "Disk Memory OffHeap Serialized 1x Replicated"
    assert (level.useDisk, level.useMemory, level.useOffHeap, level.deserialized,
            level.replication) == (False, True, False, False, 1)
    assert StorageLevel(True, False, False, False) == StorageLevel.DISK_ONLY
    assert StorageLevel.DISK_ONLY_3.replication == 3


def test_custom_storage_level_persists_and_names_itself(ctx):
    """A level made with the constructor caches like the constants; its name is its repr."""
    level = StorageLevel(True, True, False, True, 2)
    rdd = ctx.parallelize(range(4), 2).persist(level)
    assert rdd.getStorageLevel() == level and rdd.sum() == 6 and rdd.sum() == 6
    assert level.name == "StorageLevel(True, True, False, True, 2)"
    assert StorageLevel.named(level.name) == level
    rdd.unpersist()


def test_task_context_constructor_inside_a_task_is_the_running_context(ctx):
    """TaskContext() inside a task returns TaskContext.get(), as in PySpark."""
    rows = ctx.parallelize([1, 2], 2).map(
        lambda _: (TaskContext() is TaskContext.get(), TaskContext().partitionId())).collect()
    assert rows == [(True, 0), (True, 1)]


def test_task_context_constructor_on_the_driver_explains_itself():
    """TaskContext() on the driver raises a VegaError that says why, not a TypeError."""
    with pytest.raises(VegaError) as info:
        TaskContext()
    assert str(info.value) == ("TaskContext() is the running task's context and exists only "
                               "inside a task; on the driver TaskContext.get() returns None")


def test_creating_a_context_inside_a_task_is_refused(ctx):
    """A Context created inside a task fails that task instead of starting a second engine."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda _: Context(master="local")).collect()
    assert info.value.error_type == "DriverOnlyError"
    assert info.value.message.startswith(
        "[CONTEXT_ONLY_VALID_ON_DRIVER] creating a Context can only be used on the driver")


@pytest.mark.parametrize("method", ["destroy", "unpersist"])
def test_broadcast_destroy_or_unpersist_inside_a_task_fails(ctx, method):
    """Broadcast.destroy()/unpersist() in a task fails it with PySpark's error: a
    PySparkRuntimeError of class INVALID_BROADCAST_OPERATION (it was a DriverOnlyError of
    class CONTEXT_ONLY_VALID_ON_DRIVER, and PySpark's own test of it failed)."""
    from vega_runtime.errors import PySparkRuntimeError

    done = {"destroy": "destroyed", "unpersist": "unpersisted"}[method]
    shared = ctx.broadcast([1, 2])
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda _: getattr(shared, method)()).collect()
    assert info.value.error_type == "PySparkRuntimeError"
    assert info.value.message.startswith(
        f"[INVALID_BROADCAST_OPERATION] Broadcast can only be {done} in driver: "
        f"Broadcast.{method}() was called inside a task")

    def caught(_):
        try:
            getattr(shared, method)()
        except RuntimeError as exc:  # PySpark's is a RuntimeError too
            return isinstance(exc, PySparkRuntimeError), exc.getCondition()

    assert ctx.parallelize([1], 1).map(caught).collect() == [
        (True, "INVALID_BROADCAST_OPERATION")]
    assert ctx.parallelize([0], 1).map(lambda i: shared.value[i]).collect() == [1]


def test_broadcast_of_the_context_is_a_pickling_error(ctx):
    """sc.broadcast(sc) raises pickle.PicklingError (a VegaError too), as PySpark."""
    with pytest.raises(pickle.PicklingError) as info:
        ctx.broadcast(ctx)
    assert isinstance(info.value, VegaError)
    assert str(info.value).startswith("Could not serialize broadcast: a Context value cannot "
                                      "be pickled ([CONTEXT_ONLY_VALID_ON_DRIVER] the Context "
                                      "can only be used on the driver")


def test_union_of_rdds_with_one_partitioner_keeps_it(ctx):
    """Two RDDs partitioned alike union into one with that partitioner and partition count."""
    a = ctx.parallelize([(1, "a"), (2, "b")]).partitionBy(3)
    b = ctx.parallelize([(1, "c"), (4, "d")]).partitionBy(3)
    both = a.union(b)
    assert both.partitioner == a.partitioner and both.getNumPartitions() == 3
    assert sorted(both.collect()) == [(1, "a"), (1, "c"), (2, "b"), (4, "d")]
    assert both.glom().map(lambda part: sorted(k for k, _ in part)).collect() == [[], [1, 1, 4], [2]]
    assert both.reduceByKey(add, 3).getNumPartitions() == 3
    different = a.union(ctx.parallelize([(1, "x")]).partitionBy(2))
    assert different.partitioner is None and different.getNumPartitions() == 5


def _jobs_seen_after_first_record(ctx, group, prefetch):
    """Jobs of ``group`` once the first record is read (waiting up to 10 s for a second)."""
    ctx.setJobGroup(group, "to_local_iterator")
    try:
        records = ctx.parallelize(range(6), 3).toLocalIterator(prefetchPartitions=prefetch)
        assert next(records) == 0
        deadline = time.monotonic() + (10 if prefetch else 0.3)
        while time.monotonic() < deadline and \
                len(ctx.statusTracker().getJobIdsForGroup(group)) < 2:
            time.sleep(0.01)
        jobs = len(ctx.statusTracker().getJobIdsForGroup(group))
        assert list(records) == [1, 2, 3, 4, 5]
        return jobs
    finally:
        ctx.setLocalProperty("spark.jobGroup.id", None)


def test_to_local_iterator_prefetches_the_next_partition(ctx):
    """With prefetchPartitions=True the next partition's job runs before it is needed."""
    assert _jobs_seen_after_first_record(ctx, "compat-prefetch-off", False) == 1
    assert _jobs_seen_after_first_record(ctx, "compat-prefetch-on", True) == 2


def test_count_approx_and_sum_approx_answer_at_the_timeout(ctx, tmp_path):
    """countApprox/sumApprox answer from the partitions done within timeout (ms), bounded;
    their jobs run on past it (Spark's), to their end."""
    go = str(tmp_path / "go")
    # local runs one task at a time and checks its deadline between tasks: its slow
    # partition is the first, 0.6 s long; elsewhere the last waits for ``go``, so that the
    # next job's first two tasks find an executor free while a job runs on, and the timeout
    # leaves a loaded machine time for those two (300 ms was short for a first job)
    local = ctx.master == "local"
    timeout = 300 if local else 1000

    def slow_one(x):
        if x == (0 if local else 29):
            time.sleep(0.6) if local else wait_for_file_in_task(go, 30)
        return x

    rdd = ctx.parallelize(range(30), 3).map(slow_one)
    started = time.monotonic()
    partial = rdd.sumApprox(timeout)
    assert partial.confidence == 0.95 and partial.low < partial.high
    assert rdd.countApprox(timeout) == 30  # equal partitions: any subset extrapolates exactly
    if not local:
        assert time.monotonic() - started < 5
    open(go, "w").close()
    exact = rdd.sumApprox(60_000)
    assert (exact, exact.low, exact.high) == (435.0, 435.0, 435.0)


def test_empty_stat_counter_matches_pyspark():
    """StatCounter() and StatCounter(None): count 0, mean 0.0, variance NaN, as PySpark."""
    for empty in (StatCounter(), StatCounter(None)):
        assert (empty.count(), empty.mean(), empty.sum()) == (0, 0.0, 0.0)
        assert math.isnan(empty.variance()) and math.isnan(empty.sampleStdev())


def crash_with_sigsegv(_):
    """Die as a segfaulting C extension would (quietly: no faulthandler dump)."""
    import faulthandler

    faulthandler.disable()
    os.kill(os.getpid(), signal.SIGSEGV)


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_killed_executor_names_the_signal(fresh_ctx, master):
    """An executor killed by SIGSEGV is reported with the signal's name, not just 'exited'."""
    sc = fresh_ctx(master=master, conf={"vega.task.max_attempts": 1})
    with pytest.raises(TaskFailed) as info:
        sc.parallelize([1], 1).map(crash_with_sigsegv).collect()
    assert info.value.error_type == "ExecutorLost"
    assert "was killed by signal 11 (SIGSEGV: Segmentation fault)" in \
        info.value.message
    assert sc.parallelize([1, 2], 2).count() == 2


def test_intersection_takes_num_partitions(ctx):
    """intersection(other, num_partitions), as the Rust Vega's, sets the result's partitions."""
    both = ctx.parallelize([1, 2, 3, 3]).intersection(ctx.parallelize([3, 2, 9]), 4)
    assert both.getNumPartitions() == 4 and sorted(both.collect()) == [2, 3]


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_a_task_refuses_a_driver_on_another_python(fresh_ctx, master):
    """With sc.pythonVer differing from the executors' Python, tasks fail naming both versions
    (PySpark's worker check); the same Context runs again once it matches."""
    sc = fresh_ctx(master=master, conf={"vega.task.max_attempts": 1})
    here = sc.pythonVer
    sc.pythonVer = "2.0"
    with pytest.raises(TaskFailed) as info:
        sc.parallelize([1, 2]).count()
    assert f"Python in the executor is {here}, the driver's is 2.0" in str(info.value)
    sc.pythonVer = here
    assert sc.parallelize([1, 2]).count() == 2


def test_cancelling_a_group_cancels_its_jobs_in_every_thread(fresh_ctx, tmp_path):
    """Jobs of a group that several threads run at the same time all raise JobCancelled
    when the group is cancelled; other groups' jobs, active too, finish (Spark's
    cancelJobGroup)."""
    sc = fresh_ctx(master="local[2]")
    release = str(tmp_path / "release")
    outcomes = {}

    def hold(x):
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
        return x

    def run(name, group):
        sc.setJobGroup(group, name)
        try:
            outcomes[name] = sc.parallelize([1], 1).map(hold).collect()
        except JobCancelled:
            outcomes[name] = "cancelled"

    threads = [threading.Thread(target=run, args=(name, group))
               for name, group in (("blocker", "hold"), ("a1", "A"), ("b1", "B"), ("a2", "A"))]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(sc.statusTracker().getActiveJobsIds()) == 4, 30, "four active jobs")
    sc.cancelJobGroup("A")
    wait_for(lambda: "a1" in outcomes and "a2" in outcomes, 30, "group A's jobs to end")
    open(release, "w").close()
    for thread in threads:
        thread.join(60)
    assert outcomes == {"blocker": [1], "a1": "cancelled", "a2": "cancelled", "b1": [1]}
    sc.setJobGroup("A", "a later job of the group")
    assert sc.parallelize([1]).count() == 1


def test_job_tags_name_jobs_to_cancel(fresh_ctx, tmp_path):
    """addJobTag/removeJobTag/getJobTags/clearJobTags are per thread; cancelJobsWithTag stops
    the running job that carries the tag (PySpark 3.5's job tags)."""
    sc = fresh_ctx(master="local[2]")
    sc.addJobTag("nightly")
    sc.addJobTag("report")
    sc.removeJobTag("report")
    assert sc.getJobTags() == {"nightly"}
    with pytest.raises(ValueError):
        sc.addJobTag("a,b")
    started = str(tmp_path / "started")
    outcome = []

    def slow(x):
        open(started, "w").close()
        time.sleep(60)
        return x

    def run():
        sc.addJobTag("nightly")
        try:
            outcome.append(sc.parallelize([1], 1).map(slow).collect())
        except JobCancelled as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not os.path.exists(started) and time.monotonic() < deadline:
        time.sleep(0.01)
    sc.cancelJobsWithTag("other")
    sc.cancelJobsWithTag("nightly")
    thread.join(30)
    assert outcome == ["job 0 cancelled part of cancelled job tags nightly"]  # Spark's words
    sc.clearJobTags()
    assert sc.getJobTags() == set() and sc.parallelize([1, 2]).count() == 2


def test_app_name_is_also_app_name_camel(ctx):
    """sc.appName, PySpark's attribute, is the application's name, as sc.app_name."""
    assert ctx.appName == ctx.app_name == ctx.conf["vega.app.name"]


def test_portable_hash_of_int_tuples_is_pysparks():
    """Tuples mix their items' hashes masked with sys.maxsize as PySpark's portable_hash, so
    tuples of ints (and None) hash to PySpark's values (computed with PySpark 4.3)."""
    from vega_runtime.rdd.partitioner import portable_hash

    if sys.maxsize != 2 ** 63 - 1:
        pytest.skip("the values are those of a 64-bit PySpark")
    assert portable_hash((123456789, 987654321)) == 4852074605472368416
    assert portable_hash((None, 1)) == 3430028580079870073
    assert portable_hash((1, (2, 3))) == 6170077550144198024


def test_count_by_key_and_count_by_value_are_defaultdicts_of_int(ctx):
    """countByKey()/countByValue() give defaultdict(int), as PySpark's: a missing key is 0."""
    by_key = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).countByKey()
    by_value = ctx.parallelize([1, 2, 1], 2).countByValue()
    assert type(by_key) is type(by_value) is collections.defaultdict
    assert by_key.default_factory is by_value.default_factory is int
    assert (dict(by_key), dict(by_value)) == ({"a": 2, "b": 1}, {1: 2, 2: 1})
    assert (by_key["missing"], by_value[3]) == (0, 0)


def test_str_of_an_accumulator_is_str_of_its_value(ctx):
    """str(acc) is str(acc.value), as PySpark's; repr names the id too."""
    acc = ctx.accumulator(0)
    ctx.parallelize([1, 2, 3], 2).foreach(lambda x: acc.add(x))
    assert str(acc) == "6"
    assert repr(acc) == f"Accumulator<id={acc.id}, value=6>"


def test_to_debug_string_camel_is_utf8_bytes_as_pyspark(ctx):
    """toDebugString() is bytes (PySpark's encodes the JVM's string); to_debug_string() a str."""
    rdd = ctx.parallelize([1, 2], 2).map(str).setName("naïve")
    text = rdd.to_debug_string()
    assert isinstance(text, str) and "naïve" in text
    assert rdd.toDebugString() == text.encode("utf-8")


def test_stats_of_an_rdd_without_partitions_raises_as_pyspark(ctx):
    """emptyRDD() has no partition whose StatCounter to reduce: stats() and what uses it
    raise PySpark's ValueError; empty partitions give an empty StatCounter (mean 0.0)."""
    for method in ("stats", "mean", "variance", "stdev", "sampleStdev", "sampleVariance"):
        with pytest.raises(ValueError, match=r"^Can not reduce\(\) empty RDD$"):
            getattr(ctx.emptyRDD(), method)()
    empty = ctx.parallelize([], 2)
    assert empty.mean() == 0.0 and math.isnan(empty.variance())
    assert str(empty.stats()) == "(count: 0, mean: 0.0, stdev: nan, max: -inf, min: inf)"


def test_stat_counter_min_and_max_are_floats_as_pyspark(ctx):
    """StatCounter's min() and max() are floats for int data, as PySpark prints them."""
    stats = ctx.parallelize([1, 2, 3, 4], 2).stats()
    assert (stats.min(), stats.max()) == (1.0, 4.0)
    assert type(stats.min()) is type(stats.max()) is float
    assert str(stats) == "(count: 4, mean: 2.5, stdev: 1.118033988749895, max: 4.0, min: 1.0)"
    assert (stats.asDict()["min"], stats.asDict()["max"]) == (1.0, 4.0)


def test_persist_refuses_to_change_the_level_as_spark(ctx):
    """Another level for a persisted RDD raises, as Spark's; the same level again is fine,
    and after unpersist() any level is."""
    rdd = ctx.parallelize([1, 2], 2).cache()
    assert rdd.persist(StorageLevel.MEMORY_ONLY) is rdd
    with pytest.raises(VegaError) as info:
        rdd.persist(StorageLevel.DISK_ONLY)
    assert str(info.value).startswith("Cannot change storage level of an RDD after it was "
                                      "already assigned a level: ")
    assert str(info.value).endswith(" is persisted at MEMORY_ONLY, not DISK_ONLY; "
                                    "unpersist() it first")
    assert rdd.getStorageLevel() == StorageLevel.MEMORY_ONLY
    rdd.unpersist()
    assert rdd.persist(StorageLevel.DISK_ONLY).getStorageLevel() == StorageLevel.DISK_ONLY
    assert rdd.collect() == [1, 2]


def test_take_ordered_of_a_negative_number_raises_as_pyspark(ctx):
    """takeOrdered(-1) raises PySpark's ValueError; take(-1) and top(-1) give [] in both."""
    rdd = ctx.parallelize([3, 1, 2], 2)
    with pytest.raises(ValueError, match=r"^top N cannot be negative\.$"):
        rdd.takeOrdered(-1)
    assert rdd.take(-1) == [] and rdd.top(-1) == [] and rdd.takeOrdered(0) == []


def test_partitioner_has_pysparks_num_partitions_and_partition_func(ctx):
    """rdd.partitioner.numPartitions and .partitionFunc, as PySpark's Partitioner has them
    (PySpark gives 3, portable_hash, 4, the function given, and partitions 2 and 3 for the
    keys 5 and 7).  Before: AttributeError: 'HashPartitioner' object has no attribute
    'numPartitions'."""
    from vega_runtime.rdd.partitioner import portable_hash

    def by_key(k):
        return k

    pairs = ctx.parallelize([(i, i) for i in range(10)], 2)
    hashed, custom = pairs.partitionBy(3), pairs.partitionBy(4, by_key)
    assert (hashed.partitioner.numPartitions, hashed.partitioner.partitionFunc) == (3, portable_hash)
    assert (custom.partitioner.numPartitions, custom.partitioner.partitionFunc) == (4, by_key)
    assert (hashed.partitioner(5), custom.partitioner(7)) == (2, 3)
    assert hashed.reduceByKey(max).partitioner.numPartitions == 3
    ranged = pairs.sortByKey(numPartitions=3)
    func, n = ranged.partitioner.partitionFunc, ranged.partitioner.numPartitions
    assert [func(k) % n for k in range(10)] == \
        [i for i, part in enumerate(ranged.glom().collect()) for _ in part]


def test_sort_by_key_of_an_empty_rdd_keeps_its_partitions_as_pyspark(ctx):
    """PySpark's sortByKey returns an empty RDD itself (``if not rddSize: return self``):
    ``parallelize([], 3).sortByKey()`` has 3 partitions there; it had 1 here."""
    empty = ctx.parallelize([], 3)
    assert empty.sort_by_key() is empty
    assert empty.sortByKey(ascending=False, numPartitions=5).getNumPartitions() == 3
    assert ctx.parallelize([], 2).sortBy(lambda x: x).getNumPartitions() == 2
    assert ctx.parallelize([(2, "b"), (1, "a")], 3).sortByKey().collect() == [(1, "a"), (2, "b")]


def test_spark_process_locality_wait_is_vegas_and_beats_the_general_one():
    from vega_runtime.pyspark_compat.conf import vega_settings

    for pairs in ([("spark.locality.wait.process", "0"), ("spark.locality.wait", "3s")],
                  [("spark.locality.wait", "3s"), ("spark.locality.wait.process", "0")]):
        assert vega_settings(pairs) == {"vega.locality.wait": 0.0}
    assert vega_settings([("spark.locality.wait", "500ms")]) == {"vega.locality.wait": 0.5}


def test_a_vega_context_takes_a_sparkconf_and_refuses_other_conf_saying_what_it_takes():
    """``Context(conf=SparkConf()...)``, a PySpark program half moved to Vega's names: its
    master, name and Spark settings are taken (as SparkContext takes them); it was
    "TypeError: 'SparkConf' object is not iterable". A conf that is neither a dict nor a
    SparkConf is a TypeError saying what conf takes."""
    from vega_runtime.pyspark_compat import SparkConf

    conf = SparkConf().setMaster("local").setAppName("mixed").set("spark.task.maxFailures", "1")
    with Context(conf=conf) as context:
        assert (context.master, context.app_name) == ("local", "mixed")
        assert context.conf["vega.task.max_attempts"] == 1
    with pytest.raises(TypeError) as info:
        Context(conf="local[2]")
    assert str(info.value) == ("conf must be a dict of settings ({'vega.task.max_attempts': 2}) "
                               "or a SparkConf, not str")


def test_parallelize_takes_a_number_of_slices_pyspark_int_s(ctx):
    """PySpark's parallelize (and range) int() numSlices, so a count read from sys.argv
    ("2") or computed (2.5) works; Vega's compared it with 0: "'<' not supported between
    instances of 'str' and 'int'". One that int() refuses is int()'s error, as PySpark's."""
    assert ctx.parallelize(range(6), "2").glom().collect() == [[0, 1, 2], [3, 4, 5]]
    assert ctx.parallelize(range(6), 3.9).get_num_partitions() == 3
    assert ctx.range(6, numSlices="3").get_num_partitions() == 3
    with pytest.raises(ValueError, match=r"^invalid literal for int\(\) with base 10: 'two'$"):
        ctx.parallelize([1], "two")
    with pytest.raises(ValueError, match="^the number of slices must be positive, not 0$"):
        ctx.parallelize([1], "0")


@pytest.mark.parametrize("call", [
    lambda pairs: pairs.join(5), lambda pairs: pairs.cogroup(5),
    lambda pairs: pairs.left_outer_join(None), lambda pairs: pairs.group_with(3),
    lambda pairs: pairs.full_outer_join([(1, "x")]), lambda pairs: pairs.cogroup(),
])
def test_joining_with_what_is_not_an_rdd_is_a_type_error_before_any_job(ctx, call):
    """PySpark raises at the call (AttributeError: 'int' object has no attribute
    'mapValues'). Vega took a lone int (or None) as cogroup's numPartitions: cogroup(5) gave
    a one-RDD cogroup, silently, and join(5) failed its tasks with 'not enough values to
    unpack'; a list failed with AttributeError naming a Vega internal."""
    pairs = ctx.parallelize([(1, "a")])
    with pytest.raises(TypeError, match=r"^(cogroup|group_with|join|left_outer_join|"
                                        r"full_outer_join)\(\) groups with other RDDs, not "):
        call(pairs)
