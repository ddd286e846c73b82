"""Barrier execution mode's decisions, driven with plain calls (milliseconds): the driver's
``BarrierCoordinator``, the pool's all-or-nothing launch of a barrier stage, and the DAG
scheduler's whole-stage rerun. ``tests/test_rdd_barrier.py`` runs it on every master."""

from operator import add

import pytest

from test_executor_pool import FakeExecutor, busy, launch, launched, make_pool
from test_scheduler_dag import launches, status

from vega_runtime import Context
from vega_runtime.errors import BarrierStageFailed, TaskFailed
from vega_runtime.net.messages import BarrierSync, BarrierSyncReply, LaunchTask
from vega_runtime.scheduler.barrier import BarrierCoordinator
from vega_runtime.scheduler.dag import DAGScheduler, JobFailed, KillTasks, StageCompleted
from vega_runtime.scheduler.map_output import MapOutputTracker


def sync(partition, epoch=0, method="barrier", message="", tasks=2, stage=(3, 0)):
    return BarrierSync(100 + partition, stage[0], stage[1], partition, tasks, epoch, method,
                       message)


def running(*attempts):
    """A coordinator with these stage attempts running (default: stage 3's first)."""
    coordinator = BarrierCoordinator()
    for stage_id, attempt in attempts or [(3, 0)]:
        coordinator.stage_started(stage_id, attempt)
    return coordinator


def test_a_sync_completes_when_every_task_sent_it_with_messages_by_partition():
    coordinator = running()
    assert coordinator.request("exec-2", sync(1, method="allGather", message="b")) == []
    replies = coordinator.request("exec-1", sync(0, method="allGather", message="a"))
    assert sorted(replies, key=lambda r: r[0]) == [
        ("exec-1", BarrierSyncReply(100, 0, ["a", "b"])),
        ("exec-2", BarrierSyncReply(101, 0, ["a", "b"]))]
    # the next sync is epoch 1; one for epoch 0 again fails at once
    assert coordinator.request("exec-1", sync(0, epoch=1)) == []
    [(executor, late)] = coordinator.request("exec-2", sync(1, epoch=0))
    assert executor == "exec-2" and "its sync number 1, but the stage's tasks are at " \
                                    "number 2" in late.error


def test_different_sync_methods_in_one_sync_fail_every_task_waiting_in_it():
    coordinator = running()
    coordinator.request("exec-1", sync(0, tasks=3))
    replies = coordinator.request("exec-2", sync(1, method="allGather", tasks=3))
    assert [(e, r.task_id) for e, r in replies] == [("exec-1", 100), ("exec-2", 101)]
    assert all("different barrier sync types in sync number 1 of stage 3: allGather, barrier"
               in r.error for _, r in replies)


def test_a_task_that_finished_fails_the_syncs_it_did_not_make():
    coordinator = running()
    coordinator.request("exec-2", sync(1, tasks=3))
    coordinator.request("exec-3", sync(2, tasks=3))
    [(first, failed_1), (second, failed_2)] = coordinator.task_finished(3, 0, 0, 3)
    assert (first, second) == ("exec-2", "exec-3")
    assert "task 0 of stage 3 finished without making sync number 1" in failed_1.error
    [(_, later)] = coordinator.request("exec-2", sync(1, epoch=1, tasks=3))
    assert "finished without making sync number 2" in later.error


def test_stage_attempts_sync_apart_and_an_ended_stage_is_forgotten():
    coordinator = running((3, 0), (3, 1), (4, 0))
    coordinator.request("exec-1", sync(0, stage=(3, 0)))
    coordinator.request("exec-1", sync(0, stage=(3, 1)))
    coordinator.request("exec-1", sync(0, stage=(4, 0)))
    assert len(coordinator) == 3
    coordinator.stage_ended(3)
    assert len(coordinator) == 1
    coordinator.clear()
    assert len(coordinator) == 0


def test_a_late_sync_of_an_ended_stage_attempt_fails_and_is_not_kept():
    """A task of a cancelled barrier stage still running (being killed) that calls
    barrier() after its stage ended: its sync fails at once, and nothing of it is kept
    (before, an entry stayed until no job was active, one per such stage attempt)."""
    coordinator = running((3, 0))
    coordinator.request("exec-1", sync(0, stage=(3, 0)))
    coordinator.stage_ended(3)
    [(executor, late)] = coordinator.request("exec-2", sync(1, stage=(3, 0)))
    assert executor == "exec-2" and late.error == (
        "the barrier sync of task 1 of stage 3 (attempt 0) came after that stage attempt "
        "ended: the task is being killed")
    assert coordinator.task_finished(3, 0, 0, 2) == []
    assert len(coordinator) == 0
    # its next attempt (the stage rerun) syncs as any
    coordinator.stage_started(3, 1)
    assert coordinator.request("exec-1", sync(0, stage=(3, 1))) == []
    assert len(coordinator) == 1
    assert len(coordinator.request("exec-2", sync(1, stage=(3, 1)))) == 2


