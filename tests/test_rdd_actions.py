"""Actions: collecting, taking, reducing, side effects and counting (PySpark semantics)."""

import os
import subprocess
import sys
import types
from operator import add

import pytest

# -- collect / count / first / take ------------------------------------------------------


def test_collect_keeps_parallelize_order(ctx):
    """collect returns partition order, then record order."""
    assert ctx.parallelize(range(10), 3).collect() == list(range(10))
    assert ctx.parallelize(["é", None, "🔑"], 2).collect() == ["é", None, "🔑"]


def test_collect_large_record(ctx):
    """A 5 MB string is collected whole."""
    big = "é" * (5 * 1024 * 1024 // 2)
    assert ctx.parallelize([big], 1).collect() == [big]


def test_count_pyspark_doctest(ctx):
    """PySpark's doctest: three elements."""
    assert ctx.parallelize([2, 3, 4]).count() == 3


def test_count_empty_and_many_partitions(ctx):
    """Counting empty RDDs gives 0; counts add up over many partitions."""
    assert ctx.parallelize([], 4).count() == 0
    assert ctx.empty_rdd().count() == 0
    assert ctx.parallelize(range(1234), 17).count() == 1234


def test_first_pyspark_doctest(ctx):
    """PySpark's doctest: first is the first element."""
    assert ctx.parallelize([2, 3, 4]).first() == 2


def test_first_on_empty_raises_value_error(ctx):
    """first() of an empty RDD is a ValueError."""
    with pytest.raises(ValueError):
        ctx.parallelize([]).first()
    with pytest.raises(ValueError):
        ctx.empty_rdd().first()


def test_first_skips_empty_partitions_and_allows_none(ctx):
    """first finds an element in a later partition; a None element is returned."""
    assert ctx.parallelize([7], 4).first() == 7
    assert ctx.parallelize([None, 1], 2).first() is None


def test_take_pyspark_doctests(ctx):
    """PySpark's doctests: take fewer, more and through a filter."""
    assert ctx.parallelize([2, 3, 4, 5, 6]).cache().take(2) == [2, 3]
    assert ctx.parallelize([2, 3, 4, 5, 6]).take(10) == [2, 3, 4, 5, 6]
    assert ctx.parallelize(range(100), 100).filter(lambda x: x > 90).take(3) == [91, 92, 93]


def test_take_zero_and_from_empty(ctx):
    """take(0) and take from an empty RDD give []."""
    assert ctx.parallelize([1, 2]).take(0) == []
    assert ctx.parallelize([], 3).take(5) == []


def test_a_count_that_is_not_a_whole_number_is_refused_before_any_job(ctx):
    """take, take_ordered and top of 2.5 (or "2") are a TypeError on the driver, as PySpark's
    take (its slice of the results refuses a float); they ran a job whose every task failed
    four times with islice's ValueError (take) or a TypeError (top, take_ordered)."""
    rdd = ctx.parallelize(range(10), 2)
    tracker = ctx.status_tracker()
    jobs_before = len(tracker.get_job_ids_for_group(None))
    for name, method in (("take", rdd.take), ("take_ordered", rdd.takeOrdered),
                         ("top", rdd.top)):
        for num in (2.5, "2", None):
            with pytest.raises(TypeError) as raised:
                method(num)
            assert str(raised.value) == (f"{name}() takes a whole number of elements, not "
                                         f"{type(num).__name__} {num!r}")
    assert len(tracker.get_job_ids_for_group(None)) == jobs_before
    assert (rdd.take(True), rdd.top(2), rdd.takeOrdered(0)) == ([0], [9, 8], [])
    numpy = pytest.importorskip("numpy")
    assert (rdd.take(numpy.int64(2)), rdd.top(numpy.int32(1))) == ([0, 1], [9])


def test_take_spans_partitions_in_order(ctx):
    """take collects across partitions in partition order."""
    assert ctx.parallelize(range(20), 7).take(11) == list(range(11))


def test_take_ordered_pyspark_doctests(ctx):
    """PySpark's doctests: smallest six, and largest six via a key."""
    assert ctx.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7]).take_ordered(6) == [1, 2, 3, 4, 5, 6]
    assert ctx.parallelize([10, 1, 2, 9, 3, 4, 5, 6, 7], 2).take_ordered(6, key=lambda x: -x) == [
        10, 9, 7, 6, 5, 4]


