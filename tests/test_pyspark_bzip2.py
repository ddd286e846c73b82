"""``.bz2`` text files split as PySpark 4.3 splits them (Hadoop's BZip2Codec, a splittable
codec): a file of several 900k blocks with lines of every length (some crossing blocks), two
streams one after the other (``cat a.bz2 b.bz2``), a level-1 file (100k blocks), and it
without its ``BZ`` (as Hadoop's CBZip2OutputStream leaves it) or its whole header, each read with several
``minPartitions``: the same partitions, partition by partition, as PySpark's.  One run
writes the files, then PySpark reads them (~30 s of one JVM), begun as the session starts
(``head_start``); skipped, saying so, without PySpark.  The block reading itself is
tests/test_bzip2_splits.py's."""

from __future__ import annotations

import textwrap

import pytest

from head_start import NO_RUNS, PySparkExchange, run_directory, taken
from pyspark_install import pyspark_home, requires_pyspark
from vega_runtime import Context

pytestmark = requires_pyspark

#: minPartitions asked of both (odd ones too: Vega rounded them up to a multiple of the cores)
MIN_PARTITIONS = (2, 3, 4, 5, 8, 16, 17)
#: name -> (seed, lines, level): ~2.5 MB of text (three 900k blocks) at level 9
FILES = {"big": (1, 9000, 9), "small_blocks": (2, 2500, 1)}

VEGA_SIDE = textwrap.dedent("""
    import bz2, os, pickle, random, sys

    min_partitions, files, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    os.makedirs(vega_dir)

    def text(seed, count):
        rnd = random.Random(seed)
        words = ["".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(1, 9)))
                 for _ in range(3000)]
        lines = [f"{i}: " + " ".join(rnd.choices(words, k=rnd.choice([0, 1, 4, 20, 60])))
                 for i in range(count)]
        for i in range(0, count, count // 5):  # lines longer than a 100k block
            lines[i] += " ".join(rnd.choices(words, k=30000))
        return ("\\n".join(lines) + "\\n").encode()

    for name, (seed, count, level) in files.items():
        data = text(seed, count)
        with open(os.path.join(vega_dir, name + ".txt.bz2"), "wb") as fh:
            fh.write(bz2.compress(data, level))
        if name == "big":
            with open(os.path.join(vega_dir, "streams.txt.bz2"), "wb") as fh:
                half = len(data) // 2 + 7  # a line crosses the streams
                fh.write(bz2.compress(data[:half], 9) + bz2.compress(data[half:], 5))
        else:
            for cut, other in ((2, "no_bz"), (4, "no_header")):  # 'h1...', a block
                with open(os.path.join(vega_dir, other + ".txt.bz2"), "wb") as fh:
                    fh.write(bz2.compress(data, level)[cut:])
""")

PYSPARK_SIDE = textwrap.dedent("""
    import os, pickle, sys
    from pyspark import SparkContext

    min_partitions, files, vega_dir, out_dir = pickle.load(open(sys.argv[1], "rb"))
    sc = SparkContext("local[2]", "vega-bzip2")
    sc.setLogLevel("ERROR")
    read = {}
    for name in sorted(os.listdir(vega_dir)):
        for count in min_partitions:
            read[name, count] = sc.textFile(os.path.join(vega_dir, name), count).glom().collect()
    pickle.dump(read, open(os.path.join(out_dir, "read.pickle"), "wb"))
    sc.stop()
""")


def head_start(masters):
    """The exchange's run, from the session's start."""
    return PySparkExchange(run_directory("bzip2-"), VEGA_SIDE, PYSPARK_SIDE,
                           (MIN_PARTITIONS, FILES)) if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def exchange(request):
    """The files, and PySpark's partitions of each: {(name, minPartitions): [[line]]}."""
    with taken(request) as running:
        yield running.files()


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local[2]", app_name="bzip2") as ctx:
        yield ctx


@pytest.mark.parametrize("name", ["big.txt.bz2", "streams.txt.bz2", "small_blocks.txt.bz2",
                                  "no_bz.txt.bz2", "no_header.txt.bz2"])
def test_partitions_are_pysparks(exchange, ctx, name):
    """Each minPartitions gives PySpark's partition count and, partition by partition, its
    lines (empty partitions, where a range holds no block marker, included)."""
    vega_dir, _, read = exchange
    for count in MIN_PARTITIONS:
        pyspark = read[name, count]
        assert sum(map(len, pyspark)) > 2000
        got = ctx.text_file(str(vega_dir / name), count).glom().collect()
        assert [len(p) for p in got] == [len(p) for p in pyspark], (name, count)
        assert got == pyspark, (name, count)
