"""The SequenceFile format (vega_runtime.io.sequence_file), in memory: round trips of every
Writable PySpark converts, in each compression; splits at sync markers; corrupt and
truncated files.  Files Spark writes and reads are tests/test_pyspark_sequence_files.py's."""

import io
import itertools
import struct

import pytest

from vega_runtime import Context, TaskFailed
from vega_runtime.io import sequence_file as sf

GZIP, ZLIB = "org.apache.hadoop.io.compress.GzipCodec", "org.apache.hadoop.io.compress.DefaultCodec"
BZIP2, SNAPPY, LZ4 = ("org.apache.hadoop.io.compress." + name
                      for name in ("BZip2Codec", "SnappyCodec", "Lz4Codec"))
#: (compression codec, block-compressed)
MODES = [(None, False)] + [(codec, block) for codec in (ZLIB, GZIP, BZIP2, SNAPPY, LZ4)
                           for block in (False, True)]


def written(records, codec=None, block=True, **sizes) -> bytes:
    """A SequenceFile of ``records`` (classes: the first record's), as bytes."""
    key_class, value_class = sf.record_classes(records[0])
    out = io.BytesIO()
    writer = sf.Writer(out, key_class, value_class, codec, block, **sizes)
    for key, value in records:
        writer.append(sf.encode(key, key_class), sf.encode(value, value_class))
    writer.close()
    return out.getvalue()


def read(data: bytes, start=0, end=None):
    return list(sf.read_records(io.BytesIO(data), start, len(data) if end is None else end))


VALUES = {  # PySpark's conversions: what is written is what comes back
    "Text": ["", "a", "héllo ✓", "x" * 300],
    "IntWritable": [0, -1, 2**31 - 1, -2**31],
    "LongWritable": [2**31, -2**31 - 1, 2**63 - 1, -2**63],
    "DoubleWritable": [0.0, -1.5, 1e300, float("inf")],
    "BooleanWritable": [True, False],
    "BytesWritable": [bytearray(), bytearray(b"\x00\xff" * 100)],
    "NullWritable": [None, None],
    "MapWritable": [{}, {"a": 1, 2.5: None, True: {"in": bytearray(b"x")}, "l": 2**40}],
}


@pytest.mark.parametrize("codec,block", MODES)
@pytest.mark.parametrize("cls", sorted(VALUES))
def test_every_writable_round_trips_in_every_compression(cls, codec, block):
    """Keys and values of each class come back as written, uncompressed, record- and
    block-compressed with DefaultCodec, GzipCodec, BZip2Codec, SnappyCodec and Lz4Codec."""
    records = [(v, v) for v in VALUES[cls]]
    assert sf.record_classes(records[0]) == ("org.apache.hadoop.io." + cls,) * 2
    assert read(written(records, codec, block)) == records


def test_vints_round_trip_as_hadoops():
    """WritableUtils' VLong: one byte from -112 to 127, else a length byte and big-endian."""
    assert sf.write_vint(127) == b"\x7f" and sf.write_vint(-112) == b"\x90"
    assert sf.write_vint(128) == b"\x8f\x80" and sf.write_vint(-113) == b"\x87\x70"
    for n in [0, 1, -1, 255, 256, -257, 2**31, -2**63, 2**63 - 1]:
        assert sf.read_vint(sf.write_vint(n), 0) == (n, len(sf.write_vint(n)))


def test_a_float_writable_reads_as_a_float():
    """FloatWritable (Spark writes none, Hadoop jobs do) reads as its float's value."""
    out = io.BytesIO()
    writer = sf.Writer(out, sf.TEXT, sf.FLOAT)
    writer.append(sf.encode("k"), struct.pack(">f", 0.1))
    assert read(out.getvalue()) == [("k", struct.unpack(">f", struct.pack(">f", 0.1))[0])]


