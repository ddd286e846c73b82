"""Dependencies between RDDs: narrow ones pipeline, shuffle ones cut stages."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from .aggregator import Aggregator
from .partitioner import Partitioner


class Dependency:
    def __init__(self, rdd):
        self.rdd = rdd


class NarrowDependency(Dependency):
    """Each child partition reads a known, small set of parent partitions."""

    def parents(self, partition: int) -> List[int]:
        raise NotImplementedError


class OneToOneDependency(NarrowDependency):
    def parents(self, partition: int) -> List[int]:
        return [partition]


class RangeDependency(NarrowDependency):
    """Child partitions [out_start, out_start + length) are parent [in_start, ...)."""

    def __init__(self, rdd, in_start: int, out_start: int, length: int):
        super().__init__(rdd)
        self.in_start, self.out_start, self.length = in_start, out_start, length

    def parents(self, partition: int) -> List[int]:
        if self.out_start <= partition < self.out_start + self.length:
            return [partition - self.out_start + self.in_start]
        return []


class ManyToOneDependency(NarrowDependency):
    """Each child partition reads an explicit list of parent partitions."""

    def __init__(self, rdd, groups: List[List[int]]):
        super().__init__(rdd)
        self.groups = groups

    def parents(self, partition: int) -> List[int]:
        return self.groups[partition]


class ShuffleDependency(Dependency):
    """Records of ``rdd`` (key-value pairs) are regrouped by ``partitioner``.

    ``aggregator`` combines values of a key (map side too when
    ``map_side_combine``); ``sort_key`` orders each reduce partition by key.
    """

    def __init__(self, rdd, shuffle_id: int, partitioner: Partitioner,
                 aggregator: Optional[Aggregator] = None, map_side_combine: bool = False,
                 sort_key: Optional[Callable[[Any], Any]] = None, ascending: bool = True):
        super().__init__(rdd)
        self.shuffle_id = shuffle_id
        self.partitioner = partitioner
        self.aggregator = aggregator
        self.map_side_combine = map_side_combine and aggregator is not None
        self.sort_key = sort_key
        self.ascending = ascending

    def __getstate__(self):
        """Sent to tasks without ``rdd``, as Spark's (its ``_rdd`` is transient): a map task
        computes its stage's RDD, a reduce task reads the shuffle's files, so neither needs
        the lineage before the shuffle, which would otherwise go with every task of every
        later stage (a loop of a few hundred shuffles was too deep to pickle)."""
        state = self.__dict__.copy()
        state["rdd"] = None
        return state
