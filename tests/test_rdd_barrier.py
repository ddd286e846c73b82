"""Barrier execution mode (``rdd.barrier()``), on every master kind, as Spark documents it:
a barrier stage's tasks start together, sync with ``BarrierTaskContext.barrier()`` and
``all_gather()``, and a failed task reruns its whole stage (a map stage) or fails the job
(a result stage); jobs a barrier stage cannot run are refused before any task starts."""

import os

import pytest

from conftest import MASTERS
from vega_runtime import Context, TaskContext
from vega_runtime.errors import BarrierJobRefused, BarrierStageFailed, PySparkRuntimeError
from vega_runtime.task_context import BarrierTaskContext


@pytest.fixture(scope="module", params=MASTERS)
def ctx(request):
    """A Context per master kind without dynamic allocation (a barrier stage refuses it),
    waiting 5 s for executors a barrier stage lacks: on a cluster, the replacement of the
    executor a test killed may take longer than half a second on a loaded machine (a barrier
    job was refused so under a CI run), and a full local cluster refuses at once."""
    conf = {"vega.barrier.slots_wait": 5.0}
    master = request.param
    if master == "multi-host":
        master, secret = request.getfixturevalue("multi_host_cluster")
        conf["vega.secret.file"] = secret
    with Context(master=master, app_name="barrier-tests", conf=conf) as context:
        yield context


# (every function a task runs is nested in its test: cloudpickle ships it by value, and the
# multi-host workers never import this module, whose conftest import is the driver's)
def slots(ctx):
    """How many tasks run at once: 1 on ``local``, 2 on the others here."""
    return 1 if ctx.master == "local" else 2


def test_every_task_leaves_a_barrier_after_every_task_reached_it(ctx):
    """barrier() is a global sync: no task's time after it is earlier than any task's time
    before it (one clock: every executor runs on this machine)."""
    def sync(it):
        import time

        arrived = time.monotonic()
        BarrierTaskContext.get().barrier()
        yield arrived, time.monotonic()

    times = ctx.parallelize(range(8), slots(ctx)).barrier().map_partitions(sync).collect()
    assert len(times) == slots(ctx)
    assert min(left for _, left in times) >= max(arrived for arrived, _ in times)


def test_all_gather_gives_every_task_each_message_by_partition(ctx):
    """all_gather() returns what each task gave, ordered by partition, to every task, sync
    after sync; get_task_infos() lists where each task runs."""
    def gather(index, it):
        context = BarrierTaskContext.get()
        first = context.all_gather(f"p{index}:{sum(it)}")
        second = context.allGather(str(context.partitionId() * 10))
        yield index, first, second, len(context.getTaskInfos())

    n = slots(ctx)
    rdd = ctx.parallelize(range(10), n).barrier().map_partitions_with_index(gather)
    first = ["p0:45"] if n == 1 else ["p0:10", "p1:35"]
    assert rdd.collect() == [(i, first, [str(p * 10) for p in range(n)], n) for i in range(n)]


def test_a_barrier_rdd_makes_every_rdd_after_it_in_its_stage_barrier(ctx):
    """Spark's rule: narrow dependencies carry the barrier; a shuffle ends it."""
    rdd = ctx.parallelize(range(4), slots(ctx))
    barrier = rdd.barrier().mapPartitions(lambda it: it)
    assert (rdd.is_barrier(), rdd._is_barrier(), barrier.is_barrier()) == (False, False, True)
    assert barrier.map(str).filter(bool).is_barrier()
    assert not barrier.map(lambda x: (x, x)).group_by_key().is_barrier()
    in_barrier_stage = barrier.map(lambda x: isinstance(TaskContext.get(), BarrierTaskContext))
    assert in_barrier_stage.collect() == [True] * 4
    assert rdd.map(lambda x: isinstance(TaskContext.get(), BarrierTaskContext)).collect() == \
        [False] * 4


def test_barrier_task_context_get_outside_a_barrier_stage_raises_as_pyspark(ctx):
    def get(it):
        try:
            BarrierTaskContext.get()
        except PySparkRuntimeError as exc:
            yield exc.getCondition()

    assert ctx.parallelize([1], 1).map_partitions(get).collect() == ["NOT_IN_BARRIER_STAGE"]
    with pytest.raises(PySparkRuntimeError, match="not in a barrier stage"):
        BarrierTaskContext.get()  # on the driver


def test_a_barrier_stage_after_a_shuffle_and_a_shuffle_after_it(ctx):
    n = slots(ctx)
    pairs = ctx.parallelize(range(20), 4).map(lambda x: (x % 5, x)).reduce_by_key(
        lambda a, b: a + b, n)

    def tag(it):
        context = BarrierTaskContext.get()
        context.barrier()
        tasks = len(context.all_gather(""))  # as many syncs in every task: once each
        for key, value in it:
            yield key, (value, tasks)

    tagged = pairs.barrier().map_partitions(tag)
    assert sorted(tagged.collect()) == [(k, (sum(range(k, 20, 5)), n)) for k in range(5)]
    assert sorted(tagged.map_values(lambda v: v[0]).reduce_by_key(max).collect()) == \
        [(k, sum(range(k, 20, 5))) for k in range(5)]


