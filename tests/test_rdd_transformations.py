"""Element-wise, sampling, set and partitioning transformations (PySpark semantics)."""

import os
import sys
from operator import add

import pytest

from vega_runtime import TaskFailed

BIG = "b" * (5 * 1024 * 1024)


# -- map / flat_map / filter -------------------------------------------------------------

def test_map_applies_function_in_order(ctx):
    """PySpark's doctest: map pairs each element with 1, order kept."""
    rdd = ctx.parallelize(["b", "a", "c"])
    assert rdd.map(lambda x: (x, 1)).collect() == [("b", 1), ("a", 1), ("c", 1)]


def test_map_over_none_values(ctx):
    """None is an ordinary element."""
    rdd = ctx.parallelize([None, 1, None], 2)
    assert rdd.map(lambda x: x is None).collect() == [True, False, True]


def test_map_large_record(ctx):
    """A 5 MB string produced in a task comes back whole."""
    result = ctx.parallelize([5], 1).map(lambda n: "b" * (n * 1024 * 1024)).collect()
    assert len(result) == 1 and result[0] == BIG


def test_map_on_empty_rdd(ctx):
    """map of an empty RDD is empty."""
    assert ctx.parallelize([], 2).map(lambda x: x + 1).collect() == []


def test_flat_map_flattens_in_order(ctx):
    """PySpark's doctest: flat_map over range(1, x), in element order."""
    rdd = ctx.parallelize([2, 3, 4])
    assert rdd.flat_map(lambda x: range(1, x)).collect() == [1, 1, 2, 1, 2, 3]
    assert sorted(rdd.flat_map(lambda x: range(1, x)).collect()) == [1, 1, 1, 2, 2, 3]
    assert rdd.flat_map(lambda x: [(x, x), (x, x)]).collect() == [
        (2, 2), (2, 2), (3, 3), (3, 3), (4, 4), (4, 4)]


def test_flat_map_with_empty_results(ctx):
    """Elements mapped to nothing disappear."""
    assert ctx.parallelize(["a b", "", "c"], 2).flat_map(str.split).collect() == ["a", "b", "c"]
    assert ctx.parallelize([1, 2], 2).flat_map(lambda x: []).collect() == []


def test_filter_keeps_matching_elements(ctx):
    """PySpark's doctest: even numbers of 1..5."""
    assert ctx.parallelize([1, 2, 3, 4, 5]).filter(lambda x: x % 2 == 0).collect() == [2, 4]


def test_filter_everything_out(ctx):
    """A filter rejecting all gives an empty RDD with the same partitions."""
    rdd = ctx.parallelize(range(10), 3).filter(lambda x: False)
    assert rdd.collect() == []
    assert rdd.get_num_partitions() == 3


# -- partition-wise -----------------------------------------------------------------------

def test_map_partitions_sums_each_partition(ctx):
    """PySpark's doctest: [1, 2, 3, 4] in two partitions sums to [3, 7]."""
    def f(iterator):
        yield sum(iterator)

    assert ctx.parallelize([1, 2, 3, 4], 2).map_partitions(f).collect() == [3, 7]


def test_map_partitions_sees_empty_partitions(ctx):
    """Empty partitions still call the function (with an empty iterator)."""
    counts = ctx.parallelize([1], 3).map_partitions(lambda it: [len(list(it))]).collect()
    assert counts == [0, 0, 1]


def test_map_partitions_with_index_gets_partition_index(ctx):
    """PySpark's doctest: indices of four partitions sum to 6."""
    def f(split_index, iterator):
        yield split_index

    rdd = ctx.parallelize([1, 2, 3, 4], 4)
    assert rdd.map_partitions_with_index(f).sum() == 6
    assert rdd.map_partitions_with_index(f).collect() == [0, 1, 2, 3]


