"""Reading and writing files: text_file, whole_text_files, binary_files, pickle files, saves."""

import bz2
import glob
import gzip
import os
import re
import time
import zlib

import pytest

from vega_runtime import InputError, LocalFsIO, OutputExistsError, TaskFailed, VegaError


def write(path, text, newline=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline=newline) as fh:
        fh.write(text)
    return str(path)


def read_parts(directory):
    """The concatenated text of part files, in part order."""
    return "".join(open(p, encoding="utf-8").read()
                   for p in sorted(glob.glob(os.path.join(directory, "part-*"))))


# -- text_file ------------------------------------------------------------------------------

def test_text_file_pyspark_doctest(ctx, tmp_path):
    """PySpark's doctest: a file without a trailing newline has one line."""
    path = write(tmp_path / "test.txt", "Hello world!")
    assert ctx.text_file(path).collect() == ["Hello world!"]


def test_text_file_trailing_newline_makes_no_empty_line(ctx, tmp_path):
    """A trailing newline ends the last line; inner empty lines are kept."""
    assert ctx.text_file(write(tmp_path / "a.txt", "a\nb\n")).collect() == ["a", "b"]
    assert ctx.text_file(write(tmp_path / "b.txt", "a\n\nb")).collect() == ["a", "", "b"]
    assert ctx.text_file(write(tmp_path / "c.txt", "\n\n")).collect() == ["", ""]


def test_text_file_strips_crlf(ctx, tmp_path):
    """Windows line endings are removed."""
    path = write(tmp_path / "crlf.txt", "one\r\ntwo\r\n\r\nthree")
    assert ctx.text_file(path).collect() == ["one", "two", "", "three"]


def test_text_file_ends_lines_at_lone_cr_and_drops_a_bom(ctx, tmp_path):
    """As Hadoop: a lone \\r (old Mac files) ends a line too, however the file is split, and
    a UTF-8 byte order mark at the start is not part of the first line."""
    lines = [f"line {i}" for i in range(200)]
    path = tmp_path / "cr.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\r".join(lines).encode() + b"\r")
    for min_partitions in (1, 3, 7):
        assert ctx.text_file(str(path), min_partitions).collect() == lines
    path.write_bytes(b"a\r\rb\n\rc\r\n\n\r")
    assert ctx.text_file(str(path)).collect() == ["a", "", "b", "", "c", "", ""]


def test_text_file_unicode(ctx, tmp_path):
    """UTF-8 lines are decoded."""
    path = write(tmp_path / "u.txt", "héllo\n日本語\n🔑\n")
    assert ctx.text_file(path).collect() == ["héllo", "日本語", "🔑"]


def test_use_unicode_false_gives_utf8_bytes(ctx, tmp_path):
    """As PySpark: text_file and whole_text_files with use_unicode=False give UTF-8 bytes
    (bytes that are not UTF-8 as the encoding of U+FFFD; whole_text_files' paths too)."""
    path = tmp_path / "u" / "b.txt"
    path.parent.mkdir()
    path.write_bytes("ok\n\xff x\nhé\n".encode("latin-1").replace(b"h\xe9", "hé".encode()))
    assert ctx.text_file(str(path), use_unicode=False).collect() == [
        b"ok", b"\xef\xbf\xbd x", "hé".encode()]
    key = ("file:" + os.path.abspath(str(path))).encode()
    assert ctx.whole_text_files(str(path.parent), use_unicode=False).collect() == [
        (key, b"ok\n\xef\xbf\xbd x\n" + "hé\n".encode())]
    assert ctx.text_file(str(path)).collect() == ["ok", "\ufffd x", "hé"]


