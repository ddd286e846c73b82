"""Key-value transformations and actions (PySpark's pair RDD functions)."""

import datetime
import random
import subprocess
import sys
from operator import add

import pytest
from proc_helpers import clean_env

BIG = "v" * (5 * 1024 * 1024)


def as_lists(pairs):
    """(k, iterable) -> (k, list), sorted by key."""
    return sorted((k, list(v)) for k, v in pairs)


# -- per-value --------------------------------------------------------------------------

def test_map_values_pyspark_doctest(ctx):
    """PySpark's doctest: map_values(len) keeps keys and order."""
    x = ctx.parallelize([("a", ["apple", "banana", "lemon"]), ("b", ["grapes"])])
    assert x.map_values(len).collect() == [("a", 3), ("b", 1)]


def test_flat_map_values_pyspark_doctest(ctx):
    """PySpark's doctest: each value list is flattened under its key."""
    x = ctx.parallelize([("a", ["x", "y", "z"]), ("b", ["p", "r"])])
    assert x.flat_map_values(lambda v: v).collect() == [
        ("a", "x"), ("a", "y"), ("a", "z"), ("b", "p"), ("b", "r")]


def test_flat_map_values_drops_keys_with_no_values(ctx):
    """A key whose value maps to nothing disappears."""
    x = ctx.parallelize([("a", []), ("b", [None]), (None, [1, 2])], 2)
    assert x.flat_map_values(lambda v: v).collect() == [("b", None), (None, 1), (None, 2)]


def test_keys_and_values_pyspark_doctests(ctx):
    """PySpark's doctests: keys() and values() of [(1, 2), (3, 4)]."""
    rdd = ctx.parallelize([(1, 2), (3, 4)])
    assert rdd.keys().collect() == [1, 3]
    assert rdd.values().collect() == [2, 4]


# -- aggregation ---------------------------------------------------------------------------

def test_reduce_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: sums per key."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 1)])
    assert sorted(rdd.reduce_by_key(add).collect()) == [("a", 2), ("b", 1)]


def test_reduce_by_key_unicode_none_and_mixed_keys(ctx):
    """Unicode, None, tuples, ints and strings are distinct keys."""
    data = [("ключ", 1), ("键", 2), ("🔑", 3), ("ключ", 4), (None, 5), (None, 6),
            (1, 7), ("1", 8), ((1,), 9), (1, 10), (1.5, 11)]
    result = dict(ctx.parallelize(data, 3).reduce_by_key(add).collect())
    assert result == {"ключ": 5, "键": 2, "🔑": 3, None: 11, 1: 17, "1": 8, (1,): 9, 1.5: 11}


def test_reduce_by_key_num_partitions_and_partition_func(ctx):
    """num_partitions sets the count; partition_func decides where keys go."""
    rdd = ctx.parallelize([(k % 7, 1) for k in range(70)], 3)
    reduced = rdd.reduce_by_key(add, 4)
    assert reduced.get_num_partitions() == 4
    assert sorted(reduced.collect()) == [(k, 10) for k in range(7)]
    glommed = rdd.reduce_by_key(add, 2, partition_func=lambda k: 0).glom().collect()
    assert glommed[1] == []
    assert sorted(glommed[0]) == [(k, 10) for k in range(7)]


def test_reduce_by_key_on_already_partitioned_rdd(ctx):
    """Reducing with the same partitioner gives the same exact sums."""
    rdd = ctx.parallelize([(k % 5, k) for k in range(50)], 3).partition_by(2)
    assert sorted(rdd.reduce_by_key(add, 2).collect()) == [
        (k, sum(range(k, 50, 5))) for k in range(5)]


def test_reduce_by_key_of_constant_pairs_sums_exactly(ctx):
    """(w, c) pairs reduced by addition (counted by the map side when c is an int) sum
    to count * c; any other constant or merge is folded value by value."""
    words = ctx.parallelize(["a", "b", "a", "c", "a", "b"] * 50, 3)
    assert sorted(words.map(lambda w: (w, 1)).reduce_by_key(add).collect()) == [
        ("a", 150), ("b", 100), ("c", 50)]
    assert sorted(words.map(lambda w: (w, -3)).reduce_by_key(lambda a, b: a + b, 2)
                  .collect()) == [("a", -450), ("b", -300), ("c", -150)]
    assert sorted(words.map(lambda w: (w, 0)).reduce_by_key(add).collect()) == [
        ("a", 0), ("b", 0), ("c", 0)]
    assert sorted(words.map(lambda w: (w, 2)).reduce_by_key(max).collect()) == [
        ("a", 2), ("b", 2), ("c", 2)]
    assert sorted(words.map(lambda w: (w, "x")).reduce_by_key(add).map_values(len)
                  .collect()) == [("a", 150), ("b", 100), ("c", 50)]
    # a bool stays a bool while a key has one value (True + True is 2, 1 * True is 1)
    flags = dict(ctx.parallelize(["a", "b", "a"], 1).map(lambda w: (w, True))
                 .reduce_by_key(add).collect())
    assert flags == {"a": 2, "b": True} and type(flags["b"]) is bool


