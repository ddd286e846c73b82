"""PySpark's Hadoop file API on Vega (``save_as_hadoop_file`` and kin, ``hadoop_file`` and
kin): what each writes and reads, and the refusals a user meets, each one message saying
what to do.  (Against PySpark itself: tests/test_pyspark_hadoop_files.py.)"""

from __future__ import annotations

import gzip
import io
import os

import pytest

from vega_runtime import Context
from vega_runtime.errors import OutputExistsError
from vega_runtime.io import hadoop_formats as hf

OLD, NEW = "org.apache.hadoop.mapred.", "org.apache.hadoop.mapreduce.lib."
TEXT_OUT, SEQ_OUT = OLD + "TextOutputFormat", OLD + "SequenceFileOutputFormat"
K, V = "org.apache.hadoop.io.LongWritable", "org.apache.hadoop.io.Text"


@pytest.fixture(scope="module")
def ctx():
    """One local Context: these are about formats and messages, not distribution."""
    with Context(master="local", app_name="hadoop-files") as ctx:
        yield ctx


def parts(path):
    return {name: open(os.path.join(path, name), "rb").read()
            for name in sorted(os.listdir(path))}


def test_text_output_follows_hadoops_rules_for_none_and_writables(ctx, tmp_path):
    """key TAB value; a None key or value left out with the tab; two Nones write nothing;
    floats as Java prints them, bytes as BytesWritable's hex, bools as true/false."""
    out = str(tmp_path / "out")
    ctx.parallelize([(1, "a"), (None, "b"), ("c", None), (None, None), (0.5, False),
                     (1e-4, bytearray(b"\x00\xff")), (2**40, -1e7)], 1).saveAsHadoopFile(
        out, TEXT_OUT)
    assert parts(out) == {"_SUCCESS": b"", "part-00000":
                          b"1\ta\nb\nc\n0.5\tfalse\n1.0E-4\t00 ff\n1099511627776\t-1.0E7\n"}


def test_new_api_parts_are_part_r_and_compressed_by_conf(ctx, tmp_path):
    """The new API names its parts part-r-NNNNN; conf's compress settings gzip them."""
    out = str(tmp_path / "out")
    conf = {"mapreduce.output.fileoutputformat.compress": "TRUE",
            "mapreduce.output.fileoutputformat.compress.codec":
                "org.apache.hadoop.io.compress.GzipCodec",
            "mapreduce.output.textoutputformat.separator": "="}
    ctx.parallelize([("a", 1), ("b", 2)], 2).save_as_new_api_hadoop_file(
        out, NEW + "output.TextOutputFormat", conf=conf)
    found = parts(out)
    assert sorted(found) == ["_SUCCESS", "part-r-00000.gz", "part-r-00001.gz"]
    assert [gzip.decompress(found[f"part-r-0000{i}.gz"]) for i in (0, 1)] == [b"a=1\n", b"b=2\n"]


def test_text_input_gives_byte_offsets_and_key_value_splits_at_the_first_tab(ctx, tmp_path):
    """(offset, line) past a byte order mark and \\r\\n; KeyValueTextInputFormat's key is
    up to the first tab, the whole line when it has none."""
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbfa\tb\tc\r\nplain\rlast")
    assert ctx.hadoop_file(str(path), OLD + "TextInputFormat", K, V).collect() == \
        [(0, "a\tb\tc"), (10, "plain"), (16, "last")]
    assert ctx.new_api_hadoop_file(str(path), NEW + "input.KeyValueTextInputFormat", K,
                                   V).collect() == [("a", "b\tc"), ("plain", ""), ("last", "")]


