"""Jobs of several threads run on one Context at the same time, as Spark runs them: they
overlap, FIFO and FAIR decide whose tasks get free executors, a map stage two jobs need
runs once, and cancelling or failing one job leaves the other's result exact."""

import os
import signal
import threading
import time
from operator import add

import pytest

from proc_helpers import start_job_in_thread, wait_for

from vega_runtime import Context
from vega_runtime.errors import JobCancelled
from vega_runtime.scheduler.listener import JobListener

MASTERS = ["local[2]", "local-cluster[2,1]"]


class TaskStarts(JobListener):
    """The stage of each task attempt started, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.starts = []

    def on_task_start(self, stage_id, partition, task_id, attempt, executor_id, host, speculative):
        with self.lock:
            self.starts.append(stage_id)

    def since(self, mark):
        with self.lock:
            return self.starts[mark:]


def wait_for_file(path, timeout=20.0):
    """(In a task.) Whether ``path`` appeared within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def in_thread(ctx, action, group=None, pool=None):
    """Run ``action()`` in a thread of job group ``group`` and scheduler pool ``pool``;
    returns the thread and a list that gets its result or exception."""
    return start_job_in_thread(ctx, group, group, action, pool)


def _context(master, mode):
    """A Context of job mode ``mode`` whose ``starts`` (a TaskStarts listener) records the
    stage of each task started; a failing task is not retried (the failure tests' speed)."""
    starts = TaskStarts()
    ctx = Context(master=master, app_name=f"concurrent-{mode}", listeners=[starts],
                  conf={"vega.scheduler.job_mode": mode, "vega.task.max_attempts": 1})
    ctx.starts = starts
    return ctx


@pytest.fixture(scope="module", params=MASTERS)
def ctx(request):
    """One FIFO Context per master for the module: its executors are started once."""
    with _context(request.param, "fifo") as context:
        yield context


def active_jobs(ctx, n):
    """A predicate: at least ``n`` jobs are active (the status tracker's view)."""
    return lambda: len(ctx.statusTracker().getActiveJobsIds()) >= n


def test_jobs_of_two_threads_run_at_the_same_time(ctx, tmp_path):
    """Job A's task waits for a file only job B's task writes: B runs while A runs."""
    marker = tmp_path / "from-b"
    a, a_out = in_thread(ctx, lambda: ctx.parallelize([0], 1).map(
        lambda _: wait_for_file(marker)).collect())
    wait_for(active_jobs(ctx, 1), 30, "job A to start")
    b, b_out = in_thread(ctx, lambda: ctx.parallelize([0], 1).map(
        lambda _: marker.touch() or "written").collect())
    a.join(60)
    b.join(60)
    assert a_out == [[True]] and b_out == [["written"]]


def test_fifo_gives_free_executors_to_the_older_jobs_tasks(ctx, tmp_path):
    """FIFO (the default): job A's queued tasks start before any of job B's, submitted
    while A's first tasks ran."""
    go = tmp_path / "go"
    mark = len(ctx.starts.since(0))
    a, a_out = in_thread(ctx, lambda: ctx.parallelize(range(4), 4).map(
        lambda x: wait_for_file(go) and x).collect())
    wait_for(lambda: len(ctx.starts.since(mark)) >= 2, 30, "job A's first two tasks")
    b, b_out = in_thread(ctx, lambda: ctx.parallelize(range(2), 2).map(lambda x: -x).collect())
    wait_for(lambda: len(ctx.statusTracker().getActiveStageIds()) >= 2, 30, "job B's stage")
    go.touch()
    a.join(60)
    b.join(60)
    assert a_out == [[0, 1, 2, 3]] and b_out == [[0, -1]]
    order = ctx.starts.since(mark)
    stage_a, stage_b = order[0], max(order)
    assert order == [stage_a] * 4 + [stage_b] * 2


@pytest.mark.parametrize("master", MASTERS)
def test_fair_mode_shares_free_executors_between_pools(master, tmp_path):
    """FAIR: a pool running no task gets the next free executor before one running some;
    job B (pool fast), submitted while job A (pool slow) holds every executor, starts a
    task before A's queued ones."""
    go = tmp_path / "go"
    with _context(master, "fair") as fair:
        a, a_out = in_thread(fair, lambda: fair.parallelize(range(4), 4).map(
            lambda x: wait_for_file(go) and x).collect(), pool="slow")
        wait_for(lambda: len(fair.starts.since(0)) >= 2, 30, "job A's first two tasks")
        b, b_out = in_thread(fair, lambda: fair.parallelize(range(2), 2).map(lambda x: -x)
                             .collect(), pool="fast")
        wait_for(lambda: len(fair.statusTracker().getActiveStageIds()) >= 2, 30, "job B's stage")
        go.touch()
        a.join(60)
        b.join(60)
        order = fair.starts.since(0)
    assert a_out == [[0, 1, 2, 3]] and b_out == [[0, -1]]
    stage_a = order[0]
    assert order[:2] == [stage_a, stage_a] and order[2] != stage_a, order


