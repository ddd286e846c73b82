"""The RDD on the reduce side of a shuffle."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from .aggregator import Aggregator
from .base import RDD, Partition
from .dependency import ShuffleDependency
from .partitioner import Partitioner


class ShuffledRDD(RDD):
    """Key-value records of ``prev`` regrouped by ``partitioner``.

    With an ``aggregator`` each key appears once per partition with its
    combined value; with ``sort_key`` each partition is sorted by key.
    """

    def __init__(self, prev: RDD, partitioner: Partitioner, aggregator: Optional[Aggregator] = None,
                 map_side_combine: bool = True, sort_key: Optional[Callable[[Any], Any]] = None,
                 ascending: bool = True):
        ctx = prev._driver("a shuffle")
        self.dep = ShuffleDependency(prev, ctx.new_shuffle_id(), partitioner, aggregator,
                                     map_side_combine, sort_key, ascending)
        super().__init__(ctx, [self.dep])
        #: names the shuffle's map stage, as PySpark's (``reduce_by_key at job.py:9``)
        self.dep.creation_site = self.creation_site
        self.partitioner = partitioner
        ctx.register_shuffle_for_cleanup(self.dep)

    def compute_partitions(self) -> list:
        return [Partition(i) for i in range(self.partitioner.num_partitions)]

    def compute(self, partition: Partition, tc) -> Iterator:
        return tc.read_shuffle(self.dep, partition.index)