def test_datasets_round_trip_through_conf(ctx, tmp_path):
    """saveAsHadoopDataset writes where conf says, in TextOutputFormat by default;
    hadoopRDD reads what conf's inputdir names; a SequenceFile dataset round-trips."""
    out = str(tmp_path / "text")
    ctx.parallelize([(1, "x")], 1).saveAsHadoopDataset(
        {"mapreduce.output.fileoutputformat.outputdir": out})
    assert ctx.hadoopRDD(OLD + "TextInputFormat", K, V, conf={
        "mapreduce.input.fileinputformat.inputdir": out}).collect() == [(0, "1\tx")]
    seq = str(tmp_path / "seq")
    ctx.parallelize([(1, "x"), (2, "y")], 2).saveAsNewAPIHadoopDataset({
        "mapreduce.output.fileoutputformat.outputdir": seq,
        "mapreduce.job.outputformat.class": NEW + "output.SequenceFileOutputFormat",
        "mapreduce.job.output.key.class": "org.apache.hadoop.io.IntWritable"})
    assert ctx.newAPIHadoopRDD(NEW + "input.SequenceFileInputFormat", K, V, conf={
        "mapreduce.input.fileinputformat.inputdir": seq}).collect() == [(1, "x"), (2, "y")]


@pytest.mark.parametrize("call, message", [
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsHadoopFile(
        out, OLD + "MapFileOutputFormat"),
     "saveAsHadoopFile: outputFormatClass 'org.apache.hadoop.mapred.MapFileOutputFormat' is "
     "not a format Vega reads or writes without a JVM; saveAsHadoopFile takes the old "
     "(mapred) API's org.apache.hadoop.mapred.SequenceFileOutputFormat, "
     "org.apache.hadoop.mapred.TextOutputFormat"),
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsNewAPIHadoopFile(out, TEXT_OUT),
     "(org.apache.hadoop.mapred.TextOutputFormat is of the other API: use "
     "saveAsHadoopFile)"),
    (lambda ctx, out: ctx.hadoopFile(out, NEW + "input.TextInputFormat", K, V),
     "is of the other API: use newAPIHadoopFile"),
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsHadoopFile(
        out, TEXT_OUT, keyConverter="my.Converter"),
     "saveAsHadoopFile: keyConverter='my.Converter' names a Java class that converts "
     "records in Spark's JVM, and Vega has no JVM: leave it out and convert the records "
     "with .map()"),
    (lambda ctx, out: ctx.hadoopRDD(OLD + "TextInputFormat", K, V, valueConverter="x.Y"),
     "hadoopRDD: valueConverter='x.Y' names a Java class"),
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsHadoopDataset({}),
     "saveAsHadoopDataset: conf names no output directory: set "
     "'mapreduce.output.fileoutputformat.outputdir' to the directory to write"),
    (lambda ctx, out: ctx.newAPIHadoopRDD(NEW + "input.TextInputFormat", K, V),
     "newAPIHadoopRDD: conf names no input: set 'mapreduce.input.fileinputformat.inputdir'"),
    (lambda ctx, out: ctx.newAPIHadoopFile(out, NEW + "input.TextInputFormat", K, V, conf={
        "mapreduce.input.fileinputformat.split.maxsize": "1m"}),
     "newAPIHadoopFile: conf's mapreduce.input.fileinputformat.split.maxsize '1m' is not a "
     "whole number of bytes (as Hadoop reads it: 1048576, not 1m)"),
    (lambda ctx, out: ctx.emptyRDD().saveAsHadoopFile(out, TEXT_OUT),
     "saveAsHadoopFile: the RDD is empty, and the key and value classes are those of its "
     "first record"),
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsHadoopFile(
        out, SEQ_OUT, keyClass="org.apache.hadoop.io.VIntWritable"),
     "saveAsHadoopFile: keyClass 'org.apache.hadoop.io.VIntWritable' is not a Writable "
     "Vega writes"),
    (lambda ctx, out: ctx.parallelize([(1, 2)]).saveAsHadoopFile(
        out, SEQ_OUT, compressionCodecClass="org.apache.hadoop.io.compress.ZStandardCodec"),
     "unsupported compression codec 'org.apache.hadoop.io.compress.ZStandardCodec'"),
])
def test_refusals_say_what_to_do(ctx, tmp_path, call, message):
    """Each refusal is one message naming what was wrong and what to do; nothing written."""
    out = str(tmp_path / "out")
    with pytest.raises((ValueError, TypeError)) as info:
        call(ctx, out)
    assert message in str(info.value)
    assert not os.path.exists(out)


