"""Actions: operations that run a job and return a value to the driver."""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import operator
import random
import sys
from collections import Counter, defaultdict, deque
from functools import reduce as _reduce
from typing import Any, Callable, Iterator, List, Optional

from ..errors import LineageTooDeep
from ..lambda_fusion import reduce_records
from .sampling import fraction_for_sample_size
from .stats import (BoundedFloat, StatCounter, count_into_buckets, estimate_mean, estimate_sum,
                    histogram_buckets, hll_count, hll_merge, hll_precision, hll_sketch)


def _count(records: Iterator) -> int:
    """How many records: ``record_count()`` when the iterator can tell without making them
    (a join's ``JoinedPairs``), else ``zip`` pairs each with the next number and a
    zero-length ``deque`` drops the pairs, all in C (no Python step per record)."""
    record_count = getattr(records, "record_count", None)
    if record_count is not None:
        return record_count()
    numbers = itertools.count()
    deque(zip(records, numbers), maxlen=0)
    return next(numbers)


def _whole_count(num, method: str) -> int:
    """``num`` as an int when it is a whole number (an int, a bool, numpy's integers: what
    has ``__index__``): a count of elements asked for; anything else is a TypeError on the
    driver, before a job runs for it."""
    try:
        return operator.index(num)
    except TypeError:
        raise TypeError(f"{method}() takes a whole number of elements, not "
                        f"{type(num).__name__} {num!r}") from None


