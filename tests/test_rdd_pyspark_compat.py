"""PySpark drop-in details: attributes, missing members and behaviours that differed."""

import importlib
import math
import os
import re
import shutil
import threading
import time
from operator import add
from typing import Tuple

import pytest

from vega_runtime import RDD, Context, JobCancelled, SparkFiles, StatCounter, TaskFailed


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
    """uiWebUrl: the local cluster's master UI, None without a UI (local, local[N])."""
    if ctx.master.startswith("local-cluster"):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", ctx.uiWebUrl)
    else:
        assert ctx.uiWebUrl is None


def test_checkpoint_dir_is_per_application_and_reported(fresh_ctx, tmp_path):
    """setCheckpointDir makes a unique sub-directory; getCheckpointDir names it; RDDs go under it."""
    sc = fresh_ctx(master="local")
    assert sc.getCheckpointDir() is None
    sc.setCheckpointDir(str(tmp_path))
    directory = sc.getCheckpointDir()
    assert os.path.dirname(directory) == str(tmp_path)
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


def test_status_tracker_reports_jobs_of_a_group_and_their_stages(ctx):
    """statusTracker(): job ids per group, job and stage info after the job ended."""
    ctx.setJobGroup("compat-report", "a report")
    try:
        ctx.parallelize(range(4), 2).map(lambda x: (x % 2, x)).reduceByKey(add).collect()
    finally:
        ctx.setLocalProperty("spark.jobGroup.id", None)
    tracker = ctx.statusTracker()
    job_ids = tracker.getJobIdsForGroup("compat-report")
    assert len(job_ids) == 1
    info = tracker.getJobInfo(job_ids[0])
    assert info.status == "SUCCEEDED" and len(info.stageIds) == 2
    stage = tracker.getStageInfo(info.stageIds[-1])
    assert (stage.numTasks, stage.numActiveTasks, stage.numCompletedTasks,
            stage.numFailedTasks) == (2, 0, 2, 0)
    assert tracker.getActiveJobsIds() == [] and tracker.getActiveStageIds() == []
    assert tracker.getJobInfo(10**6) is None and tracker.getStageInfo(10**6) is None


def _run_cancellable(ctx, group):
    """Start a slow job of ``group`` in a thread; returns (thread, outcome list)."""
    outcome = []

    def job():
        ctx.setJobGroup(group, "slow")
        try:
            outcome.append(ctx.parallelize(range(200), 200).map(
                lambda x: time.sleep(0.05) or x).count())
        except BaseException as exc:  # recorded for the test to inspect
            outcome.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    deadline = time.monotonic() + 30
    while not ctx.statusTracker().getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, outcome


def test_cancel_job_group_cancels_its_running_job(ctx):
    """cancelJobGroup stops a running job of that group; it raises JobCancelled."""
    thread, outcome = _run_cancellable(ctx, "compat-cancel")
    ctx.cancelJobGroup("some-other-group")
    ctx.cancelJobGroup("compat-cancel")
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    assert str(outcome[0]) == "job cancelled: job group 'compat-cancel' was cancelled"
    assert ctx.parallelize([1, 2]).count() == 2


def test_cancel_all_jobs_cancels_the_running_job(ctx):
    """cancelAllJobs stops whatever job is running."""
    thread, outcome = _run_cancellable(ctx, "compat-all")
    ctx.cancelAllJobs()
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    assert str(outcome[0]) == "job cancelled: all jobs were cancelled"


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
    """sumApprox/meanApprox return BoundedFloat with confidence, low and high."""
    rdd = ctx.parallelize(range(10), 2)
    total, mean = rdd.sumApprox(1000, 0.9), rdd.meanApprox(1000)
    assert (total, total.confidence, total.low, total.high) == (45.0, 0.9, 45.0, 45.0)
    assert (mean, mean.confidence, mean.low, mean.high) == (4.5, 0.95, 4.5, 4.5)