def test_map_partitions_with_index_tags_records(ctx):
    """Each record is tagged with the index of the partition holding it."""
    rdd = ctx.parallelize(range(5), 2).map_partitions_with_index(lambda i, it: ((i, x) for x in it))
    assert rdd.collect() == [(0, 0), (0, 1), (1, 2), (1, 3), (1, 4)]


def test_glom_lists_each_partition(ctx):
    """PySpark's doctest: glom of [1, 2, 3, 4] in two partitions."""
    assert ctx.parallelize([1, 2, 3, 4], 2).glom().collect() == [[1, 2], [3, 4]]
    assert ctx.parallelize([], 2).glom().collect() == [[], []]


def test_key_by_pairs_key_with_element(ctx):
    """key_by(f) gives (f(x), x)."""
    assert ctx.parallelize(range(3)).key_by(lambda x: x * x).collect() == [(0, 0), (1, 1), (4, 2)]
    assert ctx.parallelize(["é", "ab"]).key_by(len).collect() == [(1, "é"), (2, "ab")]


# -- pipe ----------------------------------------------------------------------------------

def test_pipe_through_cat(ctx):
    """PySpark's doctest: cat echoes every line, empty lines included."""
    assert ctx.parallelize(["1", "2", "", "3"]).pipe("cat").collect() == ["1", "2", "", "3"]


def test_pipe_converts_non_strings_and_keeps_unicode(ctx):
    """Non-string records are piped as str(x); unicode round-trips."""
    assert ctx.parallelize([1, 2, 3], 2).pipe("cat").collect() == ["1", "2", "3"]
    words = ["héllo", "日本語", "🔑"]
    assert ctx.parallelize(words, 1).pipe("cat").collect() == words


def test_pipe_runs_once_per_partition(ctx):
    """sort runs per partition, so each partition is sorted separately."""
    rdd = ctx.parallelize(["b", "a", "d", "c"], 2)
    assert rdd.pipe("sort").collect() == ["a", "b", "c", "d"]
    assert rdd.pipe("wc -l").map(lambda s: int(s.strip())).collect() == [2, 2]


def test_pipe_passes_environment(ctx):
    """env= sets the command's environment."""
    rdd = ctx.parallelize(["x"], 1).pipe("sh -c 'cat >/dev/null; echo $FOO'", env={"FOO": "bar"})
    assert rdd.collect() == ["bar"]


def test_pipe_check_code_fails_on_nonzero_exit(ctx):
    """With check_code=True a failing command fails the task with PySpark's error (class
    PySparkRuntimeError, PIPE_FUNCTION_EXITED, the exit code); without, output is kept."""
    command = "sh -c 'cat; exit 3'"
    assert ctx.parallelize(["a"], 1).pipe(command).collect() == ["a"]
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(["a"], 1).pipe(command, check_code=True).collect()
    assert (info.value.error_type, info.value.message) == (
        "PySparkRuntimeError",
        "[PIPE_FUNCTION_EXITED] Pipe function `sh -c 'cat; exit 3'` exited with error code 3.")


def test_pipe_writes_str_of_bytes_and_gives_the_command_only_env(ctx):
    """As PySpark's pipe: every record is written as ``str(record)`` (bytes too: "b'x'"),
    and the command's environment is ``env=`` alone, none of the executor's; before, bytes
    went raw and the executor's whole environment (PATH, HOME, ...) went along."""
    assert ctx.parallelize([b"x", b"y\n", None], 1).pipe("cat").collect() == [
        "b'x'", "b'y\\n'", "None"]
    assert ctx.parallelize(["x"], 1).pipe("env").collect() == []
    assert ctx.parallelize(["x"], 1).pipe("env", env={"A": "1"}).collect() == ["A=1"]


