"""``unpersist(blocking=True)`` (RDD and broadcast) and ``Broadcast.destroy(blocking=True)``
return once every executor has dropped what they free, as PySpark's ("blocking: whether to
block until all blocks are deleted"), on every master kind; an executor running a task drops
them and answers at once (Spark's BlockManager answers on its own RPC thread), except that a
task reading the very blocks removed goes on reading them and the removal is done once it
has (Spark's removal takes the block's write lock: PySpark 4.3's blocking unpersist of a
partition a task held half read returned when that task went on, 5.5 s later).

These returned at once with the executors' blocks still there; then (session 28) they
waited for every running task's end, up to ``vega.executor.timeout``: a 20 s task held
a blocking unpersist for 20 s; then (session 29) they returned with the blocks' readers
still reading (their records still in memory, their files' space still held)."""

import glob
import os
import threading

import pytest

from proc_helpers import master_and_worker, wait_for
from vega_runtime import Context, StorageLevel

#: the longest the busy tasks run: until the test says stop, which it does once the removals
#: returned (before the fix, the removals waited for the tasks' end, these 20 s)
BUSY_SECONDS = 20


def _block_files(root: str, rdd_id: int) -> list:
    return glob.glob(os.path.join(root, "**", f"rdd_{rdd_id}_*"), recursive=True)


def _marks(marks: str, name: str) -> list:
    return glob.glob(os.path.join(marks, name))


def _cached(ctx, marks: str, partitions: int, level: StorageLevel):
    """An RDD of ``3 * x`` for ``x < 100`` persisted at ``level`` and computed once; each
    computation of a partition leaves a ``computed-LEVEL-P-N`` mark."""
    name = level.name

    def tag(index, records):
        import uuid

        open(os.path.join(marks, f"computed-{name}-{index}-{uuid.uuid4().hex}"), "w").close()
        return records

    rdd = ctx.parallelize(range(100), partitions).map_partitions_with_index(tag) \
        .map(lambda x: x * 3).persist(level)
    assert rdd.sum() == 14850
    return rdd


def _reading_job(ctx, marks: str, on_disk, in_memory, partitions: int) -> tuple:
    """A job (in a thread) whose tasks, one per executor, read a partition of both cached
    RDDs (a first record of each), then wait for the test's ``stop`` mark, at most
    ``BUSY_SECONDS``, before reading the rest; returns once every task has started, with the
    thread and the job's result (filled in when it ends). Each task leaves ``ended-P`` as
    it stops waiting, before it reads the rest."""
    def hold(index, pairs):
        import time

        first = next(pairs)
        open(os.path.join(marks, f"started-{index}"), "w").close()
        deadline = time.monotonic() + BUSY_SECONDS
        while time.monotonic() < deadline and not os.path.exists(os.path.join(marks, "stop")):
            time.sleep(0.02)
        open(os.path.join(marks, f"ended-{index}"), "w").close()  # (reading on after it)
        return [sum(a + b for a, b in [first, *pairs])]

    result: list = []
    thread = threading.Thread(target=lambda: result.extend(
        on_disk.zip(in_memory).map_partitions_with_index(hold).collect()))
    thread.start()
    wait_for(lambda: len(_marks(marks, "started-*")) == partitions or not thread.is_alive(),
             60, "the reading tasks to start")
    assert len(_marks(marks, "started-*")) == partitions, result
    return thread, result


#: seconds a blocking unpersist of blocks a task reads is seen still waiting for the reader
#: (before the fix it returned in a few ms, the reader still reading)
WAITING = 1.0


def _unpersist_in_thread(marks: str, rdd) -> tuple:
    """``rdd.unpersist(blocking=True)`` in a thread; returns the thread and a list that
    receives, as it returns, how many reading tasks had ended then."""
    returned: list = []

    def unpersist():
        rdd.unpersist(blocking=True)
        returned.append(len(_marks(marks, "ended-*")))

    thread = threading.Thread(target=unpersist, daemon=True)
    thread.start()
    return thread, returned


def _check_removals_beside_running_tasks(ctx, root: str, marks: str, partitions: int) -> None:
    """With a task on each executor reading a DISK_ONLY and a MEMORY_ONLY cached partition,
    unpersist(blocking=True) of a third cached RDD, and a broadcast's unpersist, return while
    the tasks run; that of the two RDDs read returns once the readers have ended (Spark's
    removal takes each block's write lock, waiting for its readers), the block files gone
    and nothing cached meanwhile. The tasks read what they had begun to (no partition
    computed again) and give the exact sums; destroy(blocking=True) returns at once."""
    on_disk = _cached(ctx, marks, partitions, StorageLevel.DISK_ONLY)
    in_memory = _cached(ctx, marks, partitions, StorageLevel.MEMORY_ONLY)
    unread = _cached(ctx, marks, partitions, StorageLevel.MEMORY_AND_DISK)
    assert len(_block_files(root, on_disk.id())) == partitions
    value = ctx.broadcast(list(range(10)))
    assert ctx.parallelize(range(4), 4).map(lambda _: sum(value.value)).collect() == [45] * 4

    thread, result = _reading_job(ctx, marks, on_disk, in_memory, partitions)
    try:
        unread.unpersist(blocking=True)
        value.unpersist(blocking=True)
        assert _marks(marks, "ended-*") == []  # returned while the tasks ran
        removals = [_unpersist_in_thread(marks, rdd) for rdd in (on_disk, in_memory)]
        wait_for(lambda: on_disk.id() not in [r["id"] for r in ctx.cached_rdds()]
                 and in_memory.id() not in [r["id"] for r in ctx.cached_rdds()], 60,
                 "the driver to forget the blocks")
        for removal, returned in removals:
            removal.join(WAITING)
            assert removal.is_alive() and returned == []  # waiting for the readers
        assert _block_files(root, on_disk.id()) == []  # (unlinked under its reader)
    finally:
        open(os.path.join(marks, "stop"), "w").close()
        thread.join()
    for removal, returned in removals:
        removal.join(60)
        assert returned == [partitions]  # once every reader had ended
    assert [e.cacheSize for e in ctx.status_tracker().getExecutorInfos()] == \
        [0] * len(ctx.status_tracker().getExecutorInfos())
    size = 100 // partitions
    assert result == [6 * sum(range(p * size, (p + 1) * size)) for p in range(partitions)]
    assert len(_marks(marks, "computed-*")) == 3 * partitions  # read, not computed again
    assert ctx.parallelize(range(2), 2).map(lambda _: sum(value.value)).collect() == [45, 45]
    value.destroy(blocking=True)


