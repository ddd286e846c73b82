"""Shuffle map output files, spilling and the reduce-side merge, without a Context."""

import marshal
import os
import random
import struct
import zlib
from operator import add, itemgetter

import pytest

from vega_runtime.rdd.aggregator import GROUPING, reducing
from vega_runtime.rdd.dependency import ShuffleDependency
from vega_runtime.rdd.partitioner import HashPartitioner
from vega_runtime.serde import (_MARSHAL_VERSION, _MARSHALLED_END, _MARSHALLED_START,
                                _cloudpickle, dump_record_list, read_batch_file)
from vega_runtime.shuffle.blocks import (BLOCK_TRAILER, MapStatus, map_attempt_in_flight,
                                         read_index, remove_dead_executor_output,
                                         unfinished_attempt_files)
from vega_runtime.shuffle.external import ExternalMerger, external_sort, merge_sorted_batches
from vega_runtime.shuffle.reader import read_local_block, read_shuffle
from vega_runtime.shuffle.writer import write_map_output


class _Rdd:
    pass


def dependency(aggregator=None, reduces=3, sort_key=None):
    return ShuffleDependency(_Rdd(), 0, HashPartitioner(reduces), aggregator,
                             map_side_combine=aggregator is not None, sort_key=sort_key)


def write(tmp_path, records, dep, map_id=0, memory_bound=1 << 30):
    data, index = tmp_path / f"m{map_id}.data", tmp_path / f"m{map_id}.index"
    offsets = write_map_output(iter(records), dep, str(data), str(index), memory_bound, 100)
    return MapStatus(0, map_id, "exec-1", "localhost", str(data), tuple(offsets)), index


def read(tmp_path, dep, statuses, reduce_id, memory_bound=1 << 30):
    return list(read_shuffle(dep, reduce_id, [s.block(reduce_id) for s in statuses],
                             read_local_block, memory_bound, str(tmp_path)))


def test_map_output_is_grouped_by_reduce_partition_with_an_index(tmp_path):
    """One data file, an index of num_reduces + 1 offsets, each key in its partition."""
    dep = dependency()
    records = [(i, str(i)) for i in range(30)]
    status, index = write(tmp_path, records, dep)
    assert read_index(str(index)) == status.offsets and len(status.offsets) == 4
    for reduce_id in range(3):
        got = read(tmp_path, dep, [status], reduce_id)
        assert got == [r for r in records if r[0] % 3 == reduce_id]


def test_map_side_combine_sends_one_record_per_key(tmp_path):
    """reduce_by_key combines on the map side before writing."""
    dep = dependency(reducing(add), reduces=1)
    status, _ = write(tmp_path, [("a", 1)] * 1000 + [("b", 2)] * 10, dep)
    blocks = list(read_local_block(status.block(0)))
    assert sorted(r for batch in blocks for r in batch) == [("a", 1000), ("b", 20)]


@pytest.mark.parametrize("reduces", [1, 3, 9])
@pytest.mark.parametrize("key", [int, str, float])
def test_combined_plain_pairs_land_in_their_partitions_in_order(tmp_path, reduces, key):
    """A map-side combined dict of plain keys and values is written as columns (few
    partitions) or as tuples (many): either way each partition reads back its pairs as
    tuples, in the dict's order, keys and values of their own types."""
    dep = dependency(reducing(add), reduces=reduces)
    records = [(key(i % 997), i) for i in range(20_000)]
    status, _ = write(tmp_path, records, dep)
    totals = {}
    for k, v in records:
        totals[k] = totals.get(k, 0) + v
    for reduce_id in range(reduces):
        got = [r for batch in read_local_block(status.block(reduce_id)) for r in batch]
        assert got == [(k, v) for k, v in totals.items() if dep.partitioner(k) == reduce_id]
        assert all(type(r) is tuple and type(r[0]) is key for r in got)


def test_spilled_map_output_still_combines_to_exact_totals(tmp_path):
    """Past the memory bound, runs are spilled and concatenated; reducers merge them."""
    dep = dependency(reducing(add), reduces=2)
    rng = random.Random(1)
    records = [(rng.randrange(50_000), 1) for _ in range(200_000)]
    status, _ = write(tmp_path, records, dep, memory_bound=200_000)
    expected = {}
    for k, v in records:
        expected[k] = expected.get(k, 0) + v
    got = dict(read(tmp_path, dep, [status], 0) + read(tmp_path, dep, [status], 1))
    assert got == expected
    assert not list(tmp_path.glob("*.run*")), "spill runs must be removed"


