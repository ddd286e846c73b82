"""An application's stored output (ordered_output): stdout and stderr kept apart, read in the
order the master took them (the web UI's tail, `vega logs`), across rotations, and logs
kept by a master of before read as they were."""

from __future__ import annotations

import os
import threading

import pytest

from test_log_rotation import _Recorder, _wait_for

from vega_runtime.deploy import ordered_output
from vega_runtime.deploy.app_logs import AppLogs
from vega_runtime.net.messages import LogChunk, LogEnd

APP = "app-20261206000000-0001"


def _lines(count: int):
    """(stream, line) alternating in runs of one, two, three lines of a stream."""
    out = []
    for i in range(count):
        stream = "stderr" if (i // 3) % 2 else "stdout"
        out.append((stream, f"{stream[3:]} {i:04d} " + "x" * 30 + "\n"))
    return out


def _follow(logs: AppLogs, offsets=()):
    conn = _Recorder()
    logs.follow(conn, APP, False, lambda: ("FINISHED", 0, True, ""), threading.Event(),
                offsets)
    conn.close()
    assert isinstance(conn.chunks[-1], LogEnd)
    return [c for c in conn.chunks if isinstance(c, LogChunk)]


def test_tail_and_follow_read_both_streams_in_the_order_written(tmp_path):
    """Runs of stdout and stderr come back interleaved as written, each chunk marked with
    its stream; each file holds its own stream alone."""
    logs = AppLogs(str(tmp_path))
    lines = _lines(20)
    with logs.open_for_append(APP) as out:
        for stream, line in lines:
            out.write(line.encode(), stream)
    everything = "".join(line for _, line in lines)
    assert logs.tail(APP) == everything
    assert logs.tail(APP, 100) == everything[-100:]
    chunks = _follow(logs)
    assert "".join(c.text for c in chunks) == everything
    assert [(c.stream, c.text) for c in chunks][:2] == [
        ("stdout", "".join(line for _, line in lines[:3])),
        ("stderr", "".join(line for _, line in lines[3:6]))]
    with open(logs.path(APP)) as fh:
        assert fh.read() == "".join(line for s, line in lines if s == "stdout")
    with open(logs.stderr_path(APP)) as fh:
        assert fh.read() == "".join(line for s, line in lines if s == "stderr")


def test_a_follower_following_again_goes_on_where_it_was_in_order(tmp_path):
    """The offsets of the last chunk of each stream a follower printed (its master
    restarted) start the next follow right after it, in order."""
    logs = AppLogs(str(tmp_path))
    lines = _lines(12)
    with logs.open_for_append(APP) as out:
        for stream, line in lines:
            out.write(line.encode(), stream)
    first = _follow(logs)
    # the follower had printed the first three runs (stdout, stderr, stdout)
    had = {c.stream: c.offset for c in first[:3]}
    rest = _follow(logs, [had["stdout"], had["stderr"]])
    assert "".join(c.text for c in first[:3] + rest) == "".join(line for _, line in lines)


def test_the_streams_rotate_together_and_a_follower_crosses_each_rotation_in_order(tmp_path):
    """Each generation keeps its own order; a follower reading while the master writes sees
    every line once, in order (given time to catch up between rotations, as
    test_log_rotation's follower); every file stays within its bound; the tail reaches into
    the generation before."""
    logs = AppLogs(str(tmp_path), max_bytes=2000, backups=5)
    lines = _lines(600)
    done = threading.Event()
    conn = _Recorder()
    follower = threading.Thread(target=logs.follow, args=(
        conn, APP, True, lambda: ("FINISHED", 0, done.is_set(), ""), threading.Event()))
    with logs.open_for_append(APP) as out:
        follower.start()
        for i, (stream, line) in enumerate(lines, 1):
            out.write(line.encode(), stream)
            if i % 20 == 0:
                _wait_for(lambda: "".join(c.text for c in conn.chunks
                                          if isinstance(c, LogChunk)).count("\n") >= i)
    done.set()
    follower.join(20)
    assert isinstance(conn.chunks[-1], LogEnd)
    conn.close()
    everything = "".join(line for _, line in lines)
    assert "".join(c.text for c in conn.chunks if isinstance(c, LogChunk)) == everything
    directory = os.path.dirname(logs.path(APP))
    names = set(os.listdir(directory))
    assert {"streams.log.1", "output.log.1", "stderr.log.1", "streams.log.5"} <= names
    assert max(os.path.getsize(os.path.join(directory, n)) for n in names) <= 2000
    current = len(open(logs.path(APP), "rb").read() + open(logs.stderr_path(APP), "rb").read())
    assert logs.tail(APP, current + 500) == everything[-(current + 500):]


def test_output_kept_by_a_master_of_before_reads_as_before_and_goes_on_in_order(tmp_path):
    """A directory of one output.log (before stderr was kept apart), or of output.log and
    stderr.log without their order: stdout, then stderr; a master writing on into it keeps
    what was there first, then the new runs in order."""
    logs = AppLogs(str(tmp_path))
    directory = os.path.dirname(logs.path(APP))
    os.makedirs(directory)
    with open(logs.path(APP), "w") as fh:
        fh.write("old out\nold err\n")
    assert logs.tail(APP) == "old out\nold err\n"
    with open(logs.stderr_path(APP), "w") as fh:
        fh.write("apart err\n")
    assert logs.tail(APP) == "old out\nold err\napart err\n"
    assert "".join(c.text for c in _follow(logs)) == "old out\nold err\napart err\n"
    with logs.open_for_append(APP) as out:
        out.write(b"new err\n", "stderr")
        out.write(b"new out\n", "stdout")
    expected = "old out\nold err\napart err\nnew err\nnew out\n"
    assert logs.tail(APP) == expected
    chunks = _follow(logs)
    assert "".join(c.text for c in chunks) == expected
    assert [c.stream for c in chunks] == ["stdout", "stderr", "stdout"]


def test_runs_written_before_a_crash_left_their_order_unsaid_are_read_at_the_end(tmp_path):
    """Bytes a stream file holds past what its order says (the master died between the
    two writes) are read after the ordered runs, and the next writer orders them."""
    logs = AppLogs(str(tmp_path))
    with logs.open_for_append(APP) as out:
        out.write(b"one\n", "stdout")
        out.write(b"two\n", "stderr")
    with open(logs.path(APP), "ab") as fh:
        fh.write(b"three\n")
    assert logs.tail(APP) == "one\ntwo\nthree\n"
    with logs.open_for_append(APP) as out:
        out.write(b"four\n", "stderr")
    assert logs.tail(APP) == "one\ntwo\nthree\nfour\n"
    assert "".join(c.text for c in _follow(logs)) == "one\ntwo\nthree\nfour\n"
    assert ordered_output.is_ordered(os.path.dirname(logs.path(APP)))


def test_a_follower_following_again_after_a_rotation_reads_the_rest_of_the_one_before(
        tmp_path):
    """Offsets past the current files' ends (they rotated while the follower was away):
    the rest of the generation before, then the current one, in order."""
    logs = AppLogs(str(tmp_path), max_bytes=250, backups=2)
    lines = _lines(14)  # 40 bytes each: one rotation, at line 12 (stdout's seventh)
    with logs.open_for_append(APP) as out:
        for stream, line in lines[:9]:
            out.write(line.encode(), stream)
        had = {c.stream: c.offset for c in _follow(logs)[:2]}  # the first two runs printed
        for stream, line in lines[9:]:
            out.write(line.encode(), stream)
    assert os.path.exists(logs.path(APP) + ".1")
    rest = _follow(logs, [had["stdout"], had["stderr"]])
    assert "".join(c.text for c in rest) == "".join(line for _, line in lines[6:])


def test_a_record_half_written_when_the_master_died_does_not_swallow_the_next(tmp_path):
    """The order's last line cut short (the master killed while writing it): the run it
    was to order is read after the others, and the next writer's records stay readable."""
    logs = AppLogs(str(tmp_path))
    with logs.open_for_append(APP) as out:
        out.write(b"one\n", "stdout")
    order = os.path.join(os.path.dirname(logs.path(APP)), "streams.log")
    with open(logs.stderr_path(APP), "ab") as fh:
        fh.write(b"two\n")
    with open(order, "ab") as fh:
        fh.write(b"e ")  # half of "e 4\n"
    with logs.open_for_append(APP) as out:
        out.write(b"three\n", "stdout")
    assert logs.tail(APP) == "one\ntwo\nthree\n"
    assert "".join(c.text for c in _follow(logs)) == "one\ntwo\nthree\n"


def test_interleaved_runs_reach_a_follower_in_one_chunk_a_read_in_order(tmp_path):
    """600 alternating runs: one chunk (not 600 messages) to a follower that takes many runs
    a chunk, its runs in order, its offsets those of each stream's last run, from which a
    follower following again goes on exactly; a follower of before still gets a chunk a run."""
    logs = AppLogs(str(tmp_path))
    lines = [("stderr" if i % 2 else "stdout", f"line {i}\n") for i in range(600)]
    with logs.open_for_append(APP) as out:
        out.write_runs([(stream, line.encode()) for stream, line in lines])
    conn = _Recorder()
    logs.follow(conn, APP, False, lambda: ("FINISHED", 0, True, ""), threading.Event(),
                (), True)
    conn.close()
    (chunk,) = [c for c in conn.chunks if isinstance(c, LogChunk)]
    assert chunk.runs() == lines
    sizes = {s: sum(len(line) for t, line in lines if t == s) for s in ("stdout", "stderr")}
    assert (chunk.stream, chunk.offset, chunk.then_offset) == \
        ("stdout", sizes["stdout"], sizes["stderr"])
    assert len(_follow(logs)) == 600
    assert _follow(logs, [sizes["stdout"] - 9, sizes["stderr"]])[0].text == "line 598\n"


def test_the_relay_sends_interleaved_lines_in_one_message_in_order():
    """A driver's batch of alternating stdout and stderr lines is one AppLog, not one a run
    (the master wrote each of its three files once a run); a large batch is cut by size,
    with the count of lines each message carries."""
    from vega_runtime.scheduler.log_buffer import StderrLine
    from vega_runtime.scheduler.master_relay import MESSAGE_CHARS, _messages

    batch = [StderrLine(f"e {i}\n") if i % 3 == 2 else f"o {i}\n" for i in range(900)]
    ((message, count),) = list(_messages(batch))
    assert count == 900
    runs = message.runs()
    assert "".join(text for _, text in runs) == "".join(batch)
    assert [s for s, _ in runs] == ["stdout", "stderr"] * 300
    big = ["x" * 1000 + "\n", StderrLine("y\n")] * (2 * MESSAGE_CHARS // 1000)
    messages = list(_messages(big))
    assert len(messages) == 3 and sum(count for _, count in messages) == len(big)
    assert "".join(t for m, _ in messages for _, t in m.runs()) == "".join(big)


def _fall_behind(logs: AppLogs, count: int):
    """Follow while the application writes ``count`` lines, all but the first four between
    two reads of the follower (many rotations at small bounds); (lines, chunks)."""
    lines = [("stderr" if i % 2 else "stdout", f"line {i:03d}\n") for i in range(count)]
    out = logs.open_for_append(APP)
    out.write_runs([(s, line.encode()) for s, line in lines[:4]])
    calls = []

    def state():
        calls.append(1)
        if len(calls) == 2:  # the follower has the first four lines
            for stream, line in lines[4:]:
                out.write(line.encode(), stream)
        return ("FINISHED", 0, len(calls) > 2, "")

    conn = _Recorder()
    logs.follow(conn, APP, True, state, threading.Event(), (), True)
    conn.close()
    out.close()
    return lines, [c for c in conn.chunks if isinstance(c, LogChunk)]


def test_a_follower_several_rotations_behind_reads_the_files_between(tmp_path):
    """Five rotations while a follower did not read: it reads the rest of its file, then
    each kept file after it, oldest first, then the current one: every line once, in order
    (before, it went from its file to the current one, 88 of 120 lines missing, unsaid)."""
    logs = AppLogs(str(tmp_path), max_bytes=100, backups=5)
    lines, chunks = _fall_behind(logs, 120)
    assert os.path.exists(os.path.join(str(tmp_path), "apps", APP, "streams.log.3"))
    assert [run for c in chunks for run in c.runs() if run[1]] == [
        (s, line) for s, line in _joined(lines)]


def _joined(lines):
    """Consecutive lines of one stream as one run (as a follower gets them)."""
    runs = []
    for stream, line in lines:
        if runs and runs[-1][0] == stream:
            runs[-1] = (stream, runs[-1][1] + line)
        else:
            runs.append((stream, line))
    return runs


def test_a_follower_behind_by_more_rotations_than_kept_says_output_is_missing(tmp_path):
    """With one older file kept, a follower five rotations behind is told on stderr, once,
    that some output was removed before it could be sent, then goes on in order from the
    oldest file kept to the end."""
    logs = AppLogs(str(tmp_path), max_bytes=100, backups=1)
    lines, chunks = _fall_behind(logs, 120)
    notices = [i for i, c in enumerate(chunks) if c.text.startswith("vega: this follower")]
    assert len(notices) == 1 and chunks[notices[0]].stream == "stderr"
    assert chunks[notices[0]].offset == -1  # not where a follower following again goes on
    text = "".join(line for _, line in lines)
    before = "".join(t for c in chunks[:notices[0]] for _, t in c.runs())
    after = "".join(t for c in chunks[notices[0] + 1:] for _, t in c.runs())
    assert text.startswith(before) and text.endswith(after) and after
    assert len(before) + len(after) < len(text)


class _Replay:
    """A master's connection as ``vega_cli.apps.stream_logs`` sees it: the chunks given,
    then a lost master (``OSError``) or their LogEnd."""

    def __init__(self, messages):
        self.messages, self.sent = list(messages), []

    def send(self, message):
        self.sent.append(message)

    def recv(self):
        if not self.messages:
            raise OSError("the master went away")
        return self.messages.pop(0)

    def close(self):
        pass


def _printed(chunks, offsets):
    """What ``vega logs --follow`` prints of ``chunks`` before its master is lost, keeping
    ``offsets`` (its resume point) up to date as it does."""
    import contextlib
    import io

    from vega_cli.apps import stream_logs

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        with contextlib.suppress(OSError):
            stream_logs(_Replay(chunks), APP, True, offsets)
    return out.getvalue()


def _resumed(logs: AppLogs, offsets):
    conn = _Recorder()
    logs.follow(conn, APP, False, lambda: ("FINISHED", 0, True, ""), threading.Event(),
                [offsets["stdout"], offsets["stderr"]], True, offsets.get("generation", -1))
    conn.close()
    return [c for c in conn.chunks if isinstance(c, LogChunk)]


def _text(chunks):
    return "".join(t for c in chunks for _, t in c.runs())


def _follower_away_during(tmp_path, backups: int, away_lines: int):
    """A follower prints the first 9 lines (3 runs), its master is lost, ``away_lines``
    more are written (rotating at 250 bytes), and it follows again; (lines, printed before,
    chunks after)."""
    logs = AppLogs(str(tmp_path), max_bytes=250, backups=backups)
    lines = _lines(9 + away_lines)
    offsets = {"stdout": 0, "stderr": 0}
    with logs.open_for_append(APP) as out:
        for stream, line in lines[:9]:
            out.write(line.encode(), stream)
        before = _printed(_resumed(logs, offsets)[:1], offsets)
        for stream, line in lines[9:]:
            out.write(line.encode(), stream)
    return logs, lines, before, _resumed(logs, offsets)


@pytest.mark.parametrize("away_lines", [8, 14, 40])
def test_a_follower_following_again_after_rotations_prints_every_line_once(tmp_path,
                                                                          away_lines):
    """A follower whose master was lost while the files rotated once (the new files already
    longer than its offsets), or several times: it goes on in the generation it was in (now
    ``.1``, ``.2``, ...) and every line is printed once, in order.  Before, its offsets were
    applied to the current files (or to ``.1``): 6 lines were skipped after one rotation,
    and after several the lines in between were lost or printed twice."""
    logs, lines, before, after = _follower_away_during(tmp_path, 5, away_lines)
    assert os.path.exists(logs.path(APP) + ".1")
    assert before + _text(after) == "".join(line for _, line in lines)
    assert not any(c.text.startswith("vega: this follower") for c in after)


def test_a_follower_following_again_whose_files_are_gone_says_so(tmp_path):
    """The generation it was in rotated past the one kept while it was away: it is told
    so on stderr, once, and goes on from the oldest file kept to the end."""
    logs, lines, before, after = _follower_away_during(tmp_path, 1, 40)
    notices = [c for c in after if c.text.startswith("vega: this follower")]
    assert len(notices) == 1 and notices[0].stream == "stderr" and after[0] is notices[0]
    text = "".join(line for _, line in lines)
    rest = _text(after[1:])
    assert text.startswith(before) and text.endswith(rest) and rest
    assert len(before) + len(rest) < len(text)


def test_vega_logs_prints_all_that_is_kept_oldest_first(tmp_path):
    """A plain ``vega logs`` (and a first ``--follow``) prints the rotated files kept, oldest
    first, then the current ones, in order (as ``yarn logs``, ``kubectl logs``, ``docker
    logs`` print all that is kept); before, only the current generation."""
    logs = AppLogs(str(tmp_path), max_bytes=250, backups=5)
    lines = _lines(30)  # 40 bytes each: 3 rotations, all kept
    with logs.open_for_append(APP) as out:
        for stream, line in lines:
            out.write(line.encode(), stream)
    assert os.path.exists(logs.path(APP) + ".2")
    assert "".join(c.text for c in _follow(logs)) == "".join(line for _, line in lines)
    assert _text(_resumed(logs, {"stdout": 0, "stderr": 0})) == \
        "".join(line for _, line in lines)


def test_bytes_another_process_appended_are_in_the_order_where_they_came(tmp_path):
    """A cluster-mode driver's child writes straight into its stderr file between two
    batches of runs; the next batch rotates before writing any stderr: the bytes are noted
    where they came, in the generation they are in.  Before, they came after the batch's
    stdout run, or (the batch rotating on stderr) in no order at all, and a reader of the
    rotated files left them out (`vega logs DRIVER_ID` now reads those files)."""
    logs = AppLogs(str(tmp_path), max_bytes=100, backups=5)
    directory = os.path.dirname(logs.path(APP))
    out = logs.open_for_append(APP)
    out.write_runs([("stdout", b"out 1\n"), ("stderr", b"e" * 95 + b"\n")])
    with open(logs.stderr_path(APP), "ab") as child:
        child.write(b"child\n")
    out.write_runs([("stdout", b"out 2\n"), ("stderr", b"err 2\n")])  # rotates on stderr
    out.close()
    assert os.path.exists(logs.stderr_path(APP) + ".1")
    assert _text(_resumed(logs, {"stdout": 0, "stderr": 0})) == \
        "out 1\n" + "e" * 95 + "\nchild\nout 2\nerr 2\n"