def test_an_empty_rdd_with_both_classes_writes_empty_parts(ctx, tmp_path):
    """As PySpark: with keyClass and valueClass given, nothing is inferred, and each
    partition writes its (empty) part."""
    out = str(tmp_path / "out")
    ctx.parallelize([], 2).saveAsHadoopFile(out, TEXT_OUT, V, V)
    assert parts(out) == {"_SUCCESS": b"", "part-00000": b"", "part-00001": b""}


def test_a_dict_in_text_output_fails_its_job_naming_it(ctx, tmp_path):
    """MapWritable's text is a Java HashMap's (hash order): refused, asking for a str."""
    out = str(tmp_path / "out")
    with pytest.raises(Exception) as info:
        ctx.parallelize([("k", {"a": 1})], 1).saveAsHadoopFile(out, TEXT_OUT)
    assert "TextOutputFormat cannot save ('k', {'a': 1})" in str(info.value)
    assert "convert it to a str before saving" in str(info.value)
    assert not os.path.exists(out)


def test_an_existing_output_is_refused_unless_overwritten(ctx, tmp_path):
    """As save_as_text_file: an existing directory is refused; overwrite=True replaces it."""
    out = str(tmp_path / "out")
    ctx.parallelize([(1, 1)], 1).saveAsHadoopFile(out, TEXT_OUT)
    with pytest.raises(OutputExistsError):
        ctx.parallelize([(2, 2)], 1).saveAsHadoopFile(out, TEXT_OUT)
    ctx.parallelize([(2, 2)], 1).saveAsHadoopFile(out, TEXT_OUT, overwrite=True)
    assert parts(out)["part-00000"] == b"2\t2\n"


def test_offset_lines_split_as_hadoops_line_reader():
    """Splits [s, e] give each line once: one starting at e is the split's, the next split
    skips the line it starts in (a \\r\\n across the edge included)."""
    data = b"ab\r\ncd\nef\rgh"
    for cut in range(1, len(data)):
        first = list(hf.offset_lines(io.BytesIO(data), 0, cut))
        second = list(hf.offset_lines(io.BytesIO(data), cut, len(data)))
        assert first + second == [(0, b"ab"), (4, b"cd"), (7, b"ef"), (10, b"gh")], cut


def test_hadoop_splits_follow_file_input_format():
    """Old API: total / numSplits per split, at most a block, 10% slop on the last; new
    API: a block each; empty files none; compressed text whole."""
    old = hf.InputPlan("text", "", False, b"\t", 1, 1 << 63)
    files = [hf.InputFile("/a", 110), hf.InputFile("/b", 0), hf.InputFile("/c.gz", 500)]
    block = 32 << 20  # the local file system's (vega.input.split_size)
    assert [(s.path, s.start, s.end) for s in hf.hadoop_splits(files, 6, block, old)] == [
        ("/a", 0, 110), ("/c.gz", 0, 500)]
    big = [hf.InputFile("/big", block * 2 + 5)]
    new = hf.InputPlan("text", "", True, b"\t", 1, 1 << 63)
    assert [s.end - s.start for s in hf.hadoop_splits(big, 1, block, new)] == [
        block, block + 5]
    # an HDFS file's own block size
    assert [s.end - s.start for s in hf.hadoop_splits([hf.InputFile("/h", 250, 100)], 1,
                                                      block, new)] == [100, 100, 50]


def test_raw_lines_agree_with_a_plain_split_at_any_chunk_size():
    """Lines cut at \\n, \\r\\n and \\r whatever the chunk edges (a \\r\\n across one)."""
    import random
    import re

    rng = random.Random(7)
    for _ in range(200):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randrange(0, 30)))
        expected, pos = [], 0
        for match in re.finditer(b"\r\n|\r|\n", data):
            expected.append((data[pos:match.start()], match.end() - pos))
            pos = match.end()
        if pos < len(data):
            expected.append((data[pos:], len(data) - pos))
        for chunk in (1, 2, 3, 7):
            assert list(hf._raw_lines(io.BytesIO(data), chunk)) == expected, (data, chunk)