def test_text_file_empty_file(ctx, tmp_path):
    """An empty file has no lines and, as in PySpark, no partition: saved, it is a bare
    _SUCCESS."""
    empty = write(tmp_path / "empty.txt", "")
    assert ctx.text_file(empty).collect() == []
    assert ctx.text_file(empty, 4).get_num_partitions() == 0
    ctx.text_file(empty).save_as_text_file(str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == ["_SUCCESS"]


def test_text_file_directory_skips_hidden_and_underscore_files(ctx, tmp_path):
    """A directory reads every visible file; _SUCCESS and dot files are skipped."""
    write(tmp_path / "d" / "a.txt", "a1\na2\n")
    write(tmp_path / "d" / "b.txt", "b1\n")
    write(tmp_path / "d" / "_SUCCESS", "")
    write(tmp_path / "d" / ".hidden", "secret\n")
    lines = ctx.text_file(str(tmp_path / "d")).collect()
    assert sorted(lines) == ["a1", "a2", "b1"]


def test_text_file_directory_keeps_file_order(ctx, tmp_path):
    """Files of a directory are read in path order, whatever their sizes."""
    write(tmp_path / "o" / "1.txt", "")
    write(tmp_path / "o" / "2.txt", "first\nsecond\n")
    write(tmp_path / "o" / "3.txt", "third\n")
    write(tmp_path / "o" / "4.txt", "4th\n")
    for min_partitions in (1, 2, 3, 4):
        assert ctx.text_file(str(tmp_path / "o"), min_partitions).collect() == [
            "first", "second", "third", "4th"], min_partitions


def test_text_file_glob(ctx, tmp_path):
    """A glob reads only matching files."""
    write(tmp_path / "g" / "a.txt", "a\n")
    write(tmp_path / "g" / "b.txt", "b\n")
    write(tmp_path / "g" / "c.log", "c\n")
    assert sorted(ctx.text_file(str(tmp_path / "g" / "*.txt")).collect()) == ["a", "b"]


def test_a_backslash_escapes_glob_characters_as_in_hadoop(ctx, tmp_path):
    """Hadoop's globs take ``\\`` before ``*?[]{}\\`` as the character itself, so a file
    whose name holds one can be named (PySpark reads these; they matched nothing)."""
    for name in ("q?.txt", "br[1].txt", "c{1}.txt", "star*.txt", "back\\slash.txt"):
        write(tmp_path / "names" / name, name + "\n")
    write(tmp_path / "names" / "qx.txt", "qx\n")
    names = str(tmp_path / "names")
    assert ctx.text_file(names + "/q\\?.txt").collect() == ["q?.txt"]
    assert ctx.text_file(names + "/br\\[1\\].txt").collect() == ["br[1].txt"]
    assert ctx.text_file(names + "/c\\{1\\}.txt").collect() == ["c{1}.txt"]
    assert ctx.text_file(names + "/back\\\\slash.txt").collect() == ["back\\slash.txt"]
    # escaped and unescaped pattern characters together; braces around escaped ones
    assert ctx.text_file(names + "/*\\*.txt").collect() == ["star*.txt"]
    assert sorted(ctx.text_file(names + "/{q\\?,c\\{1\\}}.txt").collect()) == [
        "c{1}.txt", "q?.txt"]
    assert sorted(ctx.text_file(names + "/q?.txt").collect()) == ["q?.txt", "qx"]
    with pytest.raises(InputError, match=r"q\\\?\.log: no such file or directory"):
        ctx.text_file(names + "/q\\?.log").collect()


def test_an_unclosed_bracket_is_an_illegal_pattern_as_in_hadoop(ctx, tmp_path):
    """Hadoop refuses ``[a1`` ("Illegal file pattern: Unclosed character class"); it read
    as "no file matches", hiding the typo."""
    write(tmp_path / "gg" / "a1" / "x.txt", "x\n")
    with pytest.raises(InputError, match=r"the pattern has a '\[' without its '\]'"):
        ctx.text_file(str(tmp_path / "gg" / "[a1" / "x.txt")).collect()
    assert ctx.text_file(str(tmp_path / "gg" / "[a]1" / "x.txt")).collect() == ["x"]


def test_text_file_comma_separated_list(ctx, tmp_path):
    """A comma-separated list reads each named path."""
    a = write(tmp_path / "l" / "a.txt", "a\n")
    write(tmp_path / "l" / "b.txt", "b\n")
    c = write(tmp_path / "l" / "c.log", "c1\nc2")
    assert sorted(ctx.text_file(f"{a},{c}").collect()) == ["a", "c1", "c2"]


def test_text_file_url_and_gzip(ctx, tmp_path):
    """file:// URLs and .gz files are read."""
    path = tmp_path / "z.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("x\ny\nz\n")
    assert ctx.text_file(f"file://{path}").collect() == ["x", "y", "z"]


def test_compressed_suffixes_in_any_case(ctx, tmp_path):
    """.GZ and .Bz2 are decompressed too, as Hadoop finds codecs whatever the case."""
    (tmp_path / "UP.TXT.GZ").write_bytes(gzip.compress(b"a\nb\n"))
    (tmp_path / "Mixed.Bz2").write_bytes(bz2.compress(b"c\n"))
    assert ctx.text_file(str(tmp_path), 4).collect() == ["c", "a", "b"]
    assert sorted(v for _, v in ctx.whole_text_files(str(tmp_path)).collect()) == ["a\nb\n", "c\n"]


def test_spark_snappy_text_is_read_and_zstandard_refused_not_read_as_text(ctx, tmp_path):
    """Spark's saveAsTextFile(path, "...SnappyCodec") writes part-00000.snappy, which PySpark
    reads back as text; Vega refused it (and gave garbage lines before that).  It reads it
    now; a .zst file (ZStandardCodec, which Hadoop writes only with its native library) is
    refused at the first action, naming the file; binary_files still gives the bytes."""
    snappy = bytes.fromhex("00000011000000131140616c7068610a626574610a67616d6d610a")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "part-00000.snappy").write_bytes(snappy)
    (tmp_path / "out" / "_SUCCESS").write_bytes(b"")
    assert ctx.text_file(str(tmp_path / "out")).collect() == ["alpha", "beta", "gamma"]
    assert ctx.whole_text_files(str(tmp_path / "out")).values().collect() == ["alpha\nbeta\ngamma\n"]
    (tmp_path / "x.zst").write_bytes(b"\x00\x01")
    reason = ("compressed with Hadoop's ZStandardCodec, which Vega cannot decompress: write "
              "it with SnappyCodec, Lz4Codec, GzipCodec")
    for read in (ctx.text_file, ctx.whole_text_files, ctx.pickle_file):
        with pytest.raises(InputError, match=r"x\.zst: it is " + reason):
            read(str(tmp_path / "*.zst")).collect()
    assert ctx.binary_files(str(tmp_path / "out")).values().collect() == [snappy]