def test_map_partitions_with_split_is_map_partitions_with_index(ctx):
    """The deprecated mapPartitionsWithSplit still works."""
    rdd = ctx.parallelize([1, 2, 3], 3)
    assert rdd.mapPartitionsWithSplit(lambda i, it: [i * 10 + sum(it)]).collect() == [1, 12, 23]


def test_stat_counter_as_dict():
    """StatCounter.asDict() and asDict(sample=True), as PySpark's."""
    s = StatCounter([1.0, 2.0, 3.0])
    assert s.asDict() == {"count": 3, "mean": 2.0, "sum": 6.0, "min": 1.0, "max": 3.0,
                          "stdev": math.sqrt(2 / 3), "variance": 2 / 3}
    assert s.asDict(sample=True)["variance"] == 1.0


def test_rdd_is_subscriptable_in_annotations():
    """RDD[Tuple[int, int]] works, as Spark's examples annotate."""
    alias = RDD[Tuple[int, int]]
    assert alias.__origin__ is RDD and alias.__args__ == (Tuple[int, int],)


def test_add_file_reaches_tasks_and_the_driver(ctx, tmp_path):
    """addFile: tasks and the driver read it through SparkFiles.get; listFiles names it."""
    source = tmp_path / f"greeting-{ctx.application_id}.txt"
    source.write_text("hello")
    ctx.addFile(str(source))
    name = source.name
    assert ctx.parallelize([1, 2], 2).map(
        lambda _: open(SparkFiles.get(name)).read()).collect() == ["hello", "hello"]
    assert open(SparkFiles.get(name)).read() == "hello"
    assert f"file:{source}" in ctx.listFiles


def test_add_file_of_a_directory_needs_recursive(ctx, tmp_path):
    """A directory is refused without recursive=True and shipped whole with it."""
    tree = tmp_path / f"tree-{ctx.application_id}"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("leaf")
    with pytest.raises(ValueError) as info:
        ctx.addFile(str(tree))
    assert str(info.value) == f"{tree} is a directory: pass recursive=True to add it"
    ctx.addFile(str(tree), recursive=True)
    name = tree.name
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get(name), "sub", "leaf.txt")).read()).collect() == ["leaf"]


def test_add_file_refuses_a_second_file_of_the_same_name(ctx, tmp_path):
    """Two different files with one name cannot both be added."""
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"same-{ctx.application_id}.txt").write_text(folder)
    ctx.addFile(str(tmp_path / "one" / f"same-{ctx.application_id}.txt"))
    ctx.addFile(str(tmp_path / "one" / f"same-{ctx.application_id}.txt"))  # again: a no-op
    with pytest.raises(ValueError) as info:
        ctx.addFile(str(tmp_path / "two" / f"same-{ctx.application_id}.txt"))
    assert str(info.value).startswith(f"a file named 'same-{ctx.application_id}.txt' was "
                                      "already added from ")


def test_add_py_file_makes_a_module_importable_in_tasks(ctx, tmp_path):
    """addPyFile: a module the closures use imports on the executors (and the driver)."""
    module = "compat_helper_" + re.sub(r"\W", "_", ctx.application_id)
    (tmp_path / f"{module}.py").write_text("def triple(x):\n    return 3 * x\n")
    ctx.addPyFile(str(tmp_path / f"{module}.py"))
    helper = importlib.import_module(module)
    assert ctx.parallelize([1, 2], 2).map(helper.triple).collect() == [3, 6]


def test_add_archive_is_unpacked_in_a_directory_of_its_name(ctx, tmp_path):
    """addArchive: tasks see the archive's tree under SparkFiles.get(archive name)."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "inside.txt").write_text("packed")
    archive = shutil.make_archive(str(tmp_path / f"bundle-{ctx.application_id}"), "zip",
                                  str(tmp_path / "content"))
    ctx.addArchive(archive)
    name = os.path.basename(archive)
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get(name), "inside.txt")).read()).collect() == ["packed"]
    assert f"file:{archive}" in ctx.listArchives
    assert f"file:{archive}" not in ctx.listFiles
