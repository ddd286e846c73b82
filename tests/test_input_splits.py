"""Byte-range input splits: every line exactly once, partitions balanced by bytes."""

import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from vega_runtime.io.files import InputFile, list_input_files
from vega_runtime.io.lines import read_lines
from vega_runtime.io.splits import hadoop_splits, plan_splits
from vega_runtime.errors import InputError


def lines_of(path, cuts):
    out = []
    for start, end in zip(cuts, cuts[1:]):
        out.extend(read_lines(str(path), start, end))
    return out


CASES = {
    "plain": b"alpha\nbeta\ngamma\n",
    "no trailing newline": b"alpha\nbeta\ngamma",
    "crlf": b"alpha\r\nbeta\r\n\r\ngamma\r\n",
    "empty lines": b"\n\n\nx\n\n",
    "one long line": b"x" * 5000 + b"\nshort\n",
    "unicode": "é\nüñí\n日本語\n".encode(),
    "empty": b"",
    "lone cr (old Mac)": b"alpha\rbeta\r\rgamma",
    "mixed line ends": b"a\r\rb\n\rc\r\n\n\r" + b"y" * 300 + b"\r\n\r",
    "byte order mark": b"\xef\xbb\xbfalpha\nbeta\n",
    "long lines ending in crlf and cr": b"a\n" + b"x" * 3000 + b"\r\nb\r" + b"y" * 2000 + b"\rz",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_line_once_for_every_split_size(tmp_path, name):
    """Whatever the cut points, the concatenated splits give exactly the file's lines, ended
    as Hadoop ends them: by \\n, \\r\\n or a lone \\r (a leading byte order mark dropped)."""
    data = CASES[name]
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    expected = re.split("\r\n|\r|\n", data.decode().removeprefix("\ufeff"))
    if expected and expected[-1] == "":
        expected.pop()
    for step in range(1, max(2, len(data) + 2)):
        cuts = list(range(0, len(data), step)) + [len(data)]
        assert lines_of(path, cuts) == expected, f"step {step}"


def test_a_line_longer_than_many_splits_is_read_in_linear_time(fresh_ctx, tmp_path):
    """Each split that starts inside a long line reads on to its end; that scan (a regular
    expression) and the line's assembly (the line so far copied at each chunk) made a
    64 MiB line over 1 MiB splits take 23 s; memchr and one join take about 2 s."""
    path = tmp_path / "long.txt"
    path.write_bytes(b"a\n" + b"x" * (64 << 20) + b"\r\nb\n")
    ctx = fresh_ctx("local", conf={"vega.input.split_size": 1 << 20})
    started = time.monotonic()
    rdd = ctx.text_file(str(path))
    assert rdd.get_num_partitions() == 65
    assert rdd.map(len).collect() == [1, 64 << 20, 1]
    assert time.monotonic() - started < 12


def test_bytes_that_are_not_utf8_decode_as_in_hadoop(tmp_path):
    """Each malformed sequence is one U+FFFD as Java's decoder (Hadoop's Text) counts them:
    a CESU-8 surrogate (ED A0..BF 80..BF, or its first two bytes) is one, not one a byte."""
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a\xed\xa0\xbd\xed\xb8\x80b\n\xed\xa0\n\xf4\x90\x80\x80\n"
                     b"\xe0\x80\x80\n\xc0\xaf\n\xff\xfe x\nend\xed\xa0\x80")
    r = "\ufffd"
    assert list(read_lines(str(path), 0, path.stat().st_size)) == [
        f"a{r}{r}b", r, r * 4, r * 3, r * 2, f"{r}{r} x", f"end{r}"]