def test_a_record_not_of_the_given_key_class_fails_naming_it(ctx, tmp_path):
    """keyClass given: a key of another Writable fails the job naming the method and the
    keyClass given (not "the RDD's first key", which decided nothing here)."""
    out = str(tmp_path / "out")
    with pytest.raises(Exception) as info:
        ctx.parallelize([(1, "a")], 1).saveAsHadoopFile(
            out, SEQ_OUT, "org.apache.hadoop.io.LongWritable", V)
    assert ("saveAsHadoopFile: record 0 of this partition has a key 1 (int), an IntWritable, "
            "but the files' keys are LongWritables, the keyClass given: give keys of that "
            "type, or leave keyClass out") in str(info.value)
    assert not os.path.exists(out)


@pytest.mark.parametrize("compression, header", [
    ({}, (None, False)),
    ({"mapreduce.output.fileoutputformat.compress": "true"},
     ("org.apache.hadoop.io.compress.DefaultCodec", False)),
    ({"mapred.output.compress": "true", "mapred.output.compression.type": "BLOCK"},
     ("org.apache.hadoop.io.compress.DefaultCodec", True)),
    ({"mapreduce.output.fileoutputformat.compress": "true",
      "mapreduce.output.fileoutputformat.compress.type": "NONE"}, (None, False)),
])
def test_sequence_compression_follows_conf(ctx, tmp_path, compression, header):
    """conf's compress flag, codec (DefaultCodec unset) and type (RECORD unset; NONE: not
    compressed, as Hadoop's SequenceFileOutputFormat), in either spelling."""
    from vega_runtime.io import sequence_file as sf

    out = str(tmp_path / "out")
    ctx.parallelize([(1, "a")], 1).saveAsNewAPIHadoopFile(
        out, NEW + "output.SequenceFileOutputFormat", conf=compression)
    with open(os.path.join(out, "part-r-00000"), "rb") as fh:
        found = sf.read_header(fh)
    assert (found.codec or None, found.block) == header
    assert ctx.sequenceFile(out).collect() == [(1, "a")]


def test_a_misspelt_hadoop_io_class_is_refused_when_the_input_is_made(ctx, tmp_path):
    """PySpark's test_readwrite (InputFormatTests.test_bad_inputs): sequenceFile with keyClass
    org.apache.hadoop.io.NotValidWritable fails as it is called (PySpark's JVM cannot load
    the class); Vega took any name and read the file.  Hadoop's real classes still read the
    file's own records, and a class outside Hadoop's io package (a user's) is taken."""
    out = str(tmp_path / "seq")
    ctx.parallelize([(1, "a"), (2, "b")], 1).saveAsSequenceFile(out)
    bad = "org.apache.hadoop.io.NotValidWritable"
    for call in (lambda: ctx.sequenceFile(out, bad, V),
                 lambda: ctx.sequenceFile(out, "org.apache.hadoop.io.IntWritable", bad),
                 lambda: ctx.hadoopFile(out, OLD + "SequenceFileInputFormat", bad, V),
                 lambda: ctx.newAPIHadoopRDD(NEW + "input.SequenceFileInputFormat", K, bad,
                                             conf={hf.INPUT_DIR[0]: out})):
        with pytest.raises(ValueError) as info:
            call()
        assert f"Class {bad!r} is no class of Hadoop's org.apache.hadoop.io (PySpark fails " \
               "to load it): give the file's Writable, e.g. org.apache.hadoop.io." \
               "IntWritable" in str(info.value)
    assert ctx.sequenceFile(out, "org.apache.hadoop.io.VIntWritable",
                            "org.apache.hadoop.io.Writable").collect() == [(1, "a"), (2, "b")]
    assert ctx.sequenceFile(out, "com.example.MyKey", V).collect() == [(1, "a"), (2, "b")]
