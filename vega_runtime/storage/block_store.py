"""An executor's cache of computed partitions, within a memory budget.

Blocks are kept in memory (least recently used evicted first) and, for
levels that allow it, on local disk.  A block evicted from memory moves to
disk when its level has ``use_disk``, and is dropped otherwise (it will be
recomputed from lineage).  A block this executor lacks is first asked of the
executors the driver says hold it (``fetch_remote``, Spark's remote get), and
computed only when none of them hands it over.

An executor process removes an RDD's blocks from a thread of its own while a task may
run (Spark's BlockManager answers removals on its own RPC thread), so the store's maps
change under a lock.  A task reading a block when it is removed goes on reading it: it
holds the block's records (in memory) or its open file (on disk, unlinked under it).  The
removal is done (``remove_rdd``'s ``on_removed``, which answers a blocking unpersist) once
every such read has ended, as Spark's removal takes the block's write lock and so waits
for its readers: a read ends when its records run out (a memory block's, handed over as
its list's bare iterator, is seen exhausted as the store next looks), or at the latest with
its task (``end_task_reads``, Spark's ``releaseAllLocksForTask``); serving a block to
another executor (``serving``) is a read until the reply is made.  Memory and disk blocks
behave alike: the removal frees nothing a reader still holds before it says it is done.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import os
import threading
from collections import OrderedDict
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..private_files import make_private_dirs, open_private, remove_tree
from ..serde import dump_batches, read_batch_file
from ..shuffle.sizing import estimate_records
from ..storage_level import StorageLevel

BlockId = Tuple[int, int]  # (rdd_id, partition)


class _Read:
    """A task's read of a block held here, open until its records run out or its task ends
    (``open`` is only ever set False: a kill's signal may cut a release short anywhere).
    A memory block's read is the list's own iterator (``records``), handed to the task
    as it is: it has ended once that is exhausted, which the store sees when it next looks
    (a removal, another read, the task's end) rather than as the last record is taken."""

    __slots__ = ("block", "handle", "open", "records", "served")

    def __init__(self, block: BlockId, handle=None, records=None, served=False):
        self.block, self.handle, self.open, self.records = block, handle, True, records
        #: a read for another executor (``serving``), not the task's: its end is its own
        self.served = served

    def active(self) -> bool:
        return self.open and (self.records is None or operator.length_hint(self.records) > 0)


class _Removal:
    """A removal waiting for the reads of its blocks open when it came; ``on_removed`` is
    called once they have all ended."""

    __slots__ = ("reads", "on_removed")

    def __init__(self, reads: List[_Read], on_removed: Callable[[], None]):
        self.reads, self.on_removed = reads, on_removed


#: seconds a task waits at most for a copy of a block the driver has sent its executor to be
#: stored (the block manager's thread unpickles it and may write it to disk), before it
#: reads it elsewhere or computes it
REPLICA_WAIT = 60.0


class BlockStore:
    def __init__(self, directory: str, memory_budget: int):
        self.directory = directory
        self.memory_budget = memory_budget
        self.memory: "OrderedDict[BlockId, Tuple[list, int, StorageLevel]]" = OrderedDict()
        self.on_disk: Dict[BlockId, Tuple[str, int]] = {}
        self.memory_used = 0
        #: Since the last ``drain_changes`` (reported to the driver): blocks stored or moved,
        #: as ``[rdd_id, partition, "memory" | "disk", bytes]``, and blocks dropped.
        self.added: List[list] = []
        self.dropped: List[BlockId] = []
        #: Blocks whose level asks for a second copy: ``(block, level, records)``.
        self.to_replicate: List[tuple] = []
        #: ``fetch_remote(block) -> records or None``: the running task's way to another
        #: executor's copy of a block (set per task by the executor; None: no other holds any)
        self.fetch_remote: Optional[Callable[[BlockId], Optional[list]]] = None
        #: guards the maps and change lists between the task and a removal's thread
        self._lock = threading.RLock()
        #: partitions being computed, by RDD, each a flag a removal of the RDD sets: one
        #: computed while its RDD is removed is not stored (Spark's removal waits for the
        #: put and drops it). Only computations in flight are here: an application that
        #: caches and unpersists 100k RDDs keeps nothing for them.
        self._computing: Dict[int, List[list]] = {}
        #: the running task's open reads of blocks held here, and the removals waiting for
        #: some of them to end
        self._reads: List[_Read] = []
        self._waiting: List[_Removal] = []
        #: replicas the driver has sent that are not stored yet (``replica_coming``), by
        #: block: how many; a task reading one waits for it instead of computing it again
        self._coming: Dict[BlockId, int] = {}
        self._came = threading.Condition(self._lock)

    def drain_changes(self) -> Tuple[List[list], List[BlockId]]:
        with self._lock:
            changes = (self.added, self.dropped)
            self.added, self.dropped = [], []
        return changes

    def _held(self, block: BlockId) -> Optional[Iterator]:
        """The records of a block held here, for this executor's task (None: not held), as
        a read a removal waits for: a file on disk is opened at once, so a removal that
        comes while it is read unlinks it from under the reader instead of failing it."""
        if self._waiting:  # a removal may wait for a memory block's read exhausted since
            self._settle()
        with self._lock:
            if block in self.memory:
                self.memory.move_to_end(block)
                records = iter(self.memory[block][0])
                self._reads.append(_Read(block, records=records))
                # not wrapped: a generator passing each record on cost more than the read
                # itself (docs/storage.md, "What a read costs")
                return records
            if block not in self.on_disk:
                return None
            handle = open(self.on_disk[block][0], "rb")
            read = _Read(block, handle)
            self._reads.append(read)
        # the read ends as the file's records run out (chained: no frame per record)
        return itertools.chain(read_batch_file("", opener=lambda *_: handle),
                               self._ending(read))

    def _ending(self, read: _Read) -> Iterator:
        """No records: the read's end, when ``chain`` reaches it (its records ran out; one
        its task leaves before the end, ``take``, ends with the task, as Spark's)."""
        read.open = False
        self._settle()
        return
        yield  # (a generator: nothing runs before the records have run out)

    def end_task_reads(self) -> None:
        """The task has ended: so have its reads, their records run out or not."""
        for read in [read for read in self._reads if not read.served]:
            read.open = False
            if read.handle is not None:
                read.handle.close()
        self._settle()

    def _settle(self) -> None:
        """Forget the reads that have ended; call back the removals none of whose reads is
        open any more (out of the lock)."""
        with self._lock:
            self._reads = [read for read in self._reads if read.active()]
            done = [r for r in self._waiting if not any(read.active() for read in r.reads)]
            self._waiting = [r for r in self._waiting if r not in done]
        for removal in done:
            removal.on_removed()

    def removal_waits(self) -> bool:
        """Whether a removal waits for a read to end."""
        return bool(self._waiting)

    def drain_replicas(self) -> List[tuple]:
        """The blocks to copy elsewhere since the last call, as ``(block, level, records)``."""
        with self._lock:
            replicas, self.to_replicate = self.to_replicate, []
        return replicas

    def replica_coming(self, block: BlockId) -> None:
        """The driver sent a copy of ``block`` (``PutBlock``), which the block manager's
        thread stores in its turn: a task arriving after it finds it (``replica_stored``)."""
        with self._lock:
            self._coming[block] = self._coming.get(block, 0) + 1

    def replica_stored(self, block: BlockId) -> None:
        """A copy ``replica_coming`` announced is stored, or given up (it did not unpickle)."""
        with self._lock:
            left = self._coming.pop(block, 0) - 1
            if left > 0:
                self._coming[block] = left
            self._came.notify_all()

    def _wait_for_replica(self, block: BlockId, timeout: float = REPLICA_WAIT) -> None:
        with self._lock:
            self._came.wait_for(lambda: block not in self._coming, timeout)

    def get_or_compute(self, rdd_id: int, partition: int, level: StorageLevel,
                       compute: Callable[[], Iterator]) -> Iterator:
        block = (rdd_id, partition)
        if block in self._coming:  # the driver counts this executor a holder already
            self._wait_for_replica(block)
        held = self._held(block)
        if held is not None:
            return held
        if self.fetch_remote is not None:
            records = self.fetch_remote(block)
            if records is not None:  # not kept here: the holder keeps it (as Spark's)
                return iter(records)
        removed = [False]
        with self._lock:
            self._computing.setdefault(rdd_id, []).append(removed)
        records = None
        try:
            records = list(compute())
        finally:
            # one section: a removal finds the flag, or the block stored and its copy to send
            with self._lock:
                computing = self._computing[rdd_id]
                computing.remove(removed)
                if not computing:
                    del self._computing[rdd_id]
                # unpersisted while computed: kept by no one (as Spark's)
                if records is not None and not removed[0] and \
                        self.put(block, records, level) and level.replication > 1:
                    self.to_replicate.append((block, level, records))
        return iter(records)

    @contextlib.contextmanager
    def serving(self, block: BlockId) -> Iterator[Optional[list]]:
        """The records of a block held here, for another executor, as a read a removal
        waits for until the ``with`` ends (Spark's ``getLocalBlockData`` holds the block's
        read lock until its reply is sent); None when it is not held or cannot be read (a
        file garbled).  Safe beside the task thread and a removal's."""
        handle = records = read = None
        with self._lock:
            entry = self.memory.get(block)
            if entry is not None:
                records = entry[0]
            elif block in self.on_disk:
                with contextlib.suppress(OSError):  # its file gone: as not held
                    handle = open(self.on_disk[block][0], "rb")
            if records is not None or handle is not None:
                read = _Read(block, handle, served=True)
                self._reads.append(read)
        if read is None:
            yield None
            return
        try:
            if handle is not None:
                try:
                    records = list(read_batch_file("", opener=lambda *_: handle))
                except Exception:  # noqa: BLE001 - a truncated or garbled file fails as pickle can
                    records = None
                finally:
                    handle.close()
            yield records
        finally:
            read.open = False
            self._settle()

    def put(self, block: BlockId, records: list, level: StorageLevel) -> bool:
        """Keep a block at ``level``; False when it fits nowhere the level allows."""
        size = estimate_records(records, len(records)) if records else 64
        with self._lock:
            return self._put_locked(block, records, size, level)

    def _put_locked(self, block: BlockId, records: list, size: int, level: StorageLevel) -> bool:
        if level.use_memory and size <= self.memory_budget:
            self._evict_until(self.memory_budget - size)
            self.memory[block] = (records, size, level)
            self.memory_used += size
            self.added.append([block[0], block[1], "memory", size])
        elif level.use_disk:
            self._write_disk(block, records)
        else:
            return False
        return True

    def _evict_until(self, limit: int) -> None:
        while self.memory and self.memory_used > limit:
            block, (records, size, level) = self.memory.popitem(last=False)
            self.memory_used -= size
            if level.use_disk:
                self._write_disk(block, records)
            else:
                self.dropped.append(block)

    def _write_disk(self, block: BlockId, records: list) -> None:
        make_private_dirs(self.directory)
        path = os.path.join(self.directory, f"rdd_{block[0]}_{block[1]}")
        with open_private(path + ".tmp", "wb") as out:
            size = dump_batches(records, out, 1024)
        os.replace(path + ".tmp", path)
        self.on_disk[block] = (path, size)
        self.added.append([block[0], block[1], "disk", size])

    def remove_rdd(self, rdd_id: int,
                   on_removed: Optional[Callable[[], None]] = None) -> None:
        """Drop an RDD's blocks (from any thread); those the running task stored meanwhile
        are not reported to the driver as held either, and one it is computing is not
        stored.  ``on_removed()`` is called once the task's reads of them open now have
        ended: at once when there are none, else on the thread that sees the last end (a
        disk block's as its records run out; a memory block's, exhausted, as the store next
        looks: another read, another removal, at the latest the task's end)."""
        with self._lock:
            for removed in self._computing.get(rdd_id, ()):
                removed[0] = True
            reads = [read for read in self._reads if read.active() and read.block[0] == rdd_id]
            if reads and on_removed is not None:
                self._waiting.append(_Removal(reads, on_removed))
                on_removed = None
            for block in [b for b in self.memory if b[0] == rdd_id]:
                self.memory_used -= self.memory.pop(block)[1]
            # unlinked under the lock: once it is released, the task may store the block
            # anew at the same path (the RDD persisted again), which an unlink would delete
            for block in [b for b in self.on_disk if b[0] == rdd_id]:
                with contextlib.suppress(OSError):
                    os.unlink(self.on_disk.pop(block)[0])
            self.added = [entry for entry in self.added if entry[0] != rdd_id]
            self.to_replicate = [entry for entry in self.to_replicate if entry[0][0] != rdd_id]
        if on_removed is not None:
            on_removed()
        elif self._waiting:  # (an earlier removal's memory reads may have run out since)
            self._settle()

    def blocks(self) -> List[Tuple[int, int, str, int]]:
        """``(rdd_id, partition, where, bytes)`` for every block held."""
        with self._lock:
            out = [(b[0], b[1], "memory", size) for b, (_, size, _) in self.memory.items()]
            out += [(b[0], b[1], "disk", size) for b, (_, size) in self.on_disk.items()]
        return out

    def clear(self) -> None:
        with self._lock:
            self.memory.clear()
            self.on_disk.clear()
            self.memory_used = 0
        remove_tree(self.directory)
