"""Numeric actions: sum, mean, min/max, variance, stdev, stats and histogram."""

import math
import statistics

import pytest

from vega_runtime import StatCounter

DATA = [((i * 7919) % 1009) / 7.0 - 50.0 for i in range(1000)]


# -- sum / mean / min / max ---------------------------------------------------------------

def test_sum_pyspark_doctest(ctx):
    """PySpark's doctest: sum of floats."""
    assert ctx.parallelize([1.0, 2.0, 3.0]).sum() == 6.0


def test_sum_of_ints_and_empty(ctx):
    """Integer sums are exact ints; an empty RDD sums to 0."""
    total = ctx.parallelize(range(10 ** 6, 10 ** 6 + 1000), 7).sum()
    assert total == sum(range(10 ** 6, 10 ** 6 + 1000)) and isinstance(total, int)
    assert ctx.parallelize([], 3).sum() == 0
    assert ctx.empty_rdd().sum() == 0


def test_mean_pyspark_doctest(ctx):
    """PySpark's doctest: mean of [1, 2, 3] is 2.0."""
    assert ctx.parallelize([1, 2, 3]).mean() == 2.0


def test_mean_of_empty_is_zero(ctx):
    """The mean of no elements is 0.0, as PySpark's (its StatCounter's mean starts at 0.0)."""
    assert ctx.parallelize([], 2).mean() == 0.0


def test_max_pyspark_doctests(ctx):
    """PySpark's doctests: max, and max by str."""
    rdd = ctx.parallelize([1.0, 5.0, 43.0, 10.0])
    assert rdd.max() == 43.0
    assert rdd.max(key=str) == 5.0


def test_min_pyspark_doctests(ctx):
    """PySpark's doctests: min, and min by str."""
    rdd = ctx.parallelize([2.0, 5.0, 43.0, 10.0])
    assert rdd.min() == 2.0
    assert rdd.min(key=str) == 10.0


def test_min_max_of_strings_and_empty(ctx):
    """Strings compare by code point; an empty RDD is a ValueError."""
    rdd = ctx.parallelize(["b", "é", "a", "z"], 3)
    assert rdd.max() == "é" and rdd.min() == "a"
    with pytest.raises(ValueError):
        ctx.parallelize([], 2).max()
    with pytest.raises(ValueError):
        ctx.parallelize([], 2).min()


# -- variance / stdev -----------------------------------------------------------------------

def test_variance_pyspark_doctest(ctx):
    """PySpark's doctest: population variance of [1, 2, 3]."""
    assert ctx.parallelize([1, 2, 3]).variance() == pytest.approx(0.6666666666666666, rel=1e-15)


def test_stdev_pyspark_doctest(ctx):
    """PySpark's doctest: population stdev of [1, 2, 3]."""
    assert ctx.parallelize([1, 2, 3]).stdev() == pytest.approx(0.816496580927726, rel=1e-15)


def test_sample_stdev_pyspark_doctest(ctx):
    """PySpark's doctest: sample stdev of [1, 2, 3] is 1.0."""
    assert ctx.parallelize([1, 2, 3]).sample_stdev() == pytest.approx(1.0, rel=1e-15)


def test_sample_variance_pyspark_doctest(ctx):
    """PySpark's doctest: sample variance of [1, 2, 3] is 1.0."""
    assert ctx.parallelize([1, 2, 3]).sample_variance() == pytest.approx(1.0, rel=1e-15)


def test_variance_and_stdev_match_statistics_module(ctx):
    """Merged across partitions, the moments match Python's statistics module."""
    rdd = ctx.parallelize(DATA, 7)
    assert rdd.variance() == pytest.approx(statistics.pvariance(DATA), rel=1e-9)
    assert rdd.sample_variance() == pytest.approx(statistics.variance(DATA), rel=1e-9)
    assert rdd.stdev() == pytest.approx(statistics.pstdev(DATA), rel=1e-9)
    assert rdd.sample_stdev() == pytest.approx(statistics.stdev(DATA), rel=1e-9)


def test_single_element_variance(ctx):
    """One element: variance 0, sample variance NaN."""
    rdd = ctx.parallelize([4.0], 3)
    assert rdd.variance() == 0.0
    assert math.isnan(rdd.sample_variance())


# -- stats ----------------------------------------------------------------------------------

def test_stats_counts_everything_in_one_pass(ctx):
    """stats() gives count, mean, sum, min, max and both variances."""
    s = ctx.parallelize(DATA, 5).stats()
    assert isinstance(s, StatCounter)
    assert s.count() == 1000
    assert s.mean() == pytest.approx(statistics.fmean(DATA), rel=1e-12)
    assert s.sum() == pytest.approx(math.fsum(DATA), rel=1e-9)
    assert s.min() == min(DATA) and s.max() == max(DATA)
    assert s.variance() == pytest.approx(statistics.pvariance(DATA), rel=1e-9)
    assert s.sample_variance() == pytest.approx(statistics.variance(DATA), rel=1e-9)
    assert s.stdev() == pytest.approx(statistics.pstdev(DATA), rel=1e-9)
    assert s.sample_stdev() == pytest.approx(statistics.stdev(DATA), rel=1e-9)


def test_stats_of_small_rdd(ctx):
    """stats of [1, 2, 3]: the PySpark doctest values."""
    s = ctx.parallelize([1.0, 2.0, 3.0], 2).stats()
    assert (s.count(), s.mean(), s.min(), s.max(), s.sum()) == (3, 2.0, 1.0, 3.0, 6.0)
    assert s.stdev() == pytest.approx(0.816496580927726, rel=1e-15)