def barrier_launch(task_id, partition, stage_id=5):
    task = launch(task_id, stage_id)
    task.spec = task.spec.__class__(task_id, 0, stage_id, 0, partition, 0)
    task.barrier = True
    return task


def test_a_barrier_stage_starts_only_when_every_task_has_an_idle_executor():
    """All or nothing (Spark's rule); other tasks pass the waiting ones; each barrier task
    learns where every task of its stage runs, by partition."""
    a, b, c = FakeExecutor("exec-1"), FakeExecutor("exec-2"), FakeExecutor("exec-3")
    pool, events, _ = make_pool(a, b, c)
    busy(pool, "exec-1", launch(1))
    busy(pool, "exec-2", launch(2))
    pool.submit([barrier_launch(10, 1), barrier_launch(11, 0), launch(12, stage_id=7)])
    assert launched(a) == launched(b) == [] and launched(c) == [(12, True)]
    pool.task_ended("exec-1", 1)
    pool.task_ended("exec-3", 12)
    pool.dispatch()
    assert launched(a) == [(11, True)] and launched(c) == [(12, True), (10, True)]
    sent = [m for m in a.sent + c.sent if isinstance(m, LaunchTask) and m.task_id in (10, 11)]
    assert [m.barrier_addresses for m in sent] == [["h1:0", "h1:0"]] * 2
    # an executor running a barrier task is sent nothing behind it, even where its last
    # task of the stage was short (which lets it hold several)
    for slot in (pool.get("exec-1"), pool.get("exec-3")):
        slot.last_duration, slot.last_stage = 0.001, (7, 0)
    pool.submit([launch(13, stage_id=7)])
    assert [t.spec.task_id for t in pool.queue] == [13]


def test_a_barrier_task_whose_send_fails_stays_with_its_lost_executor():
    """Put back in the queue, it would start alone later while the others wait for it in a
    sync; it stays with its executor, whose loss fails (and reruns) its whole stage."""
    good, broken = FakeExecutor("exec-1"), FakeExecutor("exec-2", broken=True)
    pool, _, _ = make_pool(good, broken)
    assert pool.submit([barrier_launch(10, 0), barrier_launch(11, 1)]) == ["exec-2"]
    assert len(pool.queue) == 0
    assert pool.remove("exec-2").task_ids() == [11]


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local", app_name="barrier-dag") as context:
        yield context


def failure(task):
    return TaskFailed(task.stage_id, task.partition, 1, "localhost", "exec-1", "ValueError",
                      "boom", "Traceback ...")


def test_a_failed_barrier_map_task_kills_its_stage_and_reruns_every_partition(ctx):
    rdd = ctx.parallelize(range(8), 2).barrier().map_partitions(iter) \
        .map(lambda x: (x, x)).reduce_by_key(add, 2)
    shuffle_id = rdd.deps[0].shuffle_id
    dag = DAGScheduler(MapOutputTracker())
    first, second = launches(dag.submit_job(0, rdd, list, [0, 1]))
    assert dag.task_succeeded(first, status(first, shuffle_id)) == []
    actions = dag.task_failed(second, failure(second))
    assert isinstance(actions[0], KillTasks) and isinstance(actions[1], StageCompleted)
    rerun = launches(actions)
    assert [(t.partition, t.stage_attempt) for t in rerun] == [(0, 1), (1, 1)]
    assert dag.map_outputs.missing(shuffle_id) == [0, 1]  # the first attempt's output too


def test_a_failed_barrier_result_task_fails_the_job_at_once(ctx):
    rdd = ctx.parallelize(range(8), 2).barrier().map_partitions(iter)
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=4)
    first, _ = launches(dag.submit_job(0, rdd, list, [0, 1]))
    outcome = dag.task_failed(first, failure(first))[-1]
    assert isinstance(outcome, JobFailed) and isinstance(outcome.error, BarrierStageFailed)
    assert "not retried" in str(outcome.error) and "boom" in str(outcome.error)


def test_a_barrier_task_lost_with_its_executor_fails_the_stage_too(ctx):
    rdd = ctx.parallelize(range(8), 2).barrier().map_partitions(iter)
    dag = DAGScheduler(MapOutputTracker())
    first, _ = launches(dag.submit_job(0, rdd, list, [0, 1]))
    outcome = dag.task_lost(first)[-1]
    assert isinstance(outcome, JobFailed) and "lost with its executor" in str(outcome.error)


def test_barrier_stages_are_never_speculated(ctx):
    rdd = ctx.parallelize(range(8), 2).barrier().map_partitions(iter)
    dag = DAGScheduler(MapOutputTracker())
    first, _ = launches(dag.submit_job(0, rdd, list, [0, 1]))
    assert dag.speculate(first.stage_id, 0, first.partition) == []
