"""``unpersist(blocking=True)`` (RDD and broadcast) and ``Broadcast.destroy(blocking=True)``
return once every executor has dropped what they free, as PySpark's ("blocking: whether to
block until all blocks are deleted"), on every master kind; an executor busy with a task
drops them when its task ends, and the driver waits for that.  These returned at once: the
executors dropped their blocks later (a DISK_ONLY RDD's files were still on disk)."""

import glob
import os
import threading

import pytest

from proc_helpers import master_and_worker, wait_for
from vega_runtime import Context, StorageLevel

#: how long each task of the job that keeps the executors busy runs
BUSY_SECONDS = 1.5


def _block_files(root: str, rdd_id: int) -> list:
    return glob.glob(os.path.join(root, "**", f"rdd_{rdd_id}_*"), recursive=True)


def _busy_executors(ctx, marks: str, executors: int) -> threading.Thread:
    """A job (in a thread) with a task running on each of ``executors`` executors for
    ``BUSY_SECONDS``; returns once every task has started.  Each task leaves
    ``marks/ended-N`` as it ends."""
    def busy(index, _):
        import time

        open(os.path.join(marks, f"started-{index}"), "w").close()
        time.sleep(BUSY_SECONDS)
        open(os.path.join(marks, f"ended-{index}"), "w").close()
        return [index]

    thread = threading.Thread(target=lambda: ctx.parallelize(range(executors), executors)
                              .map_partitions_with_index(busy).collect())
    thread.start()
    wait_for(lambda: len(glob.glob(os.path.join(marks, "started-*"))) == executors, 60,
             "the busy tasks to start")
    return thread


def _check_blocking_removals(ctx, root: str, marks: str, executors: int) -> None:
    """With every executor busy, a DISK_ONLY RDD's unpersist(blocking=True) returns with its
    block files gone, and a broadcast's unpersist/destroy(blocking=True) once each executor
    has dropped its copy (after the busy tasks ended); nothing is cached afterwards."""
    rdd = ctx.parallelize(range(100), 4).map(lambda x: x * 3).persist(StorageLevel.DISK_ONLY)
    assert rdd.sum() == 14850
    assert len(_block_files(root, rdd.id())) == 4
    value = ctx.broadcast(list(range(10)))
    assert ctx.parallelize(range(4), 4).map(lambda _: sum(value.value)).collect() == [45] * 4

    busy = _busy_executors(ctx, marks, executors) if executors else None
    rdd.unpersist(blocking=True)
    assert _block_files(root, rdd.id()) == []
    assert [r for r in ctx.cached_rdds() if r["id"] == rdd.id()] == []
    if busy is not None:  # the executors dropped the blocks once their tasks had ended
        assert len(glob.glob(os.path.join(marks, "ended-*"))) == executors
        busy.join()
        for mark in glob.glob(os.path.join(marks, "*")):
            os.unlink(mark)
        busy = _busy_executors(ctx, marks, executors)
    value.unpersist(blocking=True)
    if busy is not None:
        assert len(glob.glob(os.path.join(marks, "ended-*"))) == executors
        busy.join()
    assert ctx.parallelize(range(2), 2).map(lambda _: sum(value.value)).collect() == [45, 45]
    value.destroy(blocking=True)


@pytest.mark.parametrize("master,executors", [("local", 0), ("local[2]", 2),
                                              ("local-cluster[2,1]", 2)])
def test_blocking_unpersist_waits_for_every_executor(master, executors, tmp_path):
    """local, local[2], local-cluster[2,1]: blocking removals return once done everywhere."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with Context(master=master, app_name="unpersist-blocking") as ctx:
        _check_blocking_removals(ctx, ctx.app_dir, str(marks), executors)


def test_blocking_unpersist_waits_on_a_cluster(tmp_path, monkeypatch):
    """A vega:// cluster (a real master and worker): the executor's block files, under the
    worker's work dir, are gone when unpersist(blocking=True) returns."""
    marks = tmp_path / "marks"
    marks.mkdir()
    with master_and_worker(tmp_path / "cluster") as cluster:
        monkeypatch.setenv("VEGA_SECRET_FILE", cluster["env"]["VEGA_SECRET_FILE"])
        with Context(master=cluster["url"], app_name="unpersist-blocking") as ctx:
            _check_blocking_removals(ctx, str(tmp_path / "cluster" / "worker"), str(marks), 1)