def test_take_ordered_more_than_available(ctx):
    """Asking for more than exist returns all, sorted."""
    assert ctx.parallelize(["b", "é", "a"], 3).take_ordered(10) == ["a", "b", "é"]
    assert ctx.parallelize([], 2).take_ordered(3) == []


def test_top_pyspark_doctests(ctx):
    """PySpark's doctests: largest elements, descending, with and without key."""
    assert ctx.parallelize([10, 4, 2, 12, 3]).top(1) == [12]
    assert ctx.parallelize([2, 3, 4, 5, 6], 2).top(2) == [6, 5]
    assert ctx.parallelize([10, 4, 2, 12, 3]).top(3, key=str) == [4, 3, 2]


def test_take_sample_pyspark_doctests(ctx):
    """PySpark's doctests: sizes with and without replacement."""
    rdd = ctx.parallelize(range(0, 10))
    assert len(rdd.take_sample(True, 20, 1)) == 20
    assert len(rdd.take_sample(False, 5, 2)) == 5
    assert len(rdd.take_sample(False, 15, 3)) == 10


def test_take_sample_without_replacement_is_distinct_and_deterministic(ctx):
    """No repeats without replacement; the same seed gives the same sample."""
    rdd = ctx.parallelize(range(1000), 4)
    sample = rdd.take_sample(False, 50, 8)
    assert len(sample) == 50 and len(set(sample)) == 50
    assert set(sample) <= set(range(1000))
    assert rdd.take_sample(False, 50, 8) == sample
    everything = rdd.take_sample(False, 5000, 1)
    assert sorted(everything) == list(range(1000))


def test_take_sample_edge_cases(ctx):
    """num=0 and an empty RDD give []; a negative num is a ValueError."""
    rdd = ctx.parallelize(range(10), 2)
    assert rdd.take_sample(False, 0, 1) == []
    assert ctx.parallelize([], 2).take_sample(True, 5, 1) == []
    with pytest.raises(ValueError):
        rdd.take_sample(False, -1, 1)


# -- reduce / fold / aggregate ---------------------------------------------------------------

def test_reduce_pyspark_doctests(ctx):
    """PySpark's doctests: sum of 1..5; a cached map over a generator."""
    assert ctx.parallelize([1, 2, 3, 4, 5]).reduce(add) == 15
    assert ctx.parallelize((2 for _ in range(10))).map(lambda x: 1).cache().reduce(add) == 10


def test_reduce_on_empty_raises_value_error(ctx):
    """reduce of an empty RDD is a ValueError (with or without partitions)."""
    with pytest.raises(ValueError):
        ctx.parallelize([]).reduce(add)
    with pytest.raises(ValueError):
        ctx.parallelize([], 3).reduce(add)
    with pytest.raises(ValueError):
        ctx.empty_rdd().reduce(add)


def test_reduce_with_empty_partitions_and_strings(ctx):
    """Empty partitions are skipped; partition results combine in order."""
    assert ctx.parallelize(["a", "b", "c"], 5).reduce(add) == "abc"


def test_tree_reduce_pyspark_doctests(ctx):
    """PySpark's doctests: tree_reduce at depths 1, 2, 5 and 10."""
    rdd = ctx.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
    assert rdd.tree_reduce(add) == -5
    for depth in (1, 2, 5, 10):
        assert rdd.tree_reduce(add, depth) == -5


def test_tree_reduce_many_partitions_and_empty(ctx):
    """A deep tree over 40 partitions is exact; an empty RDD is a ValueError."""
    assert ctx.parallelize(range(1000), 40).tree_reduce(add, 3) == 499500
    with pytest.raises(ValueError):
        ctx.parallelize([], 4).tree_reduce(add)
    with pytest.raises(ValueError):
        ctx.parallelize(range(3)).tree_reduce(add, 0)