class Actions:
    def _run(self, func: Callable[[Iterator], Any], what: str,
             partitions: Optional[List[int]] = None) -> list:
        driver = self._driver(what)
        try:
            return driver.run_partitions(self, func, partitions)
        except RecursionError as exc:  # the driver walking the lineage (tasks' own fail them)
            raise LineageTooDeep(what, f"RecursionError: {exc}") from None

    # -- collecting ------------------------------------------------------------
    def collect(self) -> list:
        """All elements, in partition order.

        >>> ctx.parallelize([1, 2, 3], 2).collect()
        [1, 2, 3]
        """
        return list(itertools.chain.from_iterable(self._run(list, "collect()")))

    def collect_with_job_group(self, group_id: str, description: str,
                               interrupt_on_cancel: bool = False) -> list:
        """``collect()`` as a job of ``group_id`` (PySpark's ``collectWithJobGroup``); the
        thread's job group is what it was before afterwards.

        >>> ctx.parallelize([1, 2]).collect_with_job_group("g", "cancel_job_group('g') can stop it")
        [1, 2]
        """
        ctx = self._driver("collect_with_job_group()")
        saved = {key: ctx.get_local_property(key) for key in (
            "spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")}
        ctx.set_job_group(group_id, description, interrupt_on_cancel)
        try:
            return self.collect()
        finally:
            for key, value in saved.items():
                ctx.set_local_property(key, value)

    def count(self) -> int:
        """Number of elements.

        >>> ctx.range(10).count()
        10
        """
        return sum(self._run(_count, "count()"))

    def first(self):
        """The first element; ValueError on an empty RDD.

        >>> ctx.parallelize([5, 6]).first()
        5
        """
        items = self.take(1)
        if not items:
            raise ValueError("RDD is empty")
        return items[0]

    def take(self, num: int) -> list:
        """The first ``num`` elements, scanning as few partitions as it can.

        >>> ctx.range(100, num_slices=10).take(3)
        [0, 1, 2]
        """
        num = _whole_count(num, "take")
        items: list = []
        total = self.get_num_partitions()
        scanned = 0
        while len(items) < num and scanned < total:
            to_try = 1
            if scanned > 0:
                if not items:
                    to_try = scanned * 4
                else:
                    to_try = int(1.5 * num * scanned / len(items)) - scanned
                    to_try = min(max(to_try, 1), scanned * 4)
            left = num - len(items)
            parts = list(range(scanned, min(scanned + to_try, total)))
            for chunk in self._run(lambda it: list(itertools.islice(it, left)), "take()", parts):
                items.extend(chunk)
            scanned += to_try
        return items[:num]

    def take_ordered(self, num: int, key: Optional[Callable] = None) -> list:
        """The ``num`` smallest elements (by ``key``), ascending.

        >>> ctx.parallelize([5, 1, 3]).take_ordered(2)
        [1, 3]
        >>> ctx.parallelize([5, 1, 3]).take_ordered(-1)
        Traceback (most recent call last):
          ...
        ValueError: top N cannot be negative.
        """
        num = _whole_count(num, "take_ordered")
        if num < 0:
            raise ValueError("top N cannot be negative.")  # PySpark's message
        parts = self._run(lambda it: heapq.nsmallest(num, it, key), "take_ordered()")
        return heapq.nsmallest(num, itertools.chain.from_iterable(parts), key)

    def top(self, num: int, key: Optional[Callable] = None) -> list:
        """The ``num`` largest elements (by ``key``), descending.

        >>> ctx.parallelize([5, 1, 3]).top(2)
        [5, 3]
        """
        num = _whole_count(num, "top")
        parts = self._run(lambda it: heapq.nlargest(num, it, key), "top()")
        return heapq.nlargest(num, itertools.chain.from_iterable(parts), key)

    def take_sample(self, with_replacement: bool, num: int, seed: Optional[int] = None) -> list:
        """Exactly ``num`` random elements (fewer only if the RDD is smaller).

        >>> len(ctx.range(100).take_sample(False, 5, seed=1))
        5
        """
        if num < 0:
            raise ValueError("Sample size cannot be negative.")
        max_size = sys.maxsize - int(10.0 * math.sqrt(sys.maxsize))
        if num > max_size:
            raise ValueError(f"Sample size cannot be greater than {max_size}.")
        if num == 0:
            return []
        total = self.count()
        if total == 0:
            return []
        rng = random.Random(seed)
        if not with_replacement and num >= total:
            samples = self.collect()
            rng.shuffle(samples)
            return samples
        fraction = fraction_for_sample_size(num, total, with_replacement)
        samples = self.sample(with_replacement, fraction, seed).collect()
        while len(samples) < num:
            samples = self.sample(with_replacement, fraction, rng.randint(0, sys.maxsize)).collect()
        rng.shuffle(samples)
        return samples[:num]

    def to_local_iterator(self, prefetch_partitions: bool = False) -> Iterator:
        """Iterate over all elements, fetching one partition at a time; with
        ``prefetch_partitions`` the next partition is computed while this one is consumed.

        >>> list(ctx.range(4, num_slices=2).to_local_iterator())
        [0, 1, 2, 3]
        """
        n = self.get_num_partitions()

        def fetch(index: int) -> list:
            return self._run(list, "to_local_iterator()", [index])[0]

        if not prefetch_partitions or n < 2:
            for index in range(n):
                yield from fetch(index)
            return
        from concurrent.futures import ThreadPoolExecutor

        ctx = self._driver("to_local_iterator()")
        with ThreadPoolExecutor(1, thread_name_prefix="vega-prefetch",
                                initializer=ctx._adopt_local_properties,
                                initargs=(dict(ctx._local_properties()),)) as pool:
            upcoming = pool.submit(fetch, 0)
            for index in range(n):
                records = upcoming.result()
                if index + 1 < n:
                    upcoming = pool.submit(fetch, index + 1)
                yield from records

    # -- reducing ----------------------------------------------------------------
    def reduce(self, f: Callable[[Any, Any], Any]):
        """Combine all elements with an associative, commutative ``f``.

        >>> ctx.parallelize([1, 2, 3]).reduce(operator.add)
        6
        """
        def reduce_partition(records: Iterator) -> list:
            return reduce_records(f, records)  # a map(lambda)'s sum: fused (lambda_fusion)

        values = list(itertools.chain.from_iterable(self._run(reduce_partition, "reduce()")))
        if not values:
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(f, values)

    def fold(self, zero_value: Any, op: Callable[[Any, Any], Any]):
        """Fold each partition from ``zero_value``, then the partition results.

        >>> ctx.parallelize([1, 2, 3]).fold(0, operator.add)
        6
        """
        def fold_partition(records: Iterator):
            return _reduce(op, records, copy.deepcopy(zero_value))

        return _reduce(op, self._run(fold_partition, "fold()"), copy.deepcopy(zero_value))

    def aggregate(self, zero_value: Any, seq_op: Callable, comb_op: Callable):
        """Aggregate each partition with ``seq_op``, then the results with ``comb_op``.

        >>> ctx.parallelize([1, 2, 3]).aggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1]))
        (6, 3)
        """
        def aggregate_partition(records: Iterator):
            return _reduce(seq_op, records, copy.deepcopy(zero_value))

        return _reduce(comb_op, self._run(aggregate_partition, "aggregate()"),
                       copy.deepcopy(zero_value))

    def tree_aggregate(self, zero_value: Any, seq_op: Callable, comb_op: Callable, depth: int = 2):
        """``aggregate`` with partial results combined in a tree of ``depth`` levels.

        >>> ctx.range(100, num_slices=10).tree_aggregate(0, operator.add, operator.add)
        4950
        """
        if depth < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        if self.get_num_partitions() == 0:
            return copy.deepcopy(zero_value)

        def aggregate_partition(records: Iterator):
            yield _reduce(seq_op, records, copy.deepcopy(zero_value))

        partial = self.map_partitions(aggregate_partition)
        num = partial.get_num_partitions()
        scale = max(int(math.ceil(pow(num, 1.0 / depth))), 2)
        while num > scale + num / scale:
            num //= scale
            cur = num

            def key_by_index(index: int, records: Iterator, cur=cur):
                return ((index % cur, x) for x in records)

            partial = (partial.map_partitions_with_index(key_by_index)
                       .reduce_by_key(comb_op, cur).values())
        return partial.reduce(comb_op)

    def tree_reduce(self, f: Callable[[Any, Any], Any], depth: int = 2):
        """``reduce`` with a tree of partial results.

        >>> ctx.range(100, num_slices=10).tree_reduce(operator.add)
        4950
        """
        if depth < 1:
            raise ValueError(f"Depth cannot be smaller than 1 but got {depth}.")
        zero = (None, True)  # (value, is_dummy)

        def op(a, b):
            if a[1]:
                return b
            if b[1]:
                return a
            return f(a[0], b[0]), False

        value, is_dummy = self.map(lambda x: (x, False)).tree_aggregate(zero, op, op, depth)
        if is_dummy:
            raise ValueError("Cannot reduce empty RDD.")
        return value

    # -- side effects ----------------------------------------------------------
    def foreach(self, f: Callable[[Any], None]) -> None:
        """Call ``f`` on every element (on the executors).

        >>> acc = ctx.accumulator(0)
        >>> ctx.parallelize([1, 2, 3]).foreach(lambda x: acc.add(x))
        >>> acc.value
        6
        """
        def apply(records: Iterator) -> None:
            for record in records:
                f(record)

        self._run(apply, "foreach()")

    def foreach_partition(self, f: Callable[[Iterator], None]) -> None:
        """Call ``f`` on each partition's iterator.

        >>> sizes = ctx.accumulator(0)
        >>> ctx.parallelize(range(10), 2).foreach_partition(lambda it: sizes.add(len(list(it))))
        >>> sizes.value
        10
        """
        def apply(records: Iterator) -> None:
            result = f(records)
            if result is not None and hasattr(result, "__iter__"):
                for _ in result:  # a generator function runs to its end, as in PySpark
                    pass

        self._run(apply, "foreach_partition()")

    def is_empty(self) -> bool:
        """True when the RDD has no elements.

        >>> ctx.empty_rdd().is_empty()
        True
        """
        return self.get_num_partitions() == 0 or not self.take(1)

    # -- counting ------------------------------------------------------------
    def count_by_value(self) -> dict:
        """``{element: occurrences}``: a ``defaultdict(int)``, as PySpark's (an element not
        there counts 0).

        >>> ctx.parallelize([1, 1, 2]).count_by_value()
        defaultdict(<class 'int'>, {1: 2, 2: 1})
        """
        total: Counter = Counter()
        for part in self._run(Counter, "count_by_value()"):
            total.update(part)
        return defaultdict(int, total)

    def count_approx(self, timeout: int, confidence: float = 0.95) -> int:
        """The count, estimated from the partitions done within ``timeout`` milliseconds
        (exact when all are); the job runs on past it, as Spark's, until it ends or the
        Context stops (``sum_approx`` and ``mean_approx`` too).

        >>> ctx.range(10).count_approx(1000)
        10
        """
        return int(self._sum_within(_count, timeout, confidence))

    def _sum_within(self, func: Callable[[Iterator], Any], timeout: int,
                    confidence: float) -> BoundedFloat:
        done = self._driver("an approximate action").run_partitions_within(
            self, func, timeout / 1000.0)
        return estimate_sum(list(done.values()), self.get_num_partitions(), confidence)

    def sum_approx(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The sum as a ``BoundedFloat``, estimated from the partitions done within
        ``timeout`` milliseconds (exact, low == high, when all are).

        >>> ctx.range(10).sum_approx(1000)
        45.0
        """
        return self._sum_within(sum, timeout, confidence)

    def mean_approx(self, timeout: int, confidence: float = 0.95) -> BoundedFloat:
        """The mean as a ``BoundedFloat``, from the partitions done within ``timeout``
        milliseconds (exact, low == high, when all are).

        >>> ctx.range(10).mean_approx(1000)
        4.5
        """
        done = self._driver("mean_approx()").run_partitions_within(
            self, StatCounter, timeout / 1000.0)
        return estimate_mean(list(done.values()), self.get_num_partitions(), confidence)

    def count_approx_distinct(self, relative_sd: float = 0.05) -> int:
        """Approximate number of distinct elements (HyperLogLog).

        >>> 950 <= ctx.range(1000).count_approx_distinct() <= 1050
        True
        """
        p = hll_precision(relative_sd)
        parts = self._run(lambda it: hll_sketch(it, p), "count_approx_distinct()")
        return hll_count(_reduce(hll_merge, parts, (bytearray(1 << p), frozenset())))

    # -- numbers -------------------------------------------------------------
    def sum(self):
        """The sum of the elements.

        >>> ctx.range(5).sum()
        10
        """
        return sum(self._run(sum, "sum()"))

    def stats(self) -> StatCounter:
        """Count, mean, variance, min and max in one job.

        >>> ctx.parallelize([1, 2, 3]).stats().mean()
        2.0
        """
        parts = self._run(StatCounter, "stats()")
        if not parts:
            # PySpark reduce()s the partitions' StatCounters: with no partition (emptyRDD())
            # there is none to reduce, while empty partitions give an empty StatCounter
            raise ValueError("Can not reduce() empty RDD")
        return _reduce(StatCounter.merge_stats, parts)

    def mean(self) -> float:
        return self.stats().mean()

    def variance(self) -> float:
        return self.stats().variance()

    def sample_variance(self) -> float:
        return self.stats().sample_variance()

    def stdev(self) -> float:
        return self.stats().stdev()

    def sample_stdev(self) -> float:
        return self.stats().sample_stdev()

    def max(self, key: Optional[Callable] = None):
        """The largest element (by ``key``).

        >>> ctx.parallelize([1, 5, 2]).max()
        5
        """
        return self.reduce(max if key is None else (lambda a, b: max(a, b, key=key)))

    def min(self, key: Optional[Callable] = None):
        """The smallest element (by ``key``).

        >>> ctx.parallelize([1, 5, 2]).min()
        1
        """
        return self.reduce(min if key is None else (lambda a, b: min(a, b, key=key)))

    def histogram(self, buckets):
        """``(bucket boundaries, counts)``; an int gives evenly spaced buckets.

        >>> ctx.parallelize(range(51)).histogram(2)
        ([0, 25, 50], [25, 26])
        """
        comparable = self.filter(lambda x: not (x is None or (isinstance(x, float) and math.isnan(x))))

        def min_max_count():
            def combine(a, b):
                return min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2]

            try:
                return comparable.map(lambda x: (x, x, 1)).reduce(combine)
            except ValueError:
                raise ValueError("can not generate buckets from empty RDD") from None

        bounds, even, inc, count = histogram_buckets(buckets, min_max_count)
        if even is None:
            return bounds, [count]
        counts = self._run(lambda it: count_into_buckets(it, bounds, even, inc), "histogram()")
        return bounds, [sum(c) for c in zip(*counts)] if counts else [0] * (len(bounds) - 1)

    # -- saving -------------------------------------------------------------------
    def save_as_text_file(self, path: str, compression_codec_class: Optional[str] = None,
                          overwrite: bool = False) -> None:
        """One ``part-NNNNN`` text file per partition, committed atomically with ``_SUCCESS``.

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> ctx.parallelize(["a", "b"], 2).save_as_text_file(out)
        >>> sorted(name for name in os.listdir(out) if name.startswith("part-"))
        ['part-00000', 'part-00001']
        >>> ctx.text_file(out).collect()
        ['a', 'b']
        >>> shutil.rmtree(os.path.dirname(out))
        """
        from ..io.output import text_lines_writer

        self._driver("save_as_text_file()").save_partitions(
            self, path, text_lines_writer(compression_codec_class), overwrite)

    def save_as_pickle_file(self, path: str, batch_size: int = 10, overwrite: bool = False) -> None:
        """Pickled batches of elements per partition; read back with ``ctx.pickle_file``.

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "pickled")
        >>> ctx.parallelize([{"a": 1}, (2, 3)]).save_as_pickle_file(out)
        >>> ctx.pickle_file(out).collect()
        [{'a': 1}, (2, 3)]
        >>> shutil.rmtree(os.path.dirname(out))
        """
        from ..io.output import pickle_batches_writer

        self._driver("save_as_pickle_file()").save_partitions(
            self, path, pickle_batches_writer(batch_size), overwrite)

    def save_as_sequence_file(self, path: str, compression_codec_class: Optional[str] = None,
                              overwrite: bool = False) -> None:
        """``(key, value)`` tuples as Hadoop SequenceFiles, one ``part-NNNNN`` per partition,
        that Spark's ``sequenceFile`` reads: keys and values become Writables as PySpark
        converts them, their classes those of the first record (a job of its own, as in
        PySpark); with ``compression_codec_class`` (Hadoop's ``DefaultCodec``,
        ``GzipCodec``, ``BZip2Codec``, ``SnappyCodec`` or ``Lz4Codec``) block-compressed,
        as Spark writes them.

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> ctx.parallelize([("a", 1), ("b", 2)], 2).save_as_sequence_file(out)
        >>> ctx.sequence_file(out).collect()
        [('a', 1), ('b', 2)]
        >>> shutil.rmtree(os.path.dirname(out))
        """
        from ..io import sequence_file

        codec = (sequence_file.codec_class(compression_codec_class)
                 if compression_codec_class is not None else None)
        first = self.take(1)
        if not first:
            raise ValueError("saveAsSequenceFile: the RDD is empty, and a SequenceFile's key "
                             "and value classes are those of its first record (as in "
                             "PySpark, which refuses it too): nothing was written")
        key_class, value_class = sequence_file.record_classes(first[0])
        self._driver("save_as_sequence_file()").save_partitions(
            self, path, sequence_file.part_writer(key_class, value_class, codec), overwrite)
