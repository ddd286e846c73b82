"""Several tasks in flight on one executor (``executor_pool.TASKS_IN_FLIGHT``), with real
executors: an executor running short tasks holds a few, and what happens to those waiting
behind its running task when it is lost or when they are cancelled."""

import os
import time

import pytest

from proc_helpers import executors_up, start_job_in_thread, wait_for
from vega_runtime.errors import JobCancelled
from vega_runtime.scheduler.listener import JobListener

MASTERS = ["local[2]", "local-cluster[2,1,1024]"]


class TaskInfos(JobListener):
    def __init__(self):
        self.infos = []
        self.removed = []

    def on_task_info(self, info: dict) -> None:
        self.infos.append(info)

    def on_executor_removed(self, executor_id, host, reason, lost, at, cause=""):
        self.removed.append(executor_id)


# local[2,2]: the crashing task runs again (local[2] tries a task once, as Spark's local mode)
@pytest.mark.parametrize("master", ["local[2,2]", "local-cluster[2,1,1024]"])
def test_an_executor_lost_with_tasks_waiting_behind_its_running_one_has_all_run_again(
        fresh_ctx, tmp_path, master):
    infos = TaskInfos()
    ctx = fresh_ctx(master, listeners=[infos])
    executors_up(ctx, 2)
    infos.infos.clear()
    marker = str(tmp_path / "crashed")

    def crash_once(x):
        if x == 60 and not os.path.exists(marker):
            open(marker, "w").close()
            time.sleep(0.5)  # the driver sends this executor more short tasks meanwhile
            os._exit(3)
        return x * 2

    assert ctx.parallelize(range(200), 200).map(crash_once).sum() == sum(range(200)) * 2
    assert os.path.exists(marker)
    lost = [i for i in infos.infos if i["state"] == "lost"]
    assert len(lost) >= 2, lost  # the crashing task and at least one waiting behind it
    assert len({i["executor"] for i in lost}) == 1
    succeeded = sorted(i["partition"] for i in infos.infos if i["state"] == "success")
    assert succeeded == list(range(200))  # each partition's result counted once


@pytest.mark.parametrize("master", MASTERS)
def test_cancelling_tasks_waiting_on_busy_executors_keeps_the_executors(
        fresh_ctx, tmp_path, master):
    ctx = fresh_ctx(master)
    executors = executors_up(ctx, 2)
    started = str(tmp_path)

    def long_after_short(x):
        if x >= 6:
            open(os.path.join(started, f"task-{x}"), "w").close()
            time.sleep(120)
        return x

    thread, outcome = start_job_in_thread(
        ctx, "slow", "short tasks, then long ones", lambda: ctx.parallelize(range(40), 40).map(long_after_short).collect())
    wait_for(lambda: len(os.listdir(started)) == 2, 60, "a long task on each executor")
    in_flight = ctx.backend.pool.running()
    assert in_flight > 2  # tasks wait behind the long ones on their executors
    ctx.cancelJobGroup("slow")
    thread.join(30)
    assert isinstance(outcome[0], JobCancelled)
    assert len(os.listdir(started)) == 2  # the waiting tasks were dropped, not run
    began = time.monotonic()
    assert ctx.parallelize(range(4), 2).map(lambda x: x * 2).collect() == [0, 2, 4, 6]
    assert time.monotonic() - began < 60
    # every killed task is reported (jobs keep the driver listening), within the task
    # reaper's grace: no executor is ended for staying silent
    wait_for(lambda: ctx.parallelize(range(2), 2).count() == 2
             and ctx.backend.pool.running() == 0, 30, "the killed tasks' reports")
    assert sorted(ctx.backend.pool.executor_ids()) == executors


class MarkWhenDone(JobListener):
    """Creates ``marker`` once the driver has heard that ``partitions`` succeeded."""

    def __init__(self, marker, partitions):
        self.marker, self.waiting = marker, set(partitions)

    def on_task_info(self, info: dict) -> None:
        if info["state"] == "success":
            self.waiting.discard(info["partition"])
            if not self.waiting and not os.path.exists(self.marker):
                open(self.marker, "w").close()


@pytest.mark.parametrize("master", ["local[1]", "local-cluster[1,1,1024]"])
def test_results_an_executor_holds_reach_the_driver_while_a_long_task_runs(
        fresh_ctx, tmp_path, master):
    """Short tasks' results wait for those of the tasks after them (one write for many), but
    not for the end of a long one: the driver hears of partitions 1-3 while partition 4 runs,
    which waits for the driver to have heard (else it runs out its minute)."""
    marker = str(tmp_path / "heard")
    ctx = fresh_ctx(master, listeners=[MarkWhenDone(marker, [1, 2, 3])])
    executors_up(ctx, 1)

    def long_fourth(x):
        if x == 4:  # the executor holds the results of 1-3: 16 more tasks wait behind this
            deadline = time.monotonic() + 60
            while not os.path.exists(marker) and time.monotonic() < deadline:
                time.sleep(0.01)
            return os.path.exists(marker)
        return True

    began = time.monotonic()
    assert ctx.parallelize(range(21), 21).map(long_fourth).collect() == [True] * 21
    assert time.monotonic() - began < 30