def test_fold_pyspark_doctest(ctx):
    """PySpark's doctest: fold(0, add) of 1..5."""
    assert ctx.parallelize([1, 2, 3, 4, 5]).fold(0, add) == 15


def test_fold_applies_zero_per_partition_and_once_more(ctx):
    """As in PySpark, the zero value is used per partition and to merge partitions."""
    assert ctx.parallelize([1, 2, 3], 3).fold(1, add) == 10
    assert ctx.parallelize([], 2).fold(5, add) == 15
    assert ctx.empty_rdd().fold(5, add) == 5


def test_fold_mutable_zero_is_not_shared(ctx):
    """A list zero extended in place is copied for each partition."""
    def op(acc, x):
        acc.extend(x if isinstance(x, list) else [x])
        return acc

    assert ctx.parallelize([1, 2, 3, 4], 2).fold([], op) == [1, 2, 3, 4]


def test_aggregate_pyspark_doctests(ctx):
    """PySpark's doctests: (sum, count) of [1, 2, 3, 4] and of an empty RDD."""
    seq_op = (lambda x, y: (x[0] + y, x[1] + 1))
    comb_op = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
    assert ctx.parallelize([1, 2, 3, 4]).aggregate((0, 0), seq_op, comb_op) == (10, 4)
    assert ctx.parallelize([]).aggregate((0, 0), seq_op, comb_op) == (0, 0)


def test_aggregate_into_a_set(ctx):
    """aggregate can build a different type from a mutable zero."""
    def seq(acc, x):
        acc.add(x)
        return acc

    rdd = ctx.parallelize(["a", "b", "a", None], 3)
    assert rdd.aggregate(set(), seq, lambda a, b: a | b) == {"a", "b", None}


def test_tree_aggregate_pyspark_doctests(ctx):
    """PySpark's doctests: tree_aggregate at depths 1, 2, 5 and 10."""
    rdd = ctx.parallelize([-5, -4, -3, -2, -1, 1, 2, 3, 4], 10)
    assert rdd.tree_aggregate(0, add, add) == -5
    for depth in (1, 2, 5, 10):
        assert rdd.tree_aggregate(0, add, add, depth) == -5


def test_tree_aggregate_uses_zero_once_per_partition(ctx):
    """As in PySpark, the zero value seeds each partition only; partials are reduced without it."""
    assert ctx.parallelize([1, 2, 3], 3).tree_aggregate(1, add, add) == 9
    for depth in (1, 2, 3):
        assert ctx.parallelize(range(10), 10).tree_aggregate(1, add, add, depth) == 55


def test_tree_aggregate_counts_and_empty(ctx):
    """(sum, count) over 50 partitions; an empty RDD gives the zero value."""
    seq = (lambda a, x: (a[0] + x, a[1] + 1))
    comb = (lambda a, b: (a[0] + b[0], a[1] + b[1]))
    assert ctx.parallelize(range(500), 50).tree_aggregate((0, 0), seq, comb, 3) == (124750, 500)
    assert ctx.parallelize([], 3).tree_aggregate((0, 0), seq, comb) == (0, 0)
    assert ctx.empty_rdd().tree_aggregate((0, 0), seq, comb) == (0, 0)


# -- side effects ---------------------------------------------------------------------------

def test_foreach_runs_on_every_element(ctx):
    """foreach adds every element to an accumulator, returning None."""
    acc = ctx.accumulator(0)
    assert ctx.parallelize([1, 2, 3, 4, 5], 3).foreach(lambda x: acc.add(x)) is None
    assert acc.value == 15


def test_foreach_partition_gets_each_partition(ctx):
    """foreach_partition is called once per partition with its iterator."""
    calls = ctx.accumulator(0)
    total = ctx.accumulator(0)

    def f(iterator):
        calls.add(1)
        for x in iterator:
            total.add(x)

    assert ctx.parallelize([1, 2, 3, 4, 5], 4).foreach_partition(f) is None
    assert calls.value == 4
    assert total.value == 15


def test_is_empty_pyspark_doctests(ctx):
    """PySpark's doctests: empty and non-empty RDDs."""
    assert ctx.parallelize([]).is_empty() is True
    assert ctx.parallelize([1]).is_empty() is False


