"""``rdd.barrier()``: Spark's barrier execution mode, the RDD side.

``RDDBarrier`` wraps an RDD; its ``map_partitions`` makes an RDD whose stage is a
*barrier stage*: its tasks all run at the same time (the scheduler launches all or
none), may wait for each other inside (``BarrierTaskContext.barrier()`` and
``all_gather``), and a failed task reruns the whole stage rather than itself.  That is
what distributed training and MPI-style jobs need (Spark's SPIP SPARK-24374).

An RDD is a barrier RDD when it was made this way or depends on one through narrow
dependencies (``RDD.is_barrier``): ``rdd.barrier().map_partitions(f).map(g)`` runs
``g`` in the same barrier stage.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from .. import aliases


class RDDBarrier:
    """An RDD whose next ``map_partitions`` runs as a barrier stage (Spark's
    ``RDDBarrier``; made by ``rdd.barrier()``).

    >>> rdd = ctx.parallelize(range(4), 1).barrier().map_partitions(lambda it: [sum(it)])
    >>> rdd.is_barrier(), rdd.collect()
    (True, [6])
    """

    def __init__(self, rdd):
        self.rdd = rdd

    def map_partitions(self, f: Callable[[Iterator], Iterable],
                       preserves_partitioning: bool = False):
        """``f(iterator)`` on each partition, all partitions' tasks at the same time."""
        return self.map_partitions_with_index(lambda _, it: f(it), preserves_partitioning)

    def map_partitions_with_index(self, f: Callable[[int, Iterator], Iterable],
                                  preserves_partitioning: bool = False):
        """``f(partition_index, iterator)`` on each partition, all partitions' tasks at the
        same time."""
        from .narrow import MapPartitionsRDD

        self.rdd._driver("barrier().map_partitions()")
        return MapPartitionsRDD(self.rdd, f, preserves_partitioning, barrier=True)


aliases.install(RDDBarrier, ("map_partitions", "map_partitions_with_index"))