def test_reduce_by_key_of_mapped_records_sums_exactly(ctx):
    """map(f) then reduce_by_key: f is called in the map side's combine loop for addition
    (operator.add or lambda a, b: a + b); every other merge, and values that are not ints,
    give the same exact results as folding in plain Python."""
    def expected(pairs, merge):
        out = {}
        for key, value in pairs:
            out[key] = merge(out[key], value) if key in out else value
        return out

    numbers = ctx.parallelize(range(2000), 3)
    to_pair = lambda i: (i % 97, i)  # noqa: E731 - a user's lambda, as jobs write them
    pairs = [to_pair(i) for i in range(2000)]
    assert dict(numbers.map(to_pair).reduce_by_key(add).collect()) == expected(pairs, add)
    assert dict(numbers.map(to_pair).reduce_by_key(lambda a, b: a + b, 5).collect()) == (
        expected(pairs, add))
    assert dict(numbers.map(to_pair).reduce_by_key(max).collect()) == expected(pairs, max)
    assert numbers.map(to_pair).reduce_by_key(add).count() == 97
    # floats, strings, lists and mixed key types: added value by value, in record order
    # within a map partition
    mixed = [(None, 0.1), ("k", 0.2), (1, [1]), ((1, "a"), "x"), (None, 0.7), (1, [2]),
             ((1, "a"), "y"), (1.0, [3]), ("k", 1e16), ("k", 1.0)]
    got = dict(ctx.parallelize(range(len(mixed)), 1).map(lambda i: mixed[i])
               .reduce_by_key(add).collect())
    assert got == expected(mixed, add) and got[1] == [1, 2, 3] and got["k"] == 0.2 + 1e16 + 1.0
    # a chain of maps, and a map whose records are not pairs, fail or pass as before
    assert sorted(numbers.map(lambda i: i * 2).map(lambda i: (i % 3, 1)).reduce_by_key(add)
                  .collect()) == [(0, 667), (1, 666), (2, 667)]
    with pytest.raises(Exception, match="unpack"):
        numbers.map(lambda i: (i,)).reduce_by_key(add).collect()


class Tally(int):
    """An int subclass: its sums are plain ints, but a key or value of this type must come
    out of the shuffle as itself (marshal would write it as an int)."""

    def __repr__(self):
        return f"Tally({int(self)})"


def test_reduce_by_key_shuffles_values_that_marshal_would_change_exactly(ctx):
    """A map side's combined dict is written with marshal only when every key and value is
    plain: bytearray values (marshal writes bytes), int-subclass keys and values, bools and
    lists cross the shuffle as themselves, next to plain pairs of other partitions."""
    pairs = [("a", bytearray(b"x")), ("b", bytearray(b"y")), ("a", bytearray(b"z"))]
    got = dict(ctx.parallelize(pairs, 2).reduce_by_key(add, 3).collect())
    assert got == {"a": bytearray(b"xz"), "b": bytearray(b"y")}
    assert {type(v) for v in got.values()} == {bytearray}
    tallies = [(Tally(1), Tally(2)), (1.5, 3), (Tally(1), True), (None, [1]), (None, [2])]
    got = ctx.parallelize(tallies, 1).reduce_by_key(lambda a, b: a + b, 2).collect()
    assert sorted(got, key=repr) == sorted([(Tally(1), 3), (1.5, 3), (None, [1, 2])], key=repr)
    assert [type(k) for k, _ in got if k == 1] == [Tally]
    single = dict(ctx.parallelize([(Tally(7), Tally(5)), ("p", 1)], 2).reduce_by_key(add)
                  .collect())
    assert single == {7: 5, "p": 1} and [type(x) for x in next(iter(single.items()))] == [
        Tally, Tally]


def test_group_by_key_of_mapped_records_keeps_order(ctx):
    """map(f) then group_by_key (f called in the combine loop): values in partition, then
    record order."""
    grouped = ctx.parallelize(range(300), 4).map(lambda i: (i % 7, -i)).group_by_key(3)
    assert as_lists(grouped.collect()) == [(k, [-i for i in range(k, 300, 7)]) for k in range(7)]


def test_fold_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: fold_by_key(0, add)."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 1)])
    assert sorted(rdd.fold_by_key(0, add).collect()) == [("a", 2), ("b", 1)]


