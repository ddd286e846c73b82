"""Sizes at the limits: what is too large for a message between the driver and its
executors fails the job at once, in one sentence naming the limit and what to do, on every
master that sends it; nothing is sent that an executor would have to refuse."""

from __future__ import annotations

import re
import time

import pytest

from proc_helpers import write_job

#: the most a task may pickle to (backend.TASK_FRAME_ROOM: the 1 GiB frame limit less 1 MiB)
TASK_ROOM = "more than the 1023 MiB a message to an executor can hold"


@pytest.mark.parametrize("master, source, hint", [
    ("local[2]", "big = b'c' * (1 << 30)\n"
                 "            print(ctx.parallelize(range(2), 2).map(lambda i: len(big) + i).collect())",
     r"\(its stage's functions and what they capture: 1\.0 GiB; its partition: \d+ bytes\), "
     + TASK_ROOM + r": broadcast\(\) a large value the functions capture and read its \.value "
                   r"in them"),
    ("local-cluster[2,1]", "print(ctx.parallelize([b'p' * (1 << 30)], 1).map(len).collect())",
     r"\(its stage's functions and what they capture: [\d.]+ KiB; its partition: 1\.0 GiB\), "
     + TASK_ROOM + r": give parallelize\(\) more slices, or write the data to files and read "
                   r"them \(text_file, pickle_file\)"),
])
def test_a_task_too_large_for_a_message_fails_the_job_at_once(vega_cli, tmp_path, master,
                                                               source, hint):
    """A stage whose functions capture 1 GiB, or a parallelize() slice of 1 GiB, fails the job
    before anything is sent, naming the sizes, the limit and what to do (it was sent: each
    executor refused the frame and exited, was replaced and sent it again, for ever)."""
    job = write_job(tmp_path, "big_task.py", f"""
        from vega_runtime import Context

        with Context() as ctx:
            {source}
    """)
    started = time.monotonic()
    result = vega_cli("submit", "--master", master, "--conf", "vega.executor.memory=4g", job,
                      timeout=90)
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    [failed] = [line for line in result.stderr.splitlines() if line.startswith("vega: job failed:")]
    assert re.fullmatch(r"vega: job failed: task 0 of stage 0 pickles to 1\.0 GiB " + hint,
                        failed), failed
    assert "exited" not in result.stderr and "was lost" not in result.stderr


def test_accumulator_updates_too_large_for_a_message_fail_the_job_at_once(vega_cli, tmp_path):
    """A task that adds 1 GiB to an accumulator fails the job on its first attempt, saying
    so (its executor sent the update in a frame the driver refused: the executor was lost,
    "protocol error ... frame of 1073741958 bytes exceeds the limit", and the task retried)."""
    job = write_job(tmp_path, "big_accumulator.py", """
        from vega_runtime import AccumulatorParam, Context

        class Concatenation(AccumulatorParam):
            def zero(self, value):
                return b""

            def addInPlace(self, first, second):
                return first + second

        with Context() as ctx:
            acc = ctx.accumulator(b"", Concatenation())
            ctx.parallelize([0], 1).foreach(lambda i: acc.add(b"q" * (1 << 30)))
            print(len(acc.value))
    """)
    result = vega_cli("submit", "--master", "local[2]", job, timeout=90)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    [failed] = [line for line in result.stderr.splitlines() if line.startswith("vega: job failed:")]
    assert re.fullmatch(
        r"vega: job failed: task 0 of stage 0 \(RDD created at big_accumulator.py:12 in "
        r"<module>\) failed once; last error on localhost \(exec-[12]\): ResultTooLarge: the "
        r"accumulator updates of 1 task \(1\.0 GiB\) are bigger than the 1023 MiB a task can "
        r"send \(the 1 GiB frame limit less room for the rest of its report\): add small "
        r"values to accumulators \(counts, sums, a few items\), and bring large data back "
        r"with collect\(\) or write it out \(save_as_text_file\)", failed), failed
    assert "protocol error" not in result.stderr and "was lost" not in result.stderr


