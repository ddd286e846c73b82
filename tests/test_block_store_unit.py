"""An executor's ``BlockStore`` and broadcasts, and the driver's ``BlockTracker``, driven with
plain calls (milliseconds): a removal waits for the reads of its blocks (Spark's write lock),
and what the removals leave behind does not grow with the number of RDDs and broadcasts an
application ever removed."""

import gc
import os
import pickle
import tracemalloc

from vega_runtime.scheduler.block_tracker import BlockTracker
from vega_runtime.scheduler.executor import Executor, ExecutorDirs
from vega_runtime.storage.block_store import BlockStore
from vega_runtime.storage_level import StorageLevel

#: the RDDs and broadcasts removed in the memory tests (an application's long life)
REMOVED = 5_000
#: bytes the removals may leave at most, all of them together (before, 84 bytes a removal
#: were kept: 420 KB)
LEFT_AT_MOST = 16 * 1024


def _growth(cycle, times: int) -> int:
    """Bytes still allocated after ``cycle(i)`` for ``i < times`` (tracemalloc)."""
    cycle(0)  # (first-use allocations are not the removals')
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, times):
            cycle(i)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_removal_waits_for_the_reads_of_its_blocks(tmp_path):
    """remove_rdd calls back once the reads open when it came have ended: one as its
    records run out, the other with its task's end; a read opened later is not waited for.
    Memory and disk blocks alike: both readers read every record, the disk block's file
    gone as the removal comes."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    for partition, level in ((0, StorageLevel.MEMORY_ONLY), (1, StorageLevel.DISK_ONLY)):
        store.get_or_compute(7, partition, level, lambda: iter(range(100)))
    in_memory = store.get_or_compute(7, 0, StorageLevel.MEMORY_ONLY, lambda: iter(()))
    on_disk = store.get_or_compute(7, 1, StorageLevel.DISK_ONLY, lambda: iter(()))
    assert (next(in_memory), next(on_disk)) == (0, 0)
    done: list = []
    store.remove_rdd(7, lambda: done.append("removed"))
    assert done == [] and store.removal_waits()
    assert os.listdir(tmp_path / "blocks") == [] and store.blocks() == []
    assert sum(in_memory) == sum(range(1, 100)) and done == []  # one read ended
    assert next(on_disk) == 1 and done == []
    store.end_task_reads()
    assert done == ["removed"] and not store.removal_waits()
    store.remove_rdd(8, lambda: done.append("at once"))  # nothing read: at once
    assert done == ["removed", "at once"]


def test_a_removal_does_not_wait_for_reads_opened_after_it(tmp_path):
    """The same RDD cached again and read after a removal: a second removal waits for that
    read, the first (whose reads ended) does not. A memory block's read is its list's bare
    iterator: the store sees it exhausted as it next looks (here the next read), a disk
    block's read ends as its records run out."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    store.get_or_compute(3, 0, StorageLevel.MEMORY_ONLY, lambda: iter([1, 2]))
    first = store.get_or_compute(3, 0, StorageLevel.MEMORY_ONLY, lambda: iter(()))
    assert type(first) is type(iter([]))  # (no wrapper: docs/storage.md, what a read costs)
    done: list = []
    store.remove_rdd(3, lambda: done.append(1))
    assert list(first) == [1, 2] and done == []
    store.get_or_compute(3, 0, StorageLevel.DISK_ONLY, lambda: iter([5, 6]))
    assert done == [1]  # (seen as the next read began)
    again = store.get_or_compute(3, 0, StorageLevel.DISK_ONLY, lambda: iter(()))
    store.remove_rdd(3, lambda: done.append(2))
    assert done == [1]
    assert list(again) == [5, 6] and done == [1, 2]