def test_fold_by_key_applies_zero_once_per_key_per_partition(ctx):
    """As in PySpark, the zero value is folded in once per partition holding the key."""
    rdd = ctx.parallelize([("a", 1), ("a", 1), ("b", 1)], 2)
    assert sorted(rdd.fold_by_key(1, add).collect()) == [("a", 4), ("b", 2)]


def test_fold_by_key_mutable_zero_is_copied(ctx):
    """Each key starts from its own copy of a mutable zero value."""
    def fold(acc, v):
        acc.extend(v if isinstance(v, list) else [v])
        return acc

    rdd = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)], 1)
    result = rdd.fold_by_key([], fold)
    assert sorted(result.collect()) == [("a", [1, 3]), ("b", [2])]


def test_aggregate_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: (sum, count) per key."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 2)])
    seq = (lambda x, y: (x[0] + y, x[1] + 1))
    comb = (lambda x, y: (x[0] + y[0], x[1] + y[1]))
    result = rdd.aggregate_by_key((0, 0), seq, comb).collect()
    assert sorted(result) == [("a", (3, 2)), ("b", (1, 1))]


def test_aggregate_by_key_mutable_zero_not_shared(ctx):
    """A list zero mutated in place is never shared between keys."""
    def seq(acc, v):
        acc.append(v)
        return acc

    rdd = ctx.parallelize([("a", 1), ("b", 2), ("a", 3), ("b", 4)], 2)
    result = rdd.aggregate_by_key([], seq, lambda a, b: a + b, 3)
    assert result.get_num_partitions() == 3
    assert sorted(result.collect()) == [("a", [1, 3]), ("b", [2, 4])]


def test_combine_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: values collected into lists."""
    x = ctx.parallelize([("a", 1), ("b", 1), ("a", 2)])

    def to_list(a):
        return [a]

    def append(a, b):
        a.append(b)
        return a

    def extend(a, b):
        a.extend(b)
        return a

    result = x.combine_by_key(to_list, append, extend).collect()
    assert sorted(result) == [("a", [1, 2]), ("b", [1])]


def test_combine_by_key_average(ctx):
    """(sum, count) combiners give exact per-key averages."""
    data = [("x", 1.0), ("y", 10.0), ("x", 3.0), ("y", 20.0), ("x", 5.0)]
    sums = ctx.parallelize(data, 3).combine_by_key(
        lambda v: (v, 1),
        lambda c, v: (c[0] + v, c[1] + 1),
        lambda a, b: (a[0] + b[0], a[1] + b[1]))
    assert sorted(sums.map_values(lambda c: c[0] / c[1]).collect()) == [("x", 3.0), ("y", 15.0)]


def test_group_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: group sizes and lists."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 1)])
    assert sorted(rdd.group_by_key().map_values(len).collect()) == [("a", 2), ("b", 1)]
    assert sorted(rdd.group_by_key().map_values(list).collect()) == [("a", [1, 1]), ("b", [1])]


def test_group_by_key_values_in_partition_then_record_order(ctx):
    """Values come in map partition order, then record order within a partition."""
    data = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2), ("a", 4)]
    rdd = ctx.parallelize(data, 3)
    assert as_lists(rdd.group_by_key().collect()) == [("a", [1, 2, 3, 4]), ("b", [1, 2])]
    many = ctx.parallelize([(i % 3, i) for i in range(300)], 30).group_by_key(4)
    assert many.get_num_partitions() == 4
    assert as_lists(many.collect()) == [(k, list(range(k, 300, 3))) for k in range(3)]


def test_group_by_key_none_and_mixed_keys(ctx):
    """None and keys of different types group separately."""
    data = [(None, 1), ("x", 2), (None, 3), (1, 4), ("1", 5), ((1, "a"), 6), ((1, "a"), 7)]
    result = {k: list(v) for k, v in ctx.parallelize(data, 2).group_by_key().collect()}
    assert result == {None: [1, 3], "x": [2], 1: [4], "1": [5], (1, "a"): [6, 7]}


def test_group_by_key_large_value(ctx):
    """A 5 MB value crosses the shuffle intact."""
    rdd = ctx.parallelize([("k", "small"), ("k", BIG), ("j", None)], 3)
    result = {k: list(v) for k, v in rdd.group_by_key().collect()}
    assert result["j"] == [None]
    assert result["k"][0] == "small" and result["k"][1] == BIG and len(result["k"]) == 2


# -- cogroup and joins ----------------------------------------------------------------------

def test_cogroup_pyspark_doctest(ctx):
    """PySpark's doctest: cogroup of two RDDs."""
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2)])
    assert [(k, tuple(map(list, v))) for k, v in sorted(list(x.cogroup(y).collect()))] == [
        ("a", ([1], [2])), ("b", ([4], []))]


