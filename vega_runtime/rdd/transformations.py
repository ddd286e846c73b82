"""Transformations: lazy RDD-to-RDD operations on any records.

Narrow ones build ``MapPartitionsRDD`` chains of iterators (``map_records``,
``filter_records``, ``chain``) so a stage runs one pipeline per partition; the
record generators are as fast as builtin ``map``/``filter`` and turn a user
function's ``StopIteration`` into a task failure (``user_code``).
RDD classes are imported inside methods: they subclass ``RDD``, which is
assembled from this mixin.
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence

from ..lambda_fusion import lambda_source
from ..user_code import filter_records, map_records
from .partitioner import checked_partitions, portable_hash
from .sampling import RangeSampler, Sampler, new_seed


class Transformations:
    # -- element-wise ------------------------------------------------------
    def map_partitions_with_index(self, f: Callable[[int, Iterator], Iterable],
                                  preserves_partitioning: bool = False):
        """Apply ``f(partition_index, iterator)`` to each partition.

        >>> rdd = ctx.parallelize([1, 2, 3, 4], 2)
        >>> rdd.map_partitions_with_index(lambda i, it: [(i, sum(it))]).collect()
        [(0, 3), (1, 7)]
        """
        from .narrow import MapPartitionsRDD

        self._driver("map_partitions_with_index()")
        return MapPartitionsRDD(self, f, preserves_partitioning)

    def map_partitions(self, f: Callable[[Iterator], Iterable], preserves_partitioning: bool = False):
        """Apply ``f(iterator)`` to each partition.

        >>> ctx.parallelize([1, 2, 3, 4], 2).map_partitions(lambda it: [sum(it)]).collect()
        [3, 7]
        """
        return self.map_partitions_with_index(lambda _, it: f(it), preserves_partitioning)

    def map(self, f: Callable[[Any], Any], preserves_partitioning: bool = False):
        """A new RDD of ``f(x)`` for each element.

        >>> ctx.parallelize([1, 2, 3]).map(lambda x: x * 2).collect()
        [2, 4, 6]
        """
        source = lambda_source(f)  # read here, where the user's file is; checked where used
        return self.map_partitions_with_index(lambda _, it: map_records(f, it, source),
                                              preserves_partitioning)

    def flat_map(self, f: Callable[[Any], Iterable], preserves_partitioning: bool = False):
        """Apply ``f`` to each element and flatten the results.

        >>> ctx.parallelize(["a b", "c"]).flat_map(str.split).collect()
        ['a', 'b', 'c']
        """
        chain = itertools.chain.from_iterable
        return self.map_partitions_with_index(lambda _, it: chain(map_records(f, it)),
                                              preserves_partitioning)

    def filter(self, f: Callable[[Any], bool]):
        """Elements for which ``f`` is true.

        >>> ctx.parallelize(range(5)).filter(lambda x: x % 2).collect()
        [1, 3]
        """
        return self.map_partitions_with_index(lambda _, it: filter_records(f, it), True)

    def glom(self):
        """Each partition as one list.

        >>> ctx.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        """
        return self.map_partitions_with_index(lambda _, it: iter((list(it),)))

    def key_by(self, f: Callable[[Any], Any]):
        """Pairs ``(f(x), x)``.

        >>> ctx.parallelize([1, 2]).key_by(lambda x: x * 10).collect()
        [(10, 1), (20, 2)]
        """
        return self.map(lambda x: (f(x), x))

    def pipe(self, command: str, env: Optional[dict] = None, check_code: bool = False):
        """Stream each partition through an external command, line by line.

        >>> ctx.parallelize(["b", "a"], 1).pipe("sort").collect()
        ['a', 'b']
        """
        from .narrow import pipe_partition

        return self.map_partitions(lambda it: pipe_partition(command, env, check_code, it))

    # -- sampling ------------------------------------------------------------
    def sample(self, with_replacement: bool, fraction: float, seed: Optional[int] = None):
        """A random sample of about ``fraction`` of the elements.

        >>> 0 < ctx.range(1000).sample(False, 0.1, seed=1).count() < 200
        True
        """
        if not fraction >= 0:  # as PySpark's: NaN is refused too
            raise ValueError("Fraction must be nonnegative.")
        return self.map_partitions_with_index(
            Sampler(with_replacement, fraction, new_seed() if seed is None else seed), True)

    def random_split(self, weights: Sequence[float], seed: Optional[int] = None) -> List:
        """Split into RDDs with sizes in proportion to ``weights``; each element in one.

        >>> a, b = ctx.range(10).random_split([0.5, 0.5], seed=3)
        >>> sorted(a.collect() + b.collect())  # each element lands in exactly one part
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        """
        if not all(w >= 0 for w in weights):  # NaN too, as PySpark's
            raise ValueError("Weights must be nonnegative")
        total = float(sum(weights))
        if not total > 0:
            raise ValueError("Sum of weights must be positive")
        cumulative = list(itertools.accumulate(w / total for w in weights))
        seed = new_seed() if seed is None else seed
        bounds = [0.0] + cumulative
        return [self.map_partitions_with_index(RangeSampler(lo, hi, seed), True)
                for lo, hi in zip(bounds, bounds[1:])]

    # -- set operations ------------------------------------------------------
    def distinct(self, num_partitions: Optional[int] = None):
        """Elements without duplicates.

        >>> sorted(ctx.parallelize([1, 1, 2]).distinct().collect())
        [1, 2]
        """
        return (self.map(lambda x: (x, None))
                .reduce_by_key(lambda x, _: x, num_partitions)
                .map(lambda kv: kv[0]))

    def union(self, other):
        """Elements of both RDDs, duplicates kept.

        >>> ctx.parallelize([1]).union(ctx.parallelize([1])).collect()
        [1, 1]
        """
        return self._driver("union()").union([self, other])

    def __add__(self, other):
        """``rdd + other`` is ``rdd.union(other)``; anything but an RDD is Python's TypeError
        for unsupported operands (PySpark's raises a TypeError too)."""
        if not isinstance(other, Transformations):
            return NotImplemented
        return self.union(other)

    def intersection(self, other, num_partitions: Optional[int] = None):
        """Elements in both RDDs, without duplicates (by default in as many partitions as
        both RDDs have together, as in PySpark).

        >>> sorted(ctx.parallelize([1, 2, 3, 3]).intersection(ctx.parallelize([3, 4, 2])).collect())
        [2, 3]
        """
        return (self.map(lambda v: (v, None))
                .cogroup(other.map(lambda v: (v, None)), num_partitions=num_partitions)
                .filter(lambda kv: kv[1][0] and kv[1][1])
                .keys())

    def subtract(self, other, num_partitions: Optional[int] = None):
        """Elements of this RDD not in ``other``; duplicates kept.

        >>> ctx.parallelize([1, 1, 2]).subtract(ctx.parallelize([2])).collect()
        [1, 1]
        """
        return (self.map(lambda x: (x, True))
                .subtract_by_key(other.map(lambda x: (x, True)), num_partitions)
                .keys())

    def cartesian(self, other):
        """All pairs ``(a, b)``.

        >>> ctx.parallelize([1, 2]).cartesian(ctx.parallelize("a")).collect()
        [(1, 'a'), (2, 'a')]
        """
        from .narrow import CartesianRDD

        self._driver("cartesian()")
        return CartesianRDD(self, other)

    def zip(self, other):
        """Pairs of the i-th elements; both RDDs must be partitioned alike.

        >>> ctx.parallelize([1, 2], 2).zip(ctx.parallelize("ab", 2)).collect()
        [(1, 'a'), (2, 'b')]
        """
        from .narrow import ZippedRDD

        self._driver("zip()")
        return ZippedRDD(self, other)

    def zip_with_index(self):
        """Pairs ``(x, index)`` in partition order; runs a job to count partitions.

        >>> ctx.parallelize("abc", 2).zip_with_index().collect()
        [('a', 0), ('b', 1), ('c', 2)]
        """
        starts = [0]
        if self.get_num_partitions() > 1:
            counts = self.map_partitions(lambda it: [sum(1 for _ in it)]).collect()
            starts = list(itertools.accumulate([0] + counts[:-1]))

        def number(index: int, records: Iterator) -> Iterator:
            return zip(records, itertools.count(starts[index]))

        return self.map_partitions_with_index(number)

    def zip_with_unique_id(self):
        """Pairs ``(x, id)`` with ids k, n+k, 2n+k... in partition k of n; no job needed.

        >>> ctx.parallelize("abc", 2).zip_with_unique_id().collect()
        [('a', 0), ('b', 1), ('c', 3)]
        """
        n = self.get_num_partitions()

        def number(index: int, records: Iterator) -> Iterator:
            return zip(records, itertools.count(index, n))

        return self.map_partitions_with_index(number)

    # -- partitioning --------------------------------------------------------
    def coalesce(self, num_partitions: int, shuffle: bool = False):
        """Fewer partitions; without shuffle, contiguous ranges are merged.

        >>> ctx.parallelize(range(101), 101).coalesce(5).glom().map(len).collect()
        [20, 20, 20, 20, 21]
        """
        checked_partitions(num_partitions)
        if shuffle:
            return self.repartition(num_partitions)
        from .narrow import CoalescedRDD

        self._driver("coalesce()")
        return CoalescedRDD(self, num_partitions)

    def repartition(self, num_partitions: int):
        """Exactly ``num_partitions`` partitions, by a round-robin shuffle.

        >>> ctx.parallelize(range(10), 1).repartition(3).get_num_partitions()
        3
        """
        from .partitioner import IdentityPartitioner
        from .shuffled import ShuffledRDD

        checked_partitions(num_partitions)

        def spread(index: int, records: Iterator) -> Iterator:
            start = random.Random(index).randrange(num_partitions)
            return ((p % num_partitions, x) for p, x in zip(itertools.count(start), records))

        positioned = self.map_partitions_with_index(spread)
        return ShuffledRDD(positioned, IdentityPartitioner(num_partitions)).values()

    def sort_by(self, keyfunc: Callable[[Any], Any], ascending: bool = True,
                num_partitions: Optional[int] = None):
        """Elements sorted by ``keyfunc``, range-partitioned.

        >>> ctx.parallelize([3, 1, 2]).sort_by(lambda x: x).collect()
        [1, 2, 3]
        """
        return self.key_by(keyfunc).sort_by_key(ascending, num_partitions).values()

    def group_by(self, f: Callable[[Any], Any], num_partitions: Optional[int] = None,
                 partition_func: Callable[[Any], int] = portable_hash):
        """Pairs ``(f(x), [elements with that key])``, values in input order.

        >>> sorted(ctx.parallelize([1, 2, 3]).group_by(lambda x: x % 2).map_values(list).collect())
        [(0, [2]), (1, [1, 3])]
        """
        return self.map(lambda x: (f(x), x)).group_by_key(num_partitions, partition_func)