def test_a_text_file_without_line_ends_fails_at_hadoops_line_limit(vega_cli, tmp_path):
    """text_file of 2.2 GB with no line end fails the job in seconds, naming the file, the
    limit and what to read it with, as Hadoop's "Too many bytes before newline" (a 3 GB one
    held 9 GB in its task before a MemoryError, and each partition read on to its end)."""
    path = tmp_path / "no_line_ends.bin"
    with open(path, "wb") as out:
        out.truncate(2200 << 20)  # sparse: no disk taken
    job = write_job(tmp_path, "no_lines.py", f"""
        from vega_runtime import Context

        with Context() as ctx:
            print(ctx.text_file({str(path)!r}).map(len).max())
    """)
    started = time.monotonic()
    result = vega_cli("submit", "--master", "local[2]", job, timeout=90)
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stderr
    [failed] = [line for line in result.stderr.splitlines() if line.startswith("vega: job failed:")]
    assert re.fullmatch(
        r"vega: job failed: task \d+ of stage 0 \(RDD created at no_lines.py:4 in <module>\) "
        r"failed once; last error on localhost \(exec-[12]\): InputError: cannot read "
        + re.escape(str(path)) + r": the line at byte \d+ runs on past 2147483647 bytes "
        r"without a line end \(the longest line text_file reads, as Hadoop's: \"Too many "
        r"bytes before newline\"\): it is not text of lines; read it with binary_files\(\) or "
        r"whole_text_files\(\)", failed), failed


@pytest.mark.parametrize("start, lines", [(0, ["ab", "cdefghijkl", "xy"]), (4, ["xy"])])
def test_lines_up_to_the_limit_are_read_and_longer_ones_refused(tmp_path, start, lines):
    """read_lines holds no more than max_line bytes of a line (give or take a chunk) before
    it refuses it, from the file's start and from a partition's."""
    from vega_runtime.errors import InputError
    from vega_runtime.io.lines import CHUNK, read_lines

    path = tmp_path / "lines.txt"
    path.write_bytes(b"ab\ncdefghijkl\nxy")
    assert list(read_lines(str(path), start, 100, max_line=10)) == lines
    path.write_bytes(b"ab\n" + b"c" * (3 * CHUNK) + b"\nxy")
    with pytest.raises(InputError, match=r"the line at byte \d+ runs on past 100 bytes"):
        list(read_lines(str(path), start, 100, max_line=100))


@pytest.mark.parametrize("streams, refused, where", [
    # a long line from the first block into the next, in one range; through blocks with no
    # line end; in the block after its range, which reads on to finish its last line; at
    # the start of a later range, which skips it
    ([b"ab\ncd", b"c" * 1000 + b"\nxy"], "whole", "3"),
    ([b"ab\ncd", b"c" * 1000, b"c" * 1000], "whole", "3"),
    ([b"ab\ncd", b"c" * 1000 + b"\nxy"], "first", "3"),
    ([b"ab\n", b"c" * 1000 + b"\nxy"], "second", "0 of the text from the bzip2 block at byte 44"),
])
def test_bzip2_lines_longer_than_the_limit_are_refused(tmp_path, streams, refused, where):
    """A .bz2 file's lines are held to text_file's limit (give or take a block), with the
    same message, from its start and from a range starting at a later block, and lines
    within it are read (it had none: a .bz2 of gigabytes without a line end was held whole
    in its task's memory)."""
    import bz2

    from vega_runtime.errors import InputError
    from vega_runtime.io.lines import read_lines

    path = tmp_path / "lines.txt.bz2"
    compressed = [bz2.compress(data) for data in streams]  # a stream (a block) each
    path.write_bytes(b"".join(compressed))
    cut, size = len(compressed[0]), path.stat().st_size
    ranges = {"whole": (0, size), "first": (0, cut), "second": (cut, size)}
    assert [line for start, end in (ranges["first"], ranges["second"])
            for line in read_lines(str(path), start, end, max_line=5000)] == \
        b"".join(streams).decode().splitlines()
    with pytest.raises(InputError) as error:
        list(read_lines(str(path), *ranges[refused], max_line=100))
    assert str(error.value) == (
        f"cannot read {path}: the line at byte {where} runs on past 100 bytes without a line "
        "end (the longest line text_file reads, as Hadoop's: \"Too many bytes before "
        "newline\"): it is not text of lines; read it with binary_files() or "
        "whole_text_files()")