def test_group_with_pyspark_doctest(ctx):
    """PySpark's doctest: group_with of four RDDs."""
    w = ctx.parallelize([("a", 5), ("b", 6)])
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2)])
    z = ctx.parallelize([("b", 42)])
    assert [(k, tuple(map(list, v))) for k, v in sorted(list(w.group_with(x, y, z).collect()))] == [
        ("a", ([5], [1], [2], [])), ("b", ([6], [4], [], [42]))]


def test_key_by_cogroup_pyspark_doctest(ctx):
    """PySpark's key_by doctest: cogroup of a keyed range with pairs."""
    x = ctx.parallelize(range(0, 3)).key_by(lambda x: x * x)
    y = ctx.parallelize(zip(range(0, 5), range(0, 5)))
    assert [(k, list(map(list, v))) for k, v in sorted(x.cogroup(y).collect())] == [
        (0, [[0], [0]]), (1, [[1], [1]]), (2, [[], [2]]), (3, [[], [3]]), (4, [[2], [4]])]


def test_cogroup_value_order_and_num_partitions(ctx):
    """Each side's values keep partition-then-record order; num_partitions applies."""
    x = ctx.parallelize([("k", i) for i in range(10)], 4)
    y = ctx.parallelize([("k", -i) for i in range(5)] + [("z", None)], 2)
    grouped = x.cogroup(y, num_partitions=3)
    assert grouped.get_num_partitions() == 3
    result = {k: tuple(map(list, v)) for k, v in grouped.collect()}
    assert result == {"k": (list(range(10)), [0, -1, -2, -3, -4]), "z": ([], [None])}


def test_cogroup_with_num_partitions_none_given_by_position(ctx):
    """cogroup(other, None), PySpark's signature with its default spelled out, is the
    default number of partitions (the None was taken for a second other RDD: an
    AttributeError of NoneType)."""
    x = ctx.parallelize([("k", 1)], 2)
    y = ctx.parallelize([("k", 2)], 3)
    grouped = x.cogroup(y, None)
    assert grouped.get_num_partitions() == 5
    assert [(k, tuple(map(list, v))) for k, v in grouped.collect()] == [("k", ([1], [2]))]


def test_join_pyspark_doctest(ctx):
    """PySpark's doctest: inner join."""
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2), ("a", 3)])
    assert sorted(x.join(y).collect()) == [("a", (1, 2)), ("a", (1, 3))]


def test_join_cross_product_none_values_and_partitions(ctx):
    """Every matching pair appears; None values are kept; num_partitions applies."""
    x = ctx.parallelize([("a", 1), ("a", 2), ("b", None), ("only-x", 0)], 2)
    y = ctx.parallelize([("a", "x"), ("a", "y"), ("b", None), ("only-y", 0)], 3)
    joined = x.join(y, 3)
    assert joined.get_num_partitions() == 3
    assert sorted(joined.collect(), key=repr) == sorted(
        [("a", (1, "x")), ("a", (1, "y")), ("a", (2, "x")), ("a", (2, "y")), ("b", (None, None))],
        key=repr)
    assert x.join(ctx.parallelize([], 1)).collect() == []


def test_join_pairs_values_in_order_within_a_key(ctx):
    """Each key's pairs come as ``for v in left for w in right``, left values in
    partition-then-record order, as PySpark gives them."""
    x = ctx.parallelize([("k", 1), ("k", 2), ("k", 3)], 2)
    y = ctx.parallelize([("k", "a"), ("k", "b")], 1)
    assert x.join(y, 1).collect() == [
        ("k", (1, "a")), ("k", (1, "b")), ("k", (2, "a")), ("k", (2, "b")),
        ("k", (3, "a")), ("k", (3, "b"))]
    assert x.join(y, 1).count() == 6


def test_join_counts_equal_their_collected_records(ctx):
    """count() of every join (which counts from the lists' lengths) is the number of
    records collect() returns, with duplicate keys, unmatched keys and empty sides."""
    x = ctx.parallelize([("a", 1), ("a", 2), ("b", 3), ("c", None)] * 3, 3)
    y = ctx.parallelize([("a", "x"), ("a", "y"), ("d", 0), ("c", None)], 2)
    empty = ctx.parallelize([], 2)
    for left, right in [(x, y), (y, x), (x, empty), (empty, y)]:
        for join in ("join", "left_outer_join", "right_outer_join", "full_outer_join"):
            joined = getattr(left, join)(right, 2)
            assert joined.count() == len(joined.collect()), join
    assert x.join(y).count() == 3 * 2 * 2 + 3
    assert x.full_outer_join(y).count() == 3 * 2 * 2 + 3 + 3 + 1


