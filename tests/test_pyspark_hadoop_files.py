"""PySpark's Hadoop file API against the real PySpark 4.3 (its JVM, from .venv-bench):
``saveAsHadoopFile``, ``saveAsNewAPIHadoopFile`` and the two ``...Dataset`` saves, through
TextOutputFormat and SequenceFileOutputFormat of both APIs, uncompressed and compressed,
write the same part files (text byte for byte) on both sides, each side reads the other's;
``hadoopFile``, ``newAPIHadoopFile``, ``hadoopRDD`` and ``newAPIHadoopRDD`` through
TextInputFormat, KeyValueTextInputFormat and SequenceFileInputFormat give the same
partitions of the same records.  One run writes Vega's files, then PySpark's half (~40 s),
begun as the session starts (``head_start``); skipped, saying so, without PySpark."""

from __future__ import annotations

import glob
import gzip
import os
import textwrap
import zlib

import pytest

from head_start import NO_RUNS, PySparkExchange, run_directory, taken
from pyspark_install import pyspark_home, requires_pyspark
from vega_runtime import Context
from vega_runtime.io import sequence_file as sf

pytestmark = requires_pyspark

OLD, NEW = "org.apache.hadoop.mapred.", "org.apache.hadoop.mapreduce.lib."
IO, CODEC = "org.apache.hadoop.io.", "org.apache.hadoop.io.compress."
OUTPUT_DIR = "mapreduce.output.fileoutputformat.outputdir"
INPUT_DIR = "mapreduce.input.fileinputformat.inputdir"
COMPRESS = {"mapreduce.output.fileoutputformat.compress": "true",
            "mapreduce.output.fileoutputformat.compress.codec": CODEC + "GzipCodec"}

#: name -> (records, partitions); n / partitions records each, as both sides slice them
DATA = {
    "mixed": ([(1, "a"), (None, "b"), (2, None), (None, None), (3.5, True), (1e20, b"ab"),
               ("k", 1e-5), (2**40, 0.1), (-0.0, "ключ ✓"), (False, 12345678.9)], 5),
    "many": ([(i, f"value {i} " * (i % 7)) for i in range(3000)], 3),
    "seq": ([(i, f"v{i}") for i in range(600)], 2),
}

#: name -> (save method, output format, keyword arguments, data, read method, input format)
#: (the ...Dataset saves name their directory in conf's OUTPUT_DIR: filled in by each side)
WRITES = {
    "old-text": ("saveAsHadoopFile", OLD + "TextOutputFormat", {}, "mixed",
                 "hadoopFile", OLD + "TextInputFormat"),
    "old-text-gzip": ("saveAsHadoopFile", OLD + "TextOutputFormat",
                      {"compressionCodecClass": CODEC + "GzipCodec"}, "many",
                      "hadoopFile", OLD + "TextInputFormat"),
    "old-text-deflate": ("saveAsHadoopFile", OLD + "TextOutputFormat",
                         {"conf": {"mapreduce.output.fileoutputformat.compress": "true"}},
                         "many", "hadoopFile", OLD + "KeyValueTextInputFormat"),
    "new-text": ("saveAsNewAPIHadoopFile", NEW + "output.TextOutputFormat",
                 {"conf": {"mapreduce.output.textoutputformat.separator": ", "}}, "mixed",
                 "newAPIHadoopFile", NEW + "input.TextInputFormat"),
    "new-text-gzip": ("saveAsNewAPIHadoopFile", NEW + "output.TextOutputFormat",
                      {"conf": COMPRESS}, "many", "newAPIHadoopFile",
                      NEW + "input.KeyValueTextInputFormat"),
    "old-seq": ("saveAsHadoopFile", OLD + "SequenceFileOutputFormat", {}, "seq",
                "hadoopFile", OLD + "SequenceFileInputFormat"),
    "old-seq-block": ("saveAsHadoopFile", OLD + "SequenceFileOutputFormat",
                      {"compressionCodecClass": CODEC + "DefaultCodec"}, "seq",
                      "hadoopFile", OLD + "SequenceFileInputFormat"),
    "new-seq-record": ("saveAsNewAPIHadoopFile", NEW + "output.SequenceFileOutputFormat",
                       {"keyClass": IO + "IntWritable", "valueClass": IO + "Text",
                        "conf": COMPRESS}, "seq",
                       "newAPIHadoopFile", NEW + "input.SequenceFileInputFormat"),
    "old-dataset": ("saveAsHadoopDataset", None,
                    {"conf": {"mapred.output.format.class": OLD + "TextOutputFormat",
                              "mapreduce.job.output.key.class": IO + "IntWritable",
                              "mapreduce.job.output.value.class": IO + "Text"}}, "many",
                    "hadoopRDD", OLD + "TextInputFormat"),
    "new-dataset": ("saveAsNewAPIHadoopDataset", None,
                    {"conf": {"mapreduce.job.outputformat.class":
                              NEW + "output.SequenceFileOutputFormat",
                              "mapreduce.job.output.key.class": IO + "IntWritable",
                              "mapreduce.job.output.value.class": IO + "Text"}}, "seq",
                    "newAPIHadoopRDD", NEW + "input.SequenceFileInputFormat"),
}

