"""Size-bounded log files of the daemons and of the processes they run (issue 11).

Three kinds of file grow while a cluster runs, and each is bounded here:

- the master's and worker's own logs (``master.log``, ``worker.log``): a standard
  ``logging.handlers.RotatingFileHandler`` (see ``daemon_log_handler``); the copy of the
  log a daemon writes on its stderr is rotated too when stderr is a file (``master.out``
  of a daemon in the background: ``StderrHandler``);
- output the master writes itself (an application's stored output relayed by its driver,
  ``apps/<id>/output.log``): ``RotatingOutput``, a binary file that renames itself to
  ``.1`` (``.1`` to ``.2``, ...) when it would pass its size;
- output a child process writes straight into a file descriptor (an executor's
  ``<app>/<exec>.log`` on a worker; a cluster-mode driver's output on the master is
  rotated by the driver itself, with its order: ``driver_output``), where
  the writer cannot be asked to reopen: ``rotate_copy_truncate``, called by the parent
  while it waits for the child, copies the file to ``.1`` and truncates it (the child
  writes with ``O_APPEND``, so its next write lands at the new end: logrotate's
  ``copytruncate``).  Output written between the copy and the truncation is lost, a
  window of one copy.

The constants are the defaults; they are meant to move into the daemons' config schema.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import shutil
import stat
import subprocess
import sys
from typing import List, Optional

#: ``master.log`` / ``worker.log`` rotate at this size ...
DAEMON_LOG_MAX_BYTES = 64 << 20
#: ... keeping this many old files (``worker.log.1`` ... ``worker.log.5``).
DAEMON_LOG_BACKUPS = 5
#: An executor's or cluster-mode driver's captured stdout/stderr rotates at this size ...
PROCESS_OUTPUT_MAX_BYTES = 64 << 20
#: ... keeping this many old files.
PROCESS_OUTPUT_BACKUPS = 5
#: How often a parent checks the size of its child's output file, in seconds.
PROCESS_OUTPUT_CHECK_SECONDS = 5.0
#: An application's output stored by the master rotates at this size ...
APP_OUTPUT_MAX_BYTES = 64 << 20
#: ... keeping this many old files.
APP_OUTPUT_BACKUPS = 5


def daemon_log_handler(path: str, max_bytes: int = DAEMON_LOG_MAX_BYTES,
                       backups: int = DAEMON_LOG_BACKUPS) -> logging.Handler:
    """The file handler of a daemon's own log: rotated at ``max_bytes``, ``backups`` kept;
    text that is not UTF-8 (an application's name of bytes that are not, which reach the
    master as lone surrogates) written as Python escapes it (``\\udcff``), as on stderr:
    such a line was lost, and the log said its disk was full."""
    return DaemonLogFile(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8",
                         errors="backslashreplace")


class DaemonLogFile(logging.handlers.RotatingFileHandler):
    """A rotated log file that, when it cannot be written (its disk is full), says so once
    on stderr, and once more when it can be written again, instead of logging's
    ``--- Logging error ---`` and a 30-line traceback for every line it loses (the daemon's
    stderr, ``StderrHandler``, still has each line).  A log deleted under it is made again
    at its next line, unless a symbolic link is now in the way (its directory renamed away
    and a link put in its place): the lines then go on to the file still open."""

    failing = False  # a write failed, and none has succeeded since

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        if self.stream is not None and not os.path.exists(self.baseFilename) and \
                os.path.realpath(self.baseFilename) == self.baseFilename:
            # deleted (its work dir with it, say): written again where it is looked for
            with contextlib.suppress(OSError):
                self.stream.close()
            self.stream = None
        super().emit(record)  # calls handleError when the write fails
        if self.failing and not self._failed:
            self.failing = False
            sys.stderr.write(f"vega: the log {self.baseFilename} can be written again\n")

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self._failed = True
        if not self.failing:
            self.failing = True
            error = sys.exc_info()[1]
            sys.stderr.write(f"vega: cannot write the log {self.baseFilename} ({error}): its "
                             "lines are lost until it can be written again (free space "
                             "on its disk)\n")


class StderrHandler(logging.StreamHandler):
    """A daemon's log on its stderr. When stderr is a file (``master.out`` of a daemon
    started in the background, a local cluster's daemon logs), that file is rotated like a
    child's output (``rotate_copy_truncate``) once a record takes it past ``max_bytes``:
    it holds the same lines as the daemon's own log, and whatever else reaches stderr."""

    def __init__(self, max_bytes: int = DAEMON_LOG_MAX_BYTES, backups: int = DAEMON_LOG_BACKUPS):
        super().__init__()
        self.max_bytes, self.backups = max_bytes, backups
        self.path = _regular_file_of(self.stream)

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self.path is not None:
            try:
                if os.fstat(self.stream.fileno()).st_size >= self.max_bytes:
                    rotate_copy_truncate(self.path, self.max_bytes, self.backups)
            except (OSError, ValueError):
                self.path = None  # stderr closed or replaced: stop trying