def test_cogroup_and_join_of_co_partitioned_rdds(ctx):
    """Both sides partitioned alike: cogroup groups each partition without a shuffle, and
    gives the same groups and joins."""
    x = ctx.parallelize([(k % 6, k) for k in range(30)], 3).partition_by(2)
    y = ctx.parallelize([(k, -k) for k in range(4)], 2).partition_by(2)
    grouped = x.cogroup(y, num_partitions=2)
    assert grouped.partitioner == x.partitioner
    assert {k: tuple(map(list, v)) for k, v in grouped.collect()} == {
        k: (list(range(k, 30, 6)), [-k] if k < 4 else []) for k in range(6)}
    assert sorted(x.join(y, 2).collect()) == sorted(
        (k, (v, -k)) for v in range(30) for k in [v % 6] if k < 4)
    assert sorted(x.left_outer_join(y, 2).collect()) == sorted(
        (v % 6, (v, -(v % 6) if v % 6 < 4 else None)) for v in range(30))


def test_left_outer_join_pyspark_doctest(ctx):
    """PySpark's doctest: unmatched left keys pair with None."""
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2)])
    assert sorted(x.left_outer_join(y).collect()) == [("a", (1, 2)), ("b", (4, None))]


def test_right_outer_join_pyspark_doctest(ctx):
    """PySpark's doctest: unmatched right keys pair with None."""
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2)])
    assert sorted(y.right_outer_join(x).collect()) == [("a", (2, 1)), ("b", (None, 4))]


def test_full_outer_join_pyspark_doctest(ctx):
    """PySpark's doctest: unmatched keys on either side pair with None."""
    x = ctx.parallelize([("a", 1), ("b", 4)])
    y = ctx.parallelize([("a", 2), ("c", 8)])
    assert sorted(x.full_outer_join(y).collect()) == [
        ("a", (1, 2)), ("b", (4, None)), ("c", (None, 8))]


def test_outer_joins_with_duplicates_and_num_partitions(ctx):
    """Outer joins keep every pairing and honour num_partitions."""
    x = ctx.parallelize([("a", 1), ("a", 2), ("b", 3)], 2)
    y = ctx.parallelize([("a", "x"), ("c", "z")], 2)
    left = x.left_outer_join(y, 4)
    assert left.get_num_partitions() == 4
    assert sorted(left.collect()) == [("a", (1, "x")), ("a", (2, "x")), ("b", (3, None))]
    assert sorted(x.right_outer_join(y).collect(), key=repr) == sorted(
        [("a", (1, "x")), ("a", (2, "x")), ("c", (None, "z"))], key=repr)
    assert sorted(x.full_outer_join(y).collect(), key=repr) == sorted(
        [("a", (1, "x")), ("a", (2, "x")), ("b", (3, None)), ("c", (None, "z"))], key=repr)


def test_subtract_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: pairs whose key is not in other, duplicates kept."""
    x = ctx.parallelize([("a", 1), ("b", 4), ("b", 5), ("a", 2)])
    y = ctx.parallelize([("a", 3), ("c", None)])
    assert sorted(x.subtract_by_key(y).collect()) == [("b", 4), ("b", 5)]


def test_subtract_by_key_none_key(ctx):
    """A None key is subtracted like any other."""
    x = ctx.parallelize([(None, 1), (None, 2), ("k", 3)], 2)
    assert x.subtract_by_key(ctx.parallelize([("k", 0)])).collect() == [(None, 1), (None, 2)]
    assert x.subtract_by_key(ctx.parallelize([(None, 0)]), 2).collect() == [("k", 3)]


# -- partitioning and ordering --------------------------------------------------------------

def test_partition_by_pyspark_doctest(ctx):
    """PySpark's doctest: partitions of partition_by share no keys."""
    pairs = ctx.parallelize([1, 2, 3, 4, 2, 4, 1]).map(lambda x: (x, x))
    sets = pairs.partition_by(2).glom().collect()
    assert len(set(sets[0]).intersection(set(sets[1]))) == 0