#: name -> (read method, input file under the inputs directory, input format, conf)
READS = {
    "old-lines": ("hadoopFile", "lines.txt", OLD + "TextInputFormat", None),
    "new-lines": ("newAPIHadoopFile", "lines.txt", NEW + "input.TextInputFormat", None),
    "new-lines-max": ("newAPIHadoopFile", "lines.txt", NEW + "input.TextInputFormat",
                      {"mapreduce.input.fileinputformat.split.maxsize": "30000"}),
    # (PySpark's hadoopFile applies no conf: its read is with the context's Hadoop settings)
    "old-lines-min": ("hadoopFile", "lines.txt", OLD + "TextInputFormat",
                      {"mapreduce.input.fileinputformat.split.minsize": "90000"}),
    "old-kv-comma": ("hadoopFile", "lines.txt", OLD + "KeyValueTextInputFormat",
                     {"mapreduce.input.keyvaluelinerecordreader.key.value.separator": ","}),
    "old-rdd-kv-comma": ("hadoopRDD", "lines.txt", OLD + "KeyValueTextInputFormat",
                         {"mapreduce.input.keyvaluelinerecordreader.key.value.separator": ","}),
    "old-rdd-min": ("hadoopRDD", "lines.txt", OLD + "TextInputFormat",
                    {"mapreduce.input.fileinputformat.split.minsize": "90000"}),
    "old-dir": ("hadoopFile", "dir", OLD + "TextInputFormat", None),
    "new-dir": ("newAPIHadoopFile", "dir", NEW + "input.KeyValueTextInputFormat", None),
    "old-gz": ("hadoopFile", "lines.txt.gz", OLD + "TextInputFormat", None),
    "old-rdd": ("hadoopRDD", "dir/*.txt,lines.txt", OLD + "TextInputFormat", {}),
    # (a short file of every line end, \r\r\n and \n\r too, cut every few bytes: a split
    # starts and ends at each kind of place, inside a \r\n included)
    **{f"new-edges-{size}": ("newAPIHadoopFile", "edges.txt", NEW + "input.TextInputFormat",
                             {"mapreduce.input.fileinputformat.split.maxsize": str(size)})
       for size in (3, 4, 5, 7, 11)},
    # (a SequenceFile of ~1 MB, a sync marker every ~100 KB: split between them)
    "old-seq": ("hadoopFile", "seq", OLD + "SequenceFileInputFormat", None),
    "new-seq-max": ("newAPIHadoopRDD", "seq", NEW + "input.SequenceFileInputFormat",
                    {"mapreduce.input.fileinputformat.split.maxsize": "150000"}),
    "new-rdd": ("newAPIHadoopRDD", "dir", NEW + "input.TextInputFormat", {}),
}

#: what both sides do, and the tests: save one of WRITES, load a glom() of records
FUNCTIONS = textwrap.dedent("""
    import os

    K, V = "org.apache.hadoop.io.LongWritable", "org.apache.hadoop.io.Text"

    def save(sc, name, out):
        method, fmt, kwargs, data_name, _, _ = writes[name]
        records, partitions = data[data_name]
        rdd = sc.parallelize(records, partitions)
        path = os.path.join(out, name)
        if method.endswith("Dataset"):
            conf = dict(kwargs["conf"], **{"mapreduce.output.fileoutputformat.outputdir": path})
            getattr(rdd, method)(conf=conf)
        else:
            getattr(rdd, method)(path, fmt, **kwargs)

    def load(sc, method, path, fmt, conf):
        if method.endswith("RDD"):
            conf = dict(conf or {}, **{"mapreduce.input.fileinputformat.inputdir": path})
            return getattr(sc, method)(fmt, K, V, conf=conf).glom().collect()
        return getattr(sc, method)(path, fmt, K, V, conf=conf).glom().collect()
""")

SHARED = textwrap.dedent("""
    import pickle, sys

    data, writes, reads, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
""") + FUNCTIONS

VEGA_SIDE = SHARED + textwrap.dedent("""
    import gzip, random
    from vega_runtime import Context

    inputs = os.path.join(vega_dir, "inputs")
    os.makedirs(os.path.join(inputs, "dir"))
    line = lambda i: ("\\ufeff" if i % 97 == 0 else "") + f"key{i % 13},{i}\\tv " + "x" * (i % 50)
    ends = ["\\n", "\\r\\n", "\\r"]
    text = "\\ufeff" + "".join(line(i) + ends[i % 3] for i in range(4000)) + "no end"
    with open(os.path.join(inputs, "lines.txt"), "w", newline="") as fh:
        fh.write(text)
    with gzip.open(os.path.join(inputs, "lines.txt.gz"), "wt", newline="") as fh:
        fh.write(text[:50000])
    rng = random.Random(5)
    with open(os.path.join(inputs, "edges.txt"), "wb") as fh:
        fh.write(b"".join(rng.choice([b"ab", b"", b"c", b"defg"]) +
                          rng.choice([b"\\r\\n", b"\\r", b"\\n", b"\\r\\r\\n", b"\\n\\r"])
                          for _ in range(60)) + b"tail")
    for i in range(4):
        with open(os.path.join(inputs, "dir", f"f{i}.txt"), "w") as fh:
            fh.write("".join(f"{j}\\tline {j}\\n" for j in range(i * 300)))
    with Context(master="local[2]", app_name="hadoop-files-vega-side") as ctx:
        ctx.parallelize([(f"key {i}", "v" * (i % 300)) for i in range(6000)], 1) \
            .saveAsSequenceFile(os.path.join(inputs, "seq"))
        for name in writes:
            save(ctx, name, vega_dir)
""")