def test_runs_concatenate_into_one_checked_block_per_partition(tmp_path):
    """A map output spilled in several runs has one block per reduce partition, whose
    trailer is the CRC-32 of all its bytes (combined from the runs'): it reads back whole,
    and a flipped byte in it is a lost map output."""
    from vega_runtime.errors import FetchFailed

    dep = dependency(reduces=3)
    records = [(i, "v%d" % i) for i in range(20_000)]
    status, _ = write(tmp_path, records, dep, memory_bound=100_000)
    for reduce_id in range(3):
        block = status.block(reduce_id)
        data = (tmp_path / "m0.data").read_bytes()[block.offset:block.offset + block.length]
        crc = struct.unpack(">I", data[-BLOCK_TRAILER.size:])[0]
        assert crc == zlib.crc32(data[:-BLOCK_TRAILER.size])
        assert [r for batch in read_local_block(block) for r in batch] == \
            [r for r in records if r[0] % 3 == reduce_id]
    block = status.block(1)
    with open(block.path, "r+b") as fh:
        fh.seek(block.offset + block.length // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(FetchFailed):
        list(read_local_block(block))


def test_runs_are_concatenated_where_the_kernel_cannot_copy_between_files(tmp_path, monkeypatch):
    """Where ``copy_file_range`` fails (kernels before 5.3 across file systems), the runs
    are concatenated by reading and writing them, to the same bytes."""
    import errno
    import os

    def cannot_copy(*args):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    dep = dependency(reduces=3)
    records = [(i, "v%d" % i) for i in range(20_000)]
    status, _ = write(tmp_path, records, dep, memory_bound=100_000)
    monkeypatch.setattr(os, "copy_file_range", cannot_copy)
    (tmp_path / "copied").mkdir()
    copied, _ = write(tmp_path / "copied", records, dep, memory_bound=100_000)
    assert copied.offsets == status.offsets
    assert (tmp_path / "copied" / "m0.data").read_bytes() == (tmp_path / "m0.data").read_bytes()


@pytest.mark.parametrize("lengths", [(0, 5), (3, 0), (1, 1), (977, 65_536), (70_000, 3, 12)])
def test_crc32_combine_is_zlibs_crc_of_the_concatenation(lengths):
    from vega_runtime.shuffle.checksum import crc32_combine

    rng = random.Random(sum(lengths))
    parts = [rng.randbytes(n) for n in lengths]
    crc = 0
    for part in parts:
        crc = crc32_combine(crc, zlib.crc32(part), len(part))
    assert crc == zlib.crc32(b"".join(parts))


def test_crc32_combine_table_holds_the_squares_of_x():
    from vega_runtime.shuffle.checksum import _X_TO_2_TO_K, _multiply

    assert _X_TO_2_TO_K[0] == 1 << 30  # x^1, bit-reflected
    assert all(_multiply(p, p) == q for p, q in zip(_X_TO_2_TO_K, _X_TO_2_TO_K[1:]))


def test_grouping_keeps_map_order_then_record_order_across_spills(tmp_path):
    """group_by_key values come in map partition order, then record order."""
    dep = dependency(GROUPING, reduces=1)
    maps = [[(i % 7, (m, i)) for i in range(20_000)] for m in range(3)]
    statuses = [write(tmp_path, recs, dep, map_id=m, memory_bound=50_000)[0]
                for m, recs in enumerate(maps)]
    got = dict(read(tmp_path, dep, statuses, 0, memory_bound=50_000))
    for key in range(7):
        assert got[key] == [(m, i) for m in range(3) for i in range(20_000) if i % 7 == key]


def test_external_merger_spills_and_merges_colliding_hashes():
    """Keys with equal hashes stay distinct through spill and merge."""
    import tempfile

    keys = list(range(20_000)) + [-1, -2] * 10_000 + list(range(20_000))  # hash(-1) == hash(-2)
    with tempfile.TemporaryDirectory() as spill:
        merger = ExternalMerger(reducing(add), False, 10_000, spill)
        merger.merge_all((k, 1) for k in keys)
        assert merger.runs, "the bound must have forced a spill"
        result = dict(merger.items())
    assert result[-1] == 10_000 and result[-2] == 10_000 and result[0] == 2
    assert len(result) == 20_002


def test_external_sort_is_sorted_and_stable_across_runs(tmp_path):
    """Sorted runs merge into one sorted, stable sequence."""
    rng = random.Random(3)
    records = [(rng.randrange(100), i) for i in range(50_000)]
    got = list(external_sort(iter(records), lambda r: r[0], False, 20_000, str(tmp_path)))
    assert got == sorted(records, key=lambda r: r[0])
    descending = list(external_sort(iter(records), lambda r: r[0], True, 20_000, str(tmp_path)))
    assert [r[0] for r in descending] == sorted((r[0] for r in records), reverse=True)
    assert list(tmp_path.iterdir()) == []


def test_merge_of_sorted_batches_is_sorted_and_stable():
    """Runs of sorted batches (of any sizes, some empty) with many equal keys, within a run
    and across runs and batch ends: merged as a stable sort of their concatenation would."""
    rng = random.Random(5)
    for _ in range(2000):
        runs, concatenated = [], []
        for run in range(rng.randint(1, 5)):
            keys = sorted(rng.randint(0, rng.choice([1, 3, 50])) for _ in range(rng.randint(0, 25)))
            records = [(key, (run, i)) for i, key in enumerate(keys)]
            size = rng.randint(1, 6)
            runs.append([[]] * rng.randint(0, 1) + [records[i:i + size] for i in range(0, len(records), size)])
            concatenated += records
        merged = [record for batch in merge_sorted_batches(runs, itemgetter(0)) for record in batch]
        assert merged == sorted(concatenated, key=itemgetter(0))


def test_plain_batches_are_marshalled_and_other_records_read_back_as_they_were(tmp_path):
    """A list of records dumps in batches: tuples of plain values with marshal (smaller
    and faster), anything marshal would not give back as it was (a bytearray, a str
    subclass, a nested tuple, a list record) with pickle; every record reads back equal and
    of its type."""
    class Text(str):
        pass

    plain = [(b"k%d" % i, "v", i, 1.5, None, True) for i in range(10)]
    others = [[(bytearray(b"x"), 1)], [(Text("t"), 2)], [(1, (2, 3))], [[1, 2]]]
    records = plain + [r for batch in others for r in batch] + plain
    path = tmp_path / "batches"
    with open(path, "wb") as out:
        written = dump_record_list(records, out, 10)
    assert written == path.stat().st_size
    assert list(read_batch_file(str(path))) == records
    assert [type(r[0]) for r in read_batch_file(str(path))][10:13] == [bytearray, Text, int]
    assert path.read_bytes().count(_MARSHALLED_START) == 2


def test_marshalled_plain_values_read_back_exactly(tmp_path):
    """Plain values marshalled without back-references (format 2) read back equal and of
    their type: signed zero, infinities and NaN bit for bit, ints past 64 bits, non-ASCII and
    empty str/bytes, bools, None, and one int object shared by many records."""
    shared = 10 ** 30
    special = [(-0.0, float("inf")), (float("-inf"), 2 ** 70), (-(2 ** 63) - 1, "ключ🔑"),
               ("", b""), (True, False), (None, b"\x00\xff"), (shared, shared)]
    records = special * 3 + [(i, shared) for i in range(50)]
    path = tmp_path / "plain"
    with open(path, "wb") as out:
        dump_record_list(records, out, 8)
    got = list(read_batch_file(str(path)))
    assert path.read_bytes().count(_MARSHALLED_START) == 9  # every batch marshalled
    assert [tuple(map(type, r)) for r in got] == [tuple(map(type, r)) for r in records]
    assert [tuple(map(repr, r)) for r in got] == [tuple(map(repr, r)) for r in records]
    nan = [(float("nan"), 1.0)]
    with open(path, "wb") as out:
        dump_record_list(nan, out, 8)
    (value, one), = read_batch_file(str(path))
    assert value != value and one == 1.0 and struct.pack("<d", value) == struct.pack(
        "<d", nan[0][0])


def test_missing_map_output_raises_fetch_failed(tmp_path):
    """A vanished shuffle file is a FetchFailed naming shuffle, map and reduce ids."""
    from vega_runtime.errors import FetchFailed

    dep = dependency()
    status, _ = write(tmp_path, [(1, 1), (2, 2)], dep)
    (tmp_path / "m0.data").unlink()
    with pytest.raises(FetchFailed) as info:
        read(tmp_path, dep, [status], 1)
    assert (info.value.shuffle_id, info.value.map_id, info.value.reduce_id) == (0, 0, 1)


@pytest.mark.parametrize("ascending", [True, False])
def test_range_buckets_cut_a_sorted_chunk_as_the_partitioner_would(ascending):
    """sort_by_key's map side: every record lands in the bucket RangePartitioner gives it,
    each bucket sorted by key (descending too), equal keys in input order."""
    from vega_runtime.rdd.partitioner import RangePartitioner, identity
    from vega_runtime.shuffle.external import range_buckets

    rng = random.Random(7)
    records = [(rng.randrange(100), i) for i in range(5000)]
    partitioner = RangePartitioner([10, 10, 50, 99], ascending, identity)
    dep = ShuffleDependency(_Rdd(), 0, partitioner, None, sort_key=identity, ascending=ascending)
    buckets = range_buckets(list(records), dep)
    assert len(buckets) == 5
    for number, bucket in enumerate(buckets):
        expected = [r for r in records if partitioner(r[0]) == number]
        assert list(bucket) == sorted(expected, key=lambda r: r[0], reverse=not ascending)
        assert bucket.plain  # tuples of ints: marshalled without another check
    assert not any(b.plain for b in range_buckets(records[:-1] + [(5, bytearray(b"x"))], dep))
    assert range_buckets(list(records), dependency(sort_key=identity)) is None  # hash partitioned


@pytest.mark.parametrize("keys", [
    [0, 1, -1, -2, 7, 2 ** 64 + 3, -(2 ** 70)],          # ints: hash() in C
    ["", "a", "é", "\ud800x", "word"],                  # strs: crc32 of UTF-8 in C
    [1, "a", None, (1, "b"), b"x", True, 2.5],          # mixed: the partitioner per key
])
def test_partitions_of_a_chunk_of_keys_are_the_partitioners_own(tmp_path, keys):
    """The map side partitions a chunk of keys at once; every key lands where the
    partitioner puts it on its own, and the written blocks say so."""
    partitioner = HashPartitioner(5)
    assert list(partitioner.partitions_of(keys)) == [partitioner(k) for k in keys]
    dep = dependency(reduces=5)
    records = [(k, i) for i, k in enumerate(keys)]
    status, _ = write(tmp_path, records, dep)
    for reduce_id in range(5):
        assert read(tmp_path, dep, [status], reduce_id) == [
            r for r in records if partitioner(r[0]) == reduce_id]


def marshalled(batch):
    """The bytes of a batch of plain records in a block: a pickle calling marshal.loads."""
    return (len(_MARSHALLED_START) + 8 + len(marshal.dumps(batch, _MARSHAL_VERSION))
            + len(_MARSHALLED_END))


def test_a_batch_that_needs_cloudpickle_between_plain_ones_reads_back_whole(tmp_path):
    """Batches of 100 records: the second ends with an instance of a local class (plain
    pickle fails after writing frames of the batch's first 2 kB values, cloudpickle then
    writes it); no half-pickled batch is left in the block, and every record reads back
    in order. The batches of plain records around it are marshalled."""
    class Local:  # pickle cannot find it by name
        def __init__(self, n):
            self.n = n

    records = [(i, i) for i in range(100)] + [(i, f"{i}" * 500) for i in range(100, 199)] + \
        [(199, Local(199))] + [(i, -i) for i in range(200, 300)]
    dep = dependency(reduces=1)
    status, _ = write(tmp_path, records, dep)
    got = read(tmp_path, dep, [status], 0)
    assert [k for k, _ in got] == list(range(300))
    assert got[:199] == records[:199] and got[200:] == records[200:]
    assert type(got[199][1]).__name__ == "Local" and got[199][1].n == 199
    whole_batches = (marshalled(records[:100]) + len(_cloudpickle(records[100:200]))
                     + marshalled(records[200:]) + BLOCK_TRAILER.size)
    assert status.bytes_written() == whole_batches


def test_a_dead_executor_s_unfinished_map_output_is_only_its_marked_uncommitted_files():
    """Of a shared shuffle directory, a dead executor's unfinished files are those of its
    marked attempts without an index: runs, a data file (one run renamed, or a merge cut
    short), a temporary index; a committed output (data and index), another executor's
    runs and other shuffles' files stay."""
    shuffle = ["shuffle_0_1_7.data.run0", "shuffle_0_1_7.data.run1", "shuffle_0_1_7.data",
               "shuffle_0_2_8.data", "shuffle_0_2_8.index.tmp",
               "shuffle_0_0_6.data", "shuffle_0_0_6.index",
               "shuffle_0_1_70.data.run0", "shuffle_1_1_7.data.run0", "shuffle_0_3_9.data.run0"]
    marks = ["writing-shuffle_0_1_7", "writing-shuffle_0_2_8", "writing-shuffle_0_0_6",
             "spill-abc", "writing-../x", "writing-shuffle_0_5_11"]
    assert unfinished_attempt_files(shuffle, marks) == [
        "shuffle_0_1_7.data", "shuffle_0_1_7.data.run0", "shuffle_0_1_7.data.run1",
        "shuffle_0_2_8.data", "shuffle_0_2_8.index.tmp"]
    assert unfinished_attempt_files(shuffle, ["spill-abc"]) == []


def test_a_map_attempt_that_dies_mid_write_leaves_only_what_its_mark_names(tmp_path):
    """A process that dies (``os._exit``: no clean-up runs) in a map attempt after two runs
    leaves them and its mark; removing its output deletes those and its spill directory,
    and leaves a finished attempt's output and another live attempt's mark alone."""
    shuffle, dead_spill, live_spill = (tmp_path / "shuffle", tmp_path / "spill-dead",
                                       tmp_path / "spill-live")
    for path in (shuffle, dead_spill, live_spill):
        path.mkdir()
    dep = dependency()
    with map_attempt_in_flight(str(live_spill), str(shuffle / "shuffle_0_0_1.data")):
        write_map_output(iter([(i, 1) for i in range(1000)]), dep,
                         str(shuffle / "shuffle_0_0_1.data"),
                         str(shuffle / "shuffle_0_0_1.index"), 1 << 30, 100)
        committed = sorted(os.listdir(shuffle))

        def records():
            for i in range(10 ** 6):
                if i == 30000:
                    os._exit(0)  # SIGKILL's effect: nothing of the attempt's clean-up runs
                yield i, 1

        pid = os.fork()
        if pid == 0:  # (the child never returns to pytest)
            try:
                data = str(shuffle / "shuffle_0_1_2.data")
                with map_attempt_in_flight(str(dead_spill), data):
                    write_map_output(records(), dep, data, data[:-5] + ".index", 4096, 100)
            finally:
                os._exit(1)
        assert os.waitpid(pid, 0)[1] == 0
        left = sorted(set(os.listdir(shuffle)) - set(committed))
        assert len(left) >= 2 and all(".run" in name for name in left), left
        assert os.listdir(dead_spill) == ["writing-shuffle_0_1_2"]
        assert remove_dead_executor_output(str(shuffle), str(dead_spill)) == left
        assert sorted(os.listdir(shuffle)) == committed
        assert not dead_spill.exists() and os.listdir(live_spill) == ["writing-shuffle_0_0_1"]
    assert os.listdir(live_spill) == []


def test_a_map_attempt_killed_in_its_failure_s_clean_up_still_leaves_no_file(tmp_path):
    """A kill that lands while a failed attempt deletes its runs (it met a full disk, and the
    job failed on another attempt: the executor's TaskKilled, here a KeyboardInterrupt)
    cuts that clean-up short; the attempt's mark removes the rest on its way out, and
    leaves a finished attempt's output alone."""
    shuffle, spill = tmp_path / "shuffle", tmp_path / "spill"
    shuffle.mkdir(), spill.mkdir()
    finished = str(shuffle / "shuffle_0_0_1.data")
    write_map_output(iter([(i, 1) for i in range(100)]), dependency(), finished,
                     finished[:-5] + ".index", 1 << 30, 100)
    data = str(shuffle / "shuffle_0_1_2.data")
    with pytest.raises(KeyboardInterrupt):
        with map_attempt_in_flight(str(spill), data):
            for number in range(3):
                with open(f"{data}.run{number}", "wb") as run:
                    run.write(b"x" * 100)
            try:
                raise OSError(28, "No space left on device")
            except OSError:
                os.unlink(f"{data}.run0")  # (the failure's own clean-up, cut short)
                raise KeyboardInterrupt from None
    assert sorted(os.listdir(shuffle)) == ["shuffle_0_0_1.data", "shuffle_0_0_1.index"]
    assert os.listdir(spill) == []