def _regular_file_of(stream) -> Optional[str]:
    """The path of the regular file ``stream`` writes to, or None (a terminal, a pipe)."""
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        path = os.readlink(f"/proc/self/fd/{fd}")
    except (OSError, ValueError, AttributeError):
        return None
    return path if os.path.isabs(path) and os.path.exists(path) else None


def backup_paths(path: str, backups: int) -> List[str]:
    """``path.1`` ... ``path.N``: the rotated files, newest first."""
    return [f"{path}.{n}" for n in range(1, backups + 1)]


def shift_backups(path: str, backups: int) -> None:
    """Make room for a new ``path.1``: ``.N-1`` becomes ``.N`` (the oldest is dropped)."""
    names = backup_paths(path, backups)
    for older, newer in zip(reversed(names[1:]), reversed(names[:-1])):
        if os.path.exists(newer):
            os.replace(newer, older)


def rotate_copy_truncate(path: str, max_bytes: int = PROCESS_OUTPUT_MAX_BYTES,
                         backups: int = PROCESS_OUTPUT_BACKUPS) -> bool:
    """If the file another process appends to has passed ``max_bytes``, copy it to
    ``path.1`` (older copies shift up, at most ``backups`` kept) and truncate it.
    True when it rotated.  With ``backups`` 0 the file is only truncated."""
    try:
        if os.path.getsize(path) < max_bytes:
            return False
    except OSError:
        return False
    if backups > 0:
        shift_backups(path, backups)
        shutil.copyfile(path, f"{path}.1")
    os.truncate(path, 0)
    return True


def wait_rotating_output(proc, *paths: str, max_bytes: int = PROCESS_OUTPUT_MAX_BYTES,
                         backups: int = PROCESS_OUTPUT_BACKUPS,
                         every: float = PROCESS_OUTPUT_CHECK_SECONDS) -> int:
    """``proc.wait()`` (a ``Popen`` or a fork server's child) for a child writing its
    output to ``paths`` (its stdout's file, its stderr's when apart), rotating each
    (``rotate_copy_truncate``) while it runs."""
    while True:
        try:
            return proc.wait(every)
        except subprocess.TimeoutExpired:
            for path in paths:
                try:
                    rotate_copy_truncate(path, max_bytes, backups)
                except OSError:
                    pass  # a full or vanished disk: the child's own writes will say so


class RotatingOutput:
    """A binary append-only file this process writes itself, rotated at ``max_bytes``
    (renamed to ``.1``, older ones shifted up, ``backups`` kept). A line is never split
    across two files unless it is longer than ``max_bytes`` on its own."""

    def __init__(self, path: str, max_bytes: int = APP_OUTPUT_MAX_BYTES,
                 backups: int = APP_OUTPUT_BACKUPS):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._file = open(path, "ab")
        self._size = self._file.tell()

    def write(self, data: bytes) -> int:
        if self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
        self._file.write(data)
        self._size += len(data)
        return len(data)

    def rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            shift_backups(self.path, self.backups)
            os.replace(self.path, f"{self.path}.1")
        else:
            os.truncate(self.path, 0)
        self._file = open(self.path, "ab")
        self._size = 0

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RotatingOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
