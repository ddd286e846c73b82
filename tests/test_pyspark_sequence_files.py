"""SequenceFiles exchanged with the real PySpark 4.3 (its JVM, from .venv-bench): what
PySpark writes (``saveAsSequenceFile``: uncompressed, block-compressed with DefaultCodec and
GzipCodec; ``saveAsHadoopFile``: record-compressed with each) Vega's ``sequence_file`` reads
as PySpark's ``sequenceFile`` does, locally and from HDFS (the WebHDFS test server); what
Vega's ``save_as_sequence_file`` writes PySpark reads, with the same records and the same
Writable classes.  One run writes Vega's files, then PySpark's half (~30 s), begun as the
session starts (``head_start``) so that the rest of the suite runs meanwhile; skipped,
saying so, without PySpark."""

from __future__ import annotations

import glob
import io
import os
import random
import textwrap

import pytest

from head_start import NO_RUNS, PySparkExchange, run_directory, taken
from pyspark_install import pyspark_home, requires_pyspark
from vega_runtime import Context, HdfsIO
from vega_runtime.io import sequence_file as sf
from vega_testing.webhdfs import WebHDFSServer

pytestmark = requires_pyspark

CODECS = {"plain": None, "zlib": "org.apache.hadoop.io.compress.DefaultCodec",
          "gzip": "org.apache.hadoop.io.compress.GzipCodec"}
#: name -> (records, partitions): each a file set of one key class and one value class
DATASETS = {
    "text_int": ([(f"k{i}", i * 7 - 500) for i in range(3000)], 3),
    "long_double": ([(2**40 + i, i / 3) for i in range(500)], 2),
    # (seeded: under workers, the process that begins the exchange may not be the one
    # that checks it)
    "bool_bytes": ([(i % 2 == 0, bytearray(random.Random(i).randbytes(i % 40)))
                    for i in range(300)], 2),
    "null_map": ([(None, {"name": f"n{i}", "i": i, "x": i * 0.5, "none": None, "ok": True,
                          "raw": bytearray(b"\x00\xff"), "big": 2**33,
                          "in": {"deep": i}}) for i in range(200)] + [(None, {})], 2),
    #: (3 partitions of 2 records: a part file with no record)
    "unicode": ([("ключ ✓", "значение " * 50), ("", "")], 3),
    #: several sync markers (every ~100 KB), for splits; compressed, two blocks (of 1 MB)
    "big": ([(f"key {i}", "v" * (i % 300)) for i in range(8000)], 1),
}

#: the datasets PySpark writes record-compressed too (Hadoop's default compression type,
#: which PySpark's saveAsSequenceFile never uses: saveAsHadoopFile with a conf does)
RECORD_COMPRESSED = ("bool_bytes", "null_map")

VEGA_SIDE = textwrap.dedent("""
    import pickle, sys
    from vega_runtime import Context

    datasets, codecs, record_compressed, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    with Context(master="local[2]", app_name="sequence-files-vega-side") as ctx:
        for name, (records, partitions) in datasets.items():
            for mode, codec in codecs.items():
                ctx.parallelize(records, partitions).save_as_sequence_file(
                    f"{vega_dir}/{name}-{mode}", codec)
""")

PYSPARK_SIDE = textwrap.dedent("""
    import os, pickle, sys
    from pyspark import SparkContext

    datasets, codecs, record_compressed, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    sc = SparkContext("local[2]", "vega-sequence-files")
    sc.setLogLevel("ERROR")
    read = {}
    for name in sorted(os.listdir(vega_dir)):
        read[name] = sc.sequenceFile(os.path.join(vega_dir, name)).collect()
    for name, (records, partitions) in datasets.items():
        for mode, codec in codecs.items():
            sc.parallelize(records, partitions).saveAsSequenceFile(
                os.path.join(out_dir, f"{name}-{mode}"), codec)
        if name not in record_compressed:
            continue
        for mode, codec in (("record", codecs["zlib"]), ("record-gzip", codecs["gzip"])):
            conf = {"mapreduce.output.fileoutputformat.compress": "true",
                    "mapreduce.output.fileoutputformat.compress.type": "RECORD",
                    "mapreduce.output.fileoutputformat.compress.codec": codec}
            sc.parallelize(records, partitions).saveAsHadoopFile(
                os.path.join(out_dir, f"{name}-{mode}"),
                "org.apache.hadoop.mapred.SequenceFileOutputFormat", conf=conf)
    pickle.dump(read, open(os.path.join(out_dir, "read.pickle"), "wb"))
    sc.stop()
""")