@pytest.mark.parametrize("codec,block", [(None, False), (ZLIB, False), (GZIP, True)])
def test_every_cut_of_a_file_reads_each_record_once(codec, block):
    """However a file is cut in byte ranges, the ranges' records are the file's, each once
    and in order: a range owns the records after the syncs that start in it."""
    records = [(f"k{i}", i) for i in range(400)]
    data = written(records, codec, block, sync_interval=200, block_size=300)
    assert data.count(sf.SYNC_ESCAPE + read_sync(data)) > 10
    for parts in (2, 3, 7, 50, len(data) // 3):
        cuts = [len(data) * i // parts for i in range(parts + 1)]
        pieces = [read(data, a, b) for a, b in zip(cuts, cuts[1:])]
        assert list(itertools.chain.from_iterable(pieces)) == records, parts
        assert sum(1 for p in pieces if p) > min(parts, 10) // 2


def read_sync(data: bytes) -> bytes:
    return sf.read_header(io.BytesIO(data)).sync


def test_a_truncated_file_names_the_offset():
    """A file cut short inside a record is an error at that record's offset."""
    data = written([(i, "v" * 10) for i in range(5)])
    with pytest.raises(sf.Corrupt) as caught:
        read(data[:-3])
    assert caught.value.offset == len(data) - 15  # (the record's bytes after its lengths)
    assert "truncated" in caught.value.reason


def test_a_corrupt_sync_and_a_bad_block_are_errors_at_their_offsets():
    """A sync marker that is not the header's, a block that does not decompress, a file
    that is not a SequenceFile: each one error with the offset."""
    data = written([(i, "v") for i in range(300)], sync_interval=100)
    sync = read_sync(data)
    second = data.index(sf.SYNC_ESCAPE + sync, 200)
    broken = data[:second + 4] + bytes(16) + data[second + 20:]
    with pytest.raises(sf.Corrupt) as caught:
        read(broken)
    assert caught.value.offset == second and "sync marker" in caught.value.reason
    block = bytearray(written([(i, "v") for i in range(30)], ZLIB))
    block[-5] ^= 0xFF
    with pytest.raises(sf.Corrupt, match="does not decompress"):
        read(bytes(block))
    with pytest.raises(sf.Corrupt, match=r"not a SequenceFile: it starts with b'PK\\x03'"):
        read(b"PK\x03\x04" + bytes(100))


def test_other_codecs_and_classes_are_refused_naming_them():
    """A codec Vega has not, or Writables PySpark does not convert, are named."""
    data = written([(1, 1)], ZLIB).replace(b"\x2aorg.apache.hadoop.io.compress.DefaultCodec",
                                           b"\x2corg.apache.hadoop.io.compress.ZStandardCodec")
    with pytest.raises(sf.Unconvertible, match="compressed with Hadoop's org.apache.hadoop.io"
                                               ".compress.ZStandardCodec, which Vega cannot"):
        read(data)
    tuples = written([(1, (1, "a"))])
    with pytest.raises(sf.Unconvertible, match="its values are org.apache.hadoop.io"
                                               ".ArrayWritable"):
        read(tuples)


def test_values_without_a_writable_are_refused_naming_their_type():
    """What PySpark refuses to save (a list, an int past 64 bits, an object), and a record
    that is not a pair, is a TypeError naming the value's type."""
    for record, text in [((1, [1]), "a list has no Writable"),
                         ((2**64, 1), "an int of more than 64 bits"),
                         ((1, object()), "an object has no Writable"),
                         (5, "saves (key, value) tuples; a record is an int: 5")]:
        with pytest.raises(TypeError, match=text.replace("(", r"\(").replace(")", r"\)")):
            sf.record_classes(record)
    write, _ = sf.part_writer(sf.INT, sf.TEXT, None)
    with pytest.raises(TypeError, match=r"record 1 of this partition has a value 2 \(int\), "
                                        "an IntWritable, but the files' values are Texts"):
        write(iter([(1, "a"), (2, 2)]), io.BytesIO())


def test_a_corrupt_file_read_by_a_context_names_the_file_and_offset(tmp_path):
    """Through the Context: the task's InputError names the file and the byte (and is not
    retried: every attempt would meet it)."""
    data = written([(i, "v" * 10) for i in range(5)])
    (tmp_path / "part-00000").write_bytes(data[:-3])
    with Context(master="local") as ctx:
        with pytest.raises(TaskFailed) as caught:
            ctx.sequence_file(str(tmp_path)).collect()
    assert "failed once" in str(caught.value)
    assert str(caught.value).endswith(
        f"InputError: cannot read {tmp_path}/part-00000: the file ends inside a record "
        f"(truncated?), at byte {len(data) - 15}")


def test_min_splits_is_checked_under_its_pyspark_name(tmp_path):
    """A negative or non-int minSplits is refused naming minSplits (not minPartitions)."""
    with Context(master="local") as ctx:
        with pytest.raises(ValueError, match="^minSplits must be 0 or more"):
            ctx.sequenceFile(str(tmp_path), minSplits=-1)
        with pytest.raises(TypeError, match="^minSplits must be an int, not str"):
            ctx.sequence_file(str(tmp_path), min_splits="2")


def test_a_header_with_metadata_reads():
    """Metadata (Text pairs a Hadoop writer may add, e.g. Hive's) is read past."""
    data = written([(f"k{i}", i) for i in range(50)], sync_interval=100)
    sync = read_sync(data)
    marked = data.replace(bytes(4) + sync, struct.pack(">i", 2) + b"\x04hive\x03yes\x01x\x00" +
                          sync, 1)
    header = sf.read_header(io.BytesIO(marked))
    assert header.metadata == {"hive": "yes", "x": ""}
    assert header.end == data.index(sync) + 16 + 12
    assert read(marked) == [(f"k{i}", i) for i in range(50)]
    assert read(marked, 0, 200) + read(marked, 200) == read(marked)
