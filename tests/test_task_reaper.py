"""The task reaper (Spark's ``spark.task.reaper.killTimeout``), on every master kind with
executor processes: an executor that has not ended a killed task within
``vega.task.reaper.kill_timeout`` (its code catches the interruption and runs on) is ended
and reported lost saying why, between jobs too, and the next job runs; what the killed attempt had written as map output is deleted (on a
cluster by the worker that sees its executor end, whatever ended it)."""

import os
import signal
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
        # (a cluster's worker deletes them once it sees the executor's process end)
        wait_for(lambda: partial_files(ctx.app_dir) == [], 30,
                 "the reaped attempt's partial map output deleted")
        pairs = ctx.parallelize(range(20), 2).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(add).collect()) == [(0, 63), (1, 70), (2, 57)]
    finally:
        ctx.stop()


def _map_job_killed_mid_write(marks: str):
    """Three map partitions of 20000 records: partition 0 finishes; partitions 1 and 2
    spill two runs (a tiny memory bound), then write their executor's pid to ``marks``/pidP
    and wait for ``marks``/go, partition 1 only on its first attempt."""
    import time

    def mark_and_wait(x):
        part, last = divmod(x, 20000)
        if part and last == 19999:
            pid_path = os.path.join(marks, f"pid{part}")
            if not os.path.exists(pid_path):
                with open(pid_path + ".tmp", "w") as out:
                    out.write(str(os.getpid()))
                os.rename(pid_path + ".tmp", pid_path)
                while not os.path.exists(os.path.join(marks, "go")):
                    time.sleep(0.01)
        return x % 7, x

    return mark_and_wait


def _map_files(root, map_id: int):
    return [name for name in partial_files(root) + committed_files(root)
            if name.startswith(f"shuffle_0_{map_id}_")]


def committed_files(root):
    return sorted(name for _, _, names in os.walk(root) for name in names
                  if name.startswith("shuffle_") and name.endswith((".data", ".index")))


def test_a_sigkilled_cluster_executor_s_half_written_map_output_is_deleted(tmp_path):
    """Before, a cluster worker kept what a lost executor's map attempt had half-written
    (runs, a data file without its index) until the application ended. Its worker deletes
    it when the process ends (SIGKILL here), and nothing else: the committed output of a
    finished map and the runs another executor on that worker is writing stay."""
    ctx = Context(master="local-cluster[1,2]", app_name="killed-mid-write",
                  conf={"vega.shuffle.memory_bound": "4k"})
    try:
        marks = str(tmp_path)
        job = ctx.parallelize(range(60000), 3).map(_map_job_killed_mid_write(marks)) \
            .group_by_key(2).map_values(len)
        thread, outcome = start_job_in_thread(ctx, None, "killed", job.collect)
        wait_for(lambda: all(os.path.exists(os.path.join(marks, f"pid{p}")) for p in (1, 2)),
                 60, "partitions 1 and 2 mid-write")
        committed = _map_files(ctx.app_dir, 0)
        assert [name.rsplit(".", 1)[1] for name in committed] == ["data", "index"], committed
        writing = _map_files(ctx.app_dir, 2)
        assert len(writing) >= 2 and all(".run" in name for name in writing), writing
        killed = _map_files(ctx.app_dir, 1)
        assert len(killed) >= 2, "partition 1 spilled fewer than 2 runs"
        with open(os.path.join(marks, "pid1")) as fh:
            os.kill(int(fh.read()), signal.SIGKILL)
        wait_for(lambda: not set(killed) & set(_map_files(ctx.app_dir, 1)), 30,
                 "the killed attempt's partial map output deleted")
        assert _map_files(ctx.app_dir, 0) == committed
        assert _map_files(ctx.app_dir, 2) == writing
        open(os.path.join(marks, "go"), "w").close()
        thread.join(60)
        assert sorted(outcome[0]) == [(key, len(range(key, 60000, 7))) for key in range(7)]
        assert partial_files(ctx.app_dir) == []
    finally:
        ctx.stop()
