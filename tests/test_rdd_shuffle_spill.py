"""Shuffles several times larger than vega.shuffle.memory_bound spill and stay exact."""

import random
from operator import add

import pytest

MASTERS = ["local", "local[2]"]
N = 300_000
KEYS = 1000
SPILL_CONF = {"vega.shuffle.memory_bound": "1m"}


@pytest.fixture(params=MASTERS)
def spill_ctx(request, fresh_ctx):
    """A Context whose shuffles may hold only 1 MB before spilling."""
    return fresh_ctx(master=request.param, conf=SPILL_CONF)


def test_group_by_key_spills_and_keeps_value_order(spill_ctx):
    """300k pairs over 100k keys group exactly, values in partition-then-record order."""
    keys = 100_000
    rdd = spill_ctx.parallelize(range(N), 4).map(lambda i: (i % keys, f"value-{i:07d}"))
    grouped = rdd.group_by_key(3).map_values(list).collect()
    assert len(grouped) == keys
    for key, values in grouped:
        assert values == [f"value-{i:07d}" for i in range(key, N, keys)], key


def test_group_by_key_few_keys_with_long_value_lists(spill_ctx):
    """1000 keys with 300 values each: every list complete and in input order."""
    rdd = spill_ctx.parallelize(range(N), 4).map(lambda i: (i % KEYS, i))
    grouped = dict(rdd.group_by_key().map_values(list).collect())
    assert sorted(grouped) == list(range(KEYS))
    assert all(grouped[k] == list(range(k, N, KEYS)) for k in range(KEYS))


def test_sort_by_key_spills_and_sorts_globally(spill_ctx):
    """300k shuffled keys come back globally sorted over four partitions."""
    keys = list(range(N))
    random.Random(42).shuffle(keys)
    rdd = spill_ctx.parallelize([(k, f"payload-{k}") for k in keys], 4)
    ordered = rdd.sort_by_key(num_partitions=4)
    assert ordered.get_num_partitions() == 4
    result = ordered.collect()
    assert len(result) == N
    assert all(result[i] == (i, f"payload-{i}") for i in range(N))
    descending = rdd.sort_by_key(False, 3).keys().collect()
    assert descending == list(range(N - 1, -1, -1))


def test_join_spills_and_matches_exactly(spill_ctx):
    """300k pairs joined with 100k pairs, half of them matching: every match once."""
    left = spill_ctx.parallelize(range(N), 4).map(lambda i: (i, f"left-{i}"))
    right = spill_ctx.parallelize(range(N - 50_000, N + 50_000), 3).map(lambda i: (i, i * 2))
    joined = left.join(right, 4)
    result = sorted(joined.collect())
    assert result == [(i, (f"left-{i}", i * 2)) for i in range(N - 50_000, N)]


def test_reduce_by_key_spills_with_many_keys(spill_ctx):
    """100k distinct keys reduce exactly under the 1 MB bound."""
    rdd = spill_ctx.parallelize(range(N), 4).map(lambda i: (f"k{i % 100_000}", 1))
    counts = rdd.reduce_by_key(lambda a, b: a + b).collect()
    assert len(counts) == 100_000
    assert all(v == 3 for _, v in counts)


def test_word_count_spills_with_many_keys(spill_ctx):
    """(w, 1) pairs reduced by add (counted by the map side) over 100k distinct words
    stay exact when the counts spill."""
    words = spill_ctx.parallelize([f"w{i % 100_000}" for i in range(N)], 4)
    counts = words.map(lambda w: (w, 1)).reduce_by_key(add).collect()
    assert len(counts) == 100_000
    assert all(v == 3 for _, v in counts)


@pytest.mark.parametrize("master", MASTERS)
def test_sort_out_of_core_is_balanced_and_leaves_no_file(fresh_ctx, tmp_path, master):
    """200k 10-byte random keys with 90-byte values, sorted under a 1 MB bound into 8
    partitions (TeraSort's shape): globally ordered, the partitions near equal in size (the
    one-pass sketch's bounds), and the scratch directory empty once the Context stops."""
    ctx = fresh_ctx(master=master, conf={**SPILL_CONF, "vega.local.dir": str(tmp_path)})
    n = 200_000

    def records(block):
        rng = random.Random(block)
        return [(rng.randbytes(10), b"v" * 90) for _ in range(10_000)]

    rdd = ctx.parallelize(range(n // 10_000), 4).flat_map(records)
    sizes = rdd.sort_by_key(num_partitions=8).glom().map(
        lambda part: (len(part), part[0][0], part[-1][0], part == sorted(part))).collect()
    assert sum(size for size, *_ in sizes) == n
    assert all(is_sorted for *_, is_sorted in sizes)
    assert all(sizes[i][2] <= sizes[i + 1][1] for i in range(7))
    assert all(n / 8 * 0.6 < size < n / 8 * 1.4 for size, *_ in sizes), sizes
    spilled = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("shuffle_") for p in spilled)  # it did write shuffle files
    ctx.stop()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