def test_jobs_a_barrier_stage_cannot_run_are_refused_before_any_task(ctx, tmp_path):
    """More tasks than can run at once; first()/take() on some partitions; a union of
    partition counts; a zip of two barrier RDDs (Spark's SPARK-24819/24820/24821)."""
    n = slots(ctx)
    marker = str(tmp_path / "ran")

    def touch(it):
        open(marker, "a").close()
        return it

    with pytest.raises(BarrierJobRefused, match=f"a barrier stage of {n + 1} tasks cannot run:"
                                                f".* the executors can run {n} at once"):
        ctx.parallelize(range(10), n + 1).barrier().map_partitions(touch).collect()
    barrier = ctx.parallelize(range(10), 2).barrier().map_partitions(touch)
    with pytest.raises(BarrierJobRefused, match=r"first\(\)/take\(\)"):
        barrier.first()
    with pytest.raises(BarrierJobRefused, match="depends on 2 barrier RDDs"):
        barrier.zip(ctx.parallelize(range(10), 2).barrier().map_partitions(touch)).collect()
    with pytest.raises(BarrierJobRefused, match="has 1 partitions"):
        ctx.parallelize([1], 1).union(ctx.parallelize([2], 1)).barrier().map_partitions(
            touch).collect()
    assert not os.path.exists(marker)
    assert ctx.parallelize([1, 2], 2).map(lambda x: x * 2).collect() == [2, 4]  # still serves


def test_a_failed_barrier_result_stage_fails_the_job_without_retrying(ctx, tmp_path):
    """Spark does not retry a barrier result stage: its tasks may have written output."""
    log = str(tmp_path / "runs")

    def fail(index, it):
        with open(log, "a") as fh:
            fh.write(f"{index}\n")
        BarrierTaskContext.get().barrier()  # every task ran before one fails
        if index == 0:
            raise ValueError("boom in a barrier task")
        yield index

    n = slots(ctx)
    with pytest.raises(BarrierStageFailed, match="not retried.*boom in a barrier task"):
        ctx.parallelize(range(4), n).barrier().map_partitions_with_index(fail).collect()
    with open(log) as fh:
        assert sorted(fh.read().split()) == [str(i) for i in range(n)]


def test_a_failed_barrier_map_stage_reruns_every_task_of_it(ctx, tmp_path):
    """One task of a barrier map stage fails once: the whole stage runs again (each of its
    tasks twice), and the job's result is right."""
    log, failed = str(tmp_path / "runs"), str(tmp_path / "failed")

    def once(index, it):
        with open(log, "a") as fh:
            fh.write(f"{index}\n")
        BarrierTaskContext.get().barrier()  # every task wrote its line before one fails
        if index == 0 and not os.path.exists(failed):
            open(failed, "w").close()
            raise ValueError("first attempt fails")
        for x in it:
            yield x % 3, x

    n = slots(ctx)
    result = ctx.parallelize(range(12), n).barrier().map_partitions_with_index(once) \
        .reduce_by_key(lambda a, b: a + b).collect()
    assert sorted(result) == [(k, sum(range(k, 12, 3))) for k in range(3)]
    with open(log) as fh:
        assert sorted(fh.read().split()) == sorted(str(i) for i in range(n) for _ in (0, 1))


def test_a_barrier_map_stage_failing_every_attempt_fails_the_job(ctx):
    def always(it):
        raise KeyError("never works")

    with pytest.raises(BarrierStageFailed, match="failed 4 times.*never works"):
        ctx.parallelize(range(4), slots(ctx)).barrier().map_partitions(always) \
            .map(lambda x: (x, x)).group_by_key().collect()


def test_mismatched_syncs_fail_the_stage_with_both_names(ctx):
    """One task calls barrier() while another calls all_gather(): Spark fails the sync."""
    if slots(ctx) == 1:
        pytest.skip("needs two tasks in the stage")

    def mixed(index, it):
        context = BarrierTaskContext.get()
        if index == 0:
            context.barrier()
        else:
            context.all_gather("x")
        yield index

    with pytest.raises(BarrierStageFailed, match="different barrier sync types.*allGather, "
                                                 "barrier"):
        ctx.parallelize(range(4), 2).barrier().map_partitions_with_index(mixed).collect()


def test_a_sync_a_finished_task_never_made_fails_at_once_not_after_the_timeout(ctx):
    """A sync per record, over partitions of unequal sizes: the task with fewer records
    finishes while the other waits in a sync it will never make. Spark waits out
    spark.barrier.sync.timeout (a year); the waiting task fails at once, naming why."""
    if slots(ctx) == 1:
        pytest.skip("needs two tasks in the stage")

    def per_record(it):
        context = BarrierTaskContext.get()
        for x in it:
            yield x, context.all_gather(str(x))

    with pytest.raises(BarrierStageFailed, match="task 0 of stage [0-9]+ finished without "
                                                 "making sync number 2"):
        ctx.parallelize([1, 2, 3], 2).barrier().map_partitions(per_record).collect()