def test_pipe_fails_the_task_when_a_record_fails(ctx):
    """An error computing a piped record (the function before pipe()) or writing it (a
    lone surrogate) fails the task with that error; before, the thread feeding the command
    died with it and the task gave the lines so far ([-1] here) as if all were piped. A
    command that stops reading early (head -1) is not an error."""
    failing = ctx.parallelize([1, 2, 3], 1).map(lambda x: 1 // (x - 2))
    with pytest.raises(TaskFailed) as info:
        failing.pipe("cat").collect()
    assert info.value.error_type == "ZeroDivisionError"
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(["a", "\ud800"], 1).pipe("cat").collect()
    assert info.value.error_type == "UnicodeEncodeError"
    assert ctx.parallelize(range(100000), 1).pipe("head -1").collect() == ["0"]


def test_pipe_read_in_part_stops_its_command(ctx):
    """take(2) of a piped RDD stops the command at once; before, it was left running
    (blocked writing to a pipe no one read) as long as its executor."""
    import uuid

    from proc_helpers import wait_for

    mark = f"VEGA_PIPE_TEST={uuid.uuid4().hex}".encode()

    def running():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if mark in fh.read().split(b"\0"):
                        found.append(pid)
            except OSError:
                pass
        return found

    key, value = mark.decode().split("=")
    piped = ctx.parallelize([str(i) for i in range(300000)], 1).pipe("cat", env={key: value})
    assert piped.take(2) == ["0", "1"]
    wait_for(lambda: not running(), 10, "the piped command to stop")


# -- sampling ------------------------------------------------------------------------------

def test_sample_fraction_is_approximate(ctx):
    """PySpark's doctest: a 10% sample of 100 elements has 6..14 elements."""
    rdd = ctx.parallelize(range(100), 4)
    assert 6 <= rdd.sample(False, 0.1, 81).count() <= 14


def test_sample_is_deterministic_with_seed_and_a_subset(ctx):
    """The same seed gives the same sample, drawn from the data, without repeats."""
    rdd = ctx.parallelize(range(1000), 4)
    first = rdd.sample(False, 0.3, 7).collect()
    assert first == rdd.sample(False, 0.3, 7).collect()
    assert len(set(first)) == len(first)
    assert set(first) <= set(range(1000))
    assert first == sorted(first)
    assert 200 < len(first) < 400


def test_sample_extreme_fractions(ctx):
    """Fraction 0 keeps nothing, fraction 1 without replacement keeps everything."""
    rdd = ctx.parallelize(range(50), 3)
    assert rdd.sample(False, 0.0, 1).collect() == []
    assert rdd.sample(False, 1.0, 1).collect() == list(range(50))


def test_sample_with_replacement_can_repeat(ctx):
    """With replacement and fraction 2.0, about twice the elements come out."""
    sample = ctx.parallelize(range(1000), 4).sample(True, 2.0, 3).collect()
    assert 1800 < len(sample) < 2200
    assert set(sample) <= set(range(1000))
    assert len(set(sample)) < len(sample)


def test_sample_rejects_negative_fraction(ctx):
    """A negative fraction is a ValueError."""
    with pytest.raises(ValueError):
        ctx.parallelize(range(10)).sample(False, -0.1, 1)


def test_a_fraction_or_weight_of_nan_is_refused_as_pyspark_refuses_it(ctx):
    """PySpark checks ``not fraction >= 0``, which NaN fails; Vega's ``fraction < 0`` let
    it through: sample(True, nan)'s tasks never ended (a Poisson draw of mean NaN), and
    random_split and sample_by_key made NaN bounds (every element in no part)."""
    rdd = ctx.parallelize(range(10), 2)
    nan = float("nan")
    for replace in (True, False):
        with pytest.raises(ValueError, match=r"^Fraction must be nonnegative\.$"):
            rdd.sample(replace, nan)
    with pytest.raises(ValueError, match="^Weights must be nonnegative$"):
        rdd.random_split([nan, 1.0])
    with pytest.raises(ValueError, match="^Negative fraction value: nan$"):
        rdd.map(lambda x: (x % 2, x)).sample_by_key(True, {0: 0.5, 1: nan})


def test_random_split_pyspark_doctest(ctx):
    """PySpark's doctest: weights 2:3 over 500 elements."""
    rdd = ctx.parallelize(range(500), 1)
    rdd1, rdd2 = rdd.random_split([2, 3], 17)
    assert len(rdd1.collect() + rdd2.collect()) == 500
    assert 150 < rdd1.count() < 250
    assert 250 < rdd2.count() < 350


def test_random_split_is_disjoint_complete_and_deterministic(ctx):
    """Splits are disjoint, their union is everything, and a seed repeats them."""
    rdd = ctx.parallelize(range(1000), 4)
    splits = rdd.random_split([1.0, 1.0, 2.0], seed=11)
    parts = [s.collect() for s in splits]
    assert sorted(x for p in parts for x in p) == list(range(1000))
    for i in range(3):
        for j in range(i + 1, 3):
            assert not set(parts[i]) & set(parts[j])
    assert [s.collect() for s in rdd.random_split([1.0, 1.0, 2.0], seed=11)] == parts
    assert all(len(p) > 100 for p in parts)


def test_random_split_rejects_negative_weights(ctx):
    """A negative weight is a ValueError."""
    with pytest.raises(ValueError):
        ctx.parallelize(range(10)).random_split([1.0, -1.0])


# -- set operations -------------------------------------------------------------------------

def test_distinct_removes_duplicates(ctx):
    """PySpark's doctest: distinct of [1, 1, 2, 3]."""
    assert sorted(ctx.parallelize([1, 1, 2, 3]).distinct().collect()) == [1, 2, 3]


def test_distinct_with_mixed_types_none_and_unicode(ctx):
    """None, unicode, tuples and numbers are told apart (and deduplicated)."""
    data = [None, "é", 1, "é", None, "1", (1, 2), (1, 2), 2, "🔑", "🔑"]
    result = ctx.parallelize(data, 3).distinct().collect()
    assert len(result) == 7
    assert set(result) == {None, "é", 1, "1", (1, 2), 2, "🔑"}


def test_distinct_num_partitions(ctx):
    """distinct(num_partitions) sets the partition count."""
    rdd = ctx.parallelize(range(20), 2).map(lambda x: x % 5).distinct(3)
    assert rdd.get_num_partitions() == 3
    assert sorted(rdd.collect()) == [0, 1, 2, 3, 4]


def test_union_keeps_duplicates_and_order(ctx):
    """PySpark's doctest: rdd.union(rdd) repeats the elements in order."""
    rdd = ctx.parallelize([1, 1, 2, 3])
    assert rdd.union(rdd).collect() == [1, 1, 2, 3, 1, 1, 2, 3]
    assert (rdd + rdd).collect() == [1, 1, 2, 3, 1, 1, 2, 3]
    assert rdd.union(rdd).get_num_partitions() == 2 * rdd.get_num_partitions()


def test_adding_something_else_to_an_rdd_is_a_type_error(ctx):
    """rdd + 1 is Python's TypeError for unsupported operands, as PySpark's __add__ raises a
    TypeError (it was an AttributeError: 'int' object has no attribute 'get_num_partitions')."""
    rdd = ctx.parallelize([1], 1)
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: "
                                        r"'ParallelCollectionRDD' and 'int'"):
        rdd + 1
    with pytest.raises(TypeError):
        [1] + rdd


