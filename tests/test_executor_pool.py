"""The executor pool both task-running backends feed, driven with fake executor handles."""

import pytest

from vega_runtime.net.messages import (EXECUTOR_PAYLOADS, KillTask, LaunchTask, PutBlock,
                                       Removed, RemoveRdd)
from vega_runtime.scheduler.backend import TaskLaunch, TaskStartedEvent
from vega_runtime.scheduler.dag import TaskSpec
from vega_runtime.scheduler.executor_pool import SHORT_TASK, TASKS_IN_FLIGHT, ExecutorPool


class FakeExecutor:
    """An executor handle that records what it is sent, or cannot be reached."""

    def __init__(self, executor_id, host="h1", broken=False):
        self.executor_id, self.host, self.broken = executor_id, host, broken
        self.sent = []

    def send(self, message):
        self.send_many([message])

    def send_many(self, messages):
        if self.broken:
            raise BrokenPipeError("gone")
        self.writes = getattr(self, "writes", 0) + 1
        self.sent.extend(messages)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def launch(task_id, stage_id=0, excluded=(), preferred=()):
    spec = TaskSpec(task_id, 0, stage_id, 0, task_id, 0, frozenset(excluded))
    return TaskLaunch(spec, (stage_id, 0), b"payload", b"part", frozenset(preferred))


def make_pool(*handles, locality_wait=3.0):
    events, clock = [], Clock()
    pool = ExecutorPool(events.append, locality_wait, clock)
    for handle in handles:
        pool.add(handle)
    return pool, events, clock


def busy(pool, executor_id, task):
    """Make an executor hold a task (as if sent earlier)."""
    pool.get(executor_id).tasks[task.spec.task_id] = task


def launched(handle):
    return [(m.task_id, m.payload is not None) for m in handle.sent if isinstance(m, LaunchTask)]


def test_each_idle_executor_gets_one_task_and_each_stage_payload_once():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, events, _ = make_pool(a, b)
    for task_id in range(3):
        assert pool.submit(launch(task_id)) == []
    assert launched(a) == [(0, True)] and launched(b) == [(1, True)]
    assert [(e.task_id, e.executor_id) for e in events] == [(0, "exec-1"), (1, "exec-2")]
    assert all(isinstance(e, TaskStartedEvent) and e.at == 100.0 for e in events)
    assert len(pool.queue) == 1 and pool.running() == 2
    pool.task_ended("exec-2", 1)
    pool.dispatch()
    assert launched(b) == [(1, True), (2, False)]  # the payload went with task 1


def test_a_payload_goes_again_once_the_executor_has_dropped_it():
    """An executor keeps the payloads of its last EXECUTOR_PAYLOADS stages: a task of an
    older stage (a retry) takes its payload again, and what the driver remembers of each
    executor stays that size however many stages a long-lived Context runs."""
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    for stage_id in range(EXECUTOR_PAYLOADS + 1):
        pool.submit(launch(stage_id, stage_id=stage_id))
        pool.task_ended("exec-1", stage_id)
    pool.submit(launch(100, stage_id=1))  # held: its stage is among the last ones sent
    pool.task_ended("exec-1", 100)
    pool.submit(launch(101, stage_id=0))  # dropped by the executor: sent again
    pool.task_ended("exec-1", 101)
    assert launched(a)[-3:] == [(EXECUTOR_PAYLOADS, True), (100, False), (101, True)]
    assert list(pool.get("exec-1").payloads_sent) == \
        [(s, 0) for s in range(2, EXECUTOR_PAYLOADS + 1)] + [(0, 0)]
    for stage_id in range(1000, 1000 + 10 * EXECUTOR_PAYLOADS):
        pool.submit(launch(stage_id, stage_id=stage_id))
        pool.task_ended("exec-1", stage_id)
    assert len(pool.get("exec-1").payloads_sent) == EXECUTOR_PAYLOADS


def test_a_task_avoids_executors_it_is_excluded_from_while_others_live():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, _ = make_pool(a, b)
    pool.submit(launch(0, excluded={"exec-1"}))
    assert launched(a) == [] and launched(b) == [(0, True)]


def test_a_task_waits_for_its_preferred_executor_up_to_the_locality_wait():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, clock = make_pool(a, b)
    busy(pool, "exec-2", launch(99))
    pool.submit(launch(0, preferred={"exec-2"}))
    assert launched(a) == [] and pool.next_locality_deadline() == 3.0
    clock.now += 3.0
    pool.dispatch()
    assert launched(a) == [(0, True)]


