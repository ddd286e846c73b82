"""RDDs whose partitions depend on a few parent partitions (no shuffle)."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, List, Sequence

from .base import RDD, Partition
from .dependency import ManyToOneDependency, NarrowDependency, OneToOneDependency, RangeDependency
from ..storage_level import StorageLevel


class MapPartitionsRDD(RDD):
    """``func(partition_index, iterator) -> iterator`` over each parent partition.

    Chains of these are what a stage pipelines: one iterator per partition,
    no intermediate lists.
    """

    lazy_id = True  # PySpark's PipelinedRDD

    def __init__(self, prev: RDD, func: Callable[[int, Iterator], Iterator],
                 preserves_partitioning: bool = False, barrier: bool = False):
        super().__init__(prev.ctx, [OneToOneDependency(prev)])
        self.prev = prev
        self.func = func
        self.barrier_rdd = barrier  # made by rdd.barrier() (rdd/barrier.py)
        if preserves_partitioning:
            self.partitioner = prev.partitioner

    def compute_partitions(self) -> list:
        return self.prev.partitions()

    def compute(self, partition: Partition, tc) -> Iterator:
        return self.func(partition.index, self.prev.iterator(partition, tc))

    def preferred_locations(self, partition: Partition) -> List[str]:
        return self.prev.preferred_locations(partition)


class UnionPartition(Partition):
    __slots__ = ("rdd_index", "parent")

    def __init__(self, index: int, rdd_index: int, parent: Partition):
        super().__init__(index)
        self.rdd_index, self.parent = rdd_index, parent


class UnionRDD(RDD):
    """The partitions of several RDDs, one after another.

    A parent that is itself a plain union (not persisted, no checkpoint asked for) is
    replaced by its parents, so ``acc = acc.union(rdd)`` in a loop stays one union deep:
    a job pickles the RDDs it reads, and hundreds of nested unions were too deep to pickle
    (PySpark's chained unions are the JVM's and are never pickled).  A union persisted or
    checkpointed only after a later union was made from it is computed through, not read.
    """

    def __init__(self, ctx, rdds: Sequence[RDD]):
        rdds = [part for rdd in rdds for part in union_parents(rdd, UnionRDD)]
        deps, start = [], 0
        for rdd in rdds:
            n = rdd.get_num_partitions()
            deps.append(RangeDependency(rdd, 0, start, n))
            start += n
        super().__init__(ctx, deps)
        self.rdds = list(rdds)

    def compute_partitions(self) -> list:
        out = []
        for i, rdd in enumerate(self.rdds):
            for p in rdd.partitions():
                out.append(UnionPartition(len(out), i, p))
        return out

    def compute(self, partition: UnionPartition, tc) -> Iterator:
        return self.rdds[partition.rdd_index].iterator(partition.parent, tc)


def union_parents(rdd: RDD, kind: type) -> List[RDD]:
    """The RDDs a union of class ``kind`` may read instead of ``rdd``: the parents of a
    plain union of that class (which lays out partitions as it does)."""
    if (type(rdd) is kind and rdd.storage_level == StorageLevel.NONE
            and rdd._checkpoint_requested is None and rdd._checkpoint_rdd is None):
        return rdd.rdds
    return [rdd]


class PartitionerAwareUnionRDD(RDD):
    """The union of RDDs with one partitioner: partition i joins every parent's partition i,
    so the result keeps the partitioner and the partition count (as Spark's).  A plain one
    among its parents is replaced by its parents, as ``UnionRDD`` does."""

    def __init__(self, ctx, rdds: Sequence[RDD]):
        rdds = [part for rdd in rdds for part in union_parents(rdd, PartitionerAwareUnionRDD)]
        super().__init__(ctx, [OneToOneDependency(rdd) for rdd in rdds])
        self.rdds = rdds
        self.partitioner = rdds[0].partitioner

    def compute_partitions(self) -> list:
        return [GroupedPartition(i, [rdd.partitions()[i] for rdd in self.rdds])
                for i in range(self.rdds[0].get_num_partitions())]

    def compute(self, partition: "GroupedPartition", tc) -> Iterator:
        return itertools.chain.from_iterable(
            rdd.iterator(p, tc) for rdd, p in zip(self.rdds, partition.parents))


class GroupedPartition(Partition):
    __slots__ = ("parents",)

    def __init__(self, index: int, parents: List[Partition]):
        super().__init__(index)
        self.parents = parents


def coalesce_groups(num_parents: int, num_partitions: int) -> List[List[int]]:
    """Spark's no-locality coalesce: contiguous index ranges.

    >>> [len(g) for g in coalesce_groups(101, 5)]
    [20, 20, 20, 20, 21]
    """
    n = min(num_partitions, num_parents)
    return [list(range(i * num_parents // n, (i + 1) * num_parents // n)) for i in range(n)]


class CoalescedRDD(RDD):
    """Fewer partitions by concatenating contiguous parent partitions."""

    def __init__(self, prev: RDD, num_partitions: int):
        self.groups = coalesce_groups(prev.get_num_partitions(), max(1, num_partitions))
        super().__init__(prev.ctx, [ManyToOneDependency(prev, self.groups)])
        self.prev = prev

    def compute_partitions(self) -> list:
        parents = self.prev.partitions()
        return [GroupedPartition(i, [parents[j] for j in group])
                for i, group in enumerate(self.groups)]

    def compute(self, partition: GroupedPartition, tc) -> Iterator:
        return itertools.chain.from_iterable(
            self.prev.iterator(p, tc) for p in partition.parents)


class _CartesianDependency(NarrowDependency):
    def __init__(self, rdd: RDD, first: bool, other_count: int):
        super().__init__(rdd)
        self.first, self.other_count = first, other_count

    def parents(self, partition: int) -> List[int]:
        return [partition // self.other_count if self.first else partition % self.other_count]


class CartesianRDD(RDD):
    """Every pair ``(a, b)`` with ``a`` from the first RDD and ``b`` from the second."""

    def __init__(self, left: RDD, right: RDD):
        n_right = right.get_num_partitions()
        super().__init__(left.ctx, [_CartesianDependency(left, True, n_right),
                                    _CartesianDependency(right, False, n_right)])
        self.left, self.right = left, right

    def compute_partitions(self) -> list:
        pairs: list = []
        for a in self.left.partitions():
            for b in self.right.partitions():
                pairs.append(GroupedPartition(len(pairs), [a, b]))
        return pairs

    def compute(self, partition: GroupedPartition, tc) -> Iterator:
        a, b = partition.parents
        right = list(self.right.iterator(b, tc))
        for x in self.left.iterator(a, tc):
            for y in right:
                yield (x, y)


class ZippedRDD(RDD):
    """Pairs the i-th records of two RDDs with the same partitioning."""

    def __init__(self, left: RDD, right: RDD):
        if left.get_num_partitions() != right.get_num_partitions():
            raise ValueError("Can only zip RDDs with the same number of partitions "
                             f"({left.get_num_partitions()} != {right.get_num_partitions()})")
        super().__init__(left.ctx, [OneToOneDependency(left), OneToOneDependency(right)])
        self.left, self.right = left, right

    def compute_partitions(self) -> list:
        return [GroupedPartition(i, [a, b]) for i, (a, b) in
                enumerate(zip(self.left.partitions(), self.right.partitions()))]

    def compute(self, partition: GroupedPartition, tc) -> Iterator:
        a, b = partition.parents
        left, right = self.left.iterator(a, tc), self.right.iterator(b, tc)
        missing = object()
        for x, y in itertools.zip_longest(left, right, fillvalue=missing):
            if x is missing or y is missing:
                raise ValueError("Can only zip RDDs with the same number of elements in each "
                                 f"partition (partition {partition.index} differs)")
            yield (x, y)


def pipe_partition(command: str, env: Any, check_code: bool, records: Iterator) -> Iterator[str]:
    """Feed records as lines (``str(record)``, as PySpark's, bytes too) to ``command``'s
    stdin, yield its stdout lines.  The command's environment is ``env`` alone (none
    without it), as PySpark's: nothing of the executor's leaks into it.

    A thread feeds stdin (so a command that writes before reading all input
    cannot deadlock); it runs under the task's TaskContext.
    """
    from ..errors import PySparkRuntimeError
    from ..task_context import TaskContext
    import shlex
    import subprocess
    import threading

    proc = subprocess.Popen(shlex.split(command) if isinstance(command, str) else command,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env or {}))

    task_context = TaskContext.get()
    failed: List[BaseException] = []

    def feed() -> None:
        if task_context is not None:
            task_context.activate()
        try:
            for record in records:
                proc.stdin.write(str(record).rstrip("\n").encode("utf-8") + b"\n")
        except BrokenPipeError:
            pass  # the command stopped reading (head -1): its output is the answer
        except BaseException as exc:  # the records' own error fails the task, below
            failed.append(exc)
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for line in proc.stdout:
            yield line.decode("utf-8").rstrip("\n")
    except GeneratorExit:  # its reader stopped early (take(n)): the command is not needed
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise
    writer.join()
    code = proc.wait()
    if failed:  # an error computing or writing a record, not a short answer
        raise failed[0]
    if check_code and code:
        raise PySparkRuntimeError(f"Pipe function `{command}` exited with error code {code}.",
                                  "PIPE_FUNCTION_EXITED")
