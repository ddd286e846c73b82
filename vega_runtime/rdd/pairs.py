"""Key-value transformations on RDDs of ``(key, value)`` pairs."""

from __future__ import annotations

import copy
import math
from functools import partial
from itertools import chain, product, repeat
from typing import Any, Callable, Dict, Iterator, Optional

from ..user_code import flat_map_record_values, map_record_values
from .aggregator import GROUPING, Aggregator, TaggedValues, append_tagged, extend_groups, reducing
from .partitioner import (HashPartitioner, RangePartitioner, checked_partitions,
                          identity as _identity, portable_hash)
from .sampling import KeySketch, StratifiedSampler, new_seed, range_bounds


def combine_locally(aggregator: Aggregator, records: Iterator) -> Iterator:
    """Combine values per key within one partition (no shuffle needed)."""
    combiners: dict = {}
    create, merge = aggregator.create_combiner, aggregator.merge_value
    for key, value in records:
        if key in combiners:
            combiners[key] = merge(combiners[key], value)
        else:
            combiners[key] = value if create is None else create(value)
    return iter(combiners.items())


def _other_rdds(others: tuple, method: str) -> tuple:
    """``others``, the RDDs ``method`` (cogroup, a join) groups with, once known to be at
    least one and all RDDs: else a ``TypeError`` at the call, as PySpark's (an
    ``AttributeError`` there), not a one-RDD cogroup (``cogroup(5)``: 5 taken for its
    number of partitions) or tasks failing on what a join cannot unpack."""
    wrong = [o for o in others if not isinstance(o, PairFunctions)]
    if not others or wrong:
        given = f"{type(wrong[0]).__name__} {wrong[0]!r}"[:80] if others else "none"
        raise TypeError(f"{method}() groups with other RDDs, not {given}")
    return tuple(others)