def test_each_start_carries_sparks_locality_level():
    """PROCESS_LOCAL on the executor caching a task's input, or for a task preferring
    none (as Spark reports its no-preference tasks); NODE_LOCAL on another executor of that
    executor's host; ANY elsewhere, once the locality wait is over."""
    a, b = FakeExecutor("exec-1", "h1"), FakeExecutor("exec-2", "h1")
    c = FakeExecutor("exec-3", "h2")
    pool, events, clock = make_pool(a, b, c)
    cached = launch(0, preferred={"exec-1"})
    assert [pool.locality(cached, pool.get(e)) for e in ("exec-1", "exec-2", "exec-3")] == \
        ["PROCESS_LOCAL", "NODE_LOCAL", "ANY"]
    assert pool.locality(launch(1), pool.get("exec-3")) == "PROCESS_LOCAL"
    busy(pool, "exec-1", launch(98)), busy(pool, "exec-2", launch(99))
    pool.submit(launch(2, preferred={"exec-1"}))
    clock.now += 3.0
    pool.dispatch()
    assert [(e.task_id, e.executor_id, e.locality) for e in events] == [(2, "exec-3", "ANY")]


def test_a_failed_send_puts_the_task_back_first_and_the_executor_out_of_use():
    bad, good = FakeExecutor("exec-1", broken=True), FakeExecutor("exec-2")
    pool, _, _ = make_pool(bad, good)
    busy(pool, "exec-2", launch(99))
    assert pool.submit(launch(0)) == ["exec-1"]
    assert pool.get("exec-1").gone and [t.spec.task_id for t in pool.queue] == [0]
    assert pool.get("exec-1").payloads_sent == {}
    pool.task_ended("exec-2", 99)
    assert pool.dispatch() == [] and launched(good) == [(0, True)]


def test_released_executors_get_no_tasks():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, _ = make_pool(a, b)
    pool.get("exec-1").releasing = "idle for 60s"
    pool.submit(launch(0))
    assert launched(a) == [] and launched(b) == [(0, True)]


def test_cancelling_drops_queued_tasks_and_sends_kill_task_to_running_ones():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(0))
    pool.submit(launch(1))
    pool.kill([0, 1])
    assert len(pool.queue) == 0
    assert [m.task_id for m in a.sent if isinstance(m, KillTask)] == [0]
    assert pool.get("exec-1").task.spec.task_id == 0  # busy until it reports the kill
    pool.task_ended("exec-1", 0)
    assert pool.get("exec-1").task is None


def test_a_kill_returns_the_tasks_in_flight_with_their_executors_not_the_queued_ones():
    """What a failed save waits for: the killed tasks sent to an executor (running, or
    waiting behind the running one there), each with its executor; not those still queued
    (they never run), nor those ended or on an executor removed meanwhile (no end of theirs
    will come)."""
    a, b, c = FakeExecutor("exec-1"), FakeExecutor("exec-2"), FakeExecutor("exec-3")
    pool, _, _ = make_pool(a, b, c)
    for task_id in range(4):
        pool.submit(launch(task_id))
    busy(pool, "exec-1", launch(4))  # waits behind task 0
    pool.task_ended("exec-2", 1)  # (its end reported: not in flight)
    pool.remove("exec-3")  # lost with task 2
    assert pool.kill([0, 1, 2, 3, 4, 9]) == {0: "exec-1", 4: "exec-1"}
    assert pool.kill([0]) == {0: "exec-1"}  # until it reports its end
    pool.task_ended("exec-1", 0)
    assert pool.kill([0, 4]) == {4: "exec-1"}


def test_an_executor_that_does_not_report_its_killed_task_is_overdue_after_the_grace():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, clock = make_pool(a, b)
    pool.submit(launch(0))
    pool.submit(launch(1))
    assert pool.next_overdue(3.0) is None  # nothing killed: nothing to look at later
    pool.kill([0])
    clock.now += 2.0
    pool.kill([0])  # asked again: the grace counts from the first kill
    assert pool.overdue_kills(3.0) == [] and pool.next_overdue(3.0) == 1.0
    assert pool.next_overdue(float("inf")) is None  # (vega.task.reaper.kill_timeout never)
    clock.now += 1.5
    assert pool.overdue_kills(3.0) == ["exec-1"]  # exec-2's task was never killed
    assert pool.next_overdue(3.0) == 0.0 and pool.killed_task("exec-1") == 0
    pool.task_ended("exec-1", 0)
    assert pool.overdue_kills(3.0) == [] and pool.next_overdue(3.0) is None
    assert pool.killed_task("exec-1") is None