@pytest.mark.parametrize("suffix", [".gz", ".deflate"])
def test_lines_of_other_codecs_are_held_to_the_limit(tmp_path, suffix):
    """A .gz or .deflate file (read whole, by one task) has the same limit."""
    import gzip
    import zlib

    from vega_runtime.errors import InputError
    from vega_runtime.io.lines import CHUNK, read_lines

    path = tmp_path / f"lines.txt{suffix}"
    data = b"ab\n" + b"c" * (3 * CHUNK) + b"\nxy"  # (held to it give or take a chunk)
    path.write_bytes(gzip.compress(data) if suffix == ".gz" else zlib.compress(data))
    assert list(read_lines(str(path), 0, 1, splittable=False))[::2] == ["ab", "xy"]
    with pytest.raises(InputError, match=r"the line at byte 3 runs on past 100 bytes"):
        list(read_lines(str(path), 0, 1, splittable=False, max_line=100))


#: what a task result too large to send says, whatever vega.driver.max_result_size is
TOO_LARGE_TO_SEND = (
    "the serialized result of 1 task (1023.5 MiB) is bigger than the 1023 MiB a task can send "
    "(the 1 GiB frame limit less room for the rest of its report): no task's result can be "
    "bigger, whatever vega.driver.max_result_size says: spread the data over more partitions "
    "(repartition()), bring less back (take, a sample, an aggregate) or write it out "
    "(save_as_text_file)")


@pytest.mark.parametrize("limit, size, message", [
    ("0", 1023.5, TOO_LARGE_TO_SEND), ("2g", 1023.5, TOO_LARGE_TO_SEND),
    ("1g", 1023.5, TOO_LARGE_TO_SEND), ("1000m", 1023.5, TOO_LARGE_TO_SEND),
    ("1m", 2.5, "the serialized result of 1 task (2.5 MiB) is bigger than "
                "vega.driver.max_result_size (1 MiB): bring less back to the driver (take, a "
                "sample, an aggregate, or save_as_text_file) or raise vega.driver.max_result_size "
                "(0: no limit but the 1 GiB any one task's result can be)"),
])
def test_a_result_too_large_to_send_says_what_helps_at_every_limit(limit, size, message):
    """A task's result too large for a message is told so, and what helps, with
    vega.driver.max_result_size 0 (no limit, as Spark's 0), over the frame limit or under
    the result: raising the setting, which it suggested (with 0 too), would not let it
    through; a result under the frame limit but over the setting still suggests raising it."""
    from vega_runtime.config import Config
    from vega_runtime.scheduler.executor import result_too_large

    setting = Config.load(overrides={"vega.driver.max_result_size": limit},
                          conf_dir="/nonexistent")["vega.driver.max_result_size"]
    assert result_too_large(int(size * (1 << 20)), setting) == message


def test_compressed_files_go_into_a_job_package_as_they_are(tmp_path):
    """A --py-files .zip (or a .gz of --files) is stored in the job package, not deflated
    again: a 300 MB one took 11.7 s to package (twice in cluster mode), 3.2 s stored; a .py
    is still deflated."""
    import zipfile

    from vega_runtime.packaging import build_package

    deps, data, job = tmp_path / "deps.ZIP", tmp_path / "data.gz", tmp_path / "job.py"
    with zipfile.ZipFile(deps, "w") as archive:
        archive.writestr("dep.py", "X = 1\n" * 1000)
    data.write_bytes(bytes(range(256)) * 64)
    job.write_text("print(1)\n" * 100)
    package = build_package(str(job), [str(deps)], [str(data)], str(tmp_path / "out"))
    with zipfile.ZipFile(package.path) as archive:
        assert {info.filename: info.compress_type for info in archive.infolist()} == {
            "job/job.py": zipfile.ZIP_DEFLATED, "py/deps.ZIP": zipfile.ZIP_STORED,
            "files/data.gz": zipfile.ZIP_STORED, "sources.json": zipfile.ZIP_DEFLATED}
        assert archive.read("py/deps.ZIP") == deps.read_bytes()
        assert archive.read("files/data.gz") == data.read_bytes()