def test_a_memory_read_left_unfinished_ends_with_its_task(tmp_path):
    """A memory block's read the task leaves half done (``take``) holds a removal until the
    task's end; one exhausted meanwhile is seen so by a later removal."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    for partition in (0, 1):
        store.get_or_compute(4, partition, StorageLevel.MEMORY_ONLY, lambda: iter(range(3)))
    half, whole = (store.get_or_compute(4, p, StorageLevel.MEMORY_ONLY, lambda: iter(()))
                   for p in (0, 1))
    done: list = []
    assert next(half) == 0 and list(whole) == [0, 1, 2]
    store.remove_rdd(4, lambda: done.append("removed"))
    assert done == [] and store.removal_waits()  # (waiting for ``half`` only)
    store.end_task_reads()
    assert done == ["removed"] and not store.removal_waits()


def test_a_partition_computed_during_its_removal_is_not_kept(tmp_path):
    """A removal that comes while a partition is computed: the records are given to the
    task and not stored; the next computation of it, after the removal, is stored."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)

    def compute():
        store.remove_rdd(4)  # (as the block manager's thread would, meanwhile)
        return iter([1, 2, 3])

    assert list(store.get_or_compute(4, 0, StorageLevel.MEMORY_ONLY, compute)) == [1, 2, 3]
    assert store.blocks() == []
    assert list(store.get_or_compute(4, 0, StorageLevel.MEMORY_ONLY, lambda: iter([9]))) == [9]
    assert [b[:3] for b in store.blocks()] == [(4, 0, "memory")]


def test_removed_rdds_leave_nothing_in_the_block_store(tmp_path):
    """5k RDDs cached, read and removed: the store keeps nothing per removed RDD. Before, a
    count per RDD removed (to drop a partition computed during its removal) was kept for the
    executor's life: 100k removals left 8.4 MB."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)

    def cycle(rdd_id: int) -> None:
        assert list(store.get_or_compute(rdd_id, 0, StorageLevel.MEMORY_ONLY,
                                         lambda: iter([rdd_id]))) == [rdd_id]
        store.remove_rdd(rdd_id, lambda: None)
        store.drain_changes()
        store.end_task_reads()

    assert _growth(cycle, REMOVED) < LEFT_AT_MOST
    assert store.blocks() == []


def test_removed_broadcasts_leave_nothing_in_the_executor(tmp_path):
    """5k broadcasts loaded and removed: the executor keeps nothing per removed one (a
    count per broadcast removed was kept for its life: 100k left 8.4 MB)."""
    dirs = ExecutorDirs.under(str(tmp_path), "exec-1")
    executor = Executor("exec-1", "127.0.0.1", dirs, None, 1 << 20, in_driver=True)
    path = str(tmp_path / "value")
    with open(path, "wb") as fh:
        pickle.dump([1, 2, 3], fh)

    def cycle(broadcast_id: int) -> None:
        assert executor.load_broadcast(broadcast_id, path) == [1, 2, 3]
        executor.remove_broadcast(broadcast_id)

    assert _growth(cycle, REMOVED) < LEFT_AT_MOST


def test_removed_rdds_leave_nothing_in_the_drivers_records():
    """5k RDDs cached and removed while no task launched before a removal is still
    tracked: the driver's tracker keeps nothing per removed RDD (a removal's number per RDD
    was kept for the application's life: 100k, with their blocks' records, left 11.6 MB)."""
    tracker = BlockTracker()

    def cycle(rdd_id: int) -> None:
        launched = tracker.removals  # a task launched now ...
        tracker.added("exec-1", [[rdd_id, 0, "memory", 64]])
        tracker.rdd_removed(rdd_id)
        assert tracker.removed_since(rdd_id, launched)  # ... hears of the removal
        tracker.forget_removals(None)  # (the job loop, once no such task is tracked)

    assert _growth(cycle, REMOVED) < LEFT_AT_MOST
    assert tracker.usage(5) == {"cached_partitions": 0, "memory_bytes": 0, "disk_bytes": 0,
                                "executors": []}


def test_removals_a_tracked_task_may_ask_about_are_kept():
    """forget_removals keeps the removals after the oldest tracked task's launch."""
    tracker = BlockTracker()
    tracker.rdd_removed(1)
    launched = tracker.removals
    tracker.rdd_removed(2)
    tracker.forget_removals(launched)
    assert not tracker.removed_since(1, launched) and tracker.removed_since(2, launched)