def test_a_removed_executor_hands_back_the_task_it_was_running():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(7))
    slot = pool.remove("exec-1")
    assert slot.task_ids() == [7] and len(pool) == 0 and pool.remove("exec-1") is None


def test_a_block_is_replicated_to_an_idle_executor_on_another_host_first():
    source, same_host = FakeExecutor("exec-1", "h1"), FakeExecutor("exec-2", "h1")
    busy_other, idle_other = FakeExecutor("exec-3", "h2"), FakeExecutor("exec-4", "h2")
    pool, _, _ = make_pool(source, same_host, busy_other, idle_other)
    busy(pool, "exec-3", launch(99))
    block = PutBlock(1, 0, "MEMORY_ONLY_2", b"x")
    assert pool.replicate("exec-1", block) == ["exec-4"] and idle_other.sent == [block]
    idle_other.broken = True
    assert pool.replicate("exec-1", block) == ["exec-3"]
    assert pool.get("exec-4").gone


def test_a_block_kept_three_times_goes_to_two_other_executors():
    """DISK_ONLY_3: two copies besides the source's (before: one, as for ``*_2``), and as
    many as there are when fewer executors are reachable."""
    source, b, c = FakeExecutor("exec-1"), FakeExecutor("exec-2"), FakeExecutor("exec-3")
    pool, _, _ = make_pool(source, b, c)
    block = PutBlock(1, 0, "DISK_ONLY_3", b"x")
    assert pool.replicate("exec-1", block) == ["exec-2", "exec-3"]
    assert b.sent == [block] and c.sent == [block] and source.sent == []
    c.broken = True
    assert pool.replicate("exec-1", block) == ["exec-2"]


def test_messages_for_all_reach_every_reachable_executor():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2", broken=True)
    pool, _, _ = make_pool(a, b)
    pool.tell_all(RemoveRdd(3))
    pool.tell_all(RemoveRdd(4))
    assert a.sent == [RemoveRdd(3), RemoveRdd(4)] and pool.get("exec-2").gone


def short_tasks_done(pool, executor_id, task_id):
    """The executor reports a task that ran 1 ms: from now on it may hold several."""
    pool.task_ended(executor_id, task_id, 0.001)


def test_an_executor_running_short_tasks_holds_several_sent_in_one_write():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, events, _ = make_pool(a, b)
    for task_id in range(200):
        pool.submit(launch(task_id))
    assert launched(a) == [(0, True)] and launched(b) == [(1, True)]  # one each at first
    short_tasks_done(pool, "exec-1", 0)  # 1 ms: 50 ms of work (IN_FLIGHT_WORK) is 51 tasks
    writes = a.writes
    pool.dispatch()
    assert launched(a)[1:] == [(t, False) for t in range(2, 53)]
    assert a.writes == writes + 1 and pool.get("exec-1").task_ids() == list(range(2, 53))
    assert pool.running() == 52 and [e.task_id for e in events][-51:] == list(range(2, 53))
    short_tasks_done(pool, "exec-1", 3)  # ended out of order: the others stay in flight
    pool.dispatch()
    assert pool.get("exec-1").task_ids() == [2, *range(4, 54)]


@pytest.mark.parametrize("duration, held", [(0.0001, TASKS_IN_FLIGHT), (0.01, 6), (0.04, 2),
                                            (SHORT_TASK, 1)])
def test_the_tasks_an_executor_holds_fill_a_bounded_time_at_most_tasks_in_flight(duration, held):
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(0))
    pool.task_ended("exec-1", 0, duration)
    pool.submit([launch(task_id) for task_id in range(1, 200)])
    assert pool.get("exec-1").task_ids() == list(range(1, 1 + held))


def test_no_executor_holds_more_than_its_share_of_the_work_left():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, _ = make_pool(a, b)
    pool.submit([launch(task_id) for task_id in range(40)])
    short_tasks_done(pool, "exec-1", 0)  # 39 tasks left, one on exec-2: 20 each
    pool.dispatch()
    assert pool.get("exec-1").task_ids() == list(range(2, 22))
    short_tasks_done(pool, "exec-2", 1)
    pool.dispatch()
    assert pool.get("exec-2").task_ids() == list(range(22, 40)) and not pool.queue


