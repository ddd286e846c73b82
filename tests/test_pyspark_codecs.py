"""Hadoop's BZip2Codec, SnappyCodec and Lz4Codec exchanged with the real PySpark 4.3 (its
JVM, from .venv-bench): text files (``saveAsTextFile(path, codec)``: ``part-NNNNN.bz2``,
``.snappy``, ``.lz4``) and SequenceFiles (block-compressed by ``saveAsSequenceFile``,
record-compressed by ``saveAsHadoopFile``) PySpark writes, Vega reads as the records saved,
and what Vega writes PySpark reads.  Parts of more than Hadoop's 256 KiB codec buffer (a
text part, a SequenceFile block in several chunks) and parts of no record included.  One
run writes Vega's files, then PySpark reads them and writes its own (one JVM: ~40 s on a
busy 2-core machine), begun as the session starts (``head_start``) so that the rest of the
suite runs meanwhile; skipped, saying so, without PySpark."""

from __future__ import annotations

import glob
import os
import textwrap

import pytest

from head_start import NO_RUNS, PySparkExchange, run_directory, taken
from pyspark_install import pyspark_home, requires_pyspark
from vega_runtime import Context
from vega_runtime.io import sequence_file as sf

pytestmark = requires_pyspark

CODECS = {name: "org.apache.hadoop.io.compress." + cls for name, cls in
          (("bzip2", "BZip2Codec"), ("snappy", "SnappyCodec"), ("lz4", "Lz4Codec"))}
SUFFIXES = {"bzip2": ".bz2", "snappy": ".snappy", "lz4": ".lz4"}
#: ~330 KB a part (two of Hadoop's 256 KiB chunks), not all ASCII; written as 2 partitions
#: and an empty third (a part of no line)
LINES = [f"line {i} " + "x" * (i % 90) for i in range(12000)] + ["ключ ✓", "", "tab\there"]
#: name -> (records, partitions)
SEQUENCES = {
    #: NullWritable keys: a block's key buffer holds no byte
    "null_keys": ([(None, f"v{i}" * (i % 5)) for i in range(500)], 2),
    #: ~1.2 MB in one part: two blocks (of 1 MB), a buffer of several chunks
    "big": ([(f"key {i}", "v" * (i % 300)) for i in range(8000)], 1),
}
#: what PySpark writes record-compressed too (saveAsHadoopFile with a conf)
RECORD_COMPRESSED = ("null_keys",)

VEGA_SIDE = textwrap.dedent("""
    import pickle, sys
    from vega_runtime import Context

    codecs, lines, sequences, record_compressed, vega_dir, out_dir = pickle.load(
        open(sys.argv[1], "rb"))
    with Context(master="local[2]", app_name="codecs-vega-side") as ctx:
        for mode, codec in codecs.items():
            ctx.parallelize(lines, 2).union(ctx.parallelize([], 1)).save_as_text_file(
                f"{vega_dir}/text-{mode}", codec)
            for name, (records, partitions) in sequences.items():
                ctx.parallelize(records, partitions).save_as_sequence_file(
                    f"{vega_dir}/seq-{name}-{mode}", codec)
""")

PYSPARK_SIDE = textwrap.dedent("""
    import os, pickle, sys
    from pyspark import SparkContext

    codecs, lines, sequences, record_compressed, vega_dir, out_dir = pickle.load(
        open(sys.argv[1], "rb"))
    sc = SparkContext("local[2]", "vega-codecs")
    sc.setLogLevel("ERROR")
    read = {}
    for name in sorted(os.listdir(vega_dir)):
        path = os.path.join(vega_dir, name)
        if name.startswith("text-"):
            rdd = sc.textFile(path, 8)  # (Hadoop splits .bz2: 8 partitions or more)
            read[name] = (rdd.getNumPartitions(), rdd.collect())
        elif name.startswith("seq-big-"):  # (Hadoop's splits of a compressed SequenceFile)
            read[name] = (sc.sequenceFile(path, minSplits=4).getNumPartitions(),
                          sc.sequenceFile(path).collect())
        else:
            read[name] = (None, sc.sequenceFile(path).collect())
    for mode, codec in codecs.items():
        sc.parallelize(lines, 2).union(sc.parallelize([], 1)).saveAsTextFile(
            os.path.join(out_dir, f"text-{mode}"), codec)
        for name, (records, partitions) in sequences.items():
            sc.parallelize(records, partitions).saveAsSequenceFile(
                os.path.join(out_dir, f"seq-{name}-{mode}"), codec)
            if name in record_compressed:
                conf = {"mapreduce.output.fileoutputformat.compress": "true",
                        "mapreduce.output.fileoutputformat.compress.type": "RECORD",
                        "mapreduce.output.fileoutputformat.compress.codec": codec}
                sc.parallelize(records, partitions).saveAsHadoopFile(
                    os.path.join(out_dir, f"seq-{name}-{mode}-record"),
                    "org.apache.hadoop.mapred.SequenceFileOutputFormat", conf=conf)
    pickle.dump(read, open(os.path.join(out_dir, "read.pickle"), "wb"))
    sc.stop()
""")


def parts(directory):
    """The part files of a directory, as Hadoop leaves them (no checksum, no _SUCCESS)."""
    return sorted(n for n in os.listdir(directory) if n.startswith("part-"))


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local[2]", app_name="codecs",
                 conf={"vega.input.split_size": 150_000}) as ctx:
        yield ctx