def test_is_empty_edge_cases(ctx):
    """None elements count; elements only in a late partition count; filters can empty."""
    assert ctx.parallelize([None]).is_empty() is False
    assert ctx.parallelize([1], 8).is_empty() is False
    assert ctx.parallelize(range(10), 3).filter(lambda x: x > 100).is_empty() is True
    assert ctx.empty_rdd().is_empty() is True


def test_to_local_iterator_pyspark_doctest(ctx):
    """PySpark's doctest: iterate over all elements in order."""
    rdd = ctx.parallelize(range(10))
    assert [x for x in rdd.to_local_iterator()] == list(range(10))


def test_to_local_iterator_is_lazy_and_ordered(ctx):
    """It is an iterator, ordered across partitions, empty for empty RDDs."""
    iterator = ctx.parallelize(range(7), 3).to_local_iterator()
    assert isinstance(iterator, types.GeneratorType) or hasattr(iterator, "__next__")
    assert next(iterator) == 0
    assert list(iterator) == [1, 2, 3, 4, 5, 6]
    assert list(ctx.parallelize([], 2).to_local_iterator()) == []
    prefetched = ctx.parallelize(range(5), 2).to_local_iterator(prefetch_partitions=True)
    assert list(prefetched) == [0, 1, 2, 3, 4]


# -- counting -----------------------------------------------------------------------------

def test_count_approx_pyspark_doctest(ctx):
    """PySpark's doctest: count_approx of 1000 elements with confidence 1.0."""
    rdd = ctx.parallelize(range(1000), 10)
    assert rdd.count_approx(1000, 1.0) == 1000


def test_count_approx_distinct_pyspark_doctests(ctx):
    """PySpark's doctests: estimates within the documented bounds."""
    n = ctx.parallelize(range(1000)).map(str).count_approx_distinct()
    assert 900 < n < 1100
    n = ctx.parallelize([i % 20 for i in range(1000)]).count_approx_distinct()
    assert 16 < n < 24


def test_count_approx_distinct_tighter_relative_sd(ctx):
    """relative_sd=0.01 is within 3% on 100k distinct values; too small is a ValueError."""
    n = ctx.parallelize(range(100000), 4).count_approx_distinct(0.01)
    assert abs(n - 100000) < 3000
    n = ctx.parallelize([("k", i % 500) for i in range(20000)], 3).count_approx_distinct(0.02)
    assert abs(n - 500) < 30
    with pytest.raises(ValueError):
        ctx.parallelize(range(10)).count_approx_distinct(0.000001)


def test_count_approx_distinct_of_a_nan_or_infinite_relative_sd(ctx):
    """A NaN relative_sd is refused as too small, saying so (it was 'cannot convert float NaN
    to integer'); an infinite one counts at the least precision, as PySpark's (it was 'math
    domain error')."""
    with pytest.raises(ValueError) as info:
        ctx.parallelize(range(10)).count_approx_distinct(float("nan"))
    assert str(info.value) == "relativeSD should be greater than 0.000017"
    assert ctx.parallelize(range(10), 2).count_approx_distinct(float("inf")) == 10


def test_count_by_value_pyspark_doctest(ctx):
    """PySpark's doctest: occurrences per value, as a dict."""
    counts = ctx.parallelize([1, 2, 1, 2, 2], 2).count_by_value()
    assert isinstance(counts, dict)
    assert sorted(counts.items()) == [(1, 2), (2, 3)]


def test_count_by_value_none_unicode_and_empty(ctx):
    """None and unicode values are counted; an empty RDD gives {}."""
    data = [None, "é", "é", "🔑", None, None, (1, 2)]
    assert ctx.parallelize(data, 3).count_by_value() == {None: 3, "é": 2, "🔑": 1, (1, 2): 1}
    assert ctx.parallelize([], 2).count_by_value() == {}


def test_count_approx_distinct_is_the_same_in_every_process():
    """The sketch hashes strings alike whatever each executor's hash seed is."""
    code = ("from vega_runtime.rdd.stats import hll_registers;"
            "print(hll_registers([str(i) for i in range(500)] + [None, ('a', b'b')], 9).hex())")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1
