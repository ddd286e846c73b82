"""Applications' and drivers' stored output (``<work_dir>/apps/<id>/output.log``; what
went to standard error beside it, ``stderr.log``: a cluster-mode driver's, an application's
tasks'; a master of before that kept an application's in ``output.log``), and the order of
the two (``streams.log``, ``ordered_output``): an application's written from what drivers
relay, a cluster-mode driver's by the driver itself (``driver_output``), followed by
``vega logs``, read by the web UI.  The files rotate
at ``APP_OUTPUT_MAX_BYTES`` (``output.log.1`` ... , see ``log_files``), so a chatty
application cannot fill the master's disk; a follower crosses a rotation without a gap."""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import shutil
import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .. import ids
from ..net.connection import Connection
from ..net.messages import LogChunk, LogEnd
from . import ordered_output
from .log_files import APP_OUTPUT_BACKUPS, APP_OUTPUT_MAX_BYTES
from .ordered_output import OrderedOutput

log = logging.getLogger(__name__)

#: the file of the standard error (a cluster-mode driver's, an application's tasks'), beside
#: ``output.log``
STDERR_FILE = ordered_output.STDERR_FILE
#: How often a followed log is checked for new output.
FOLLOW_POLL_SECONDS = 0.2
#: The most bytes of relayed events the master keeps per application: past them it keeps
#: only what the pages still show (``RelayedEvents``)
APP_EVENTS_MAX_BYTES = 512 << 20
#: The size at which the master compacts them first (about 5 s of CPU for 64 MiB; then at
#: twice what the last compaction left, so a compaction reads at most twice what came)
APP_EVENTS_COMPACT_BYTES = 64 << 20
#: lines of relayed events replayed at a time while they are compacted
_COMPACT_BATCH = 10_000