def head_start(masters):
    """The exchange's run, from the session's start."""
    return PySparkExchange(run_directory("codecs-"), VEGA_SIDE, PYSPARK_SIDE,
                           (CODECS, LINES, SEQUENCES, RECORD_COMPRESSED)) \
        if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def exchange(request):
    """Vega's files (and what PySpark reads of them), PySpark's files."""
    with taken(request) as running:
        yield running.files()


@pytest.mark.parametrize("mode", sorted(CODECS))
def test_vega_reads_pysparks_text_files_as_pyspark_splits_them(exchange, ctx, mode):
    """PySpark's part-NNNNN.bz2/.snappy/.lz4 read as the lines saved; a .snappy or .lz4
    file is one partition whatever the minimum asked, as in PySpark (Hadoop cannot split
    them); .bz2 parts are split at their blocks (tests/test_pyspark_bzip2.py)."""
    _, out_dir, read = exchange
    directory = out_dir / f"text-{mode}"
    assert parts(directory) == [f"part-{i:05d}{SUFFIXES[mode]}" for i in range(3)]
    rdd = ctx.text_file(str(directory), 8)
    assert rdd.collect() == LINES
    # (the empty part has bytes: its codec's framing) as PySpark's of Vega's parts: Hadoop
    # cuts each .bz2 part by a goal of total/8 bytes, 10 ranges
    assert rdd.get_num_partitions() == (10 if mode == "bzip2" else 3)
    assert read[f"text-{mode}"][0] == (10 if mode == "bzip2" else 3)
    size = os.path.getsize(directory / f"part-00000{SUFFIXES[mode]}")
    assert size < 330_000 // 2, "a text part compressed little"


@pytest.mark.parametrize("mode", sorted(CODECS))
def test_pyspark_reads_vegas_text_files(exchange, mode):
    """Vega's compressed text parts, as PySpark names them, read by PySpark as the lines
    saved, in the same partitions."""
    vega_dir, out_dir, read = exchange
    directory = f"text-{mode}"
    assert parts(vega_dir / directory) == parts(out_dir / directory)
    # (in the order Hadoop lists the part files: a local directory's, unsorted)
    assert sorted(read[directory][1]) == sorted(LINES)


@pytest.mark.parametrize("mode", sorted(CODECS))
def test_sequence_files_of_each_codec_read_both_ways(exchange, ctx, mode):
    """PySpark's SequenceFiles, block- and record-compressed, read in Vega as the records
    saved; Vega's (block-compressed, as saveAsSequenceFile writes) read in PySpark, their
    headers naming the classes and codec PySpark's name."""
    vega_dir, out_dir, read = exchange
    for name, (records, _) in SEQUENCES.items():
        directory = f"seq-{name}-{mode}"
        assert ctx.sequence_file(str(out_dir / directory)).collect() == records, name
        if name in RECORD_COMPRESSED:
            assert ctx.sequence_file(str(out_dir / (directory + "-record"))).collect() == \
                records, name
        assert sorted(read[directory][1], key=repr) == sorted(records, key=repr), name
        assert headers(vega_dir / directory) == headers(out_dir / directory), name
    with open(vega_dir / f"seq-big-{mode}" / "part-00000", "rb") as fh:
        data = fh.read()
    with open(vega_dir / f"seq-big-{mode}" / "part-00000", "rb") as fh:
        sync = sf.read_header(fh).sync
    assert data.count(sf.SYNC_ESCAPE + sync) == 2  # two blocks
    big = ctx.sequence_file(str(vega_dir / f"seq-big-{mode}"), min_splits=4)
    assert big.get_num_partitions() == read[f"seq-big-{mode}"][0]  # PySpark's
    assert big.collect() == SEQUENCES["big"][0]


def headers(directory):
    """The (key class, value class, codec, block-compressed) of a directory's parts."""
    found = set()
    for part in glob.glob(os.path.join(directory, "part-*")):
        with open(part, "rb") as fh:
            header = sf.read_header(fh)
        found.add((header.key_class, header.value_class, header.codec, header.block))
    return found


def test_a_truncated_or_corrupt_pyspark_file_is_one_error_naming_it(exchange, ctx, tmp_path):
    """PySpark's .snappy part cut short, or with bytes changed inside its compressed data,
    and a truncated Lz4 SequenceFile: the task's error names the file and says why."""
    from vega_runtime import TaskFailed

    _, out_dir, _ = exchange
    whole = (out_dir / "text-snappy" / "part-00001.snappy").read_bytes()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "part-00001.snappy").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(TaskFailed, match=r"cannot read \S*/cut/part-00001\.snappy: the "
                                         r"SnappyCodec data ends at byte \d+, inside a block "
                                         r"\(truncated\?\)"):
        ctx.text_file(str(tmp_path / "cut")).count()
    (tmp_path / "bad").mkdir()
    bad = bytearray(whole)
    bad[20:60] = b"\xff" * 40
    (tmp_path / "bad" / "part-00001.snappy").write_bytes(bytes(bad))
    with pytest.raises(TaskFailed, match=r"cannot read \S*/bad/part-00001\.snappy: "
                                         r"SnappyCodec data at byte 4 that does not decompress"):
        ctx.text_file(str(tmp_path / "bad")).count()
    seq = (out_dir / "seq-big-lz4" / "part-00000").read_bytes()
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "part-00000").write_bytes(seq[:len(seq) - 100])
    with pytest.raises(TaskFailed, match=r"cannot read \S*/seq/part-00000: the file ends "
                                         r"inside a block \(truncated\?\), at byte \d+"):
        ctx.sequence_file(str(tmp_path / "seq")).count()
