"""Hung executors (alive but not answering): executors heartbeat to their driver, which
kills one it has not heard from for ``vega.executor.timeout`` and runs its tasks elsewhere
(Spark's ``HeartbeatReceiver``), on every master kind with executor processes.

These tests SIGSTOP a real executor mid-job and check that a merely busy one is left
alone; the decision itself is tested with a fake clock in tests/test_heartbeat_receiver.py.
"""

import logging
import os
import signal
import time

import pytest

from vega_runtime import Context, StorageLevel, TaskContext
from vega_runtime.errors import ConfigError
from vega_runtime.scheduler.heartbeat_receiver import HUNG_HINT
from vega_runtime.scheduler.listener import JobListener

from proc_helpers import pid_alive, proc_state, processes_matching, start_job_in_thread, wait_for

#: a local master tries a task once, as Spark's: local[2,4] retries as clusters do
EXECUTOR_MASTERS = ["local[2,4]", "local-cluster[2,1]"]


# -- configuration ----------------------------------------------------------------------------

def test_timeout_must_be_longer_than_the_interval():
    """Spark's INVALID_EXECUTOR_HEARTBEAT_INTERVAL, with Vega's keys and the fix."""
    with pytest.raises(ConfigError) as error:
        Context(master="local[2]", conf={"vega.executor.heartbeat_interval": 2,
                                         "vega.executor.timeout": 2})
    assert str(error.value).endswith(
        "vega.executor.timeout is 2s: it must be longer than vega.executor.heartbeat_interval "
        "(2s), or executors that are fine are taken for hung; raise the timeout or lower the "
        "interval")


# -- real executors -------------------------------------------------------------------------------

class Removals(JobListener):
    def __init__(self):
        self.removed = []

    def on_executor_removed(self, executor_id, host, reason, lost, at, cause=""):
        self.removed.append((executor_id, reason, cause))


def _never_leave_stopped(pid):
    """A failed test may leave the executor it stopped: end it (it is ours) before the
    Context stops, which could otherwise wait on it."""
    if pid is not None and proc_state(pid) == "T":
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)


def _context(master, removals, interval, timeout):
    return Context(master=master, app_name="heartbeat", listeners=[removals],
                   conf={"vega.executor.heartbeat_interval": interval,
                         "vega.executor.timeout": timeout})


@pytest.mark.parametrize("master", EXECUTOR_MASTERS)
def test_stopped_executor_is_killed_and_its_task_runs_elsewhere(master, tmp_path, caplog):
    """An executor SIGSTOPped while it runs a task is taken for hung after the timeout: the
    job gets the exact result, the process is gone, and the log says once what happened and
    what to do."""
    caplog.set_level(logging.WARNING)
    pid_file = tmp_path / "pid"
    removals = Removals()
    ctx = _context(master, removals, interval=0.1, timeout=1.5)
    stopped = None

    def waits_on_first_attempt(index, records):
        if index == 1 and TaskContext.get().attemptNumber() == 0:
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)  # stopped here from outside
        return [sum(records)]

    try:
        job, outcome = start_job_in_thread(
            ctx, "hung", "one executor hangs",
            lambda: ctx.parallelize(range(100), 4).map_partitions_with_index(
                waits_on_first_attempt).collect())
        stopped = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60,
                               "the task to start"))
        os.kill(stopped, signal.SIGSTOP)
        job.join(60)
        assert outcome == [[300, 925, 1550, 2175]]
        assert len(removals.removed) == 1
        executor_id, reason, cause = removals.removed[0]
        assert cause == "executor_timeout"
        assert reason.startswith(f"executor {executor_id} on ")
        assert " sent no heartbeat for " in reason
        assert reason.endswith(" and was killed (vega.executor.timeout is 1.5s) while running "
                               "task 0.1")
        wait_for(lambda: not pid_alive(stopped), 15, "the stopped executor to be killed")
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings.count(HUNG_HINT) == 1
        assert warnings.count(reason) == 1  # and once more in the retry line, as every loss
        assert [w for w in warnings if w.startswith("task 0.1 ")] == [
            f"task 0.1 (attempt 2) will run again: {reason}"]
        assert ctx.parallelize(range(10), 2).sum() == 45  # its replacement works
    finally:
        _never_leave_stopped(stopped)
        ctx.stop()
    assert not pid_alive(stopped)
    wait_for(lambda: not processes_matching(ctx.app_dir), 15, "every executor to exit")


@pytest.mark.parametrize("master", EXECUTOR_MASTERS)
def test_driver_sending_to_a_stopped_executor_is_not_held_up(master, tmp_path):
    """Replicas of cached blocks (MEMORY_ONLY_2) go to the only other executor, stopped, whose
    socket fills: the send gives up after the timeout (before, a local[N] driver waited
    for ever) and the executor is removed as hung."""
    pid_file = tmp_path / "pid"
    removals = Removals()
    ctx = _context(master, removals, interval=0.1, timeout=1.5)

    def stops_on_first_attempt(index, records):
        if index == 0 and TaskContext.get().attemptNumber() == 0:
            pid_file.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)
        return [bytes(100) for _ in range(20000)]  # 2 MB a block: more than a socket holds

    stopped = None
    try:
        cached = ctx.parallelize(range(4), 4).map_partitions_with_index(stops_on_first_attempt)
        job, outcome = start_job_in_thread(ctx, "replicas", "replicas to a stopped executor",
                                           cached.persist(StorageLevel.MEMORY_ONLY_2).count)
        stopped = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60,
                               "the task to stop its executor"))
        job.join(60)
        assert outcome == [80000]
        assert [cause for _, _, cause in removals.removed] == ["executor_timeout"]
        wait_for(lambda: not pid_alive(stopped), 15, "the stopped executor to be killed")
    finally:
        _never_leave_stopped(stopped)
        ctx.stop()


@pytest.mark.parametrize("master", EXECUTOR_MASTERS)
def test_busy_executor_is_not_taken_for_hung(master):
    """Tasks in a pure-Python loop, and sleeping, for well past the timeout keep heartbeating
    (from the executor's own thread): nothing is removed."""
    removals = Removals()
    ctx = _context(master, removals, interval=0.05, timeout=1.0)

    def busy(index, records):
        started, spins = time.monotonic(), 0
        while time.monotonic() - started < 2.5:
            spins += 1
        time.sleep(1.5)
        return [sum(records)]

    try:
        assert ctx.parallelize(range(100), 2).map_partitions_with_index(busy).collect() == \
            [1225, 3725]
        assert removals.removed == []
    finally:
        ctx.stop()