def test_cancelling_one_group_leaves_the_other_job_exact(ctx, tmp_path):
    """cancelJobGroup stops that group's job; the other thread's job, active at the same
    time, finishes with its exact result."""
    go = tmp_path / "go"
    doomed, doomed_out = in_thread(ctx, lambda: ctx.parallelize([0], 1).map(
        lambda _: wait_for_file(tmp_path / "never", 30)).collect(), group="doomed")
    wait_for(active_jobs(ctx, 1), 30, "the doomed job to start")
    kept, kept_out = in_thread(ctx, lambda: ctx.parallelize(range(10), 2).map(
        lambda x: (x % 3, wait_for_file(go) and x)).reduceByKey(add).collect(), group="kept")
    wait_for(active_jobs(ctx, 2), 30, "both jobs active")
    ctx.cancelJobGroup("doomed")
    doomed.join(30)
    assert isinstance(doomed_out[0], JobCancelled)
    assert str(doomed_out[0]).endswith("cancelled part of cancelled job group doomed")
    go.touch()
    kept.join(60)
    assert sorted(kept_out[0]) == [(0, 18), (1, 12), (2, 15)]


def test_a_failing_job_leaves_the_other_job_exact(ctx, tmp_path):
    """Job A fails while job B runs: B's result is exact."""
    running, go = tmp_path / "b-running", tmp_path / "go"

    def fail(_):
        wait_for_file(running)
        raise ValueError("job A fails")

    b, b_out = in_thread(ctx, lambda: ctx.parallelize(range(4), 1).map(
        lambda x: (running.touch(), wait_for_file(go))[1] and x * 2).collect())
    wait_for(running.exists, 30, "job B's task to run")
    a, a_out = in_thread(ctx, lambda: ctx.parallelize([0], 1).map(fail).collect())
    a.join(60)
    assert "job A fails" in str(a_out[0])
    go.touch()
    b.join(60)
    assert b_out == [[0, 2, 4, 6]]


def test_a_map_stage_two_jobs_need_runs_once(ctx, tmp_path):
    """Job B, submitted while job A computes the shuffle they both read, waits for A's map
    stage instead of computing it again: 4 map tasks in all, both results exact."""
    go = tmp_path / "go"
    pairs = ctx.parallelize(range(20), 4).map(lambda x: (x % 2, wait_for_file(go) and x)) \
        .reduceByKey(add, 2)
    mark = len(ctx.starts.since(0))
    a, a_out = in_thread(ctx, lambda: sorted(pairs.collect()))
    wait_for(lambda: ctx.starts.since(mark), 30, "job A's map tasks")
    b, b_out = in_thread(ctx, pairs.count)
    wait_for(active_jobs(ctx, 2), 30, "both jobs active")
    go.touch()
    a.join(60)
    b.join(60)
    assert a_out == [[(0, 90), (1, 100)]] and b_out == [2]
    order = ctx.starts.since(mark)
    map_stage = order[0]
    assert order.count(map_stage) == 4, order
    assert len(order) == 4 + 2 + 2  # the map stage's, then each job's result stage's


def test_ctrl_c_in_the_main_thread_cancels_every_job(ctx, tmp_path):
    """Ctrl-C (SIGINT) while the main thread waits for its job raises KeyboardInterrupt there
    at once and, as PySpark's handler cancels all jobs, the other thread's job raises
    JobCancelled; the Context runs jobs after."""
    never = tmp_path / "never"
    other, other_out = in_thread(ctx, lambda: ctx.parallelize([0], 1).map(
        lambda _: wait_for_file(never, 30)).collect())
    wait_for(active_jobs(ctx, 1), 30, "the other thread's job")

    def interrupt():
        wait_for(active_jobs(ctx, 2), 30, "both jobs active")
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ctx.parallelize([0], 1).map(lambda _: wait_for_file(never, 30)).collect()
    assert time.monotonic() - started < 10
    other.join(30)
    assert isinstance(other_out[0], JobCancelled), other_out
    assert str(other_out[0]).endswith("cancelled interrupted (Ctrl-C)")
    assert ctx.parallelize([1, 2]).count() == 2


