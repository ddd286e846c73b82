"""Issue 11: the daemons' logs and the output files of the processes they run are
size-bounded (rotated at a size, a few old files kept)."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import subprocess
import sys
import threading

from vega_runtime.deploy.daemon_main import setup_daemon_logging
from vega_runtime.deploy.app_logs import AppLogs
from vega_runtime.deploy.log_files import (DAEMON_LOG_BACKUPS, DAEMON_LOG_MAX_BYTES,
                                           daemon_log_handler,
                                           RotatingOutput, rotate_copy_truncate,
                                           wait_rotating_output)
from vega_runtime.net.messages import LogChunk, LogEnd


def test_daemon_log_file_is_a_rotating_handler(tmp_path):
    """master.log / worker.log go through a RotatingFileHandler with the documented bounds."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_daemon_logging(str(tmp_path), "worker")
        added = [h for h in root.handlers if h not in before]
        files = [h for h in added if isinstance(h, logging.FileHandler)]
        assert len(files) == 1 and isinstance(files[0], logging.handlers.RotatingFileHandler)
        assert files[0].maxBytes == DAEMON_LOG_MAX_BYTES
        assert files[0].backupCount == DAEMON_LOG_BACKUPS
        assert files[0].baseFilename == str(tmp_path / "worker.log")
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()


def test_a_daemons_stderr_file_is_rotated_too(tmp_path):
    """A daemon in the background logs to stderr redirected into NAME.out as well: that
    file is bounded like the log (a real process whose stderr is a file opened to append)."""
    out = tmp_path / "worker.out"
    script = ("import logging\n"
              "from vega_runtime.deploy.log_files import StderrHandler\n"
              "handler = StderrHandler(max_bytes=10_000, backups=2)\n"
              "assert handler.path is not None, 'stderr is a file'\n"
              "log = logging.getLogger('t'); log.addHandler(handler); log.setLevel(logging.INFO)\n"
              "for i in range(1000): log.info('record %04d %s', i, 'w' * 60)\n")
    with open(out, "ab") as stderr:
        subprocess.run([sys.executable, "-c", script], stderr=stderr, check=True, timeout=60)
    assert sorted(os.listdir(tmp_path)) == ["worker.out", "worker.out.1", "worker.out.2"]
    assert all(os.path.getsize(tmp_path / n) <= 10_000 + 100 for n in os.listdir(tmp_path))
    assert out.read_text().splitlines()[-1].startswith("record 0999")