class RelayedEvents:
    """The event-log lines a driver relays (``events.jsonl``, private), appended up to
    ``max_bytes``.  A long-lived application would reach that (a job of a few tasks is a
    few KB): from ``APP_EVENTS_COMPACT_BYTES`` on, the file is compacted to the events its
    pages still show (the last jobs and stage attempts that retention keeps, its
    executors, the tasks that stored its cached blocks; ``app_events.still_shown``), as
    Spark compacts a rolling event log.  If that leaves more than half of ``max_bytes``, or
    the lines do not replay, the rest is dropped, once logged, so one application cannot
    fill the master's disk (its pages then show it up to there)."""

    def __init__(self, path: str, max_bytes: int = APP_EVENTS_MAX_BYTES):
        self.path, self.max_bytes = path, max_bytes
        self.compact_at = min(APP_EVENTS_COMPACT_BYTES, max_bytes)
        self._open()
        self.full = False
        self.dropped = 0  # lines not kept

    def _open(self) -> None:
        from ..private_files import open_private

        self._file = open_private(self.path, "a", encoding="utf-8")
        self.size = self._file.tell()

    def write(self, text: str) -> None:
        if not self.full and self.size + len(text) > self.compact_at:
            self._compact()
            self.compact_at = min(self.max_bytes, max(self.compact_at, 2 * self.size))
            if self.size + len(text) > self.max_bytes // 2:
                log.warning("%s reached %d bytes, %d once compacted: later events of this "
                            "application are not kept (its pages end there)", self.path,
                            self.max_bytes, self.size)
                self.full = True
        if self.full:  # no gaps: all after too
            self.dropped += text.count("\n")
            return
        self._file.write(text)
        self._file.flush()
        self.size += len(text)

    def _compact(self) -> None:
        """Rewrite the file with only the events its pages show (atomically: a page reading
        it sees the old file or the new one, a new file by its inode)."""
        from ..private_files import open_private
        from ..scheduler.event_log import parse_event
        from .app_events import AppRecord, apply, still_shown

        self._file.close()
        partial = self.path + ".compacting"
        before = self.size
        try:
            app = AppRecord("")
            with open(self.path, "rb") as fh:
                batch = []
                for raw in fh:
                    batch.append(parse_event(raw))
                    if len(batch) == _COMPACT_BATCH:
                        apply(app, batch)
                        batch = []
                apply(app, batch)
            if app.error:
                raise ValueError(app.error)
            keeps = still_shown(app)
            with open(self.path, "rb") as fh, open_private(partial, "wb") as out:
                for raw in fh:
                    if keeps(parse_event(raw)):
                        out.write(raw)
            os.replace(partial, self.path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot compact %s (%s): it stays as it is", self.path, exc)
            with contextlib.suppress(OSError):
                os.unlink(partial)
            self._open()
            return
        self._open()
        log.info("compacted %s from %d to %d bytes: the events its pages show", self.path,
                 before, self.size)

    def flush(self) -> None:  # (write flushes already)
        pass

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RelayedEvents":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class KeptOutput:
    """What a driver relays for the master to keep (its application's output, its events),
    written through the file ``open_file()`` returns.  The master's disk refusing it (full,
    read-only) must not end the application: a failed open or write is logged once, what
    it held is not kept (``vega logs`` and the UI lack it), and later writes are tried
    again, so keeping resumes once there is room."""

    def __init__(self, what: str, open_file: Callable[[], object]):
        self.what, self._open_file = what, open_file
        self._file = None
        self.failures = 0
        self._open()

    def _open(self) -> None:
        try:
            self._file = self._open_file()
        except OSError as exc:
            self._failed(exc)

    def write(self, data, *how) -> None:
        """``data`` to the file (``how``: what else its ``write`` takes, an output's stream)."""
        self._write("write", data, *how)

    def write_runs(self, runs) -> None:
        """``runs`` (``(stream, bytes)``) to an ``OrderedOutput``, in order."""
        self._write("write_runs", runs)

    def _write(self, method: str, *args) -> None:
        if self._file is None:
            self._open()
            if self._file is None:
                return
        try:
            getattr(self._file, method)(*args)
            self._file.flush()
        except (OSError, ValueError) as exc:  # ValueError: a rotation closed it, then failed
            self._failed(exc)
            self.close()  # what it buffered is lost; the next write opens it again

    def _failed(self, exc: OSError) -> None:
        if not self.failures:
            log.warning("cannot keep %s on this disk (%s): what it sends is lost until "
                        "there is room (vega logs and the UI lack it); the application runs on",
                        self.what, exc)
        self.failures += 1

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:  # what was buffered could not be written
                self._failed(exc)

    def __enter__(self) -> "KeptOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AppLogs:
    def __init__(self, work_dir: str, max_bytes: int = APP_OUTPUT_MAX_BYTES,
                 backups: int = APP_OUTPUT_BACKUPS):
        self.directory = os.path.join(work_dir, "apps")
        self.max_bytes, self.backups = max_bytes, backups

    def path(self, app_id: str) -> str:
        """``InvalidIdentifier`` unless ``app_id`` is an application or driver id."""
        return os.path.join(self.directory, ids.APP_OR_DRIVER.check(app_id), "output.log")

    def stderr_path(self, app_id: str) -> str:
        """A cluster-mode driver's standard error, or what an application's tasks wrote to
        theirs (``InvalidIdentifier`` as ``path``)."""
        return os.path.join(os.path.dirname(self.path(app_id)), STDERR_FILE)

    def events_path(self, app_id: str) -> str:
        """Where the event-log lines a driver relays are kept (``InvalidIdentifier`` as
        ``path``)."""
        return os.path.join(self.directory, ids.APP_OR_DRIVER.check(app_id), "events.jsonl")

    def open_for_append(self, app_id: str) -> OrderedOutput:
        """The stored output of an application, written ``write(data, stream)``: its
        stdout and stderr kept apart (``vega logs`` prints each on its own), with the order
        they came in (``ordered_output``)."""
        os.makedirs(os.path.dirname(self.path(app_id)), exist_ok=True)
        return OrderedOutput(os.path.dirname(self.path(app_id)), self.max_bytes, self.backups)

    def exists(self, app_id: str) -> bool:
        return ids.APP_OR_DRIVER.matches(app_id) and os.path.exists(self.path(app_id))

    def tail(self, app_id: str, limit: int = 1 << 20) -> Optional[str]:
        """The last ``limit`` bytes of the output (reaching into the rotated ``.1`` when
        the file is younger than that): its stdout and stderr in the order printed; one kept
        without that order (by a master of before) its stdout, then its stderr; None when
        there is neither."""
        if not ids.APP_OR_DRIVER.matches(app_id):
            return None
        directory = os.path.dirname(self.path(app_id))
        if ordered_output.is_ordered(directory):  # in the order printed
            data = ordered_output.tail(directory, limit)
            return None if data is None else data.decode("utf-8", "replace")
        output = _tail_of(self.path(app_id), limit)
        errors = _tail_of(self.stderr_path(app_id), limit)
        if output is None and errors is None:
            return None
        return (output or "") + (errors or "")

    def remove(self, app_id: str) -> None:
        if ids.APP_OR_DRIVER.matches(app_id):  # not a bad recovery record's id
            shutil.rmtree(os.path.join(self.directory, app_id), ignore_errors=True)

    def follow(self, conn: Connection, app_id: str, follow: bool,
               state: Callable[[], Tuple[str, int, bool, str]],
               stopped: threading.Event, offsets: Sequence[int] = (),
               batched: bool = False, generation: int = -1) -> None:
        """Send the stored output, each chunk marked with its stream (a cluster-mode driver's
        standard error is kept apart, so that its submitter prints it on its own stderr) and
        the offset past it; with ``follow``, until ``state()`` (``(state, exit code, done,
        why a driver could not start)``) says the application or driver is done.
        ``offsets``: where to start in stdout and stderr (a follower following again) of
        the files' ``generation`` (``LogChunk.generation``; -1: not said); none: from the
        oldest file kept, so that all that is kept is sent, in order.
        ``batched``: the follower takes the runs of each read in one chunk (``then``)."""
        start = (list(offsets) + [0, 0])[:2]
        reader = _StoredStreams(os.path.dirname(self.path(app_id)), start, generation)
        try:
            self._follow(conn, reader, follow, state, stopped, batched)
        finally:
            reader.close()

    @staticmethod
    def _follow(conn: Connection, reader: "_StoredStreams", follow: bool,
                state: Callable[[], Tuple[str, int, bool, str]],
                stopped: threading.Event, batched: bool = False) -> None:
        skipped = 0
        while True:
            name, code, done, reason = state()
            runs = reader.read()  # (it ends where it skipped: the notice goes there)
            if batched and len(runs) > 1:  # (they alternate: runs of one stream are joined)
                texts = [reader.decoders[stream].decode(data) for stream, data, _ in runs]
                first, other = runs[0][2], runs[1][2]
                for i in range(2, len(runs)):
                    if i % 2:
                        other = runs[i][2]
                    else:
                        first = runs[i][2]
                conn.send(LogChunk(texts[0], runs[0][0], first, texts[1:], other,
                                   reader.generation))
            else:
                for stream, data, offset in runs:
                    text = reader.decoders[stream].decode(data)  # a character cut waits
                    if text:
                        conn.send(LogChunk(text, stream, offset, [], -1, reader.generation))
            if reader.skipped > skipped:  # (no offset: not where a follower goes on from)
                skipped = reader.skipped
                conn.send(LogChunk(SKIPPED_NOTICE, "stderr"))
                continue
            if runs:
                continue
            if done or not follow:
                for stream, decoder in reader.decoders.items():  # a character never finished
                    text = decoder.decode(b"", final=True)
                    if text:
                        conn.send(LogChunk(text, stream, reader.offset(stream), [], -1,
                                           reader.generation))
                conn.send(LogEnd(name, code, reason))
                return
            if stopped.is_set():  # the master stops: a driver it killed is ended so,
                if state()[2]:  # with what it wrote last; another run is not over
                    continue
                return
            if _follower_left(conn, FOLLOW_POLL_SECONDS):
                return


#: what a follower is told when it fell so far behind that output it had not read was
#: rotated away (``APP_OUTPUT_BACKUPS`` older files kept)
SKIPPED_NOTICE = ("vega: this follower fell behind by more rotated files than are kept: some "
                  "of the output was removed before it could be sent, and is missing here\n")


class _StoredStreams:
    """The stored streams of a followed run, read in the order written when it was kept
    (``ordered_output``), else (kept by a master of before) stdout's new bytes, then
    stderr's.  Which it
    is, is decided once the order is there, or output without it."""

    def __init__(self, directory: str, start: Sequence[int], generation: int = -1):
        self.directory, self.start, self.generation_of_start = directory, start, generation
        self._ordered: Optional[ordered_output.OrderedReader] = None
        self._apart: Optional[Tuple[_Followed, _Followed]] = None
        #: UTF-8 across reads: a character whose bytes one read cuts is sent whole by the next
        self.decoders = {s: codecs.getincrementaldecoder("utf-8")("replace")
                         for s in ("stdout", "stderr")}
        self._offsets: Dict[str, int] = {}

    def _choose(self) -> bool:
        if ordered_output.is_ordered(self.directory):
            self._ordered = ordered_output.OrderedReader(self.directory, self.start,
                                                         self.generation_of_start)
        elif ordered_output.has_output(self.directory):  # (none: a master about to make
            # the order of a new application's output, or nothing written yet)
            self._apart = (_Followed(os.path.join(self.directory, "output.log"), self.start[0]),
                           _Followed(os.path.join(self.directory, STDERR_FILE), self.start[1]))
        return self._ordered is not None or self._apart is not None

    def read(self) -> List[Tuple[str, bytes, int]]:
        """``(stream, bytes, offset past them)`` written since the last read."""
        if self._ordered is None and self._apart is None and not self._choose():
            return []
        if self._ordered is not None:
            runs = self._ordered.read()
            if runs and self._ordered.generation != self._offsets.get("generation"):
                # (a stream's offset in the generation before is none in this one)
                self._offsets = {"generation": self._ordered.generation}
            for stream, _data, offset in runs:
                self._offsets[stream] = offset
            return runs
        runs = []
        for stream, followed in zip(("stdout", "stderr"), self._apart):
            data = followed.read()
            if data:
                runs.append((stream, data, followed.offset))
        return runs

    @property
    def generation(self) -> int:
        """The generation of the files the offsets of the last ``read`` are in (-1: not
        said, output kept by a master of before)."""
        return self._ordered.generation if self._ordered is not None else -1

    @property
    def skipped(self) -> int:
        """How many times output not yet read was rotated away (``OrderedReader``)."""
        return self._ordered.skipped if self._ordered is not None else 0

    def offset(self, stream: str) -> int:
        if self._apart is not None:
            return self._apart[0 if stream == "stdout" else 1].offset
        return self._offsets.get(stream, -1)

    def close(self) -> None:
        if self._ordered is not None:
            self._ordered.close()


class _Followed:
    """One stored file of a followed run and how much of it was sent: its offset, and its
    inode, so that a rotation (renamed to ``.1``, a new file begun) is crossed without a gap."""

    def __init__(self, path: str, offset: int = 0):
        self.path, self.offset, self.inode = path, max(0, offset), None

    def read(self) -> bytes:
        """What was written since the last read (up to 1 MiB), b"" if nothing was."""
        try:
            with open(self.path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                # (a follower going on from an offset past the end: rotated meanwhile)
                rotated = stat.st_size < self.offset or (self.inode is not None and
                                                         stat.st_ino != self.inode)
                self.inode = stat.st_ino
                if rotated:
                    data, self.offset = self._rest_of_rotated(), 0  # then the new file
                    if data:
                        return data
                fh.seek(self.offset)
                data = fh.read(1 << 20)
                self.offset += len(data)
                return data
        except FileNotFoundError:
            return b""

    def _rest_of_rotated(self) -> bytes:
        """What had not been read of the file rotated to ``.1``."""
        try:
            with open(self.path + ".1", "rb") as fh:
                fh.seek(self.offset)
                return fh.read()
        except OSError:
            return b""


def _follower_left(conn: Connection, timeout: float) -> bool:
    """Whether the follower at the other end of ``conn`` has gone (waiting up to ``timeout``
    seconds to see): it sends nothing after its request, so anything readable, its closing
    above all, means it has.  Otherwise a follower gone while the output was quiet (``vega
    logs --follow`` stopped with Ctrl-C, a cluster-mode ``vega submit`` whose terminal
    closed) kept its thread and connection here for as long as the application ran."""
    import select

    try:
        readable, _, _ = select.select([conn.fileno()], [], [], timeout)
    except (OSError, ValueError):  # closed under us (the master stopping)
        return True
    return bool(readable)


def _tail_of(path: str, limit: int) -> Optional[str]:
    """The last ``limit`` bytes of the file at ``path`` and its rotated ``.1``, as text; None
    when there is no such file."""
    try:
        data = _last_bytes(path, limit)
    except FileNotFoundError:
        return None
    if len(data) < limit:
        try:
            data = _last_bytes(path + ".1", limit - len(data)) + data
        except FileNotFoundError:
            pass
    return data.decode("utf-8", "replace")


def _last_bytes(path: str, limit: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - limit))
        return fh.read()
