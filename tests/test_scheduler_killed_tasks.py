"""Which killed tasks the job loop waits for (``JobRunner.wait_for_killed_tasks``: a failed
save removes its output only after them), driven with an executor pool of fake executor
handles: milliseconds, no processes.  The loop runs the tests' events; the backend below
holds what a real one reports in the next poll (the starts of tasks it sent)."""

from test_executor_pool import FakeExecutor, launch

from vega_runtime.net.messages import TaskFinished
from vega_runtime.scheduler.backend import ExecutorLostEvent, TaskFinishedEvent
from vega_runtime.scheduler.block_tracker import BlockTracker
from vega_runtime.scheduler.dag import DAGScheduler, KillTasks
from vega_runtime.scheduler.executor_pool import ExecutorPool
from vega_runtime.scheduler.listener import JobListener
from vega_runtime.scheduler.map_output import MapOutputTracker
from vega_runtime.scheduler.runner import JobRunner


class PoolBackend:
    """A backend over an ``ExecutorPool``, as ``local[N]``'s and a cluster's: the starts of
    the tasks it sends wait for the next poll, which the tests do not make."""

    def __init__(self, *handles):
        self.started = []
        self.pool = ExecutorPool(self.started.append, 0.0)
        for handle in handles:
            self.pool.add(handle)
        self.barrier = self.pool.barrier

    def launch(self, tasks):
        self.pool.submit(tasks)

    def kill_tasks(self, task_ids):
        return self.pool.kill(task_ids)

    def poll(self, timeout):
        return []


def runner_and_backend():
    backend = PoolBackend(FakeExecutor("exec-1"), FakeExecutor("exec-2"))
    runner = JobRunner(backend, DAGScheduler(MapOutputTracker()), JobListener(), {},
                       lambda updates: None, BlockTracker())
    for task_id in range(3):  # 0 on exec-1, 1 on exec-2, 2 queued
        backend.launch(launch(task_id))
    return runner, backend


def ended(executor_id, task_id):
    return TaskFinishedEvent(executor_id, "h1", TaskFinished(task_id, "killed"))


def test_killed_tasks_sent_are_waited_for_though_their_start_was_not_taken_in():
    """Before, only killed tasks whose start the loop had taken in were waited for: a task
    sent just before its job failed, its start in the backend's next poll, was not, and a
    failed save removed its output while the task still wrote its part."""
    runner, backend = runner_and_backend()
    assert [e.task_id for e in backend.started] == [0, 1]  # (not taken in)
    runner._apply([KillTasks([0, 1, 2])])
    assert runner._killed == {0: "exec-1", 1: "exec-2"}  # the queued one never runs


def test_the_wait_ends_with_each_killed_tasks_end_or_its_executors_loss():
    """A killed task's end (run, or dropped unstarted by its executor) or its executor's loss
    ends the wait for it, and nothing stays behind (a long-lived Context kills many)."""
    runner, backend = runner_and_backend()
    runner._apply([KillTasks([0, 1, 2])])
    runner._apply(runner._handle(ended("exec-1", 0)))
    backend.pool.task_ended("exec-1", 0)
    assert runner._killed == {1: "exec-2"}
    backend.pool.remove("exec-2")
    runner._apply(runner._handle(ExecutorLostEvent("exec-2", "h1", "its connection broke",
                                                   [1], False)))
    assert runner._killed == {}
    runner.wait_for_killed_tasks(0.0)  # (nothing left to wait for: at once)
    runner._apply([KillTasks([0, 1, 2])])  # ended or lost: no end of theirs is to come
    assert runner._killed == {}