def test_partition_by_places_keys_by_hash_in_order(ctx):
    """Integer keys go to key % n, keeping map-then-record order."""
    rdd = ctx.parallelize([(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (None, "n")], 2)
    assert rdd.partition_by(2).glom().collect() == [
        [(2, "b"), (4, "d"), (None, "n")], [(1, "a"), (3, "c"), (5, "e")]]


def test_partition_by_none_takes_the_default_reduce_partitions(ctx):
    """partitionBy(None) shuffles into the default number of partitions, as PySpark's
    (numPartitions is optional there; it was a TypeError comparing None with 0)."""
    rdd = ctx.parallelize([(k, k) for k in range(6)], 3)
    by_default = rdd.partitionBy(None)
    assert by_default.get_num_partitions() == 3
    assert by_default.glom().collect() == [[(0, 0), (3, 3)], [(1, 1), (4, 4)], [(2, 2), (5, 5)]]
    assert by_default.partitioner == rdd.partition_by(3).partitioner


def test_partition_by_custom_function(ctx):
    """partition_func(key) % n chooses the partition."""
    rdd = ctx.parallelize([("a", 1), ("bb", 2), ("ccc", 3), ("dddd", 4)], 2)
    assert rdd.partition_by(3, lambda k: len(k)).glom().collect() == [
        [("ccc", 3)], [("a", 1), ("dddd", 4)], [("bb", 2)]]


def test_sort_by_key_pyspark_doctests(ctx):
    """PySpark's doctests: sort_by_key with one and two partitions, first()."""
    tmp = [("a", 1), ("b", 2), ("1", 3), ("d", 4), ("2", 5)]
    expected = [("1", 3), ("2", 5), ("a", 1), ("b", 2), ("d", 4)]
    assert ctx.parallelize(tmp).sort_by_key().first() == ("1", 3)
    assert ctx.parallelize(tmp).sort_by_key(True, 1).collect() == expected
    assert ctx.parallelize(tmp).sort_by_key(True, 2).collect() == expected


def test_sort_by_key_keyfunc_pyspark_doctest(ctx):
    """PySpark's doctest: case-insensitive sort over three partitions."""
    tmp2 = [("Mary", 1), ("had", 2), ("a", 3), ("little", 4), ("lamb", 5)]
    tmp2.extend([("whose", 6), ("fleece", 7), ("was", 8), ("white", 9)])
    assert ctx.parallelize(tmp2).sort_by_key(True, 3, keyfunc=lambda k: k.lower()).collect() == [
        ("a", 3), ("fleece", 7), ("had", 2), ("lamb", 5), ("little", 4), ("Mary", 1),
        ("was", 8), ("white", 9), ("whose", 6)]


def test_sort_by_key_globally_sorted_across_partitions(ctx):
    """Each partition is sorted and every key precedes the next partition's keys."""
    keys = list(range(1000))
    random.Random(5).shuffle(keys)
    rdd = ctx.parallelize([(k, str(k)) for k in keys], 3).sort_by_key(num_partitions=4)
    assert rdd.get_num_partitions() == 4
    parts = rdd.glom().collect()
    assert len(parts) == 4
    flat = [kv for part in parts for kv in part]
    assert flat == [(k, str(k)) for k in range(1000)]
    non_empty = [p for p in parts if p]
    for before, after in zip(non_empty, non_empty[1:]):
        assert before[-1][0] < after[0][0]


def test_sort_by_key_descending(ctx):
    """ascending=False sorts from the largest key, across partitions too."""
    keys = list(range(200))
    random.Random(9).shuffle(keys)
    rdd = ctx.parallelize([(k, None) for k in keys], 4)
    assert rdd.sort_by_key(False, 3).keys().collect() == list(range(199, -1, -1))
    assert rdd.sort_by_key(False, 1).keys().collect() == list(range(199, -1, -1))
    by_negated = rdd.sort_by_key(True, 3, keyfunc=lambda k: -k)
    assert by_negated.keys().collect() == list(range(199, -1, -1))


def test_sort_by_key_unicode_and_mixed_numbers(ctx):
    """Unicode strings sort by code point; ints and floats sort together."""
    words = ctx.parallelize([("日", 1), ("é", 2), ("a", 3), ("z", 4), ("🔑", 5)], 2)
    assert words.sort_by_key(True, 2).keys().collect() == ["a", "z", "é", "日", "🔑"]
    numbers = ctx.parallelize([(2.5, "c"), (1, "a"), (2, "b"), (-0.5, "z")], 2)
    assert numbers.sort_by_key().collect() == [(-0.5, "z"), (1, "a"), (2, "b"), (2.5, "c")]


def test_sort_by_key_single_partition_is_stable(ctx):
    """Equal keys keep their input order in a one-partition sort."""
    rdd = ctx.parallelize([(1, "a"), (0, "x"), (1, "b"), (0, "y")], 2)
    assert rdd.sort_by_key(True, 1).collect() == [(0, "x"), (0, "y"), (1, "a"), (1, "b")]


def test_sort_by_key_empty(ctx):
    """Sorting an empty RDD gives an empty RDD."""
    assert ctx.parallelize([], 2).sort_by_key().collect() == []
    assert ctx.parallelize([], 2).sort_by_key(True, 3).collect() == []


def test_wide_transformations_of_an_rdd_without_partitions_have_none(ctx):
    """A shuffle's default width is its parent's partitions, as PySpark's: of
    ``empty_rdd()`` (0 partitions) 0, as PySpark gives; before, 1."""
    empty = ctx.empty_rdd()
    wide = [empty.distinct(), empty.group_by_key(), empty.reduce_by_key(add),
            empty.group_by(lambda x: x), empty.fold_by_key(0, add),
            empty.aggregate_by_key(0, add, add), empty.combine_by_key(str, add, add),
            empty.join(empty), empty.left_outer_join(empty), empty.full_outer_join(empty),
            empty.cogroup(empty), empty.group_with(empty, empty), empty.subtract(empty),
            empty.subtract_by_key(empty), empty.intersection(empty),
            empty.repartition_and_sort_within_partitions()]
    assert [(rdd.get_num_partitions(), rdd.glom().collect()) for rdd in wide] == [(0, [])] * 16
    assert ctx.parallelize([], 3).group_by_key().glom().collect() == [[], [], []]
    assert empty.distinct(2).glom().collect() == [[], []]


def test_repartition_and_sort_within_partitions_pyspark_doctest(ctx):
    """PySpark's doctest: parity partitions, each sorted by key."""
    rdd = ctx.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)])
    rdd2 = rdd.repartition_and_sort_within_partitions(2, lambda x: x % 2, True)
    assert rdd2.glom().collect() == [[(0, 5), (0, 8), (2, 6)], [(1, 3), (3, 8), (3, 8)]]