def test_union_with_empty(ctx):
    """Union with an empty RDD changes nothing."""
    rdd = ctx.parallelize([1, 2], 2)
    assert rdd.union(ctx.empty_rdd()).collect() == [1, 2]
    assert ctx.empty_rdd().union(rdd).collect() == [1, 2]


def test_union_in_a_loop_runs_however_many_rdds_it_joins(ctx):
    """``acc = acc.union(rdd)`` 400 times runs, as in PySpark (whose chained unions are the
    JVM's); before, the 150th nested union made the job too deep to pickle. A union
    persisted before the next one is made from it is still read, not flattened."""
    acc = ctx.parallelize([0], 1)
    for i in range(1, 400):
        acc = acc.union(ctx.parallelize([i], 1))
    assert (acc.get_num_partitions(), acc.collect()) == (400, list(range(400)))
    keyed = ctx.parallelize([(0, 0)], 1).partition_by(2)
    for i in range(1, 400):  # one partitioner: the union keeps it and its 2 partitions
        keyed = keyed.union(ctx.parallelize([(i, i)], 1).partition_by(2))
    assert keyed.get_num_partitions() == 2 and keyed.partitioner is not None
    assert sorted(keyed.collect()) == [(i, i) for i in range(400)]
    cached = ctx.parallelize([1], 1).union(ctx.parallelize([2], 1)).cache()
    assert len(cached.union(ctx.parallelize([3], 1)).dependencies()) == 2
    assert cached.union(cached).collect() == [1, 2, 1, 2]