def test_a_corrupt_compressed_file_is_named(ctx, tmp_path):
    """Among many inputs, the truncated .gz (or the .gz that is none) is the one the error
    names."""
    (tmp_path / "many").mkdir()
    for i in range(5):
        (tmp_path / "many" / f"{i}.txt.gz").write_bytes(gzip.compress(b"fine\n"))
    whole = gzip.compress(b"line\n" * 1000)
    (tmp_path / "many" / "3.txt.gz").write_bytes(whole[:len(whole) // 2])
    for read in (ctx.text_file, ctx.whole_text_files):
        with pytest.raises(TaskFailed, match=r"cannot read \S*/many/3.txt.gz: Compressed file "
                                             r"ended before the end-of-stream marker"):
            read(str(tmp_path / "many")).count()
    (tmp_path / "many" / "3.txt.gz").write_bytes(b"plain text\n")
    with pytest.raises(TaskFailed, match=r"cannot read \S*/many/3.txt.gz: Not a gzipped file"):
        ctx.text_file(str(tmp_path / "many")).count()


def test_a_bz2_file_is_split_at_its_blocks_and_a_corrupt_one_named(ctx, tmp_path):
    """A .bz2 file of several blocks is split (Hadoop's BZip2Codec is splittable; it was
    read whole, one partition), every line read once; cut short, or not bzip2 at all (it
    was read as nothing by PySpark), the job fails naming the file and the byte."""
    lines = [f"{i} " + "word " * (i % 50) for i in range(6000)]
    data = ("\n".join(lines) + "\n").encode()
    packed = bz2.compress(data, 1)  # blocks of 100k
    path = tmp_path / "t.txt.bz2"
    path.write_bytes(packed)
    rdd = ctx.text_file(str(path), 4)
    assert rdd.get_num_partitions() == 4
    sizes = rdd.glom().map(len).collect()
    assert sum(sizes) == len(lines) and sum(1 for n in sizes if n) >= 3
    assert rdd.collect() == lines
    path.write_bytes(packed[:len(packed) * 3 // 4])
    with pytest.raises(TaskFailed, match=r"cannot read \S*/t\.txt\.bz2: the file ends inside "
                                         r"the bzip2 block at byte \d+ \(truncated\?\)"):
        ctx.text_file(str(path), 4).count()
    path.write_bytes(data)
    with pytest.raises(TaskFailed, match=r"cannot read \S*/t\.txt\.bz2: it starts with b'0 \\n1', "
                                         r"not a bzip2 header"):
        ctx.text_file(str(path), 4).count()


def test_whole_text_files_reads_bz2_files_without_their_header_as_pyspark(ctx, tmp_path):
    """PySpark's wholeTextFiles reads a .bz2 file starting 'h9' (Hadoop's CBZip2OutputStream
    leaves the 'BZ' to its caller), or with its first block, as text_file does; Vega's
    refused both ('Invalid data stream')."""
    data = "".join(f"line {i}\n" for i in range(3000))
    packed = bz2.compress(data.encode())
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "h.txt.bz2").write_bytes(packed[2:])
    (tmp_path / "in" / "x.txt.bz2").write_bytes(packed[4:])
    assert sorted(ctx.whole_text_files(str(tmp_path / "in")).values().collect()) == [data] * 2
    (tmp_path / "in" / "x.txt.bz2").write_bytes(packed[:len(packed) // 2])
    with pytest.raises(TaskFailed, match=r"cannot read \S*/x\.txt\.bz2: the file ends inside "
                                         r"the bzip2 block at byte 4 \(truncated\?\)"):
        ctx.whole_text_files(str(tmp_path / "in")).count()


def test_text_file_min_partitions_reads_each_line_exactly_once(ctx, tmp_path):
    """However the file is split, every line comes back once and in order."""
    lines = ["x" * (i % 37) + str(i) for i in range(400)] + [""] * 3 + ["tail"]
    path = write(tmp_path / "split.txt", "\n".join(lines) + "\n")
    for min_partitions in (1, 2, 3, 7, 16, 50):
        rdd = ctx.text_file(path, min_partitions)
        assert rdd.get_num_partitions() >= min_partitions
        assert rdd.collect() == lines, min_partitions


def test_min_partitions_must_be_an_int_and_not_negative_as_in_pyspark(ctx, tmp_path):
    """PySpark refuses a float or str minPartitions (py4j finds no such method) everywhere,
    and a negative one in textFile and pickleFile (Hadoop's "Illegal Capacity: -1"); Vega
    took 2.5 as 3 partitions and -1 as 1."""
    path = write(tmp_path / "a.txt", "a\nb\n")
    ctx.parallelize([1, 2]).save_as_pickle_file(str(tmp_path / "pk"))
    readers = (ctx.text_file, ctx.whole_text_files, ctx.binary_files, ctx.pickle_file)
    for read in readers:
        for value, kind in ((2.5, "float"), ("3", "str")):
            with pytest.raises(TypeError, match=f"^minPartitions must be an int, not {kind}$"):
                read(path, value)
    for read in (ctx.text_file, ctx.pickle_file):
        with pytest.raises(ValueError, match=r"^minPartitions must be 0 or more \(0: the "
                                             r"default\), not -1$"):
            read(path, -1)
    assert ctx.whole_text_files(path, -5).get_num_partitions() == 1  # as PySpark's
    assert ctx.binary_files(path, -5).get_num_partitions() == 1
    assert ctx.text_file(path, 0).collect() == ["a", "b"]  # 0: the default, as in PySpark


def test_text_file_splits_with_crlf_boundaries(ctx, tmp_path):
    """CRLF lines split across partitions come back once, stripped."""
    lines = [f"line-{i}" for i in range(300)]
    path = write(tmp_path / "split-crlf.txt", "\r\n".join(lines))
    for min_partitions in (2, 5, 13):
        assert ctx.text_file(path, min_partitions).collect() == lines


def test_relative_paths_are_the_drivers_after_a_chdir(ctx, tmp_path, monkeypatch):
    """Relative input and output paths name what they name in the driver's working directory
    when the RDD is made, even after the driver changed directory (the executors did not)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "in.txt", "x\ny\n")
    assert ctx.text_file("in.txt", 2).collect() == ["x", "y"]
    ctx.parallelize(["a", "b"], 2).save_as_text_file("out")
    assert sorted(os.listdir(tmp_path / "out")) == ["_SUCCESS", "part-00000", "part-00001"]
    assert read_parts(str(tmp_path / "out")) == "a\nb\n"


def test_text_file_missing_path_is_an_input_error(ctx, tmp_path):
    """A path that does not exist raises InputError."""
    with pytest.raises(InputError):
        ctx.text_file(str(tmp_path / "nope.txt")).collect()
    with pytest.raises(InputError):
        ctx.text_file(str(tmp_path / "nope-*.txt")).collect()


def test_an_empty_input_path_is_an_input_error_as_in_pyspark(ctx, tmp_path):
    """text_file("") (an unset variable's default, say) and an empty path between commas
    fail the first action, as PySpark's ("Can not create a Path from an empty string");
    before, they named no file and the RDD was silently empty."""
    with pytest.raises(InputError, match=r"^cannot read '': an empty path names no file"):
        ctx.text_file("").count()
    (tmp_path / "a.txt").write_text("x\n")
    both = f"{tmp_path / 'a.txt'},,{tmp_path / 'a.txt'}"
    with pytest.raises(InputError, match="an empty path names no file"):
        ctx.text_file(both).count()
    with pytest.raises(InputError, match="an empty path names no file"):
        ctx.whole_text_files("").count()


def test_an_empty_output_path_is_refused_and_the_working_directory_kept(ctx, tmp_path,
                                                                         monkeypatch):
    """save_as_text_file("", overwrite=True) replaced the working directory's files with
    the job's parts (and without overwrite said 'output path  already exists'); PySpark
    refuses an empty path. Now a ValueError before any task runs, for every save."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "precious.txt").write_text("keep\n")
    rdd = ctx.parallelize(["a"], 1)
    for save in (rdd.save_as_text_file, rdd.save_as_pickle_file):
        for overwrite in (False, True):
            with pytest.raises(ValueError, match="^the output path is empty"):
                save("", overwrite=overwrite)
    assert sorted(os.listdir(tmp_path)) == ["precious.txt"]


def test_inputs_are_listed_at_the_first_action_as_in_pyspark(ctx, tmp_path):
    """Making an input RDD touches no file: a missing path fails the first action (with
    InputError), and files saved after the RDD was made are read."""
    later = str(tmp_path / "later")
    lines, texts = ctx.text_file(later), ctx.whole_text_files(later)
    pickles = ctx.pickle_file(str(tmp_path / "pickled"))
    with pytest.raises(InputError, match="later: no such file or directory"):
        lines.count()
    lines = ctx.text_file(f"{later}/part-*")
    ctx.parallelize(["a", "b"], 2).save_as_text_file(later)
    ctx.parallelize([1, 2], 2).save_as_pickle_file(str(tmp_path / "pickled"))
    assert lines.collect() == ["a", "b"]
    assert sorted(texts.values().collect()) == ["a\n", "b\n"]
    assert pickles.collect() == [1, 2]


# -- whole_text_files / binary_files ----------------------------------------------------------

def test_whole_text_files_keys_are_file_urls(ctx, tmp_path):
    """Each file is one (file:/abs/path, content) pair."""
    write(tmp_path / "w" / "1.txt", "one\nline two\n")
    write(tmp_path / "w" / "2.txt", "é 🔑")
    write(tmp_path / "w" / "_SUCCESS", "")
    result = sorted(ctx.whole_text_files(str(tmp_path / "w")).collect())
    base = os.path.abspath(str(tmp_path / "w"))
    assert result == [("file:" + os.path.join(base, "1.txt"), "one\nline two\n"),
                      ("file:" + os.path.join(base, "2.txt"), "é 🔑")]


def test_whole_text_files_min_partitions(ctx, tmp_path):
    """min_partitions spreads files without splitting any."""
    for i in range(6):
        write(tmp_path / "m" / f"{i}.txt", f"file {i}\n" * (i + 1))
    rdd = ctx.whole_text_files(str(tmp_path / "m"), 3)
    assert rdd.get_num_partitions() >= 3
    contents = dict(rdd.collect())
    assert len(contents) == 6
    for i in range(6):
        key = "file:" + os.path.abspath(str(tmp_path / "m" / f"{i}.txt"))
        assert contents[key] == f"file {i}\n" * (i + 1)


def test_binary_files_returns_bytes(ctx, tmp_path):
    """binary_files gives raw bytes, non-UTF-8 included, and compressed files as stored
    (as Spark does: PortableDataStream is not decompressed)."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "a.bin").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "bin" / "b.bin").write_bytes(b"")
    packed = gzip.compress(b"zipped")
    (tmp_path / "bin" / "c.gz").write_bytes(packed)
    result = dict(ctx.binary_files(str(tmp_path / "bin")).collect())
    base = os.path.abspath(str(tmp_path / "bin"))
    assert result == {"file:" + os.path.join(base, "a.bin"): b"\x00\xff\xfe binary",
                      "file:" + os.path.join(base, "b.bin"): b"",
                      "file:" + os.path.join(base, "c.gz"): packed}
    assert ctx.binary_records(str(tmp_path / "bin" / "c.gz"), len(packed)).collect() == [packed]
    assert LocalFsIO().read_to_vec(str(tmp_path / "bin" / "c.gz")) == packed


def test_file_inputs_are_named_after_their_path_as_in_pyspark(ctx, tmp_path):
    """text_file, whole_text_files and binary_files name their RDD after the path as given
    (Spark's setName(path)), and a named RDD's repr reads "NAME ClassName[id] at ...", as
    Spark's; pickle_file and binary_records keep no name, as there."""
    path = write(tmp_path / "in" / "a.txt", "x\n")
    directory = str(tmp_path / "in")
    ctx.parallelize([1], 1).save_as_pickle_file(str(tmp_path / "pickled"))
    assert (ctx.textFile(path).name(), ctx.text_file(tmp_path / "in").name(),
            ctx.wholeTextFiles(directory).name(), ctx.binaryFiles(directory).name()) == (
        path, directory, directory, directory)
    assert (ctx.pickleFile(str(tmp_path / "pickled")).name(),
            ctx.binaryRecords(path, 1).name(), ctx.textFile(path).map(str).name()) == (
        None, None, None)
    lines = ctx.textFile(path)
    assert repr(lines) == f"{path} TextFileRDD[{lines.id()}] at {lines.call_site}"
    named = ctx.parallelize([1], 1).setName("mine")
    assert repr(named).startswith(f"mine ParallelCollectionRDD[{named.id()}] at ")


# -- save_as_text_file ------------------------------------------------------------------------

def test_save_as_text_file_pyspark_doctests(ctx, tmp_path):
    """PySpark's doctests: saved numbers and empty strings read back from part files."""
    ctx.parallelize(range(10)).save_as_text_file(str(tmp_path / "nums"))
    assert "".join(sorted(read_parts(str(tmp_path / "nums")).splitlines(True))) == \
        "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
    ctx.parallelize(["", "foo", "", "bar", ""]).save_as_text_file(str(tmp_path / "blanks"))
    assert "".join(sorted(read_parts(str(tmp_path / "blanks")).splitlines(True))) == \
        "\n\n\nbar\nfoo\n"


def test_save_as_text_file_writes_one_part_per_partition_and_success(ctx, tmp_path):
    """part-00000.. per partition, a _SUCCESS marker, and nothing else."""
    out = str(tmp_path / "out")
    ctx.parallelize(["a", "b", "c"], 3).save_as_text_file(out)
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    parts = [open(os.path.join(out, f"part-0000{i}")).read() for i in range(3)]
    assert parts == ["a\n", "b\n", "c\n"]
    assert os.path.getsize(os.path.join(out, "_SUCCESS")) == 0


def test_save_as_text_file_empty_partitions_and_str_conversion(ctx, tmp_path):
    """Empty partitions give empty parts; records are written as str(x)."""
    out = str(tmp_path / "conv")
    ctx.parallelize([(1, "a"), None, "é"], 4).save_as_text_file(out)
    assert len(glob.glob(os.path.join(out, "part-*"))) == 4
    assert read_parts(out) == "(1, 'a')\nNone\né\n"
    assert ctx.text_file(out).collect() == ["(1, 'a')", "None", "é"]


def test_save_as_text_file_round_trips_through_text_file(ctx, tmp_path):
    """What is saved reads back line for line."""
    out = str(tmp_path / "round")
    lines = [f"line {i} é" for i in range(100)]
    ctx.parallelize(lines, 3).save_as_text_file(out)
    assert ctx.text_file(out).collect() == lines


def test_save_as_text_file_of_empty_rdd(ctx, tmp_path):
    """An RDD without partitions saves as a bare _SUCCESS marker and reads back empty."""
    out = str(tmp_path / "nothing")
    ctx.empty_rdd().save_as_text_file(out)
    assert os.listdir(out) == ["_SUCCESS"]
    assert ctx.text_file(out).collect() == []


def test_save_as_text_file_gzip_codec(ctx, tmp_path):
    """The gzip codec writes .gz parts that text_file reads back."""
    out = str(tmp_path / "gz")
    ctx.parallelize(["x", "y"], 2).save_as_text_file(out, "org.apache.hadoop.io.compress.GzipCodec")
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.gz", "part-00001.gz"]
    assert ctx.text_file(out).collect() == ["x", "y"]


def test_save_as_text_file_takes_sparks_short_codec_names_in_any_case(ctx, tmp_path):
    """snappy, LZ4, Deflate, none... (Spark's CompressionCodecs.shortCompressionCodecNames)
    write the parts the codec's Hadoop class writes, byte for byte; before, only names with
    gzip or bzip2 in them were taken and the others were unsupported codecs."""
    def parts(codec, name):
        out = tmp_path / name
        ctx.parallelize(["x", "y" * 300], 2).save_as_text_file(str(out), codec)
        return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name != "_SUCCESS"}

    hadoop = "org.apache.hadoop.io.compress."
    for short, cls in (("snappy", "SnappyCodec"), ("LZ4", "Lz4Codec"),
                       ("Deflate", "DeflateCodec"), ("GZIP", "GzipCodec"),
                       ("bzip2", "BZip2Codec")):
        assert parts(short, short) == parts(hadoop + cls, cls), short
        assert ctx.text_file(str(tmp_path / short)).collect() == ["x", "y" * 300]
    for plain in ("none", "Uncompressed"):
        assert parts(plain, plain) == {"part-00000": b"x\n", "part-00001": b"y" * 300 + b"\n"}


@pytest.mark.parametrize("codec", ["ZStandardCodec", 5])
def test_a_codec_vega_lacks_is_refused_naming_the_ones_it_has(ctx, tmp_path, codec):
    """A codec class that is not a name (5) raised AttributeError: 'int' object has no
    attribute 'lower'; either kind writes nothing."""
    out = tmp_path / "out"
    with pytest.raises(VegaError) as raised:
        ctx.parallelize(["x"]).saveAsTextFile(str(out), compressionCodecClass=codec)
    assert str(raised.value) == (
        f"unsupported compression codec {codec!r}: use one of Spark's short names (none, "
        "uncompressed, bzip2, deflate, gzip, lz4, snappy; in any case) or Hadoop's class, "
        "'org.apache.hadoop.io.compress.GzipCodec', 'BZip2Codec', 'DefaultCodec', "
        "'DeflateCodec', 'SnappyCodec' or 'Lz4Codec'")
    assert not out.exists()


@pytest.mark.parametrize("url", ["s3a://bucket/out", "gs://bucket/out", "HDFS://nn:9870/out",
                                 "/tmp/x,s3://bucket/y"])
def test_a_url_of_a_file_system_vega_lacks_is_refused_not_taken_for_a_local_path(
        ctx, tmp_path, monkeypatch, url):
    """saveAsTextFile("s3a://bucket/out") wrote ./s3a:/bucket/out in the working directory
    and succeeded; textFile("s3a://...") said 'cannot read /cwd/s3a:/bucket/...: no such
    file'. Both are a ValueError naming the scheme, before any job (PySpark's: 'No
    FileSystem for scheme'), and nothing is written."""
    monkeypatch.chdir(tmp_path)
    scheme = url.split(",")[-1].split("://")[0]
    message = (f"^{re.escape(url)}: Vega reads and writes local paths, file: URLs and HDFS "
               f"\\(hdfs://, webhdfs://\\), not {scheme}:// URLs: copy the data to HDFS or "
               "to a file system every host mounts$")
    for call in (lambda: ctx.parallelize(["x"]).saveAsTextFile(url),
                 lambda: ctx.parallelize(["x"]).save_as_pickle_file(url),
                 lambda: ctx.textFile(url), lambda: ctx.whole_text_files(url),
                 lambda: ctx.binary_files(url), lambda: ctx.pickle_file(url).count(),
                 lambda: ctx.set_checkpoint_dir(url), lambda: ctx.add_file(url)):
        with pytest.raises(ValueError, match=message):
            call()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("url, words", [
    ("s3a:/bucket/out", "Vega reads and writes local paths, file: URLs and HDFS (hdfs://, "
                        "webhdfs://), not s3a:// URLs: copy the data to HDFS or to a file "
                        "system every host mounts"),
    ("hdfs:/data/out", "an HDFS URL has two slashes: hdfs:///data/out (the namenode of "
                       "vega.hdfs.namenode) or hdfs://HOST:PORT/data/out"),
])
def test_a_url_with_one_slash_is_not_taken_for_a_local_path(ctx, tmp_path, monkeypatch, url,
                                                            words):
    """Hadoop reads hdfs:/data/out as hdfs:///data/out; Vega wrote ./hdfs:/data/out (and
    ./s3a:/bucket/out) in the working directory and succeeded."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as raised:
        ctx.parallelize(["x"]).saveAsTextFile(url)
    assert str(raised.value) == f"{url}: {words}"
    with pytest.raises(ValueError):
        ctx.textFile(url)
    assert os.listdir(tmp_path) == []


def test_gzip_parts_name_no_file_and_no_time_as_hadoops(ctx, tmp_path):
    """Hadoop's GzipCodec writes a bare 10-byte header (no file name, time 0), so the same
    records make the same bytes; Vega's named the temporary file it was written as (what
    gunzip -N restores) and the time of writing."""
    for run in ("a", "b"):
        ctx.parallelize(["x"], 1).save_as_text_file(str(tmp_path / run),
                                                    "org.apache.hadoop.io.compress.GzipCodec")
    first = (tmp_path / "a" / "part-00000.gz").read_bytes()
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    assert gzip.decompress(first) == b"x\n"
    assert (tmp_path / "b" / "part-00000.gz").read_bytes() == first


def test_save_as_text_file_default_codec(ctx, tmp_path):
    """Hadoop's DefaultCodec writes zlib streams as .deflate parts (as Spark does); text_file
    and whole_text_files read them, and .deflate files Hadoop wrote (a stream each)."""
    out = str(tmp_path / "deflate")
    lines = [f"line {i} é" for i in range(3000)]
    ctx.parallelize(lines, 2).save_as_text_file(out, "org.apache.hadoop.io.compress.DefaultCodec")
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.deflate", "part-00001.deflate"]
    assert zlib.decompress(open(os.path.join(out, "part-00000.deflate"), "rb").read()) == \
        "".join(line + "\n" for line in lines[:1024]).encode()  # (PySpark's slices: 1024, 1976)
    assert ctx.text_file(out, 4).collect() == lines
    (tmp_path / "hadoop").mkdir()
    hadoop_part = tmp_path / "hadoop" / "part-r-00000.deflate"
    hadoop_part.write_bytes(zlib.compress(b"\xef\xbb\xbfa\r\nb"))
    assert ctx.text_file(str(tmp_path / "hadoop")).collect() == ["a", "b"]
    assert ctx.whole_text_files(str(tmp_path / "hadoop")).values().collect() == ["\ufeffa\r\nb"]


def test_save_as_text_file_refuses_existing_path(ctx, tmp_path):
    """An existing path raises OutputExistsError and is left untouched."""
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError):
        ctx.parallelize(["a"]).save_as_text_file(str(out))
    assert os.listdir(out) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "precious"


def test_save_as_text_file_overwrite(ctx, tmp_path):
    """overwrite=True replaces what was there."""
    out = str(tmp_path / "again")
    ctx.parallelize(["old1", "old2", "old3"], 3).save_as_text_file(out)
    ctx.parallelize(["new"], 1).save_as_text_file(out, overwrite=True)
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000"]
    assert ctx.text_file(out).collect() == ["new"]


def test_failed_save_leaves_nothing_at_target(fresh_ctx, tmp_path):
    """A job that fails while saving leaves no directory at the target path."""
    ctx = fresh_ctx("local[2,2]")
    out = str(tmp_path / "failed")

    def explode(x):
        if x == 7:
            raise RuntimeError("no saving today")
        return x

    with pytest.raises(TaskFailed):
        ctx.parallelize(range(10), 3).map(explode).save_as_text_file(out)
    assert not os.path.exists(out)


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_an_attempt_outliving_its_failed_save_does_not_make_the_output_anew(
        fresh_ctx, tmp_path, master):
    """A task still running when its save failed (the kill came too late: it was deep in a C
    call, or ignores it) wrote its part after the driver had removed the output, making
    PATH/_temporary/ anew: the path was there, and saving to it again was refused."""
    ctx = fresh_ctx(master, conf={"vega.task.max_attempts": 1})
    out = str(tmp_path / "out")

    def late(index, records):
        if index == 0:
            raise RuntimeError("partition 0 fails the job")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the job has failed and out is removed
            try:
                if not os.path.exists(out):
                    break
                time.sleep(0.01)
            except BaseException:  # the kill, missed
                pass
        return records

    with pytest.raises(TaskFailed, match="partition 0 fails the job"):
        ctx.parallelize(["a", "b"], 2).map_partitions_with_index(late).save_as_text_file(out)
    # a barrier stage of two tasks runs once both slots are free: the late task has ended
    assert ctx.parallelize([1, 2], 2).barrier().map_partitions(iter).collect() == [1, 2]
    assert not os.path.exists(out)
    ctx.parallelize(["c"], 1).save_as_text_file(out)
    assert ctx.text_file(out).collect() == ["c"]


def test_failed_commit_leaves_nothing_half_written(ctx, tmp_path):
    """A commit that fails after the tasks succeeded (here _SUCCESS cannot be written: a
    task made a directory of that name) removes the output, as a failed job does, instead
    of leaving its parts without _SUCCESS; an overwrite keeps the old output."""
    out = str(tmp_path / "blocked")

    def block_success_marker(x):
        os.makedirs(os.path.join(out, "_SUCCESS"), exist_ok=True)
        return x

    with pytest.raises(IsADirectoryError):
        ctx.parallelize(["a", "b"], 2).map(block_success_marker).save_as_text_file(out)
    assert os.listdir(tmp_path) == []
    ctx.parallelize(["old"], 1).save_as_text_file(out)

    def block_staged_marker(x):
        staging = [n for n in os.listdir(tmp_path) if ".staging-" in n][0]
        os.makedirs(os.path.join(tmp_path, staging, "_SUCCESS"), exist_ok=True)
        return x

    with pytest.raises(IsADirectoryError):
        ctx.parallelize(["new"], 1).map(block_staged_marker).save_as_text_file(out, overwrite=True)
    assert os.listdir(tmp_path) == ["blocked"]
    assert ctx.text_file(out).collect() == ["old"]


def test_failed_overwrite_keeps_the_old_output(fresh_ctx, tmp_path):
    """save_as_*(overwrite=True) by a job that fails leaves the previous output intact and
    nothing of its own beside it."""
    ctx = fresh_ctx(conf={"vega.task.max_attempts": 2})
    out = str(tmp_path / "kept")
    ctx.parallelize(["old1", "old2", "old3"], 3).save_as_text_file(out)
    before = {name: open(os.path.join(out, name)).read() for name in os.listdir(out)}

    def explode(x):
        if x == 7:
            raise RuntimeError("no saving today")
        return x

    with pytest.raises(TaskFailed):
        ctx.parallelize(range(10), 3).map(explode).save_as_text_file(out, overwrite=True)
    assert {name: open(os.path.join(out, name)).read() for name in os.listdir(out)} == before
    assert os.listdir(tmp_path) == ["kept"]
    with pytest.raises(TaskFailed):
        ctx.parallelize(range(10), 3).map(explode).save_as_pickle_file(out, overwrite=True)
    assert sorted(ctx.text_file(out).collect()) == ["old1", "old2", "old3"]
    assert os.listdir(tmp_path) == ["kept"]


def test_overwrite_keeps_the_old_output_until_the_new_one_is_complete(ctx, tmp_path):
    """While the overwriting job's tasks run, the path still holds the old output; after
    it, only the new output is there and no staging or old copy is left beside it."""
    out = str(tmp_path / "swapped")
    ctx.parallelize(["old"], 1).save_as_text_file(out)

    def seen_by_task(x):
        return f"{x} saw {read_parts(out).strip()!r}"

    ctx.parallelize(["a", "b", "c"], 3).map(seen_by_task).save_as_text_file(out, overwrite=True)
    assert sorted(ctx.text_file(out).collect()) == ["a saw 'old'", "b saw 'old'", "c saw 'old'"]
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert os.listdir(tmp_path) == ["swapped"]


# -- pickle files -------------------------------------------------------------------------------

def test_pickle_file_pyspark_doctest(ctx, tmp_path):
    """PySpark's doctest: save in batches of 5, read back with 3 min partitions."""
    path = str(tmp_path / "pickled")
    ctx.parallelize(range(10)).save_as_pickle_file(path, 5)
    assert sorted(ctx.pickle_file(path, 3).collect()) == list(range(10))


def test_pickle_file_round_trips_any_objects(ctx, tmp_path):
    """Tuples, dicts, None, unicode, bytes and big strings survive the round trip."""
    path = str(tmp_path / "objects")
    big = "p" * (5 * 1024 * 1024)
    data = [None, ("é", 1), {"k": [1, 2]}, b"\x00\xff", 2.5, "🔑", big] + list(range(50))
    ctx.parallelize(data, 4).save_as_pickle_file(path)
    back = ctx.pickle_file(path).collect()
    assert len(back) == len(data)
    assert sorted(map(repr, back)) == sorted(map(repr, data))
    assert os.path.exists(os.path.join(path, "_SUCCESS"))


def test_pickle_file_of_other_files_names_the_file(ctx, tmp_path):
    """pickle_file of text parts fails naming the part and what was expected."""
    out = str(tmp_path / "text")
    ctx.parallelize(["not", "pickles"], 2).save_as_text_file(out)
    with pytest.raises(TaskFailed, match=r"cannot read \S*/text/part-0000[01]: not the pickled "
                                         r"batches save_as_pickle_file writes"):
        ctx.pickle_file(out).collect()


def test_pickle_file_of_empty_rdd(ctx, tmp_path):
    """An empty RDD saves and loads as empty."""
    path = str(tmp_path / "empty-pickles")
    ctx.parallelize([], 2).save_as_pickle_file(path)
    assert ctx.pickle_file(path).collect() == []


def test_save_as_pickle_file_refuses_existing_path(ctx, tmp_path):
    """Saving pickles over an existing path raises OutputExistsError unless overwrite."""
    path = str(tmp_path / "pickles-twice")
    ctx.parallelize([1, 2], 2).save_as_pickle_file(path)
    with pytest.raises(OutputExistsError):
        ctx.parallelize([3]).save_as_pickle_file(path)
    assert sorted(ctx.pickle_file(path).collect()) == [1, 2]
    ctx.parallelize([3], 1).save_as_pickle_file(path, overwrite=True)
    assert ctx.pickle_file(path).collect() == [3]


def test_paths_are_str_or_pathlib_and_anything_else_says_so(ctx, tmp_path):
    """A pathlib.Path names a file to read or a directory to write, as a str does; a list
    (PySpark's Py4J takes none either) is a TypeError saying what a path is; before, reads
    raised "'list' object has no attribute 'strip'" and pathlib.Path "not iterable"."""
    (tmp_path / "in.txt").write_text("a\nb\n")
    assert ctx.text_file(tmp_path / "in.txt").collect() == ["a", "b"]
    ctx.parallelize(["x"], 1).save_as_text_file(tmp_path / "out")
    assert ctx.text_file(str(tmp_path / "out")).collect() == ["x"]
    message = ("a path must be a str or a pathlib.Path (several inputs: one str, separated "
               "by commas), not list")
    for call in (lambda: ctx.text_file([str(tmp_path / "in.txt")]),
                 lambda: ctx.whole_text_files([str(tmp_path)]),
                 lambda: ctx.parallelize([1]).save_as_text_file([str(tmp_path / "o2")])):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == message