def test_the_first_task_of_another_stage_runs_alone_until_its_time_is_known():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(0, stage_id=0))
    short_tasks_done(pool, "exec-1", 0)
    pool.submit([launch(task_id, stage_id=1) for task_id in range(1, 10)])
    assert pool.get("exec-1").task_ids() == [1]  # its tasks may be long: one at a time
    short_tasks_done(pool, "exec-1", 1)
    pool.dispatch()
    assert pool.get("exec-1").task_ids() == list(range(2, 10))


def test_every_idle_executor_gets_a_task_before_any_gets_a_second():
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, _ = make_pool(a, b)
    pool.submit(launch(0))
    pool.submit(launch(1))
    short_tasks_done(pool, "exec-1", 0)
    short_tasks_done(pool, "exec-2", 1)
    for task_id in range(2, 5):
        pool.queue.append(launch(task_id))
    pool.dispatch()
    assert [t for t, _ in launched(a)] == [0, 2, 4] and [t for t, _ in launched(b)] == [1, 3]


def test_an_executor_whose_last_task_was_long_gets_one_at_a_time():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    for task_id in range(3):
        pool.submit(launch(task_id))
    pool.task_ended("exec-1", 0, 2.5)
    pool.dispatch()
    assert pool.get("exec-1").task_ids() == [1] and len(pool.queue) == 1


def test_killing_a_task_waiting_on_an_executor_sends_kill_task_and_the_rest_stay():
    a = FakeExecutor("exec-1")
    pool, _, clock = make_pool(a)
    pool.submit(launch(0))
    short_tasks_done(pool, "exec-1", 0)
    for task_id in range(1, 4):
        pool.submit(launch(task_id))
    pool.kill([2])
    assert [m.task_id for m in a.sent if isinstance(m, KillTask)] == [2]
    clock.now += 5.0
    assert pool.overdue_kills(3.0) == ["exec-1"]
    pool.task_ended("exec-1", 2)  # reported killed
    assert pool.get("exec-1").task_ids() == [1, 3] and pool.overdue_kills(3.0) == []


def test_a_removed_executor_hands_back_every_task_it_held_the_running_one_first():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(0))
    short_tasks_done(pool, "exec-1", 0)
    for task_id in range(1, 4):
        pool.submit(launch(task_id))
    assert pool.remove("exec-1").task_ids() == [1, 2, 3]


def test_a_failed_write_of_several_tasks_puts_them_all_back_in_order():
    a = FakeExecutor("exec-1")
    pool, _, _ = make_pool(a)
    pool.submit(launch(0))
    short_tasks_done(pool, "exec-1", 0)
    a.broken = True
    for task_id in range(1, 4):
        pool.queue.append(launch(task_id))
    assert pool.dispatch() == ["exec-1"]
    assert [t.spec.task_id for t in pool.queue] == [1, 2, 3] and pool.get("exec-1").tasks == {}


def test_a_cached_block_request_goes_to_its_holder_and_the_reply_back_to_the_task():
    """A task's FetchCachedBlock reaches the holder it names under the driver's own id; the
    holder's reply returns to the task with the task's id (ids of two executors may clash)."""
    from vega_runtime.net.messages import CachedBlock, FetchCachedBlock

    a, b, c = FakeExecutor("exec-1"), FakeExecutor("exec-2"), FakeExecutor("exec-3")
    pool, _, _ = make_pool(a, b, c)
    pool.send_all(pool.relay_cached_block("exec-2", FetchCachedBlock(7, 3, 1, "exec-1")))
    pool.send_all(pool.relay_cached_block("exec-3", FetchCachedBlock(7, 3, 0, "exec-1")))
    first, second = a.sent
    assert (first.rdd_id, first.partition, first.executor_id) == (3, 1, "exec-2")
    assert first.request_id != second.request_id
    pool.send_all(pool.relay_cached_block("exec-1", CachedBlock(second.request_id, b"x")))
    pool.send_all(pool.relay_cached_block("exec-1", CachedBlock(second.request_id, b"y")))
    assert b.sent == [] and [(m.request_id, m.data) for m in c.sent] == [(7, b"x")]