def test_stats_with_empty_partitions(ctx):
    """Empty partitions do not disturb the merge."""
    s = ctx.parallelize([5.0, 7.0], 6).stats()
    assert (s.count(), s.mean(), s.min(), s.max()) == (2, 6.0, 5.0, 7.0)
    assert s.variance() == 1.0


def test_stats_max_and_min_are_nan_when_a_value_is_nan(ctx):
    """A NaN makes stats()' max and min NaN wherever it stands, as in PySpark (numpy's
    maximum) and Spark: [1.0, nan, 3.0] in 2 partitions gives (count: 3, mean: nan, stdev:
    nan, max: nan, min: nan) there.  Before, Python's max() kept whichever came first:
    max 3.0, min 1.0, or nan, depending on where the NaN was."""
    nan = float("nan")
    for data, slices in (([1.0, nan, 3.0], 2), ([nan, 1.0], 1), ([1.0, nan], 1), ([1.0, nan], 2)):
        s = ctx.parallelize(data, slices).stats()
        assert math.isnan(s.max()) and math.isnan(s.min()), (data, slices, s)
    assert str(ctx.parallelize([1.0, nan, 3.0], 2).stats()) == \
        "(count: 3, mean: nan, stdev: nan, max: nan, min: nan)"
    merged = StatCounter([1.0]).merge_stats(StatCounter([nan]))
    assert math.isnan(merged.max()) and math.isnan(merged.min())
    assert str(StatCounter([-math.inf, math.inf])) == \
        "(count: 2, mean: nan, stdev: nan, max: inf, min: -inf)"



def test_stat_counter_has_pysparks_fields_and_merges_only_stat_counters():
    """A StatCounter's fields answer to PySpark's names (n, mu, m2, maxValue, minValue), and
    mergeStats of anything else is PySpark's TypeError (they were max_value/min_value only,
    and mergeStats([1, 2]) an AttributeError: 'list' object has no attribute 'n')."""
    s = StatCounter([1.0, 3.0])
    assert (s.n, s.mu, s.m2, s.maxValue, s.minValue) == (2, 2.0, 2.0, 3.0, 1.0)
    s.maxValue, s.minValue = 10.0, -10.0
    assert (s.max(), s.min()) == (10.0, -10.0)
    with pytest.raises(TypeError, match=r"^Can only merge StatCounter but got <class 'list'>$"):
        s.mergeStats([1, 2])
    assert s.count() == 2


# -- histogram --------------------------------------------------------------------------------

def test_histogram_pyspark_doctests(ctx):
    """PySpark's doctests: bucket counts, bucket lists, even buckets, string buckets."""
    rdd = ctx.parallelize(range(51))
    assert rdd.histogram(2) == ([0, 25, 50], [25, 26])
    assert rdd.histogram([0, 5, 25, 50]) == ([0, 5, 25, 50], [5, 20, 26])
    assert rdd.histogram([0, 15, 30, 45, 60]) == ([0, 15, 30, 45, 60], [15, 15, 15, 6])
    strings = ctx.parallelize(["ab", "ac", "b", "bd", "ef"])
    assert strings.histogram(("a", "b", "c")) == (("a", "b", "c"), [2, 2])


def test_histogram_last_bucket_is_closed(ctx):
    """The documented example: [1, 10, 20, 50] over inputs 1 and 50 gives 1, 0, 1."""
    assert ctx.parallelize([1, 50], 2).histogram([1, 10, 20, 50]) == ([1, 10, 20, 50], [1, 0, 1])


def test_histogram_float_buckets(ctx):
    """Evenly spaced buckets over floats between min and max."""
    rdd = ctx.parallelize([1.0, 2.0, 3.0, 4.0, 10.0], 2)
    assert rdd.histogram(3) == ([1.0, 4.0, 7.0, 10.0], [3, 1, 1])


def test_histogram_ignores_out_of_range_none_and_nan(ctx):
    """Values outside the buckets, None and NaN are not counted."""
    rdd = ctx.parallelize([-1, 0, 5, 10, 100, None, float("nan")], 3)
    assert rdd.histogram([0, 10]) == ([0, 10], [3])
    assert rdd.histogram([0, 5, 10]) == ([0, 5, 10], [1, 2])


def test_histogram_constant_values_use_one_bucket(ctx):
    """When min == max a single bucket holds everything."""
    assert ctx.parallelize([5, 5, 5], 2).histogram(4) == ([5, 5], [3])


def test_histogram_invalid_buckets(ctx):
    """Bad bucket specifications are ValueErrors."""
    rdd = ctx.parallelize(range(10), 2)
    with pytest.raises(ValueError):
        rdd.histogram(0)
    with pytest.raises(ValueError):
        rdd.histogram([1])
    with pytest.raises(ValueError):
        rdd.histogram([3, 1, 2])
    with pytest.raises(ValueError):
        rdd.histogram([1, 1, 2])
    with pytest.raises(ValueError):
        rdd.histogram([0, None])


def test_histogram_empty_and_infinite(ctx):
    """An empty RDD cannot make buckets; infinity cannot be bucketed evenly."""
    with pytest.raises(ValueError):
        ctx.parallelize([], 2).histogram(3)
    with pytest.raises(ValueError):
        ctx.parallelize([1.0, float("inf")], 2).histogram(2)
    assert ctx.parallelize([], 2).histogram([0, 1]) == ([0, 1], [0])
