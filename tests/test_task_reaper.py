"""The task reaper (Spark's ``spark.task.reaper.killTimeout``), on every master kind with
executor processes: an executor that has not ended a killed task within
``vega.task.reaper.kill_timeout`` (its code catches the interruption and runs on) is ended
and reported lost saying why, between jobs too, and the next job runs; on ``local[N]``
what the killed attempt had written as map output is deleted."""

import os
from operator import add

import pytest

from vega_runtime import Context
from vega_runtime.errors import TaskFailed
from vega_runtime.scheduler.listener import JobListener

from proc_helpers import partial_files, pid_alive, start_job_in_thread, wait_for


class Removals(JobListener):
    def __init__(self):
        self.removed = []

    def on_executor_removed(self, executor_id, host, reason, lost, at, cause=""):
        self.removed.append((reason, cause))


def _stuck_map_job(marks: str):
    """A map stage of two tasks: partition 1 spills a run (a tiny memory bound), then
    ignores every interruption for ever, its pid in ``marks``/pid; partition 0 fails, once
    ``marks``/go exists, failing the job, whose kill partition 1's task swallows."""
    import time

    def stubborn(x):
        if x == 0:
            while not os.path.exists(os.path.join(marks, "go")):
                time.sleep(0.01)
            raise ValueError("partition 0 fails the job")
        if x == 39999:  # partition 1's last record, after runs were spilled (every 8192)
            with open(os.path.join(marks, "pid.tmp"), "w") as out:
                out.write(str(os.getpid()))
            os.rename(os.path.join(marks, "pid.tmp"), os.path.join(marks, "pid"))
            while True:
                try:
                    time.sleep(0.05)
                except BaseException:  # noqa: BLE001 - the task that will not stop
                    pass
        return x % 7, x

    return stubborn


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1,1024]"])
def test_an_executor_whose_killed_task_runs_on_is_ended_between_jobs(tmp_path, master):
    """Before, a killed task that swallowed its interruption kept its executor process
    spinning while the Context sat idle (local[N] reaped only while a job polled; a
    cluster never did, and later tasks queued behind it)."""
    removals = Removals()
    ctx = Context(master=master, app_name="reaper", listeners=[removals],
                  conf={"vega.task.reaper.kill_timeout": 0.5, "vega.task.max_attempts": 1,
                        "vega.shuffle.memory_bound": "4k"})
    try:
        marks = str(tmp_path)
        job = ctx.parallelize(range(40000), 2).map(_stuck_map_job(marks)).group_by_key(2)
        thread, outcome = start_job_in_thread(ctx, None, "stuck", job.count)
        wait_for(lambda: os.path.exists(os.path.join(marks, "pid")), 60, "the stuck task")
        with open(os.path.join(marks, "pid")) as fh:
            pid = int(fh.read())
        if master.startswith("local["):  # (a cluster's map output is on its worker's disk)
            assert partial_files(ctx.app_dir), "the stuck task spilled no run"
        open(os.path.join(marks, "go"), "w").close()
        thread.join(60)
        assert isinstance(outcome[0], TaskFailed), outcome
        assert "partition 0 fails the job" in str(outcome[0])
        wait_for(lambda: not pid_alive(pid), 30, "the stuck executor's end while idle")
        wait_for(lambda: removals.removed, 30, "its loss")
        reason, cause = removals.removed[0]
        assert cause == "kill_timeout"
        assert reason.endswith(" on for 0.5s after it was killed (its code may catch the "
                               "interruption, or sit in one C call) and was killed "
                               "(vega.task.reaper.kill_timeout is 0.5s)"), reason
        if master.startswith("local["):
            assert partial_files(ctx.app_dir) == []
        pairs = ctx.parallelize(range(20), 2).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(add).collect()) == [(0, 63), (1, 70), (2, 57)]
    finally:
        ctx.stop()