def test_stop_cancels_the_jobs_other_threads_run(tmp_path):
    """Context.stop() while another thread's job runs cancels it (Spark's "because
    SparkContext was shut down") instead of pulling the executors from under it; so it does
    a count_approx's job running on past its deadline, at once."""
    never = tmp_path / "never"
    with _context("local[2]", "fifo") as stopped:
        other, other_out = in_thread(stopped, lambda: stopped.parallelize([0], 1).map(
            lambda _: wait_for_file(never, 30)).collect())
        wait_for(active_jobs(stopped, 1), 30, "the other thread's job")
        assert stopped.parallelize(range(10), 2).map(
            lambda x: x if x < 5 else (wait_for_file(never, 30), x)[1]).countApprox(1000) == 10
        [_, approx_job] = sorted(stopped.statusTracker().getActiveJobsIds())
        started = time.monotonic()
        stopped.stop()
        other.join(30)
    assert time.monotonic() - started < 10
    assert isinstance(other_out[0], JobCancelled), other_out
    assert str(other_out[0]).endswith("cancelled because the Context was stopped")
    assert stopped.statusTracker().getJobInfo(approx_job).status == "FAILED"


def test_a_job_past_its_deadline_runs_on_beside_another(ctx, tmp_path):
    """count_approx answers at its deadline with the partitions done by then and its job runs
    on, as Spark's, to its end (it was killed), while another thread's job, active at the
    same time, goes on to its exact result."""
    go, late = tmp_path / "go", tmp_path / "late"
    other, other_out = in_thread(ctx, lambda: ctx.parallelize([3], 1).map(
        lambda x: wait_for_file(go) and x * 2).collect())
    wait_for(active_jobs(ctx, 1), 30, "the other thread's job")
    started = time.monotonic()
    approx = ctx.parallelize(range(10), 2).map(
        lambda x: x if x < 5 else (wait_for_file(late, 30), x)[1]).countApprox(2000)
    assert approx == 10 and time.monotonic() - started < 10
    [other_job, approx_job] = sorted(ctx.statusTracker().getActiveJobsIds())
    go.touch()
    other.join(60)
    assert other_out == [[6]]
    assert ctx.statusTracker().getActiveJobsIds() == [approx_job]
    late.touch()
    wait_for(lambda: not ctx.statusTracker().getActiveJobsIds(), 30, "the job's end")
    assert ctx.statusTracker().getJobInfo(approx_job).status == "SUCCEEDED"


class UnloadableOnTheDriver:
    """A result that unpickles anywhere but in the driver (``driver_pid``'s process)."""

    def __init__(self, driver_pid):
        self.driver_pid = driver_pid

    def __reduce__(self):
        return _rebuild_outside, (self.driver_pid,)


def _rebuild_outside(driver_pid):
    if os.getpid() == driver_pid:
        raise ValueError("cannot be loaded on the driver")
    return UnloadableOnTheDriver(driver_pid)


def test_a_result_the_driver_cannot_unpickle_fails_only_its_job(ctx, tmp_path):
    """A result the driver cannot unpickle fails its job; another thread's job, active at
    the same time, finishes with its exact result."""
    go = tmp_path / "go"
    other, other_out = in_thread(ctx, lambda: ctx.parallelize(range(4), 1).map(
        lambda x: wait_for_file(go) and x + 1).collect())
    wait_for(active_jobs(ctx, 1), 30, "the other thread's job")
    driver = os.getpid()
    with pytest.raises(ValueError, match="cannot be loaded on the driver"):
        ctx.parallelize([1], 1).map(lambda x: UnloadableOnTheDriver(driver)).collect()
    go.touch()
    other.join(60)
    assert other_out == [[1, 2, 3, 4]]


def test_each_job_counts_its_own_results_against_max_result_size(tmp_path):
    """vega.driver.max_result_size holds each action's results (Spark's, per action): two
    overlapping jobs of 600 KB each pass a 1 MB limit that their sum exceeds."""
    a_runs, b_runs = tmp_path / "a", tmp_path / "b"
    with Context(master="local[2]", app_name="result-size",
                 conf={"vega.driver.max_result_size": "1m"}) as limited:
        b, b_out = in_thread(limited, lambda: limited.parallelize([0], 1).map(
            lambda _: (b_runs.touch(), wait_for_file(a_runs))[1] and b"b" * 600_000).collect())
        a = limited.parallelize([0], 1).map(
            lambda _: (a_runs.touch(), wait_for_file(b_runs))[1] and b"a" * 600_000).collect()
        b.join(60)
    assert a == [b"a" * 600_000] and b_out == [[b"b" * 600_000]]
