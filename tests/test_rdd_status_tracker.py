"""PySpark's job status and control: ``statusTracker()`` (jobs, stages and their names,
executors), job groups and their cancellation, on every master kind."""

import os
import sys
import time
from operator import add

from proc_helpers import start_job_in_thread, wait_for

from vega_runtime import JobCancelled


def test_a_jobs_status_lists_the_stages_it_skips(ctx):
    """getJobInfo(...).stageIds includes a shuffle map stage whose output a job reuses: a
    stage of its own, as in Spark (which forgets a job's stages when it ends), that runs
    no task."""
    pairs = ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduce_by_key(lambda a, b: a + b)
    ctx.setJobGroup("skips-1", "first")
    pairs.collect()
    ctx.setJobGroup("skips-2", "second, reusing the map output")
    pairs.collect()
    tracker = ctx.statusTracker()
    first, second = (tracker.getJobInfo(tracker.getJobIdsForGroup(g)[0]) for g in ("skips-1", "skips-2"))
    map_stage = first.stageIds[0]
    assert len(first.stageIds) == 2 and len(second.stageIds) == 2
    assert second.stageIds[0] > first.stageIds[1] > map_stage
    skipped = tracker.getStageInfo(second.stageIds[0])  # its output is reused: no task runs
    assert (skipped.name, skipped.numTasks, skipped.numActiveTasks, skipped.numCompletedTasks) \
        == (tracker.getStageInfo(map_stage).name, 2, 0, 0)
    assert skipped.name.startswith("reduce_by_key at ")
    assert tracker.getStageInfo(second.stageIds[1]).numCompletedTasks == 2


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


def test_stages_are_named_as_pysparks(ctx):
    """A result stage takes its job's name and a shuffle's map stage where the shuffle was
    asked for, as PySpark's (``reduceByKey at job.py:6``, ``count at job.py:7``; PySpark's
    paths are whole and its names its own spelling)."""
    ctx.setJobGroup("compat-names", "named stages")
    try:
        line = sys._getframe().f_lineno + 1
        pairs = ctx.parallelize(range(4), 2).map(lambda x: (x % 2, x)).reduceByKey(add)
        assert pairs.count() == 2
    finally:
        ctx.setLocalProperty("spark.jobGroup.id", None)
    tracker = ctx.statusTracker()
    info = tracker.getJobInfo(tracker.getJobIdsForGroup("compat-names")[0])
    here = os.path.basename(__file__)
    assert [tracker.getStageInfo(s).name for s in info.stageIds] == [
        f"reduce_by_key at {here}:{line}", f"count at {here}:{line + 1}"]


def test_status_tracker_lists_the_driver_and_executors_with_their_cache_and_tasks(ctx, tmp_path):
    """getExecutorInfos(): the driver first, then each executor, with the bytes of cached
    partitions it keeps in memory and the task it runs, as PySpark's SparkExecutorInfo."""
    # a vega:// master's executors register as the master starts them: under load one may
    # not have yet (defaultParallelism is at least 2 whatever has registered, as Spark's)
    executors = 1 if ctx.master == "local" else 1 + ctx.defaultParallelism
    wait_for(lambda: len(ctx.statusTracker().getExecutorInfos()) == executors, 30,
             f"{executors - 1} executors to register")
    cached = ctx.parallelize(range(1000), 4).map(lambda x: x * 2).cache()
    assert cached.count() == 1000
    infos = ctx.statusTracker().getExecutorInfos()
    memory = next(r["memory_bytes"] for r in ctx.cached_rdds() if r["id"] == cached.id())
    assert memory > 0 and sum(info.cacheSize for info in infos) == memory
    assert all(info.usedOnHeapStorageMemory == info.cacheSize and info.port >= 0 and
               info.usedOffHeapStorageMemory == info.totalOffHeapStorageMemory == 0
               for info in infos)
    assert len(infos) == executors
    assert all(info.numRunningTasks == 0 for info in infos)
    release = tmp_path / "release"

    def wait_for_release(_):
        while not release.exists():
            time.sleep(0.01)

    thread, outcome = start_job_in_thread(
        ctx, "executor-infos", "one task waiting",
        lambda: ctx.parallelize([1], 1).foreach(wait_for_release))
    try:
        wait_for(lambda: sum(i.numRunningTasks for i in ctx.statusTracker().getExecutorInfos()) == 1,
                 30, "the task to be listed as running")
    finally:
        release.touch()
        thread.join(30)
        ctx.setLocalProperty("spark.jobGroup.id", None)
    assert outcome == [None]
    cached.unpersist()
    assert sum(info.cacheSize for info in ctx.statusTracker().getExecutorInfos()) == 0


def _run_cancellable(ctx, group):
    """Start a slow job of ``group`` in a thread; returns (thread, outcome list) once it runs."""
    thread, outcome = start_job_in_thread(
        ctx, group, "slow",
        lambda: ctx.parallelize(range(200), 200).map(lambda x: time.sleep(0.05) or x).count())
    wait_for(lambda: ctx.statusTracker().getActiveJobsIds(), 30, "the slow job to start")
    return thread, outcome


def test_cancel_job_group_cancels_its_running_job(ctx):
    """cancelJobGroup stops a running job of that group; it raises JobCancelled."""
    thread, outcome = _run_cancellable(ctx, "compat-cancel")
    ctx.cancelJobGroup("some-other-group")
    ctx.cancelJobGroup("compat-cancel")
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    [job] = ctx.statusTracker().getJobIdsForGroup("compat-cancel")  # Spark's words:
    assert str(outcome[0]) == f"job {job} cancelled part of cancelled job group compat-cancel"
    assert ctx.parallelize([1, 2]).count() == 2


def test_cancel_all_jobs_cancels_the_running_job(ctx):
    """cancelAllJobs stops whatever job is running."""
    thread, outcome = _run_cancellable(ctx, "compat-all")
    ctx.cancelAllJobs()
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    [job] = ctx.statusTracker().getJobIdsForGroup("compat-all")
    assert str(outcome[0]) == f"job {job} cancelled as part of cancellation of all jobs"
