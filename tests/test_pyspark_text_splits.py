"""``text_file(path, min_partitions)`` partitioned as PySpark 4.3's ``textFile(path,
minPartitions)``: Hadoop's ``FileInputFormat.getSplits`` ranges (goal size, 1.1 slop, one
range or more a file, none for an empty file, one a compressed file) and its
``LineRecordReader``'s lines (a line starting at a range's first byte is the range
before's), partition by partition, for odd counts too (Vega rounded them up to a multiple
of the cores: 3 gave 4).  Files of lines ending in ``\\n``, ``\\r\\n`` and ``\\r`` (ranges
falling between ``\\r`` and ``\\n``), of lines that all start at range edges, tiny and
empty files, a directory of several files (a ``.gz`` among them) and a comma list; and
``sequence_file(path, min_splits)`` as ``sequenceFile(path, minSplits)``.  One
run writes the files, then PySpark reads them (~20 s of one JVM), begun as the session
starts (``head_start``); skipped, saying so, without PySpark.  The arithmetic itself is
tests/test_input_splits.py's."""

from __future__ import annotations

import textwrap

import pytest

from head_start import NO_RUNS, PySparkExchange, run_directory, taken
from pyspark_install import pyspark_home, requires_pyspark
from vega_runtime import Context

pytestmark = requires_pyspark

MIN_PARTITIONS = (1, 2, 3, 5, 17, 40)
#: inputs, as paths under the exchange's directory (a comma list of them too)
INPUTS = ("mixed.txt", "edges.txt", "tiny.txt", "empty.txt", "one.txt.gz", "dir",
          "edges.txt,tiny.txt,empty.txt")

VEGA_SIDE = textwrap.dedent("""
    import gzip, os, pickle, random, sys

    min_partitions, inputs, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    os.makedirs(os.path.join(vega_dir, "dir"))
    rnd = random.Random(7)

    def mixed(count):
        return b"".join(bytes(rnd.choices(b"abcxyz ", k=rnd.choice([0, 1, 5, 40, 300])))
                        + rnd.choice([b"\\n", b"\\n", b"\\r\\n", b"\\r"]) for _ in range(count))

    def write(name, data):
        with open(os.path.join(vega_dir, name), "wb") as fh:
            fh.write(data)

    write("mixed.txt", mixed(2000) + b"no end")
    write("edges.txt", b"".join(b"line %05d\\n" % i for i in range(600)))  # 6000 bytes
    write("tiny.txt", b"a\\nb\\nc\\n")
    write("empty.txt", b"")
    write("one.txt.gz", gzip.compress(mixed(300)))
    for name, data in (("a.txt", mixed(50)), ("b.txt", b""), ("c.txt", mixed(900)),
                       ("d.txt", b"x\\r\\n"), ("e.gz", gzip.compress(mixed(80))),
                       ("_SUCCESS", b""), (".hidden", b"no\\n")):
        write(os.path.join("dir", name), data)

    from vega_runtime import Context  # a SequenceFile of ~3.3 MB (syncs every ~100 KB)

    with Context(master="local") as ctx:
        ctx.parallelize([(i, "v" * rnd.randint(0, 300)) for i in range(20000)], 1) \
            .save_as_sequence_file(os.path.join(vega_dir, "seq"))
""")

PYSPARK_SIDE = textwrap.dedent("""
    import os, pickle, sys
    from pyspark import SparkContext

    min_partitions, inputs, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    sc = SparkContext("local[2]", "vega-text-splits")
    sc.setLogLevel("ERROR")
    read = {}
    for spec in inputs:
        path = ",".join(os.path.join(vega_dir, part) for part in spec.split(","))
        for count in min_partitions:
            read[spec, count] = sc.textFile(path, count).glom().collect()
    for count in min_partitions:
        read["seq", count] = sc.sequenceFile(os.path.join(vega_dir, "seq"), minSplits=count) \
            .glom().map(lambda part: [key for key, _ in part]).collect()
    pickle.dump(read, open(os.path.join(out_dir, "read.pickle"), "wb"))
    sc.stop()
""")


def head_start(masters):
    """The exchange's run, from the session's start."""
    return PySparkExchange(run_directory("text-splits-"), VEGA_SIDE, PYSPARK_SIDE,
                           (MIN_PARTITIONS, INPUTS)) if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def exchange(request):
    """The files, and PySpark's partitions of each: {(input, minPartitions): [[line]]}."""
    with taken(request) as running:
        yield running.files()


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local[2]", app_name="text-splits") as ctx:
        yield ctx


@pytest.mark.parametrize("spec", INPUTS)
def test_partitions_are_pysparks(exchange, ctx, spec):
    """Each minPartitions gives PySpark's partition count and, partition by partition, its
    lines (empty partitions included; a directory's files in any order: Hadoop lists them
    in the order the file system gives, Vega sorted by name)."""
    vega_dir, _, read = exchange
    path = ",".join(str(vega_dir / part) for part in spec.split(","))
    for count in MIN_PARTITIONS:
        pyspark = read[spec, count]
        got = ctx.text_file(path, count).glom().collect()
        if spec == "dir":
            got, pyspark = sorted(got), sorted(pyspark)
        assert [len(p) for p in got] == [len(p) for p in pyspark], (spec, count)
        assert got == pyspark, (spec, count)


def test_sequence_file_min_splits_are_pysparks(exchange, ctx):
    """sequence_file(path, min_splits=n): PySpark's sequenceFile(path, minSplits=n)
    partitions, record by record (Hadoop's rule with SequenceFileInputFormat's least range,
    SYNC_INTERVAL: 40 asked of a 3.3 MB file gives 33, as in PySpark; Vega gave 40, 7 of
    them empty)."""
    vega_dir, _, read = exchange
    for count in MIN_PARTITIONS:
        got = ctx.sequence_file(str(vega_dir / "seq"), min_splits=count).glom() \
            .map(lambda part: [key for key, _ in part]).collect()
        assert [len(p) for p in got] == [len(p) for p in read["seq", count]], count
        assert got == read["seq", count], count