def test_stderr_handler_leaves_a_pipe_alone():
    """On a terminal or a pipe there is no file to rotate."""
    script = ("from vega_runtime.deploy.log_files import StderrHandler\n"
              "print(StderrHandler().path)\n")
    result = subprocess.run([sys.executable, "-c", script], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "None"


def test_rotating_output_keeps_a_bounded_number_of_bounded_files(tmp_path):
    """Written output rotates to .1, .2 ... and the oldest beyond the backups is dropped."""
    path = str(tmp_path / "output.log")
    line = b"x" * 99 + b"\n"
    with RotatingOutput(path, max_bytes=1000, backups=2) as out:
        for _ in range(100):
            out.write(line)
    names = sorted(os.listdir(tmp_path))
    assert names == ["output.log", "output.log.1", "output.log.2"]
    for name in names:
        size = os.path.getsize(tmp_path / name)
        assert 0 < size <= 1000 and size % 100 == 0  # whole lines, never split


def test_copy_truncate_rotation_of_a_child_writing_with_o_append(tmp_path):
    """A child writing far more than the bound into its output file leaves the file and
    3 rotated copies (each about the bound: what one check interval lets through more),
    the oldest output gone, and its last lines in the current file."""
    path = str(tmp_path / "exec-0.log")
    script = ("import sys, time\n"
              "for i in range(4000):\n"
              "    sys.stdout.write('%05d ' % i + 'y' * 200 + '\\n'); sys.stdout.flush()\n"
              "    if i % 100 == 0: time.sleep(0.02)\n"
              "print('the end', flush=True)\n")
    with open(path, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out,
                                stderr=subprocess.STDOUT)
    code = wait_rotating_output(proc, path, max_bytes=20_000, backups=3, every=0.01)
    assert code == 0
    rotate_copy_truncate(path, max_bytes=20_000, backups=3)  # what the next check would do
    total_written = 4000 * 207 + len("the end\n")
    kept = [n for n in os.listdir(tmp_path)]
    assert set(kept) <= {"exec-0.log", "exec-0.log.1", "exec-0.log.2", "exec-0.log.3"}
    assert len(kept) == 4
    on_disk = sum(os.path.getsize(tmp_path / n) for n in kept)
    assert on_disk < total_written  # the oldest output is gone (how much depends on timing)
    tail = (tmp_path / "exec-0.log").read_bytes() or (tmp_path / "exec-0.log.1").read_bytes()
    assert tail.endswith(b"the end\n")


def test_rotate_copy_truncate_leaves_a_small_file_alone(tmp_path):
    path = tmp_path / "exec-1.log"
    path.write_bytes(b"short\n")
    assert not rotate_copy_truncate(str(path), max_bytes=1000, backups=2)
    assert path.read_bytes() == b"short\n" and os.listdir(tmp_path) == ["exec-1.log"]


class _Recorder:
    """Stands in for the connection of `vega logs --follow`: keeps what is sent; its
    ``fileno`` is a socket whose other end (the follower) stays connected and silent."""

    def __init__(self):
        import socket

        self.chunks = []
        self.sock, self.follower = socket.socketpair()

    def send(self, message):
        self.chunks.append(message)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()
        self.follower.close()


def test_followed_app_output_crosses_rotations_without_gaps(tmp_path):
    """`vega logs --follow` sees every line of an application whose output rotates."""
    logs = AppLogs(str(tmp_path), max_bytes=3000, backups=5)
    app_id = "app-20261203000000-0001"
    lines = [f"line {i:04d} " + "z" * 40 + "\n" for i in range(200)]
    done = threading.Event()
    conn = _Recorder()
    state = lambda: ("FINISHED", 0, done.is_set(), "")  # noqa: E731
    with logs.open_for_append(app_id) as out:
        out.write(lines[0].encode())
        out.flush()
        follower = threading.Thread(target=logs.follow,
                                    args=(conn, app_id, True, state, threading.Event()))
        follower.start()
        for i, line in enumerate(lines[1:], 1):
            out.write(line.encode())
            out.flush()
            if i % 20 == 0:  # let the follower catch up between rotations
                _wait_for(lambda: "".join(c.text for c in conn.chunks
                                          if isinstance(c, LogChunk)).count("\n") >= i + 1)
    done.set()
    follower.join(10)
    assert isinstance(conn.chunks[-1], LogEnd)
    assert "".join(c.text for c in conn.chunks if isinstance(c, LogChunk)) == "".join(lines)
    assert os.path.exists(logs.path(app_id) + ".1")
    assert max(os.path.getsize(os.path.join(os.path.dirname(logs.path(app_id)), n))
               for n in os.listdir(os.path.dirname(logs.path(app_id)))) <= 3000
    assert logs.tail(app_id, 1000).endswith(lines[-1])
    conn.close()


def test_followed_output_keeps_a_character_a_read_cuts_in_two(tmp_path):
    """Output is read 1 MiB at a time: a character of several bytes across that boundary
    (or half written when read) reaches `vega logs` whole, not as two replacement
    characters."""
    logs = AppLogs(str(tmp_path))
    app_id = "app-20261203000000-0002"
    text = "a" * ((1 << 20) - 1) + "é ü 日本\n"  # é's two bytes straddle the first read
    with logs.open_for_append(app_id) as out:
        out.write(text.encode())
        out.write("日".encode()[:2])  # a character half written when the run ends
    conn = _Recorder()
    logs.follow(conn, app_id, False, lambda: ("FINISHED", 0, True, ""), threading.Event())
    conn.close()
    assert "".join(c.text for c in conn.chunks if isinstance(c, LogChunk)) == text + "\ufffd"
    assert isinstance(conn.chunks[-1], LogEnd)


def _wait_for(condition, timeout: float = 10.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not met in time")


def test_a_daemon_log_on_a_full_disk_says_so_once_and_again_when_it_recovers(tmp_path, capsys):
    """/dev/full fails every write with ENOSPC: one line on stderr, not logging's
    '--- Logging error ---' and a traceback per lost line (a worker on a full disk wrote
    30 lines of traceback for each line of its log); one more line once writes succeed."""
    path = tmp_path / "worker.log"
    os.symlink("/dev/full", path)
    handler = daemon_log_handler(str(path))
    log = logging.getLogger("test-full-disk")
    log.addHandler(handler)
    log.propagate = False
    try:
        for n in range(5):
            log.warning("line %d", n)
        assert capsys.readouterr().err == (
            f"vega: cannot write the log {path} ([Errno 28] No space left on device): its "
            "lines are lost until it can be written again (free space on its disk)\n")
        full, handler.stream = handler.stream, open(tmp_path / "freed.log", "a")  # room again
        with contextlib.suppress(OSError):  # what it still holds cannot be written
            full.close()
        log.warning("back")
        assert capsys.readouterr().err == f"vega: the log {path} can be written again\n"
        assert (tmp_path / "freed.log").read_text().endswith("back\n")
    finally:
        log.removeHandler(handler)
        handler.close()
