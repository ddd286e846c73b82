"""A cluster-mode driver's own output, kept in the order it printed it (``ordered_output``).

The master starts a cluster-mode driver with its stdout and stderr on
``apps/DRIVER_ID/output.log`` and ``stderr.log`` and names that directory in
``DRIVER_OUTPUT_ENV``.  The driver (``vega_cli.main``) then calls ``install()``:
``sys.stdout`` and ``sys.stderr`` become streams that write to those files through one
``OrderedOutput``, so ``streams.log`` says the order of their runs, and ``vega logs
DRIVER_ID > f 2>&1`` (and the web UI, and a cluster-mode ``vega submit``) read the
driver's output as it printed it, where they read all its stdout, then all its stderr.

Cheaply: what is printed is gathered in memory, runs of one stream joined, and written at
most every ``FLUSH_SECONDS`` or ``FLUSH_BYTES``, each stream file in one write and the
order in one (at an explicit ``flush()`` and at exit at once), where Python's own stderr
wrote each line.  What reaches the descriptors without passing through ``sys.stdout`` or
``sys.stderr`` (a child process, C code) lands in the same files and is counted, ahead of
the next runs written.  The driver rotates the three files itself (the master's
copy-truncate of a file another process writes would break their order) and points its
descriptors 1 and 2 at the new files.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import threading
from typing import List, Optional, Tuple

from .log_files import PROCESS_OUTPUT_BACKUPS, PROCESS_OUTPUT_MAX_BYTES
from .ordered_output import OrderedOutput, _paths

#: Set by the master for a cluster-mode driver: the directory of its stored output.
DRIVER_OUTPUT_ENV = "VEGA_DRIVER_OUTPUT"
#: what is printed reaches the files within this many seconds ...
FLUSH_SECONDS = 0.1
#: ... or once this many bytes wait
FLUSH_BYTES = 64 << 10


class DriverOutput(OrderedOutput):
    """The ordered output of the driver this process is, its descriptors 1 and 2 moved
    to the new stream files at each rotation (when they were on the old ones)."""

    def __init__(self, directory: str, max_bytes: int, backups: int):
        super().__init__(directory, max_bytes, backups)
        paths = _paths(directory)
        self._descriptors = [(fd, paths[stream]) for fd, stream in ((1, "stdout"), (2, "stderr"))
                             if _same_file(fd, paths[stream])]

    def rotate(self) -> None:
        super().rotate()
        for fd, path in self._descriptors:
            # an open of its own: the writes through it do not move the offset
            # write_runs reads back through ours
            new = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.dup2(new, fd)
            finally:
                os.close(new)


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class _Sink:
    """What both streams printed, in order, until it is written (``write``)."""

    def __init__(self, output: OrderedOutput):
        self.output = output
        # re-entrant: a signal handler that prints (Ctrl-C's "cancelling") may run while
        # the main thread is in ``add``
        self.lock = threading.RLock()
        self.runs: List[Tuple[str, List[bytes]]] = []
        self.waiting = 0
        self.failed = False

    def add(self, stream: str, data: bytes) -> None:
        with self.lock:
            runs = self.runs
            if runs and runs[-1][0] == stream:
                runs[-1][1].append(data)
            else:
                runs.append((stream, [data]))
            self.waiting += len(data)
            if self.waiting >= FLUSH_BYTES:
                self._write()

    def write(self, catch_up: bool = False) -> None:
        with self.lock:
            self._write(catch_up)

    def _write(self, catch_up: bool = False) -> None:
        runs, self.runs, self.waiting = self.runs, [], 0
        if self.failed:
            return
        try:
            if runs:
                self.output.write_runs([(s, b"".join(pieces)) for s, pieces in runs])
            if catch_up:
                self.output.catch_up()
        except (OSError, ValueError) as exc:  # a full disk: as a full disk fails a print
            self.failed = True  # once; the rest is lost, as its descriptors' writes would be
            os.write(2, f"vega: cannot write this driver's output ({exc}): what it prints "
                        "from now on is lost\n".encode())


class _OrderedStream:
    """What both ordered streams are: writable into ``sink`` as ``stream``, on descriptor
    ``fd`` (which writes past them go to), never a terminal."""

    def __init__(self, sink: _Sink, stream: str, fd: int):
        super().__init__()
        self._sink, self._stream, self._fd = sink, stream, fd

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._sink.write()

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return False


class _OrderedBinary(_OrderedStream, io.RawIOBase):
    """``sys.stdout.buffer`` of an ordered stream: bytes written as they are."""

    def write(self, data) -> int:
        data = bytes(data)
        if data:
            self._sink.add(self._stream, data)
        return len(data)


class _OrderedText(_OrderedStream, io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` of a cluster-mode driver (UTF-8, what cannot be
    encoded written as Python escapes it)."""

    encoding = "utf-8"
    errors = "backslashreplace"
    line_buffering = False

    def __init__(self, sink: _Sink, stream: str, fd: int):
        super().__init__(sink, stream, fd)
        self.buffer = _OrderedBinary(sink, stream, fd)

    def write(self, text: str) -> int:
        # (``_Sink.add`` inlined: a print is two writes, and a driver may print millions)
        try:
            data = text.encode("utf-8", "backslashreplace")
        except AttributeError:
            raise TypeError(f"write() argument must be str, not {type(text).__name__}") from None
        sink = self._sink
        with sink.lock:
            runs = sink.runs
            if runs and runs[-1][0] is self._stream:
                runs[-1][1].append(data)
            else:
                runs.append((self._stream, [data]))
            sink.waiting += len(data)
            if sink.waiting >= FLUSH_BYTES:
                sink._write()
        return len(text)


def install(directory: str, max_bytes: int = PROCESS_OUTPUT_MAX_BYTES,
            backups: int = PROCESS_OUTPUT_BACKUPS) -> Optional[_Sink]:
    """Make ``sys.stdout`` and ``sys.stderr`` (and ``sys.__stdout__``/``__stderr__``) write
    this driver's output to ``directory`` in order; None (left as they are) if it cannot be
    opened."""
    try:
        output = DriverOutput(directory, max_bytes, backups)
    except OSError:
        return None
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    sink = _Sink(output)
    saved = sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__
    sys.stdout = sys.__stdout__ = _OrderedText(sink, "stdout", 1)
    sys.stderr = sys.__stderr__ = _OrderedText(sink, "stderr", 2)
    stop = threading.Event()

    def flush_often() -> None:
        while not stop.wait(FLUSH_SECONDS):
            sink.write(catch_up=True)

    def at_exit() -> None:
        stop.set()
        sink.write(catch_up=True)

    def in_child() -> None:  # a forked child writes to the descriptors (counted above),
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = saved  # not its parent's runs
        stop.set()
        sink.lock, sink.runs, sink.failed = threading.RLock(), [], True

    threading.Thread(target=flush_often, name="driver-output", daemon=True).start()
    atexit.register(at_exit)
    os.register_at_fork(after_in_child=in_child)
    return sink


def install_from_env() -> None:
    """``install`` when this process is a cluster-mode driver the master started."""
    directory = os.environ.pop(DRIVER_OUTPUT_ENV, "")
    if directory and os.path.isdir(directory):
        install(directory)
