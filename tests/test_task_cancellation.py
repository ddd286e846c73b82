"""One cancellation path on every master that runs executors: a cancelled task is
interrupted (a ``KillTask``), and its executor lives on to run the next job."""

import os
import time

import pytest

from proc_helpers import start_job_in_thread, wait_for
from vega_runtime.errors import JobCancelled


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1,1024]"])
def test_a_cancelled_task_is_interrupted_and_its_executor_serves_the_next_job(
        fresh_ctx, tmp_path, master):
    ctx = fresh_ctx(master)
    started = str(tmp_path)

    def sleep_long(x):
        open(os.path.join(started, f"task-{x}"), "w").close()
        time.sleep(120)
        return x

    thread, outcome = start_job_in_thread(
        ctx, "slow", "sleeps", lambda: ctx.parallelize(range(2), 2).map(sleep_long).collect())
    wait_for(lambda: len(os.listdir(started)) == 2, 60, "both tasks to start")
    # on local[2], the executors forked in the job's thread at its launch: they take signals
    # (the kill) all the same
    executors = sorted(ctx.backend.pool.executor_ids())
    assert len(executors) == 2
    ctx.cancelJobGroup("slow")
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    began = time.monotonic()
    assert ctx.parallelize(range(4), 2).map(lambda x: x * 2).collect() == [0, 2, 4, 6]
    assert time.monotonic() - began < 60  # the sleeping tasks were interrupted
    assert sorted(ctx.backend.pool.executor_ids()) == executors


def test_a_job_cancelled_while_its_inline_task_runs_is_cancelled(fresh_ctx, tmp_path):
    """``local`` runs a task in the driver's thread, where a cancel cannot interrupt it: a
    job whose group is cancelled while its task runs still ends cancelled when the task
    returns (PySpark's test_multiple_group_jobs), and the next job runs."""
    ctx = fresh_ctx("local")
    started, release = tmp_path / "started", tmp_path / "release"

    def wait_for_release(x):
        started.touch()
        while not release.exists():
            time.sleep(0.01)
        return x

    thread, outcome = start_job_in_thread(
        ctx, "inline", "waits", lambda: ctx.parallelize([1]).map(wait_for_release).collect())
    wait_for(started.exists, 30, "the task to start")
    ctx.cancelJobGroup("inline")
    release.touch()
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled), outcome
    assert ctx.parallelize(range(3)).map(lambda x: x + 1).collect() == [1, 2, 3]