@pytest.mark.parametrize("master,partitions", [("local", 1), ("local[2]", 2),
                                               ("local-cluster[2,1]", 2)])
def test_blocking_unpersist_beside_running_tasks(master, partitions, tmp_path):
    """local, local[2], local-cluster[2,1]: blocking removals return at once, tasks running."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with Context(master=master, app_name="unpersist-blocking") as ctx:
        _check_removals_beside_running_tasks(ctx, ctx.app_dir, str(marks), partitions)


def test_blocking_unpersist_beside_running_tasks_on_a_cluster(tmp_path, monkeypatch):
    """A vega:// cluster (a real master and worker): the executor's block files, under the
    worker's work dir, are gone when unpersist(blocking=True) returns, its task running."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with master_and_worker(tmp_path / "cluster") as cluster:
        monkeypatch.setenv("VEGA_SECRET_FILE", cluster["env"]["VEGA_SECRET_FILE"])
        with Context(master=cluster["url"], app_name="unpersist-blocking") as ctx:
            _check_removals_beside_running_tasks(ctx, str(tmp_path / "cluster" / "worker"),
                                                 str(marks), 1)


@pytest.mark.parametrize("master,partitions", [("local", 1), ("local[2]", 2),
                                               ("local-cluster[2,1]", 2)])
def test_a_partition_computed_while_its_rdd_is_unpersisted_is_not_kept(master, partitions,
                                                                      tmp_path):
    """A DISK_ONLY RDD unpersisted (blocking) while its tasks compute its partitions: the
    job's result is exact and no executor keeps a partition of it (Spark's removal waits
    for the put of a block being computed, then drops it). Found after the removals went
    beside running tasks: each task stored its partition after the removal, kept for the
    application's life, unknown to the driver."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def slow(index, records):
        import time

        open(os.path.join(str(marks), f"started-{index}"), "w").close()
        deadline = time.monotonic() + BUSY_SECONDS
        while time.monotonic() < deadline and not os.path.exists(os.path.join(str(marks), "stop")):
            time.sleep(0.02)
        return records

    with Context(master=master, app_name="unpersist-computing") as ctx:
        rdd = ctx.parallelize(range(100), partitions).map_partitions_with_index(slow) \
            .persist(StorageLevel.DISK_ONLY)
        result: list = []
        thread = threading.Thread(target=lambda: result.append(rdd.sum()))
        thread.start()
        try:
            wait_for(lambda: len(_marks(str(marks), "started-*")) == partitions
                     or not thread.is_alive(), 60, "the tasks to start")
            rdd.unpersist(blocking=True)
        finally:
            open(os.path.join(str(marks), "stop"), "w").close()
            thread.join()
        assert result == [4950]
        assert _block_files(ctx.app_dir, rdd.id()) == []
        assert [e.cacheSize for e in ctx.status_tracker().getExecutorInfos()] == \
            [0] * len(ctx.status_tracker().getExecutorInfos())


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_partitions_a_running_job_computes_after_its_rdd_was_unpersisted_are_dropped(
        master, tmp_path):
    """A DISK_ONLY RDD of 8 partitions unpersisted (blocking) while its job's first tasks
    run: the job's later tasks, whose stage's copy of the RDD still has its level, store
    their partitions, and their executors drop them once the driver hears of them; the
    result is exact. Before, 6 or 7 block files stayed on the executors for the
    application's life, unknown to the driver, whatever later unpersists said (the RDD was
    no longer persisted: nothing removed them again)."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def gated(index, records):
        import time

        open(os.path.join(str(marks), f"started-{index}"), "w").close()
        deadline = time.monotonic() + BUSY_SECONDS
        while time.monotonic() < deadline and not os.path.exists(os.path.join(str(marks), "stop")):
            time.sleep(0.02)
        return records

    with Context(master=master, app_name="unpersist-mid-job") as ctx:
        rdd = ctx.parallelize(range(80), 8).map_partitions_with_index(gated) \
            .persist(StorageLevel.DISK_ONLY)
        result: list = []
        thread = threading.Thread(target=lambda: result.append(rdd.sum()))
        thread.start()
        try:
            wait_for(lambda: _marks(str(marks), "started-*") or not thread.is_alive(), 60,
                     "the first tasks to start")
            rdd.unpersist(blocking=True)
        finally:
            open(os.path.join(str(marks), "stop"), "w").close()
            thread.join()
        assert result == [3160]
        wait_for(lambda: _block_files(ctx.app_dir, rdd.id()) == [], 30,
                 "the executors to drop the partitions stored after the removal")
        assert ctx.cached_rdds() == []
        infos = ctx.status_tracker().getExecutorInfos()
        assert [e.cacheSize for e in infos] == [0] * len(infos)
