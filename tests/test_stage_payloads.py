"""An executor holds every stage payload its driver counts on: the driver's executor pool
sends a stage's payload with an executor's first task of it and again only once
EXECUTOR_PAYLOADS others were sent there since; the executor's StagePayloads counts the
same way.  Driven here by the real ExecutorPool, its messages handed to a StagePayloads as
an executor's reader thread hands them, tasks run (or dropped) in arrival order."""

import random

from vega_runtime.net.messages import EXECUTOR_PAYLOADS, LaunchTask
from vega_runtime.scheduler.backend import TaskLaunch
from vega_runtime.scheduler.dag import TaskSpec
from vega_runtime.scheduler.executor_pool import ExecutorPool
from vega_runtime.scheduler.stage_payloads import StagePayloads


class Executor:
    """An executor handle whose messages arrive in a StagePayloads at once; ``run`` and
    ``drop`` end the oldest task that arrived, as the executor's loop would."""

    def __init__(self):
        self.executor_id, self.host = "exec-1", "h1"
        self.payloads = StagePayloads()
        self.arrived = []

    def send(self, message):
        self.send_many([message])

    def send_many(self, messages):
        for message in messages:
            if isinstance(message, LaunchTask):
                self.payloads.arrived((message.stage_id, message.stage_attempt),
                                      message.payload)
                self.arrived.append(message)

    def end_next(self, pool, drop=False, duration=10.0):
        task = self.arrived.pop(0)
        key = (task.stage_id, task.stage_attempt)
        if drop:
            self.payloads.dropped(key)
        else:
            loaded = self.payloads.take(key, task.payload, bytes.decode)
            assert loaded == f"stage {task.stage_id}", f"task {task.task_id} lacks {key}"
        pool.task_ended("exec-1", task.task_id, duration)  # long: one task in flight at a time


def launch(task_id, stage_id, job_id=0):
    spec = TaskSpec(task_id, job_id, stage_id, 0, task_id, 0, frozenset())
    return TaskLaunch(spec, (stage_id, 0), f"stage {stage_id}".encode(), b"part", frozenset())


def test_a_payload_sent_again_while_a_dropped_task_kept_the_executor_behind():
    """A task killed while it waited never ran: counting payloads as tasks ran, the executor
    still held stage 0's when the driver sent it again (so did not count it anew), dropped
    it at the next new stage, and stage 0's next task, sent without it, failed with
    "payload was never sent"."""
    executor = Executor()
    pool = ExecutorPool(lambda event: None, 0.0, lambda: 100.0)
    pool.add(executor)
    task_ids = iter(range(1000))
    for stage in range(EXECUTOR_PAYLOADS):  # stages 0..15, each payload sent once
        pool.submit(launch(next(task_ids), stage))
        executor.end_next(pool)
    pool.submit(launch(next(task_ids), EXECUTOR_PAYLOADS))  # stage 16: the driver drops 0
    executor.end_next(pool, drop=True)  # killed while it waited
    pool.submit(launch(next(task_ids), 0))  # stage 0 again, with its payload
    executor.end_next(pool)
    pool.submit(launch(next(task_ids), EXECUTOR_PAYLOADS + 1))  # stage 17: the driver drops 1
    executor.end_next(pool)
    pool.submit(launch(next(task_ids), 0))  # counted on: sent without its payload
    assert executor.arrived[0].payload is None
    executor.end_next(pool)


def test_a_payload_earlier_in_a_batch_pushes_out_one_a_later_task_needs():
    """Several tasks go to an executor in one batch: the batch's new payload for stage 16
    pushes out stage 0's, the oldest, so the batch's task of stage 0 must carry it (the
    driver decided on what the executor held before the batch, and that task failed with
    "payload was never sent" on a local cluster running jobs from four threads)."""
    executor = Executor()
    pool = ExecutorPool(lambda event: None, 0.0, lambda: 100.0)
    pool.add(executor)
    for task_id, stage in enumerate([0, *range(1, EXECUTOR_PAYLOADS), 0]):
        pool.submit(launch(task_id, stage))
        executor.end_next(pool, duration=0.001)  # short: the next of its stage may follow
    pool.submit([launch(100, EXECUTOR_PAYLOADS), launch(101, 0, job_id=1)])  # (a later job's)
    assert [(m.stage_id, m.payload is not None) for m in executor.arrived] == \
        [(EXECUTOR_PAYLOADS, True), (0, True)]
    executor.end_next(pool)
    executor.end_next(pool)


def test_payloads_stay_as_the_driver_counts_whatever_the_order_tasks_come_in():
    """Stages of concurrent jobs interleave, older stages' tasks come late (FAIR pools,
    retries), several tasks are in flight and some are dropped: every task finds its
    payload, and the executor holds at most the driver's count plus what waiting tasks need."""
    for seed in range(20):
        rng = random.Random(seed)
        executor = Executor()
        pool = ExecutorPool(lambda event: None, 0.0, lambda: 100.0)
        pool.add(executor)
        in_flight = 0
        for task_id in range(3000):
            stage = max(0, task_id // 20 - rng.choice([0, 0, 0, 1, 3, 17, 40]))
            pool.submit(launch(task_id, stage))
            while executor.arrived and rng.random() < 0.6:
                executor.end_next(pool, drop=rng.random() < 0.1,
                                  duration=rng.choice([0.001, 0.001, 1.0]))
            waiting = {(t.stage_id, t.stage_attempt) for t in executor.arrived}
            assert len(executor.payloads.held()) <= EXECUTOR_PAYLOADS + len(waiting)
            in_flight = max(in_flight, len(executor.arrived))
        while executor.arrived:
            executor.end_next(pool)
        assert len(executor.payloads.held()) == EXECUTOR_PAYLOADS
        assert in_flight > 8  # short tasks: several sent ahead