@pytest.mark.parametrize("steps", [250, 2000])
def test_too_deep_a_lineage_says_how_to_cut_it(ctx, steps):
    """250 maps in a row are too deep to pickle, 2000 too deep for the driver to walk: the
    error says so and names checkpoint(), not a variable to move into the function (as it
    did at 250), nor a bare RecursionError (as at 2000)."""
    from vega_runtime.errors import LineageTooDeep

    rdd = ctx.parallelize(range(4), 2)
    for _ in range(steps):
        rdd = rdd.map(lambda x: x + 1)
    if steps == 250 and sys.version_info >= (3, 13):  # its pickle recurses deeper: it runs
        assert rdd.collect() == [250, 251, 252, 253]
        return
    with pytest.raises(LineageTooDeep) as info:
        rdd.collect()
    assert "the chain of RDDs it is computed from is too deep for Python" in str(info.value)
    assert "checkpoint() or local_checkpoint()" in str(info.value)


def test_intersection_pyspark_doctest(ctx):
    """PySpark's doctest: common elements, sorted."""
    rdd1 = ctx.parallelize([1, 10, 2, 3, 4, 5])
    rdd2 = ctx.parallelize([1, 6, 2, 3, 7, 8])
    assert sorted(rdd1.intersection(rdd2).collect()) == [1, 2, 3]


def test_intersection_removes_duplicates(ctx):
    """An element repeated on both sides appears once."""
    a = ctx.parallelize([1, 1, 2, "x", "x", None], 2)
    b = ctx.parallelize([1, 1, "x", None, None], 3)
    result = a.intersection(b).collect()
    assert len(result) == 3 and set(result) == {1, "x", None}
    assert a.intersection(ctx.parallelize([], 1)).collect() == []


def test_subtract_pyspark_doctest(ctx):
    """PySpark's doctest: pairs of x not in y."""
    x = ctx.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 3)])
    y = ctx.parallelize([("a", 3), ("c", None)])
    assert sorted(x.subtract(y).collect()) == [("a", 1), ("b", 4), ("b", 5)]


def test_subtract_keeps_duplicates(ctx):
    """Elements not in other keep their multiplicity."""
    a = ctx.parallelize([1, 1, 2, 3, 3, 3], 2)
    assert sorted(a.subtract(ctx.parallelize([2]), 3).collect()) == [1, 1, 3, 3, 3]
    assert sorted(a.subtract(ctx.parallelize([], 1)).collect()) == [1, 1, 2, 3, 3, 3]


def test_cartesian_pyspark_doctest(ctx):
    """PySpark's doctest: all pairs of [1, 2] with itself."""
    rdd = ctx.parallelize([1, 2])
    assert sorted(rdd.cartesian(rdd).collect()) == [(1, 1), (1, 2), (2, 1), (2, 2)]


def test_cartesian_order_and_partitions(ctx):
    """Partitions are (left, right) pairs, left-major, records left-major within."""
    left = ctx.parallelize([1, 2, 3], 2)
    right = ctx.parallelize("ab", 2)
    product = left.cartesian(right)
    assert product.get_num_partitions() == 4
    assert product.collect() == [(1, "a"), (1, "b"), (2, "a"), (3, "a"), (2, "b"), (3, "b")]
    assert left.cartesian(ctx.parallelize([], 1)).collect() == []