def test_a_barrier_map_stage_whose_executor_is_killed_reruns_whole(ctx, tmp_path):
    """SIGKILL of a barrier task's executor process: the stage runs again, whole, on the
    executors there are then (a replacement), and the job's result is right."""
    if ctx.master == "local":
        pytest.skip("local runs tasks in the driver's process")
    log, killed = str(tmp_path / "runs"), str(tmp_path / "killed")

    def kill_once(index, it):
        import signal

        with open(log, "a") as fh:
            fh.write(f"{index}\n")
        BarrierTaskContext.get().barrier()
        if index == 1 and not os.path.exists(killed):
            open(killed, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        for x in it:
            yield x % 2, x

    result = ctx.parallelize(range(10), 2).barrier().map_partitions_with_index(kill_once) \
        .reduce_by_key(lambda a, b: a + b).collect()
    assert sorted(result) == [(0, 20), (1, 25)]
    with open(log) as fh:
        assert sorted(fh.read().split()) == ["0", "0", "1", "1"]


def test_cancelling_a_job_whose_tasks_wait_in_a_barrier_ends_them_and_keeps_executors(
        ctx, tmp_path):
    """One task waits in barrier() for another that never comes (it sleeps): cancelling the
    job interrupts both at once, and the same executors run the next barrier job."""
    import threading

    from proc_helpers import wait_for
    from vega_runtime.errors import JobCancelled

    if slots(ctx) == 1:
        pytest.skip("needs two tasks in the stage")
    waiting = str(tmp_path / "waiting")

    def stuck(index, it):
        import time

        if index == 1:
            time.sleep(3600)
        open(waiting, "w").close()
        BarrierTaskContext.get().barrier()
        yield index

    outcome = []

    def run():
        try:
            ctx.parallelize([1, 2], 2).barrier().map_partitions_with_index(stuck).collect()
        except JobCancelled as exc:
            outcome.append(exc)

    def pid_and_tasks(it):
        yield os.getpid(), len(BarrierTaskContext.get().all_gather(""))

    before = ctx.parallelize([1, 2], 2).barrier().map_partitions(pid_and_tasks).collect()
    job = threading.Thread(target=run)
    job.start()
    wait_for(lambda: os.path.exists(waiting), 60, "a task waiting in barrier()")
    ctx.cancel_all_jobs()
    job.join(30)
    assert not job.is_alive() and len(outcome) == 1
    again = ctx.parallelize([1, 2], 2).barrier().map_partitions(pid_and_tasks).collect()
    assert [n for _, n in again] == [2, 2] and sorted(again) == sorted(before)


@pytest.mark.parametrize("master, runs", [("local[2]", True), ("local-cluster[2,1]", False)])
def test_dynamic_allocation_refuses_a_barrier_stage_only_where_it_acts(master, runs):
    """A local master's executors are fixed, so dynamic allocation, which does nothing there,
    does not refuse a barrier stage (Spark's local mode runs it); a cluster's still does."""
    def gather(it):
        yield len(BarrierTaskContext.get().all_gather("x"))

    conf = {"vega.dynamic_allocation.enabled": True, "vega.barrier.slots_wait": 0.5}
    with Context(master=master, app_name="barrier-dynamic", conf=conf) as ctx:
        job = ctx.parallelize(range(2), 2).barrier().map_partitions(gather)
        if runs:
            assert job.collect() == [2, 2]
        else:
            with pytest.raises(BarrierJobRefused, match="cannot run with dynamic allocation"):
                job.collect()
        assert ctx.parallelize(range(10), 2).sum() == 45


def test_a_local_cluster_that_lost_an_executor_waits_for_its_replacement():
    """A barrier job submitted while a local cluster's worker has yet to replace a lost
    executor waits for it (``vega.barrier.slots_wait``), as a cluster's job waits for
    executors to join; before, it was refused at once, as if the cluster had one slot.
    The workers are stopped (SIGSTOP) while the executor is killed, so the replacement
    comes only once they go on, a second later."""
    import signal
    import threading
    import time

    from proc_helpers import wait_for

    def gather(it):
        yield len(BarrierTaskContext.get().all_gather("x"))

    conf = {"vega.barrier.slots_wait": 60}
    with Context(master="local-cluster[2,1]", app_name="barrier-replaced", conf=conf) as ctx:
        workers = [proc.pid for proc in ctx.backend.owned_cluster.processes[1:]]
        executor = ctx.parallelize([1], 1).map(lambda _: os.getpid()).first()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(1.0, lambda: [os.kill(pid, signal.SIGCONT) for pid in workers])
        try:
            os.kill(executor, signal.SIGKILL)
            wait_for(lambda: ctx.backend.max_concurrent_tasks() == 1, 30, "the executor's loss")
            resume.start()
            started = time.monotonic()
            assert ctx.parallelize(range(2), 2).barrier().map_partitions(gather).collect() \
                == [2, 2]
            assert time.monotonic() - started >= 0.5
        finally:
            resume.cancel()
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