def test_a_cached_block_request_to_a_lost_or_unknown_holder_is_answered_at_once():
    """The holder lost while a task waits for its block, or gone before: the task hears so
    (and computes the block) instead of waiting out its timeout."""
    from vega_runtime.net.messages import CachedBlock, FetchCachedBlock

    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, _ = make_pool(a, b)
    pool.send_all(pool.relay_cached_block("exec-2", FetchCachedBlock(1, 3, 1, "exec-1")))
    pool.remove("exec-1")
    pool.send_all(pool.relay_cached_block("exec-2", FetchCachedBlock(2, 3, 1, "exec-1")))
    assert [(m.request_id, m.data, m.reason) for m in b.sent] == [
        (1, None, "executor exec-1 was lost"), (2, None, "executor exec-1 is not reachable")]
    assert all(isinstance(m, CachedBlock) for m in b.sent)


def test_a_task_learns_which_other_executor_holds_each_cached_block_it_reads_and_where():
    """The launch sent to an executor names, per cached block of the task's input, the other
    executors holding it (not itself), and where those serving a block server listen."""
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    a.block_port = 4711
    pool, _, _ = make_pool(a, b, locality_wait=0.0)
    task = launch(1)
    task.holders = {(3, 0): frozenset({"exec-1"}), (3, 1): frozenset({"exec-2"})}
    busy(pool, "exec-1", launch(99))  # so exec-2 takes it
    pool.submit(task)
    (message,) = [m for m in b.sent if isinstance(m, LaunchTask)]
    assert message.block_holders == [[3, 0, ["exec-1"]]]
    assert message.block_addresses == {"exec-1": "h1:4711"}


def job_launch(task_id, job_id, stage_id, pool="default"):
    spec = TaskSpec(task_id, job_id, stage_id, 0, task_id, 0)
    return TaskLaunch(spec, (stage_id, 0), b"payload", b"part", pool=pool)


def test_fifo_offers_the_older_jobs_tasks_first():
    """Spark's FIFO order: an older job's tasks (then an earlier stage's) before a later
    job's, whatever order they were queued in."""
    pool, _, _ = make_pool(FakeExecutor("exec-1"))
    busy(pool, "exec-1", launch(99, stage_id=9))
    pool.submit([job_launch(1, job_id=1, stage_id=4), job_launch(2, job_id=1, stage_id=4)])
    pool.submit([job_launch(3, job_id=0, stage_id=5), job_launch(4, job_id=0, stage_id=2)])
    assert [t.spec.task_id for t in pool.queue] == [4, 3, 1, 2]


def test_fair_offers_a_free_executor_to_the_pool_running_fewest_tasks():
    """FAIR: the pool running no task gets the free executor before the pool running one,
    though its job is younger; among equals, by pool name."""
    pool, events, _ = make_pool(FakeExecutor("exec-1"), FakeExecutor("exec-2"))
    pool.submit([job_launch(1, job_id=0, stage_id=0, pool="slow"),
                 job_launch(2, job_id=0, stage_id=0, pool="slow"),
                 job_launch(3, job_id=0, stage_id=0, pool="slow")])
    assert [e.task_id for e in events] == [1, 2]
    pool.submit([job_launch(4, job_id=1, stage_id=1, pool="fast")])
    pool.task_ended("exec-1", 1, 1.0, True)
    pool.dispatch()
    assert [e.task_id for e in events] == [1, 2, 4]


def test_a_removal_no_executor_can_confirm_leaves_nothing_awaited():
    """A blocking unpersist before any executor started (local[2]), or with each one
    unreachable, left an empty set of executors to hear from: ``removals_awaited`` said
    True for the rest of the Context's life, so its backend's idle waits read every idle
    executor's connection instead of waiting to be woken."""
    pool, _, _ = make_pool()
    number = pool.remove_everywhere(RemoveRdd(7), reply=True)
    assert not pool.removal_pending(number) and not pool.removals_awaited()
    broken = FakeExecutor("exec-1", broken=True)
    pool.add(broken)
    number = pool.remove_everywhere(RemoveRdd(8), reply=True)
    assert not pool.removal_pending(number) and not pool.removals_awaited()
    live = FakeExecutor("exec-2")
    pool.add(live)
    number = pool.remove_everywhere(RemoveRdd(9), reply=True)
    assert pool.removal_pending(number) and pool.removals_awaited()