PYSPARK_SIDE = SHARED + textwrap.dedent("""
    from pyspark import SparkContext

    sc = SparkContext("local[2]", "vega-hadoop-files")
    sc.setLogLevel("ERROR")
    read = {"vega": {}, "inputs": {}}
    for name, (_, _, _, _, method, fmt) in writes.items():
        read["vega"][name] = load(sc, method, os.path.join(vega_dir, name), fmt, None)
        save(sc, name, out_dir)
    inputs = os.path.join(vega_dir, "inputs")
    for name, (method, rel, fmt, conf) in reads.items():
        path = ",".join(os.path.join(inputs, p) for p in rel.split(","))
        read["inputs"][name] = load(sc, method, path, fmt, conf)
    pickle.dump(read, open(os.path.join(out_dir, "read.pickle"), "wb"))
    sc.stop()
""")

namespace: dict = {}
exec(compile(FUNCTIONS, "FUNCTIONS", "exec"), namespace)
load = namespace["load"]


@pytest.fixture(scope="module")
def ctx():
    """One Context for the module, on local[2] as PySpark's side (defaultMinPartitions 2)."""
    with Context(master="local[2]", app_name="hadoop-files") as ctx:
        yield ctx


def head_start(masters):
    """The exchange's run, from the session's start."""
    return PySparkExchange(run_directory("hadoop-"), VEGA_SIDE, PYSPARK_SIDE,
                           (DATA, WRITES, READS)) if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def exchange(request):
    """Vega's files (and what PySpark reads of them), PySpark's files."""
    with taken(request) as running:
        yield running.files()


def listing(directory):
    """The names Hadoop writes but its checksum files (Vega writes none)."""
    return sorted(n for n in os.listdir(directory) if not n.endswith(".crc"))


def content(path):
    """A part file's bytes, decompressed."""
    with open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".deflate"):
        return zlib.decompress(data)
    return data


@pytest.mark.parametrize("name", sorted(n for n in WRITES if "seq" not in WRITES[n][3]))
def test_text_outputs_are_pysparks_byte_for_byte(exchange, name):
    """Each text save writes PySpark's file names and, decompressed, its very bytes."""
    vega_dir, out_dir, _ = exchange
    assert listing(vega_dir / name) == listing(out_dir / name)
    for part in glob.glob(str(out_dir / name / "part-*")):
        assert content(str(vega_dir / name / os.path.basename(part))) == content(part), part


@pytest.mark.parametrize("name", sorted(n for n in WRITES if "seq" in WRITES[n][3]))
def test_sequence_outputs_have_pysparks_names_and_headers(exchange, name):
    """Each SequenceFile save writes PySpark's file names, key and value classes, codec and
    compression type."""
    vega_dir, out_dir, _ = exchange
    assert listing(vega_dir / name) == listing(out_dir / name)

    def headers(directory):
        found = set()
        for part in glob.glob(str(directory / "part-*")):
            with open(part, "rb") as fh:
                header = sf.read_header(fh)
            found.add((header.key_class, header.value_class, header.codec, header.block))
        return found

    assert headers(vega_dir / name) == headers(out_dir / name)


@pytest.mark.parametrize("name", sorted(WRITES))
def test_each_side_reads_the_others_output_alike(exchange, ctx, name):
    """PySpark reads Vega's output, and Vega PySpark's, with the API's input format, as the
    same partitions of the same records (SequenceFiles: those saved)."""
    vega_dir, out_dir, read = exchange
    _, _, _, data_name, method, fmt = WRITES[name]
    # (partitions in any order: Hadoop lists a local directory's files unsorted)
    ours = load(ctx, method, str(out_dir / name), fmt, None)
    assert sorted(ours) == sorted(read["vega"][name])
    if "seq" in data_name:
        assert sorted(r for part in ours for r in part) == sorted(DATA[data_name][0])


@pytest.mark.parametrize("name", sorted(READS))
def test_inputs_read_as_pyspark_reads_them(exchange, ctx, name):
    """Text files (line ends of each kind, byte order marks, no final line end, gzip, a
    directory with an empty file, a list of paths) and a SequenceFile read through each
    input format and API as the same partitions of the same records as PySpark's."""
    vega_dir, _, read = exchange
    method, rel, fmt, conf = READS[name]
    path = ",".join(str(vega_dir / "inputs" / p) for p in rel.split(","))
    assert sorted(load(ctx, method, path, fmt, conf)) == sorted(read["inputs"][name])