def canonical(value):
    """``value`` with its types spelled out (``b"x" == bytearray(b"x")``) and dicts in one
    order (PySpark's come in a Java HashMap's)."""
    if isinstance(value, dict):
        return ("dict", sorted((repr(canonical(k)), canonical(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return type(value).__name__, [canonical(v) for v in value]
    return type(value).__name__, value


def classes(directory):
    """The (key, value) classes in the headers of a directory's part files."""
    found = set()
    for part in glob.glob(os.path.join(directory, "part-*")):
        with open(part, "rb") as fh:
            header = sf.read_header(fh)
        found.add((header.key_class, header.value_class, header.codec, header.block))
    return found


@pytest.fixture(scope="module")
def ctx():
    """One Context for the module: splits of 150 KB, HDFS as alice."""
    with Context(master="local[2]", app_name="sequence-files",
                 conf={"vega.hdfs.user": "alice", "vega.input.split_size": 150_000}) as ctx:
        yield ctx


def head_start(masters):
    """The exchange's run, from the session's start."""
    return PySparkExchange(run_directory("seq-"), VEGA_SIDE, PYSPARK_SIDE,
                           (DATASETS, CODECS, RECORD_COMPRESSED)) if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def exchange(request):
    """Vega's files (and what PySpark reads of them), PySpark's files."""
    with taken(request) as running:
        yield running.files()


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_pyspark_reads_vegas_files_as_saved(exchange, name):
    """Each file set Vega saved (plain, DefaultCodec, GzipCodec) PySpark reads back as the
    records saved, and its headers name the classes and codec PySpark's own files name."""
    vega_dir, out_dir, read = exchange
    records = DATASETS[name][0]
    if name == "big":  # Vega's compressed big files hold two blocks
        for codec in ("zlib", "gzip"):
            with open(vega_dir / f"big-{codec}" / "part-00000", "rb") as fh:
                data = fh.read()
            assert data.count(sf.SYNC_ESCAPE + sf.read_header(io.BytesIO(data)).sync) == 2
    for mode in CODECS:
        # (in the order Hadoop lists the part files: a local directory's, unsorted)
        assert sorted(map(repr, canonical(read[f"{name}-{mode}"])[1])) == sorted(
            map(repr, canonical(records)[1])), mode
        assert classes(vega_dir / f"{name}-{mode}") == classes(out_dir / f"{name}-{mode}"), mode
        assert sorted(os.listdir(vega_dir / f"{name}-{mode}")) == sorted(
            n for n in os.listdir(out_dir / f"{name}-{mode}") if not n.endswith(".crc")
            and not n.startswith("."))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_vega_reads_pysparks_files_in_every_compression(exchange, ctx, name):
    """PySpark's files, uncompressed, block-compressed (DefaultCodec, GzipCodec) and
    record-compressed, read as PySpark's sequenceFile reads Vega's: the records saved."""
    _, out_dir, _ = exchange
    records = DATASETS[name][0]
    for mode in [*CODECS, *(["record", "record-gzip"] if name in RECORD_COMPRESSED else [])]:
        assert canonical(ctx.sequence_file(str(out_dir / f"{name}-{mode}")).collect()) == \
            canonical(records), mode


def test_a_large_pyspark_file_splits_at_its_sync_markers(exchange, ctx):
    """One part file of ~1.3 MB (syncs every ~100 KB) reads in several partitions, every
    record once and in order."""
    _, out_dir, _ = exchange
    part = out_dir / "big-plain" / "part-00000"
    assert os.path.getsize(part) > 1_000_000
    rdd = ctx.sequenceFile(str(part), minSplits=4)
    sizes = rdd.glom().map(len).collect()
    assert len(sizes) >= 4 and sum(1 for s in sizes if s) >= 4, sizes
    assert rdd.collect() == DATASETS["big"][0]


def test_pysparks_files_read_from_hdfs(exchange, ctx, tmp_path):
    """The same files through hdfs:// (the WebHDFS test server), split by byte ranges; and
    Vega's save to HDFS reads back."""
    _, out_dir, _ = exchange
    with WebHDFSServer(str(tmp_path / "hdfs-root")) as server:
        url = "hdfs://" + server.namenode_url.split("://", 1)[1]
        client = HdfsIO(server.namenode_url, user="alice")
        for name in ("big-gzip", "big-plain", "null_map-record"):
            for part in sorted(glob.glob(str(out_dir / name / "part-*"))):
                with open(part, "rb") as fh:
                    client.write_to_hdfs(fh.read(), f"/in/{name}/{os.path.basename(part)}")
        big = ctx.sequence_file(f"{url}/in/big-plain", min_splits=4)
        assert big.get_num_partitions() >= 4
        assert big.collect() == DATASETS["big"][0]
        assert ctx.sequence_file(f"{url}/in/big-gzip").collect() == DATASETS["big"][0]
        assert canonical(ctx.sequence_file(f"{url}/in/null_map-record").collect()) == \
            canonical(DATASETS["null_map"][0])
        ctx.parallelize(DATASETS["text_int"][0], 3).saveAsSequenceFile(
            f"{url}/out", CODECS["gzip"])
        assert ctx.sequenceFile(f"{url}/out").collect() == DATASETS["text_int"][0]