# -- zip ------------------------------------------------------------------------------------

def test_zip_pyspark_doctest(ctx):
    """PySpark's doctest: zip two ranges of the same shape."""
    x = ctx.parallelize(range(0, 5))
    y = ctx.parallelize(range(1000, 1005))
    assert x.zip(y).collect() == [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 1004)]


def test_zip_with_mapped_self(ctx):
    """An RDD zips with a map of itself."""
    rdd = ctx.parallelize(["a", "bb", None], 3)
    assert rdd.zip(rdd.map(lambda s: s and len(s))).collect() == [("a", 1), ("bb", 2), (None, None)]


def test_zip_rejects_different_partition_counts(ctx):
    """Different partition counts are a ValueError."""
    with pytest.raises(ValueError):
        ctx.parallelize(range(4), 2).zip(ctx.parallelize(range(4), 3)).collect()


def test_zip_rejects_different_element_counts(ctx):
    """Different element counts in a partition fail the task with a ValueError."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(4), 2).zip(ctx.parallelize(range(5), 2)).collect()
    assert info.value.error_type == "ValueError"
    assert "same number of elements" in info.value.message


def test_zip_with_index_pyspark_doctest(ctx):
    """PySpark's doctest: indices follow partition order."""
    rdd = ctx.parallelize(["a", "b", "c", "d"], 3)
    assert rdd.zip_with_index().collect() == [("a", 0), ("b", 1), ("c", 2), ("d", 3)]


def test_zip_with_index_skips_empty_partitions(ctx):
    """Empty partitions use no indices; an empty RDD gives nothing."""
    assert ctx.parallelize([1, 2], 5).zip_with_index().collect() == [(1, 0), (2, 1)]
    assert ctx.parallelize(range(7), 1).zip_with_index().values().collect() == list(range(7))
    assert ctx.empty_rdd().zip_with_index().collect() == []


def test_zip_with_unique_id_pyspark_doctest(ctx):
    """PySpark's doctest: ids k, n+k, 2n+k in partition k of n."""
    rdd = ctx.parallelize(["a", "b", "c", "d", "e"], 3)
    assert rdd.zip_with_unique_id().collect() == [
        ("a", 0), ("b", 1), ("c", 4), ("d", 2), ("e", 5)]


# -- partitioning ---------------------------------------------------------------------------

def test_coalesce_pyspark_doctests(ctx):
    """PySpark's doctests: three partitions, then coalesced into one."""
    rdd = ctx.parallelize([1, 2, 3, 4, 5], 3)
    assert rdd.glom().collect() == [[1], [2, 3], [4, 5]]
    assert rdd.coalesce(1).glom().collect() == [[1, 2, 3, 4, 5]]


def test_coalesce_101_into_5_partitions(ctx):
    """101 partitions coalesce into 5 contiguous groups of 20/20/20/20/21."""
    rdd = ctx.parallelize(range(101), 101).coalesce(5)
    assert rdd.get_num_partitions() == 5
    assert rdd.glom().map(len).collect() == [20, 20, 20, 20, 21]
    assert rdd.collect() == list(range(101))


def test_coalesce_never_increases_partitions_without_shuffle(ctx):
    """Asking for more partitions than exist keeps the existing ones."""
    rdd = ctx.parallelize(range(6), 3).coalesce(10)
    assert rdd.get_num_partitions() == 3
    assert rdd.collect() == list(range(6))


def test_coalesce_with_shuffle(ctx):
    """shuffle=True reaches the requested count, even upwards, keeping every element."""
    rdd = ctx.parallelize(range(100), 2).coalesce(10, shuffle=True)
    assert rdd.get_num_partitions() == 10
    assert sorted(rdd.collect()) == list(range(100))


