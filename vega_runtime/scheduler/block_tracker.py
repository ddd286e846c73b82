"""Which executor holds which cached partition, for locality-aware scheduling.

Any thread may read or change the records: the job loop's (tasks' reports, executors lost,
launches) and the user's (``unpersist``, ``cached_rdds``, the status tracker) run at once,
so every method holds the tracker's lock (a user's thread iterating the records while the
loop added a block failed with 'dictionary changed size during iteration')."""

from __future__ import annotations

import threading
from typing import Dict, FrozenSet, Iterable, Set, Tuple

from ..rdd.dependency import NarrowDependency
from ..storage_level import StorageLevel

BlockId = Tuple[int, int]  # (rdd_id, partition)


class BlockTracker:
    def __init__(self) -> None:
        self._holders: Dict[BlockId, Set[str]] = {}
        #: (block, executor) -> ("memory" | "disk", bytes)
        self._where: Dict[Tuple[BlockId, str], Tuple[str, int]] = {}
        #: RDD removals so far, and the number of each RDD's last: a task launched before
        #: (``removed_since``) reports blocks its executor has dropped since
        self.removals = 0
        self._removed_at: Dict[int, int] = {}
        self._lock = threading.RLock()
        #: the RDDs persisted now (``persisted`` until ``rdd_removed``)
        self._persisted: Set[int] = set()

    def added(self, executor_id: str, blocks: Iterable) -> None:
        """Record blocks an executor reported as ``[rdd_id, partition, where, bytes]``."""
        with self._lock:
            for rdd_id, partition, where, size in blocks:
                self._holders.setdefault((rdd_id, partition), set()).add(executor_id)
                self._where[((rdd_id, partition), executor_id)] = (where, size)

    def removed(self, executor_id: str, blocks: Iterable) -> None:
        with self._lock:
            for rdd_id, partition in blocks:
                holders = self._holders.get((rdd_id, partition))
                self._where.pop(((rdd_id, partition), executor_id), None)
                if holders is not None:
                    holders.discard(executor_id)
                    if not holders:
                        del self._holders[(rdd_id, partition)]

    def executor_lost(self, executor_id: str) -> None:
        with self._lock:
            for block in [b for b, h in self._holders.items() if executor_id in h]:
                self.removed(executor_id, [block])

    def forget_removals(self, oldest_launch) -> None:
        """Forget the removals no task can be asked about any more: those before
        ``oldest_launch`` (the ``removals`` count at the launch of the oldest task still
        tracked; None: every one), so an application that unpersists 100k RDDs does not
        keep 100k entries."""
        with self._lock:
            if oldest_launch is None:
                self._removed_at.clear()
            else:
                for rdd_id in [r for r, at in self._removed_at.items() if at <= oldest_launch]:
                    del self._removed_at[rdd_id]

    def removed_since(self, rdd_id: int, removals: int) -> bool:
        """Whether the RDD was removed after ``removals`` (a task's launch's count)."""
        with self._lock:
            return self._removed_at.get(rdd_id, 0) > removals

    def persisted(self, rdd_id: int) -> None:
        """The RDD is persisted (``RDD.persist``): its blocks are recorded as reported."""
        with self._lock:
            self._persisted.add(rdd_id)

    def is_persisted(self, rdd_id: int) -> bool:
        with self._lock:
            return rdd_id in self._persisted

    def rdd_removed(self, rdd_id: int) -> None:
        with self._lock:
            self._persisted.discard(rdd_id)
            self.removals += 1
            self._removed_at[rdd_id] = self.removals
            for block in [b for b in self._holders if b[0] == rdd_id]:
                del self._holders[block]
            for key in [k for k in self._where if k[0][0] == rdd_id]:
                del self._where[key]

    def holds_blocks(self, executor_id: str) -> bool:
        """True when the executor holds cached blocks (dynamic allocation keeps it longer)."""
        with self._lock:
            return any(executor == executor_id for _, executor in list(self._where))

    def cached_partitions(self, rdd_id: int) -> int:
        with self._lock:
            return sum(1 for b in self._holders if b[0] == rdd_id)

    def usage(self, rdd_id: int) -> dict:
        """Partitions cached, bytes in memory and on disk, and the executors holding them."""
        with self._lock:
            memory = disk = 0
            executors: Set[str] = set()
            for (block, executor_id), (where, size) in self._where.items():
                if block[0] == rdd_id:
                    executors.add(executor_id)
                    if where == "memory":
                        memory += size
                    else:
                        disk += size
            return {"cached_partitions": self.cached_partitions(rdd_id), "memory_bytes": memory,
                    "disk_bytes": disk, "executors": sorted(executors)}

    def memory_bytes(self, executor_id: str) -> int:
        """Bytes of the cached partitions ``executor_id`` keeps in memory (from any thread)."""
        with self._lock:
            return sum(size for (_, executor), (where, size) in list(self._where.items())
                       if executor == executor_id and where == "memory")

    def holders(self, rdd_id: int, partition: int) -> Set[str]:
        with self._lock:
            return set(self._holders.get((rdd_id, partition), ()))

    def cached_input(self, rdd, partition: int) -> Dict[BlockId, FrozenSet[str]]:
        """The cached blocks a task of ``rdd``'s ``partition`` would read, through narrow
        dependencies (a cached one's parents are not read), and the executors holding each
        (Spark's BlockManagerMaster.getLocations, for every block at once)."""
        stack = [(rdd, partition)]
        seen = set()
        found: Dict[BlockId, FrozenSet[str]] = {}
        while stack:
            current, index = stack.pop()
            if (current.rdd_id, index) in seen:
                continue
            seen.add((current.rdd_id, index))
            if current.storage_level != StorageLevel.NONE:
                holders = self.holders(current.rdd_id, index)
                if holders:
                    found[(current.rdd_id, index)] = frozenset(holders)
                    continue
            for dep in current.dependencies():
                if isinstance(dep, NarrowDependency):
                    stack.extend((dep.rdd, p) for p in dep.parents(index))
        return found