def test_a_reply_that_comes_while_the_removal_is_sent_leaves_the_others_awaited():
    """The first executor's reply taken in (by the job loop's thread) before the removal was
    sent to the second: the second is still awaited. It was added to the set only as its
    turn came, so the first reply emptied it and ended the wait; found on local[2], where a
    blocking unpersist from one thread beside another thread's job returned, about once in
    four, while an executor was still dropping the blocks."""
    pool, _, _ = make_pool()

    class Answering(FakeExecutor):
        def send_many(self, messages):
            super().send_many(messages)
            for message in messages:
                if isinstance(message, RemoveRdd) and message.reply:
                    pool.removed(self.executor_id,
                                 Removed("rdd", message.rdd_id, message.reply))

    first, second = Answering("exec-1"), FakeExecutor("exec-2")
    pool.add(first)
    pool.add(second)
    number = pool.remove_everywhere(RemoveRdd(7), reply=True)
    assert [type(m) for m in second.sent] == [RemoveRdd]
    assert pool.removal_pending(number) and pool.removals_awaited()
    pool.removed("exec-2", Removed("rdd", 7, number))
    assert not pool.removal_pending(number) and not pool.removals_awaited()


def test_two_removals_of_the_same_rdd_are_each_awaited_on_their_own():
    """Two threads unpersisting the same RDD (blocking) at once: an executor's reply to the
    first does not answer the second. They shared one entry, ``("rdd", id)``, so the first
    reply released both, the second's removal not yet done on that executor."""
    pool, _, _ = make_pool()
    pool.add(FakeExecutor("exec-1"))
    first = pool.remove_everywhere(RemoveRdd(7), reply=True)
    second = pool.remove_everywhere(RemoveRdd(7), reply=True)
    assert first != second and pool.removal_pending(first) and pool.removal_pending(second)
    pool.removed("exec-1", Removed("rdd", 7, first))
    assert not pool.removal_pending(first) and pool.removal_pending(second)
    pool.removed("exec-1", Removed("rdd", 7, second))
    assert not pool.removal_pending(second) and not pool.removals_awaited()


def barrier_launch(task_id, stage_id=1, partition=0):
    spec = TaskSpec(task_id, 0, stage_id, partition, task_id, 0, frozenset())
    return TaskLaunch(spec, (stage_id, 0), b"payload", b"part", frozenset(), barrier=True)


def test_a_barrier_stage_waiting_for_a_killed_tasks_executor_is_said_every_15s():
    """The CI hang's state: a cancelled job's killed task never ended on exec-2, and the next
    barrier stage waited for both executors in silence. Now the driver says why after
    STARVATION_TIMEOUT seconds, naming each executor's state, and again every as many."""
    a, b = FakeExecutor("exec-1"), FakeExecutor("exec-2")
    pool, _, clock = make_pool(a, b)
    pool.submit([launch(7), launch(8)])
    pool.kill([7, 8])
    pool.task_ended("exec-1", 7)  # exec-2 never reports task 8's end
    clock.now += 2
    assert pool.submit([barrier_launch(9, partition=0), barrier_launch(10, partition=1)]) == []
    assert launched(a) == [(7, True)] and pool.starving() is None
    clock.now += 14.9
    assert pool.starving() is None
    clock.now += 0.1
    assert pool.starving() == (
        "2 queued tasks have waited 15s for executors: barrier stage 1 needs 2 idle executors "
        "at once (1 is idle); exec-2 has not ended a task 15s after it was killed (its code "
        "may catch the interruption). Executors: exec-1 idle, exec-2 holds task 8 (killed 17s "
        "ago)")
    clock.now += 14
    assert pool.starving() is None  # said every 15 s, not every poll
    clock.now += 1
    assert pool.starving().startswith("2 queued tasks have waited 30s")
    pool.task_ended("exec-2", 8)
    pool.dispatch()
    assert not pool.queue and pool.starving() is None


def test_tasks_waiting_only_for_running_tasks_to_end_are_not_said():
    """More tasks than executors is a job's normal state, however long its tasks run."""
    a = FakeExecutor("exec-1")
    pool, _, clock = make_pool(a)
    pool.submit([launch(1), launch(2)])
    clock.now += 3600
    assert pool.starving() is None
    pool.kill([1])  # a kill not ended after the timeout says so, the task queued behind it
    clock.now += 15
    assert pool.starving() == (
        "1 queued task has waited 3615s for executors: exec-1 has not ended a task 15s after "
        "it was killed (its code may catch the interruption). Executors: exec-1 holds task 1 "
        "(killed 15s ago)")