def test_coalesce_rejects_non_positive(ctx):
    """coalesce(0) is a ValueError."""
    with pytest.raises(ValueError):
        ctx.parallelize(range(3), 3).coalesce(0)


def test_repartition_pyspark_doctest(ctx):
    """PySpark's doctest: repartition to 2 and to 10 partitions."""
    rdd = ctx.parallelize([1, 2, 3, 4, 5, 6, 7], 4)
    assert sorted(rdd.glom().collect()) == [[1], [2, 3], [4, 5], [6, 7]]
    assert len(rdd.repartition(2).glom().collect()) == 2
    assert len(rdd.repartition(10).glom().collect()) == 10
    assert sorted(rdd.repartition(3).collect()) == [1, 2, 3, 4, 5, 6, 7]


def test_repartition_balances_round_robin(ctx):
    """100 elements from one partition spread evenly over four."""
    sizes = ctx.parallelize(range(100), 1).repartition(4).glom().map(len).collect()
    assert sizes == [25, 25, 25, 25]


def test_sort_by_pyspark_doctests(ctx):
    """PySpark's doctests: sort_by the first and the second field."""
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    rdd = ctx.parallelize(tmp)
    assert rdd.sort_by(lambda x: x[0]).collect() == [
        ("1", 3), ("2", 5), ("a", 1), ("b", 2), ("d", 4)]
    assert rdd.sort_by(lambda x: x[1]).collect() == [
        ("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]


def test_sort_by_descending_with_partitions(ctx):
    """Descending sort over three partitions is globally ordered."""
    data = [(i * 37) % 101 for i in range(101)]
    rdd = ctx.parallelize(data, 4).sort_by(lambda x: x, ascending=False, num_partitions=3)
    assert rdd.get_num_partitions() == 3
    assert rdd.collect() == list(range(100, -1, -1))


def test_group_by_pyspark_doctest(ctx):
    """PySpark's doctest: group by parity."""
    rdd = ctx.parallelize([1, 1, 2, 3, 5, 8])
    result = rdd.group_by(lambda x: x % 2).collect()
    assert sorted([(x, sorted(y)) for (x, y) in result]) == [(0, [2, 8]), (1, [1, 1, 3, 5])]


def test_group_by_keeps_value_order(ctx):
    """Values of a group come in partition order, then record order."""
    rdd = ctx.parallelize([1, 1, 2, 3, 5, 8, 13, 21], 3)
    result = sorted((k, list(v)) for k, v in rdd.group_by(lambda x: x % 2, 2).collect())
    assert result == [(0, [2, 8]), (1, [1, 1, 3, 5, 13, 21])]
    assert rdd.group_by(lambda x: x % 2, 2).get_num_partitions() == 2


def test_reduce_through_many_transformations(ctx):
    """A chain of narrow and wide transformations gives the exact word counts."""
    lines = ctx.parallelize(["a b a", "c b a", "", "é é"], 3)
    counts = lines.flat_map(str.split).map(lambda w: (w, 1)).reduce_by_key(add)
    assert sorted(counts.collect()) == [("a", 3), ("b", 2), ("c", 1), ("é", 2)]


def test_pipelined_rdds_take_their_id_when_first_asked(ctx):
    """As PySpark's PipelinedRDD (map, filter, ...): the id is taken when first asked for,
    so rdd.map(str).filter(bool).id() is rdd.id() + 1 (PySpark's own test_id; it was + 2);
    it stays the same, and the RDDs run as before."""
    numbers = ctx.parallelize(range(10))
    first = numbers.id()
    assert numbers.id() == first
    piped = numbers.map(str).filter(bool)
    assert piped.id() == first + 1 and piped.id() == first + 1
    assert piped.collect() == [str(i) for i in range(10)]
    unasked = numbers.map(lambda x: x * 2)
    assert unasked.filter(lambda x: x > 10).count() == 4  # shipped: ids taken on the driver
    assert unasked.id() > first + 1