class PairFunctions:
    def _shuffle_partitions(self, num_partitions: Optional[int]) -> int:
        if num_partitions is not None:
            return checked_partitions(num_partitions)
        return self._driver("a shuffle").default_reduce_partitions(self.get_num_partitions())

    # -- per-value ---------------------------------------------------------
    def map_values(self, f: Callable[[Any], Any]):
        """``(k, f(v))``, keeping the partitioner.

        >>> ctx.parallelize([("a", 1)]).map_values(lambda v: v + 1).collect()
        [('a', 2)]
        """
        return self.map_partitions_with_index(
            lambda _, it: map_record_values(f, it), preserves_partitioning=True)

    def flat_map_values(self, f: Callable[[Any], Any]):
        """``(k, w)`` for each ``w`` in ``f(v)``, keeping the partitioner.

        >>> ctx.parallelize([("a", "xy")]).flat_map_values(list).collect()
        [('a', 'x'), ('a', 'y')]
        """
        return self.map_partitions_with_index(
            lambda _, it: flat_map_record_values(f, it), preserves_partitioning=True)

    def keys(self):
        """The keys.

        >>> ctx.parallelize([(1, 2)]).keys().collect()
        [1]
        """
        return self.map(lambda kv: kv[0])

    def values(self):
        """The values.

        >>> ctx.parallelize([(1, 2)]).values().collect()
        [2]
        """
        return self.map(lambda kv: kv[1])

    # -- aggregation -----------------------------------------------------------
    def combine_by_key(self, create_combiner: Callable, merge_value: Callable,
                       merge_combiners: Callable, num_partitions: Optional[int] = None,
                       partition_func: Callable[[Any], int] = portable_hash):
        """The general per-key aggregation; the others are built on it.

        >>> rdd = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)])
        >>> lists = rdd.combine_by_key(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b)
        >>> sorted(lists.collect())
        [('a', [1, 3]), ('b', [2])]
        """
        return self._aggregate(Aggregator(create_combiner, merge_value, merge_combiners),
                               num_partitions, partition_func)

    def _aggregate(self, aggregator: Aggregator, num_partitions: Optional[int],
                   partition_func: Callable[[Any], int]):
        from .shuffled import ShuffledRDD

        partitioner = HashPartitioner(self._shuffle_partitions(num_partitions), partition_func)
        if self.partitioner == partitioner:
            return self.map_partitions(lambda it: combine_locally(aggregator, it), True)
        return ShuffledRDD(self, partitioner, aggregator, map_side_combine=True)

    def reduce_by_key(self, func: Callable[[Any, Any], Any], num_partitions: Optional[int] = None,
                      partition_func: Callable[[Any], int] = portable_hash):
        """Merge the values of each key with an associative ``func``.

        >>> ctx.parallelize([("a", 1), ("a", 2)]).reduce_by_key(operator.add).collect()
        [('a', 3)]
        """
        return self._aggregate(reducing(func), num_partitions, partition_func)

    def fold_by_key(self, zero_value: Any, func: Callable[[Any, Any], Any],
                    num_partitions: Optional[int] = None,
                    partition_func: Callable[[Any], int] = portable_hash):
        """Like reduce_by_key, starting each key from a copy of ``zero_value``.

        >>> rdd = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)])
        >>> sorted(rdd.fold_by_key(0, operator.add).collect())
        [('a', 4), ('b', 2)]
        """
        return self.combine_by_key(lambda v: func(copy.deepcopy(zero_value), v), func, func,
                                   num_partitions, partition_func)

    def aggregate_by_key(self, zero_value: Any, seq_func: Callable, comb_func: Callable,
                         num_partitions: Optional[int] = None,
                         partition_func: Callable[[Any], int] = portable_hash):
        """Aggregate values of each key into a different type.

        >>> rdd = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)])  # (sum, count) per key:
        >>> sorted(rdd.aggregate_by_key((0, 0), lambda a, v: (a[0] + v, a[1] + 1),
        ...                             lambda a, b: (a[0] + b[0], a[1] + b[1])).collect())
        [('a', (4, 2)), ('b', (2, 1))]
        """
        return self.combine_by_key(lambda v: seq_func(copy.deepcopy(zero_value), v), seq_func,
                                   comb_func, num_partitions, partition_func)

    def group_by_key(self, num_partitions: Optional[int] = None,
                     partition_func: Callable[[Any], int] = portable_hash):
        """``(key, [values])`` with values in input order.

        >>> ctx.parallelize([("a", 1), ("a", 2)]).group_by_key().map_values(list).collect()
        [('a', [1, 2])]
        """
        return self._aggregate(GROUPING, num_partitions, partition_func)

    def partition_by(self, num_partitions: Optional[int],
                     partition_func: Callable[[Any], int] = portable_hash):
        """Records moved so that ``partition_func(key) % n`` is their partition (``n``
        None: the default number of a shuffle's partitions, as PySpark's).

        >>> ctx.parallelize([("a", 1), ("b", 2)]).partition_by(4).get_num_partitions()
        4
        """
        from .shuffled import ShuffledRDD

        partitioner = HashPartitioner(self._shuffle_partitions(num_partitions), partition_func)
        if self.partitioner == partitioner:
            return self
        return ShuffledRDD(self, partitioner)

    # -- several RDDs --------------------------------------------------------
    def cogroup(self, *others, num_partitions: Optional[int] = None, other=None):
        """``(key, (values in self, values in other, ...))`` for every key in any
        (``other=``: PySpark's keyword for its one other RDD).

        >>> a = ctx.parallelize([("a", 1), ("b", 4)])
        >>> b = ctx.parallelize([("a", 2)])
        >>> sorted(a.cogroup(b).map_values(lambda vs: [list(v) for v in vs]).collect())
        [('a', [[1], [2]]), ('b', [[4], []])]
        """
        if len(others) > 1 and (others[-1] is None or isinstance(others[-1], int)):
            others, num_partitions = others[:-1], others[-1]  # PySpark's (other, numPartitions)
        if other is not None:
            others = others + (other,)
        rdds = (self,) + _other_rdds(others, "cogroup")
        width = len(rdds)

        def create(tagged):
            groups = tuple([[] for _ in range(width)])
            groups[tagged[0]].append(tagged[1])
            return groups

        def create_pair(tagged):  # join's case, the common one: no generator per key
            groups = ([], [])
            groups[tagged[0]].append(tagged[1])
            return groups

        tagged = [rdd.map_partitions_with_index(_tagger(i), preserves_partitioning=True)
                  for i, rdd in enumerate(rdds)]
        union = self._driver("cogroup()").union(tagged)
        # None: as PySpark (a groupByKey of the union), the union's partition count
        return union._aggregate(
            Aggregator(create_pair if width == 2 else create, append_tagged, extend_groups),
            num_partitions, portable_hash)

    def group_with(self, other, *others):
        """``cogroup`` of several RDDs."""
        return self.cogroup(*_other_rdds((other,) + others, "group_with"))

    def join(self, other, num_partitions: Optional[int] = None):
        """``(k, (v, w))`` for every pair of matching values.

        >>> ctx.parallelize([(1, "a")]).join(ctx.parallelize([(1, "x")])).collect()
        [(1, ('a', 'x'))]
        """
        return self._joined(other, num_partitions, False, False, "join")

    def left_outer_join(self, other, num_partitions: Optional[int] = None):
        """Like join; keys only in this RDD give ``(v, None)``."""
        return self._joined(other, num_partitions, False, True, "left_outer_join")

    def right_outer_join(self, other, num_partitions: Optional[int] = None):
        """Like join; keys only in ``other`` give ``(None, w)``."""
        return self._joined(other, num_partitions, True, False, "right_outer_join")

    def full_outer_join(self, other, num_partitions: Optional[int] = None):
        """Like join; unmatched keys on either side are paired with None."""
        return self._joined(other, num_partitions, True, True, "full_outer_join")

    def _joined(self, other, num_partitions: Optional[int], pad_left: bool, pad_right: bool,
                method: str):
        """The joins: ``(k, (v, w))`` for every pair of ``cogroup``'s lists of a key, in
        ``for v in vs for w in ws`` order; an empty left (right) side pairs as ``[None]``
        when ``pad_left`` (``pad_right``), which keeps the other side's unmatched values."""
        (other,) = _other_rdds((other,), method)
        return self.cogroup(other, num_partitions=num_partitions).map_partitions(
            lambda groups: JoinedPairs.of(groups, pad_left, pad_right), True)

    def subtract_by_key(self, other, num_partitions: Optional[int] = None):
        """Pairs whose key is not in ``other``; duplicates kept.

        >>> ctx.parallelize([(1, 2), (3, 4)]).subtract_by_key(ctx.parallelize([(3, 0)])).collect()
        [(1, 2)]
        """
        (other,) = _other_rdds((other,), "subtract_by_key")
        return (self.cogroup(other, num_partitions=num_partitions)
                .filter(lambda kv: kv[1][0] and not kv[1][1])
                .flat_map_values(lambda vw: vw[0]))

    # -- ordering --------------------------------------------------------------
    def sort_by_key(self, ascending: bool = True, num_partitions: Optional[int] = None,
                    keyfunc: Callable[[Any], Any] = _identity):
        """Sorted by key: range-partitioned from a sample of keys, then sorted per partition.

        >>> ctx.parallelize([(2, "b"), (1, "a")]).sort_by_key().collect()
        [(1, 'a'), (2, 'b')]
        """
        from .shuffled import ShuffledRDD

        n = self._shuffle_partitions(num_partitions)
        if n == 1:
            source = self.coalesce(1) if self.get_num_partitions() > 1 else self
            return source.map_partitions(
                lambda it: iter(sorted(it, key=lambda kv: keyfunc(kv[0]), reverse=not ascending)),
                True)
        # One pass over the input (Spark's sketch): each partition's count and a sample of its
        # keys, 20 per output partition, oversampled 3 times; bounds by weighted quantiles.
        per_partition = math.ceil(3.0 * min(20.0 * n, 1e6) / max(self.get_num_partitions(), 1))
        sketches = self.map_partitions_with_index(KeySketch(per_partition, seed=1)).collect()
        if not any(count for count, _ in sketches):
            return self  # empty: sorted as it is, its partitions kept (PySpark's sortByKey)
        bounds = range_bounds(sketches, n, keyfunc)
        partitioner = RangePartitioner(bounds, ascending, keyfunc)
        return ShuffledRDD(self, partitioner, sort_key=keyfunc, ascending=ascending)

    def repartition_and_sort_within_partitions(
            self, num_partitions: Optional[int] = None,
            partition_func: Callable[[Any], int] = portable_hash,
            ascending: bool = True, keyfunc: Callable[[Any], Any] = _identity):
        """Hash-partition, then sort each partition by key.

        >>> rdd = ctx.parallelize([(3, "c"), (1, "a"), (2, "b"), (4, "d")])
        >>> rdd.repartition_and_sort_within_partitions(2).glom().collect()
        [[(2, 'b'), (4, 'd')], [(1, 'a'), (3, 'c')]]
        """
        from .shuffled import ShuffledRDD

        partitioner = HashPartitioner(self._shuffle_partitions(num_partitions), partition_func)
        return ShuffledRDD(self, partitioner, sort_key=keyfunc, ascending=ascending)

    def sample_by_key(self, with_replacement: bool, fractions: Dict[Any, float],
                      seed: Optional[int] = None):
        """A sample with a fraction per key.

        >>> rdd = ctx.parallelize([(key, i) for key in "ab" for i in range(100)])
        >>> counts = rdd.sample_by_key(False, {"a": 0.5, "b": 0.1}, seed=2).count_by_key()
        >>> 25 < counts["a"] < 75, 0 < counts["b"] < 30
        (True, True)
        """
        for fraction in fractions.values():
            if not fraction >= 0:  # NaN too, as PySpark's assertion
                raise ValueError(f"Negative fraction value: {fraction}")
        return self.map_partitions_with_index(
            StratifiedSampler(with_replacement, fractions, new_seed() if seed is None else seed),
            True)

    # -- actions on pairs -------------------------------------------------------
    def lookup(self, key: Any) -> list:
        """The values of ``key``; reads one partition when the partitioner is known.

        >>> ctx.parallelize([(1, "a"), (1, "b")]).lookup(1)
        ['a', 'b']
        """
        partitioner = self.partitioner
        if partitioner is None:
            return self.filter(lambda kv: kv[0] == key).values().collect()
        ctx = self._driver("lookup()")
        if ctx.hashes_as_executors or partitioner.places_alike_everywhere(key):
            values = self.filter(lambda kv: kv[0] == key).values()
            return ctx.run_partitions(values, list, [partitioner(key)])[0]
        # The executors placed the keys with a hash seed this driver lacks (it was started
        # without a fixed PYTHONHASHSEED): each task places the key as they did and reads its
        # partition only if the key belongs there.
        return self.map_partitions_with_index(
            lambda index, pairs: [v for k, v in pairs if k == key] if partitioner(key) == index else [],
            preserves_partitioning=True).collect()

    def collect_as_map(self) -> dict:
        """The pairs as a dict (later keys win).

        >>> ctx.parallelize([(1, 2)]).collect_as_map()
        {1: 2}
        """
        return dict(self.collect())

    def count_by_key(self) -> dict:
        """``{key: number of pairs}``: a ``defaultdict(int)``, as PySpark's.

        >>> ctx.parallelize([("a", 1), ("a", 2)]).count_by_key()
        defaultdict(<class 'int'>, {'a': 2})
        """
        return self.map(lambda kv: kv[0]).count_by_value()

    def reduce_by_key_locally(self, func: Callable[[Any, Any], Any]) -> dict:
        """``reduce_by_key`` with the result merged into a dict on the driver.

        >>> ctx.parallelize([("a", 1), ("a", 2)]).reduce_by_key_locally(operator.add)
        {'a': 3}
        """
        def reduce_partition(records: Iterator) -> dict:
            return dict(combine_locally(reducing(func), records))

        merged: dict = {}
        for part in self._driver("reduce_by_key_locally()").run_partitions(self, reduce_partition):
            for k, v in part.items():
                merged[k] = func(merged[k], v) if k in merged else v
        return merged