def test_random_cuts_of_a_large_file(tmp_path):
    """Random split points in a 2 MB file with lines of random length, some longer than a split."""
    rng = random.Random(7)
    lines = ["".join(rng.choice("abc ") for _ in range(rng.choice([0, 1, 5, 80, 3000])))
             for _ in range(3000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    size = path.stat().st_size
    for _ in range(20):
        cuts = sorted({0, size, *rng.sample(range(1, size), 15)})
        assert lines_of(path, cuts) == lines


def test_gzip_files_are_read_whole(tmp_path):
    """Compressed files are decompressed and never split."""
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wb") as out:
        out.write(b"one\ntwo\n")
    files = list_input_files(str(path))
    assert not files[0].splittable
    assert list(read_lines(str(path), 0, files[0].size, splittable=False)) == ["one", "two"]
    assert len(plan_splits(files, 4, 1)) == 1


def test_large_files_are_cut_and_small_files_packed_by_bytes():
    """Partitions come out near equal in bytes, whatever the file count."""
    files = [InputFile("big", 1000)] + [InputFile(f"s{i}", 10) for i in range(100)]
    plan = plan_splits(files, 4, 500)
    sizes = [sum(s.length for s in part) for part in plan]
    assert sum(sizes) == 2000
    assert max(sizes) - min(sizes) <= 10 + 1000 // 3
    covered = sorted((s.path, s.start, s.end) for part in plan for s in part if s.path == "big")
    assert covered[0][1] == 0 and covered[-1][2] == 1000
    assert all(a[2] == b[1] for a, b in zip(covered, covered[1:]))


def test_min_partitions_is_honoured_for_one_small_file():
    """A 100-byte file asked for 4 partitions gets 4 byte ranges."""
    assert len(plan_splits([InputFile("f", 100)], 4, 1 << 20)) == 4


def ranges(plan):
    return [[(s.path, s.start, s.end) for s in partition] for partition in plan]


def test_given_min_partitions_cut_files_as_hadoops_get_splits():
    """With min_partitions, Hadoop's FileInputFormat.getSplits ranges, one a partition
    (PySpark's textFile(path, n), measured against PySpark 4.3): the goal is floor(total /
    n), capped by the block size (the local file system's 32 MB), cuts at k * goal while
    more than 1.1 goals remain; no rounding up to the cores (3 gave 4)."""
    mb32 = 32 << 20
    assert ranges(hadoop_splits([InputFile("f", 1000)], 3, mb32)) == [
        [("f", 0, 333)], [("f", 333, 666)], [("f", 666, 1000)]]  # (Vega cut at 334)
    big = [InputFile("corpus", 100_000_041)]  # the 100 MB word count's, PySpark's 3
    assert ranges(hadoop_splits(big, 2, mb32)) == [
        [("corpus", 0, mb32)], [("corpus", mb32, 2 * mb32)], [("corpus", 2 * mb32, 100_000_041)]]
    assert len(hadoop_splits(big, 7, mb32)) == 7
    assert len(hadoop_splits([InputFile("f", 115)], 1, mb32)) == 1
    assert ranges(hadoop_splits([InputFile("f", 6)], 5, mb32)) == [  # goal 1: six ranges
        [("f", i, i + 1)] for i in range(6)]
    assert len(hadoop_splits([InputFile("f", 6)], 17, mb32)) == 6


def test_given_min_partitions_with_several_files_compressed_and_empty_ones():
    """The goal is the total's share; each file is cut on its own (never packed with
    another); a .gz is one range, an empty file none (Spark ignores empty splits)."""
    files = [InputFile("a", 1000), InputFile("b.gz", 5000), InputFile("c", 0),
             InputFile("d.bz2", 40), InputFile("e", 3000)]
    assert ranges(hadoop_splits(files, 3, 32 << 20)) == [
        [("a", 0, 1000)], [("b.gz", 0, 5000)], [("d.bz2", 0, 40)],
        [("e", 0, 3000)]]  # goal 3013
    assert ranges(hadoop_splits(files, 9, 32 << 20)) == [
        [("a", 0, 1000)], [("b.gz", 0, 5000)], [("d.bz2", 0, 40)],
        [("e", 0, 1004)], [("e", 1004, 2008)], [("e", 2008, 3000)]]
    assert hadoop_splits([InputFile("c", 0)], 4, 32 << 20) == []
    # a file's own block size (HDFS) caps its ranges; SequenceFiles' least range, 100 KiB
    assert len(hadoop_splits([InputFile("h", 300 << 20, 128 << 20)], 1, 32 << 20)) == 3
    assert len(hadoop_splits([InputFile("s", 3_300_111)], 40, 32 << 20, 102_400)) == 33


def test_a_line_starting_at_a_range_edge_is_the_range_befores(tmp_path):
    """As Hadoop's LineRecordReader: range [start, end) reads the lines starting in
    (start, end] (the first range from 0); every line once whatever the cuts."""
    path = tmp_path / "t.txt"
    path.write_bytes(b"a\nb\nc\n")
    assert [list(read_lines(str(path), s, e)) for s, e in ((0, 2), (2, 4), (4, 6))] == [
        ["a", "b"], ["c"], []]
    assert [list(read_lines(str(path), s, s + 1)) for s in range(6)] == [
        ["a"], ["b"], [], ["c"], [], []]
    path.write_bytes(b"x\r\ny\r\nz")  # a cut between \r and \n
    assert [list(read_lines(str(path), s, e)) for s, e in ((0, 2), (2, 5), (5, 7))] == [
        ["x"], ["y"], ["z"]]


def test_paths_globs_directories_and_lists(tmp_path):
    """file:// URLs, globs, directories (skipping _ and . files) and comma lists."""
    for name in ("a.txt", "b.txt", "c.log", "_SUCCESS", ".hidden"):
        (tmp_path / name).write_text(name)
    names = lambda spec: [f.path.rsplit("/", 1)[1] for f in list_input_files(spec)]
    assert names(str(tmp_path)) == ["a.txt", "b.txt", "c.log"]
    assert names(f"file://{tmp_path}/*.txt") == ["a.txt", "b.txt"]
    assert names(f"{tmp_path}/c.log,{tmp_path}/a.txt") == ["c.log", "a.txt"]
    with pytest.raises(InputError, match="no such file"):
        list_input_files(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="no file matches"):
        list_input_files(str(tmp_path / "*.csv"))


def test_hadoop_globs_braces_and_hidden_matches(tmp_path):
    """{a,b} alternatives (their commas do not cut the list), [^..] negation, and glob
    matches named _x or .x skipped, as Hadoop's FileInputFormat lists them."""
    for name in ("a.txt", "b.txt", "c.log", "_d.txt", ".e.txt", "sub/f.txt", "sub/_g.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(name)
    names = lambda spec: [f.path[len(str(tmp_path)) + 1:] for f in list_input_files(spec)]
    assert names(f"{tmp_path}/{{a,c}}.*") == ["a.txt", "c.log"]
    assert names(f"{tmp_path}/{{b.txt,sub}},{tmp_path}/a.txt") == ["b.txt", "sub/f.txt", "a.txt"]
    assert names(f"{tmp_path}/*.txt") == ["a.txt", "b.txt"]
    assert names(f"{tmp_path}/*") == ["a.txt", "b.txt", "c.log", "sub/f.txt"]
    assert names(f"{tmp_path}/[^a].txt") == ["b.txt"]
    with pytest.raises(InputError, match="no file matches"):
        list_input_files(f"{tmp_path}/_*")
    with pytest.raises(InputError, match="without its '}'"):
        list_input_files(f"{tmp_path}/{{a,b.txt")


def test_symbolic_links_in_an_input_directory(tmp_path):
    """A link to a directory is read as a directory (it was silently skipped), a link loop
    ends, and a broken link is an InputError naming it."""
    (tmp_path / "in").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    (tmp_path / "other" / "o.txt").write_text("o")
    (tmp_path / "in" / "linked").symlink_to(tmp_path / "other")
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    names = [f.path[len(str(tmp_path)) + 1:] for f in list_input_files(str(tmp_path / "in"))]
    assert names == ["in/a.txt", "in/linked/o.txt"]
    (tmp_path / "in" / "broken.txt").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match="broken.txt: No such file or directory"):
        list_input_files(str(tmp_path / "in"))


def test_unreadable_directory_is_an_input_error_not_an_empty_input(tmp_path):
    """A directory the driver may not list fails, naming it; it never reads as no files.
    (Checked in a process without CAP_DAC_OVERRIDE, since root reads any directory.)"""
    inner = tmp_path / "locked" / "inner"
    inner.mkdir(parents=True)
    (inner / "a.txt").write_text("a\n")
    as_user = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root, and no setpriv to drop CAP_DAC_OVERRIDE")
        as_user = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                   "--inh-caps=-dac_override,-dac_read_search"]
    script = ("import sys\nfrom vega_runtime.io.files import list_input_files\n"
              "from vega_runtime.errors import InputError\n"
              "try:\n    print(list_input_files(sys.argv[1]))\n"
              "except InputError as exc:\n    print(exc)\n")
    os.chmod(inner, 0)
    try:
        for path in (tmp_path / "locked", inner):
            done = subprocess.run(as_user + [sys.executable, "-c", script, str(path)],
                                  capture_output=True, text=True, timeout=60,
                                  cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            assert done.stdout == f"cannot read {inner}: Permission denied\n", done
    finally:
        os.chmod(inner, 0o755)