def test_a_block_stored_again_as_its_old_file_is_unlinked_is_kept(tmp_path, monkeypatch):
    """A removal of a DISK_ONLY RDD while the task thread stores the same block anew (a task
    of a job launched before the removal, whose RDD is still persisted in its copy): the new
    file is kept and read. Before, the removal unlinked the old path after letting go of the
    store's lock, deleting the file just written there, and the next task to read the block
    failed with FileNotFoundError (found on `local` by threads reading an RDD while another
    unpersisted and persisted it again)."""
    import threading

    from vega_runtime.storage import block_store

    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    store.put((5, 0), [1, 2], StorageLevel.DISK_ONLY)
    unlink, holder = os.unlink, []

    def unlink_as_the_task_stores(path):
        # the task thread stores the block anew now; it waits for the store's lock, if the
        # removal holds it, at most a moment
        task = threading.Thread(target=store.put, args=((5, 0), [3, 4], StorageLevel.DISK_ONLY))
        task.start()
        task.join(0.5)
        unlink(path)
        monkeypatch.setattr(block_store.os, "unlink", unlink)
        holder.append(task)

    monkeypatch.setattr(block_store.os, "unlink", unlink_as_the_task_stores)
    store.remove_rdd(5)
    holder[0].join()
    assert [b[:3] for b in store.blocks()] == [(5, 0, "disk")]
    assert list(store.get_or_compute(5, 0, StorageLevel.DISK_ONLY, lambda: iter(()))) == [3, 4]


def test_a_removal_waits_for_a_block_served_to_another_executor(tmp_path):
    """A block being served (``serving``: another executor's fetch) is a read a removal
    waits for until the reply is made, the task's end notwithstanding (it is not the
    task's read); a file removed meanwhile was read whole. A block not held serves None."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    store.get_or_compute(6, 0, StorageLevel.DISK_ONLY, lambda: iter(range(5)))
    done: list = []
    with store.serving((6, 0)) as records:
        store.remove_rdd(6, lambda: done.append("removed"))
        store.end_task_reads()
        assert records == [0, 1, 2, 3, 4] and done == [] and os.listdir(tmp_path / "blocks") == []
    assert done == ["removed"] and not store.removal_waits()
    with store.serving((6, 0)) as records:
        assert records is None


def test_a_block_whose_file_is_gone_serves_none(tmp_path):
    """A DISK_ONLY block whose file was deleted under the store (a disk cleaned, a file
    lost) is served as not held, so the asking task computes it at once; before, ``open``
    raised on the executor's block-manager thread, no reply went out, and the asking task
    waited out the relay's 120 s (test_caching's recomputation test took 120 s)."""
    store = BlockStore(str(tmp_path / "blocks"), 1 << 20)
    store.get_or_compute(6, 0, StorageLevel.DISK_ONLY, lambda: iter(range(5)))
    (path,) = [os.path.join(tmp_path, "blocks", n) for n in os.listdir(tmp_path / "blocks")]
    os.unlink(path)
    with store.serving((6, 0)) as records:
        assert records is None
    assert not store.removal_waits()


def test_a_task_sent_after_a_replica_reads_it_rather_than_computing_it(tmp_path):
    """The driver counts an executor a holder of a block once it has sent it the copy
    (``PutBlock``), which the executor's block-manager thread stores in its turn: a task the
    driver sends next, reading the block, waits for that copy. Before, under load, it found
    nothing yet and computed the partition again (test_caching's DISK_ONLY_3 test: 60
    computations, not 30, with two holders killed and the third, a replica, recomputing)."""
    import threading

    store = BlockStore(str(tmp_path), 1 << 20)
    block, level = (4, 0), StorageLevel.DISK_ONLY
    store.replica_coming(block)

    def stored_later():  # (either order passes; before, the task computed at once)
        store.put(block, ["replica"], level)
        store.replica_stored(block)

    threading.Timer(0.2, stored_later).start()
    computed = []
    records = store.get_or_compute(4, 0, level, lambda: computed.append(1) or iter(["again"]))
    assert (list(records), computed) == (["replica"], [])
    store.end_task_reads()
    store.replica_coming(block)
    store.replica_stored(block)  # (one that did not unpickle: no wait for it)
    assert list(store.get_or_compute(4, 0, level, lambda: iter(["again"]))) == ["replica"]