def test_repartition_and_sort_within_partitions_descending(ctx):
    """ascending=False sorts each partition from the largest key."""
    rdd = ctx.parallelize([(0, 5), (3, 8), (2, 6), (0, 8), (3, 8), (1, 3)], 2)
    rdd2 = rdd.repartition_and_sort_within_partitions(2, lambda x: x % 2, False)
    assert rdd2.glom().collect() == [[(2, 6), (0, 5), (0, 8)], [(3, 8), (3, 8), (1, 3)]]


# -- sampling ---------------------------------------------------------------------------------

def test_sample_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: per-key fractions over 1000 values per key."""
    fractions = {"a": 0.2, "b": 0.1}
    rdd = ctx.parallelize(fractions.keys()).cartesian(ctx.parallelize(range(0, 1000)))
    sample = dict(rdd.sample_by_key(False, fractions, 2).group_by_key().collect())
    assert 100 < len(sample["a"]) < 300 and 50 < len(sample["b"]) < 150
    assert max(sample["a"]) <= 999 and min(sample["a"]) >= 0
    assert max(sample["b"]) <= 999 and min(sample["b"]) >= 0


def test_sample_by_key_is_deterministic_and_extreme_fractions(ctx):
    """The same seed repeats the sample; fractions 0 and 1 drop or keep a key."""
    rdd = ctx.parallelize([(k, i) for i in range(200) for k in ("keep", "drop", "half")], 3)
    fractions = {"keep": 1.0, "drop": 0.0, "half": 0.5}
    first = rdd.sample_by_key(False, fractions, 4).collect()
    assert first == rdd.sample_by_key(False, fractions, 4).collect()
    counts = {k: sum(1 for key, _ in first if key == k) for k in fractions}
    assert counts["keep"] == 200 and counts["drop"] == 0 and 60 < counts["half"] < 140


# -- actions on pairs -------------------------------------------------------------------------

def test_lookup_pyspark_doctests(ctx):
    """PySpark's doctests: lookup on plain, sorted and grouped RDDs."""
    data = range(1000)
    rdd = ctx.parallelize(zip(data, data), 10)
    assert rdd.lookup(42) == [42]
    sorted_rdd = rdd.sort_by_key()
    assert sorted_rdd.lookup(42) == [42]
    assert sorted_rdd.lookup(1024) == []
    rdd2 = ctx.parallelize([(("a", "b"), "c")]).group_by_key()
    assert list(rdd2.lookup(("a", "b"))[0]) == ["c"]


def test_lookup_returns_all_values_in_order(ctx):
    """Every value of the key, partition order then record order; unicode keys work."""
    rdd = ctx.parallelize([("é", 1), ("x", 2), ("é", 3), ("é", None)], 3)
    assert rdd.lookup("é") == [1, 3, None]
    assert rdd.partition_by(2).lookup("é") == [1, 3, None]
    assert rdd.lookup("missing") == []


def test_lookup_finds_keys_whose_hash_depends_on_the_seed(ctx):
    """Dates and frozensets hash with the process's seed: lookup on a hash-partitioned RDD
    finds each of them where the executors put it, whatever seed the driver has."""
    dates = [datetime.date(2020, 1, day) for day in range(1, 29)]
    sets = [frozenset({"a", str(i)}) for i in range(20)]
    rdd = ctx.parallelize([(k, i) for i, k in enumerate(dates + sets)], 3).partition_by(4)
    assert [rdd.lookup(k) for k in dates + sets] == [[i] for i in range(48)]
    assert rdd.lookup(datetime.date(1999, 1, 1)) == []