def _tagger(index: int):
    return lambda _, records: TaggedValues(records, index)


_NONE_ONLY = (None,)


class JoinedPairs(chain):
    """A join's records of one partition, ``_key_pairs`` of each cogroup: a ``chain`` that
    also knows how many records it holds without making them (``count()`` asks)."""

    __slots__ = ("groups", "pad_left", "pad_right")

    @classmethod
    def of(cls, groups: Iterator, pad_left: bool, pad_right: bool) -> "JoinedPairs":
        groups = iter(groups)
        self = cls.from_iterable(map(partial(_key_pairs, pad_left, pad_right), groups))
        self.groups, self.pad_left, self.pad_right = groups, pad_left, pad_right
        return self

    def record_count(self) -> int:
        """The number of records left, from the lengths of each key's lists (consumes the
        groups; the pairs are never made)."""
        total = 0
        pad_left, pad_right = self.pad_left, self.pad_right
        for _, (vs, ws) in self.groups:
            total += (len(vs) or pad_left) * (len(ws) or pad_right)
        return total


def _key_pairs(pad_left: bool, pad_right: bool, group) -> Iterator:
    """``(k, (v, w))`` for each ``v`` and ``w`` of one key's ``(k, (vs, ws))``, made in C
    (``product`` pairs them, ``zip`` adds the key); an empty side is ``[None]`` when padded."""
    key, (vs, ws) = group
    if pad_left and not vs:
        vs = _NONE_ONLY
    if pad_right and not ws:
        ws = _NONE_ONLY
    return zip(repeat(key), product(vs, ws))