#: a driver that looks up and reduces dates on a local cluster, printing what it found
SEED_DRIVER = """
import datetime
from vega_runtime import Context
with Context(master="local-cluster[2,1]") as ctx:
    dates = [datetime.date(2020, 1, day) for day in range(1, 29)]
    rdd = ctx.parallelize([(k, i) for i, k in enumerate(dates)], 3).partition_by(4)
    print(sum(rdd.lookup(k) == [i] for i, k in enumerate(dates)))
    counts = ctx.parallelize(dates * 10, 6).map(lambda d: (d, 1)).reduce_by_key(lambda a, b: a + b, 4)
    print(sorted(set(counts.collect())) == [(d, 10) for d in dates])
"""


@pytest.mark.parametrize("seed", [None, "random", "7"])
def test_a_driver_of_any_hash_seed_gets_exact_results_on_a_cluster(seed, tmp_path):
    """A driver started without a fixed PYTHONHASHSEED (or with "random") hashes dates
    unlike its executors: lookup still finds every key, and the executors all run with one
    fixed seed, so a shuffle puts each key in one partition ("random" gave each executor
    its own seed: 48 keys out of 28)."""
    env = {k: v for k, v in clean_env().items() if k != "PYTHONHASHSEED"}
    if seed is not None:
        env["PYTHONHASHSEED"] = seed
    run = subprocess.run([sys.executable, "-c", SEED_DRIVER], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["28", "True"]


def test_collect_as_map_pyspark_doctest(ctx):
    """PySpark's doctest: pairs as a dict."""
    m = ctx.parallelize([(1, 2), (3, 4)]).collect_as_map()
    assert m[1] == 2 and m[3] == 4
    assert m == {1: 2, 3: 4}


def test_collect_as_map_later_pairs_win(ctx):
    """Of duplicate keys, the last one in order wins."""
    rdd = ctx.parallelize([(1, "a"), (None, "n"), (1, "b")], 2)
    assert rdd.collect_as_map() == {1: "b", None: "n"}


def test_count_by_key_pyspark_doctest(ctx):
    """PySpark's doctest: counts per key, as a dict."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 1)])
    counts = rdd.count_by_key()
    assert isinstance(counts, dict)
    assert sorted(counts.items()) == [("a", 2), ("b", 1)]
    assert ctx.parallelize([], 2).count_by_key() == {}


def test_reduce_by_key_locally_pyspark_doctest(ctx):
    """PySpark's doctest: reduce_by_key merged into a dict on the driver."""
    rdd = ctx.parallelize([("a", 1), ("b", 1), ("a", 1)])
    result = rdd.reduce_by_key_locally(add)
    assert isinstance(result, dict)
    assert sorted(result.items()) == [("a", 2), ("b", 1)]


def test_reduce_by_key_locally_across_partitions(ctx):
    """Keys spread over partitions are merged; an empty RDD gives {}."""
    rdd = ctx.parallelize([(i % 4, i) for i in range(40)] + [(None, 1)], 5)
    assert rdd.reduce_by_key_locally(add) == {k: sum(range(k, 40, 4)) for k in range(4)} | {None: 1}
    assert ctx.parallelize([], 3).reduce_by_key_locally(add) == {}


@pytest.mark.parametrize("records", [0, 5, 60, 61, 100_000])
def test_key_sketch_counts_exactly_and_samples_uniformly(records):
    """sort_by_key's one-pass sketch: the exact record count, and a sample of min(size,
    count) distinct input keys spread over the whole partition (not its head)."""
    from vega_runtime.rdd.sampling import KeySketch

    [(count, sample)] = list(KeySketch(60, seed=1)(3, ((i, None) for i in range(records))))
    assert count == records
    assert len(sample) == min(60, records) == len(set(sample))
    assert set(sample) <= set(range(records))
    if records == 100_000:
        assert 30_000 < sum(sample) / len(sample) < 70_000
        assert max(sample) > 90_000


def test_range_bounds_weigh_each_partition_by_its_count():
    """A partition sampled as thoroughly as one ten times its size counts ten times less."""
    from vega_runtime.rdd.sampling import range_bounds

    small = (100, list(range(0, 100, 10)))  # 10 keys standing for 100 records
    large = (1000, list(range(1000, 2000, 100)))  # 10 keys standing for 1000 records
    assert range_bounds([small, large], 2, lambda k: k) == [1400]
    assert range_bounds([(0, []), (0, [])], 4, lambda k: k) == []
    assert range_bounds([small], 4, lambda k: -k) == [-70, -50, -20]
