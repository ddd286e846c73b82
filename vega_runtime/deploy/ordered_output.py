"""An application's stored output in the order its tasks printed it, each stream kept apart.

The master keeps what a driver relays in ``output.log`` (stdout) and ``stderr.log`` (stderr),
so that ``vega logs APP 2>/dev/null`` is the output alone, and in ``streams.log`` the order
of the runs it wrote: one line per run, ``o N`` (N bytes of stdout) or ``e N``, written
after the run.  Readers (the web UI's tail, ``vega logs``) merge the two files by it, so
``vega logs APP > f 2>&1`` and the UI read as the job printed them (as closely as the
master knows: the runs of lines the driver relays).

The three files rotate together (``.1``, ``.2``, ...; at most ``backups`` kept), when a
stream file would pass ``max_bytes``, so each generation's order describes its own stream
files from their first byte.  A directory without ``streams.log`` (kept by a master of
before: everything in ``output.log``, or the two streams without their order) is read as
stdout, then stderr.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from .log_files import shift_backups

OUTPUT_FILE, STDERR_FILE, ORDER_FILE = "output.log", "stderr.log", "streams.log"
#: the letter of each stream in ``streams.log``
_LETTERS = {"stdout": b"o", "stderr": b"e"}
_STREAMS = {b"o": "stdout", b"e": "stderr"}
#: the most bytes ``OrderedReader.read`` returns at a time
READ_BYTES = 1 << 20


def _paths(directory: str, suffix: str = "") -> Dict[str, str]:
    return {"stdout": os.path.join(directory, OUTPUT_FILE + suffix),
            "stderr": os.path.join(directory, STDERR_FILE + suffix),
            "order": os.path.join(directory, ORDER_FILE + suffix)}


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class OrderedOutput:
    """The master's writer of one application's output (``write(data, stream)``)."""

    def __init__(self, directory: str, max_bytes: int, backups: int):
        self.directory, self.max_bytes, self.backups = directory, max_bytes, backups
        self._open()

    def _open(self, previous: int = 0, number: int = 1) -> None:
        """Open the stream files, then the order: a new one whole (``.new`` renamed), so that
        a reader that finds it finds the stream files too; a new one after a rotation begins
        with ``p INODE``, the inode of the order before (``previous``): a follower behind by
        several rotations finds the generation after its own by it.  A new one then says
        its ``number`` (``g N``, one more than the one before): what a follower following
        again names the files its offsets are in by (an inode is used again once its file
        is removed)."""
        paths = _paths(self.directory)
        # what the order does not cover (kept by a master of before, or written before a
        # crash let it say so) comes first, stdout then stderr: the order is whole again
        order = _read(paths["order"])
        covered = _covered(order)
        self._files, self._sizes, self._order = {}, {}, None
        try:
            for stream in ("stdout", "stderr"):
                self._files[stream] = open(paths[stream], "ab")
                self._sizes[stream] = self._files[stream].tell()
            fresh = not os.path.exists(paths["order"])
            self._order = open(paths["order"] + (".new" if fresh else ""), "ab")
            if order and not order.endswith(b"\n"):  # a record half written: ended so
                self._order.write(b"\n")
            if fresh and previous:
                self._order.write(b"p %d\n" % previous)
            if fresh:
                self._order.write(b"g %d\n" % number)
            self.number = number if fresh else _number(order)
            for stream in ("stdout", "stderr"):
                if self._sizes[stream] > covered[stream]:
                    self._note(stream, self._sizes[stream] - covered[stream])
            if fresh:
                os.replace(paths["order"] + ".new", paths["order"])
        except OSError:
            self.close()
            raise

    def _note(self, stream: str, length: int) -> None:
        self._order.write(_LETTERS[stream] + b" %d\n" % length)
        self._order.flush()

    def write(self, data: bytes, stream: str = "stdout") -> int:
        stream = "stderr" if stream == "stderr" else "stdout"
        if self._sizes[stream] and self._sizes[stream] + len(data) > self.max_bytes:
            self.rotate()
        if not data:
            return 0
        self._files[stream].write(data)
        self._files[stream].flush()  # the run is there before its order says so
        self._sizes[stream] += len(data)
        self._note(stream, len(data))
        return len(data)

    def write_runs(self, runs: Sequence[Tuple[str, bytes]]) -> None:
        """Several runs, in order: each stream's bytes in one write, then their order in
        one (a run of interleaved lines costs about what a run of one stream does); the
        three files rotate where a run would take a stream file past ``max_bytes``.  Bytes
        another process appended to a stream file meanwhile (a cluster-mode driver's
        children, C code writing to its descriptors) are counted, ahead of these runs."""
        chunks: Dict[str, List[bytes]] = {"stdout": [], "stderr": []}
        notes: List[List] = []  # [stream, length]: consecutive runs of a stream as one
        pending = {"stdout": 0, "stderr": 0}
        for stream, data in runs:
            stream = "stderr" if stream == "stderr" else "stdout"
            size = self._sizes[stream] + pending[stream]
            if size and size + len(data) > self.max_bytes:
                self._put(chunks, notes)
                self.rotate()
                chunks, notes = {"stdout": [], "stderr": []}, []
                pending = {"stdout": 0, "stderr": 0}
            if not data:
                continue
            chunks[stream].append(data)
            pending[stream] += len(data)
            if notes and notes[-1][0] == stream:
                notes[-1][1] += len(data)
            else:
                notes.append([stream, len(data)])
        self._put(chunks, notes)

    def _put(self, chunks: Dict[str, List[bytes]], notes: List[List]) -> None:
        """The stream files' runs, then their order (so that a run is there before its
        order says so)."""
        if not notes:
            return
        gaps = []
        for stream in ("stdout", "stderr"):  # (of a stream not written here too: before,
            size = os.fstat(self._files[stream].fileno()).st_size  # it came after these)
            if size > self._sizes[stream]:
                gaps.append([stream, size - self._sizes[stream]])
                self._sizes[stream] = size
        for stream in ("stdout", "stderr"):
            if chunks[stream]:
                data = b"".join(chunks[stream])
                file = self._files[stream]
                file.write(data)
                file.flush()
                # where this write began: past what was counted, another process wrote
                start = os.lseek(file.fileno(), 0, os.SEEK_CUR) - len(data)
                if start > self._sizes[stream]:
                    gaps.append([stream, start - self._sizes[stream]])
                self._sizes[stream] = start + len(data)
        self._order.write(b"".join(_LETTERS[s] + b" %d\n" % n for s, n in gaps + notes))
        self._order.flush()

    def catch_up(self) -> None:
        """Count what other processes appended to the stream files since (``write_runs``),
        and rotate if that took one past ``max_bytes``."""
        for stream in ("stdout", "stderr"):
            size = os.fstat(self._files[stream].fileno()).st_size
            if size > self._sizes[stream]:
                self._note(stream, size - self._sizes[stream])
                self._sizes[stream] = size
        if max(self._sizes.values()) > self.max_bytes:
            self.rotate()

    def rotate(self) -> None:
        """``.1`` (older ones shifted up): the order first, so that a reader that finds
        ``streams.log`` unchanged after opening the stream files has the right ones.  What
        other processes appended to the stream files since (a cluster-mode driver's writes
        past ``sys.stdout``/``sys.stderr``) is noted first: it ends this generation (before,
        it was in no order, and a reader of the rotated files left it out)."""
        for stream in ("stdout", "stderr"):
            size = os.fstat(self._files[stream].fileno()).st_size
            if size > self._sizes[stream]:
                self._note(stream, size - self._sizes[stream])
                self._sizes[stream] = size
        previous, number = os.fstat(self._order.fileno()).st_ino, self.number + 1
        self.close()
        paths = _paths(self.directory)
        for kind in ("order", "stdout", "stderr"):
            path = paths[kind]
            if self.backups > 0:
                shift_backups(path, self.backups)
                if os.path.exists(path):
                    os.replace(path, f"{path}.1")
            elif os.path.exists(path):
                os.remove(path)
        self._open(previous, number)

    def flush(self) -> None:
        pass  # (each write is flushed)

    def close(self) -> None:
        _close(*self._files.values(), self._order)

    def __enter__(self) -> "OrderedOutput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_NUMBER = re.compile(rb"^g (\d+)$", re.M)


def _number(head: bytes) -> int:
    """The number an order file beginning with ``head`` says (``g N`` in its first two
    lines), 0 when none (kept by a master of before)."""
    found = _NUMBER.search(b"\n".join(head.split(b"\n", 2)[:2]))
    return int(found.group(1)) if found else 0


def _generation_id(order) -> int:
    """How a follower names the generation of the open order file ``order``: its number,
    or (one of a master of before, without) its inode."""
    return _number(os.pread(order.fileno(), 128, 0)) or os.fstat(order.fileno()).st_ino


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _covered(order: bytes) -> Dict[str, int]:
    """How many bytes of each stream the whole records of ``order`` say (summed in C: an
    order of a 64 MiB generation of one-line runs has millions)."""
    order = order[:order.rfind(b"\n") + 1]
    return {s: sum(map(int, re.findall(rb"^%s (\d+)$" % _LETTERS[s], order, re.M)))
            for s in ("stdout", "stderr")}


#: a line of an order file (a line that is no record: an empty run of stdout)
_RECORD = re.compile(rb"^(?:([oe]) (\d+)|.*)$\n", re.M)


def _records(data: bytes) -> List[Tuple[str, int]]:
    """The whole lines of an order file as ``(stream, length)`` (a half-written last line
    and anything unreadable left out)."""
    records = []
    for line in data.split(b"\n")[:-1]:
        letter, _, length = line.partition(b" ")
        if letter in _STREAMS and length.isdigit():
            records.append((_STREAMS[letter], int(length)))
    return records


def is_ordered(directory: str) -> bool:
    return os.path.exists(_paths(directory)["order"])


def has_output(directory: str) -> bool:
    """Whether either stream file holds anything."""
    paths = _paths(directory)
    return _size(paths["stdout"]) > 0 or _size(paths["stderr"]) > 0


def tail(directory: str, limit: int) -> Optional[bytes]:
    """The last ``limit`` bytes of the output in the order printed, reaching into the
    generation before (``.1``) when the current one is younger; None when there is none."""
    paths = _paths(directory)
    if not any(os.path.exists(p) for p in paths.values()):
        return None
    data = b""
    for suffix in ("", ".1"):
        data = _generation_tail(directory, suffix, limit - len(data)) + data
        if len(data) >= limit:
            break
    return data


def _generation_tail(directory: str, suffix: str, limit: int) -> bytes:
    """The last ``limit`` bytes of one generation in order: its order file is summed whole
    (``_covered``: where the runs end) and then read back from its end only as far as
    ``limit`` reaches (a tail of a 64 MiB generation of one-line runs took seconds)."""
    paths = _paths(directory, suffix)
    sizes = {s: _size(paths[s]) for s in ("stdout", "stderr")}
    order = _read(paths["order"])
    order = order[:order.rfind(b"\n") + 1]  # whole lines
    covered = _covered(order)
    ends = {s: min(sizes[s], covered[s]) for s in ("stdout", "stderr")}
    pieces, left = [], limit  # (stream, start, length), from the last one back
    for stream in ("stderr", "stdout"):  # not in the order (a master of before, a crash)
        extra = min(sizes[stream] - ends[stream], left)
        if extra > 0:
            pieces.append((stream, sizes[stream] - extra, extra))
            left -= extra
    cursor = dict(ends)
    at = len(order) - 1  # the newline ending the record to read next
    while left > 0 and at > 0:
        begin = order.rfind(b"\n", 0, at) + 1
        records = _records(order[begin:at + 1])
        at = begin - 1
        if not records:
            continue
        stream, length = records[0]
        take = min(length, left, cursor[stream])  # its last bytes end at the cursor
        if take > 0:
            pieces.append((stream, cursor[stream] - take, take))
            left -= take
        cursor[stream] = max(0, cursor[stream] - length)
    out, files = [], {}
    try:
        for stream, start, length in reversed(pieces):
            if length > 0:
                if stream not in files:
                    files[stream] = open(paths[stream], "rb")
                files[stream].seek(start)
                out.append(files[stream].read(length))
    finally:
        _close(*files.values())
    return b"".join(out)


class OrderedReader:
    """Follows an ordered output (``vega logs``): ``read()`` returns the runs written since,
    in order, as ``(stream, text, offset in that stream's file past it)``, crossing
    rotations.  ``offsets``: where a follower following again had got to in stdout and
    stderr of the generation ``generation`` (``generation``: its number; kept as
    ``.N`` if rotations came since; gone: from the oldest kept, ``skipped``); without it
    (a follower of before), in the current files (past their ends: they rotated since, it
    goes on in ``.1``).  A follower with nothing yet starts at the oldest generation kept:
    everything kept, in order."""

    def __init__(self, directory: str, offsets: Sequence[int] = (0, 0), generation: int = -1):
        self.directory = directory
        self._files: Dict[str, object] = {}
        self._resume = {"stdout": max(0, offsets[0]), "stderr": max(0, offsets[1])}
        self._resume_generation = generation
        self._generation = None
        #: how many times the follower found the generation after the one it had read
        #: removed (rotated past the files kept) before it could read it
        self.skipped = 0

    def _open_generation(self, after: Optional[int] = None) -> bool:
        """Open the current generation (or, resuming past its ends, the one before); after
        the one whose order has the inode ``after`` was read to its end, the one that came
        next, kept as ``.N`` if more rotations came since (a follower more than one rotation
        behind read the current one next: the generations between were skipped, unsaid)."""
        for _ in range(10):  # a rotation under us: again
            suffix, gone = self._next_suffix(after) if after else self._first_suffix()
            paths = _paths(self.directory, suffix)
            try:
                order = open(paths["order"], "rb")
            except FileNotFoundError:
                return False
            files = {}
            for stream in ("stdout", "stderr"):
                try:
                    files[stream] = open(paths[stream], "rb")
                except FileNotFoundError:
                    files[stream] = None
            try:
                same = os.stat(paths["order"]).st_ino == os.fstat(order.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            _close(order, *files.values())
        else:
            return False
        self.skipped += gone
        resume, self._resume = self._resume, None
        if gone or (resume and not any(resume.values())):
            resume = None  # from the start of the generation found
        past_end = resume and any(resume[s] > (os.fstat(f.fileno()).st_size if f else 0)
                                  for s, f in files.items())
        if past_end and self._resume_generation >= 0:  # (not its files): from their start
            resume = None
        elif past_end:
            _close(order, *files.values())  # rotated since: the rest of the one before
            older = _paths(self.directory, ".1")
            try:
                order = open(older["order"], "rb")
            except FileNotFoundError:  # gone: from the start of the current one
                return self._open_generation()
            files = {s: (open(older[s], "rb") if os.path.exists(older[s]) else None)
                     for s in ("stdout", "stderr")}
        self._order, self._files = order, files
        self._id = _generation_id(order)
        self._buffer, self._run = b"", None  # the run being read: [stream, left]
        self._parsed: List[Tuple[str, int]] = []  # records read, not yet taken
        self._taken = 0
        self._cache = {"stdout": (0, b""), "stderr": (0, b"")}  # (offset, bytes read there)
        self._offsets = {"stdout": 0, "stderr": 0}
        if resume:
            self._skip(resume)
        return True

    @property
    def generation(self) -> int:
        """The generation the offsets of the runs ``read`` returned are in (the inode of its
        order), -1 before one is open."""
        return self._id if self._generation else -1

    def _kept(self) -> List[Tuple[str, int]]:
        """``(suffix, id of its generation)`` of each generation kept, the current one first."""
        kept, n = [], 0
        while True:
            suffix = f".{n}" if n else ""
            try:
                with open(_paths(self.directory, suffix)["order"], "rb") as order:
                    kept.append((suffix, _generation_id(order)))
            except FileNotFoundError:
                return kept
            n += 1

    def _first_suffix(self) -> Tuple[str, bool]:
        """Where a follower starts, and whether output it had not read is gone: in the
        generation it was in (``_resume_generation``), the oldest kept when that one is gone
        or it has read nothing yet, else (a follower of before) the current one."""
        if self._resume is None:  # (opened again after a failed open: the current one)
            return "", False
        if self._resume_generation < 0 and any(self._resume.values()):
            return "", False
        kept = self._kept()
        if not kept:
            return "", False
        if self._resume_generation < 0:
            return kept[-1][0], False
        for _ in range(2):  # (a rotation between two looks: once more)
            for suffix, number in kept:
                if number == self._resume_generation:
                    return suffix, False
            kept = self._kept() or kept
        return kept[-1][0], True

    def _next_suffix(self, after: int) -> Tuple[str, bool]:
        """The suffix of the generation after the one whose order has the inode ``after``
        (``""``: the current one; the one whose order begins ``p AFTER``, or the one newer
        than ``after``'s), and False; when it is gone (more rotations came than the files
        kept), the oldest kept, and True: what came between is lost."""
        suffix, n, newer = "", 0, None
        while True:
            path = _paths(self.directory, suffix)["order"]
            try:
                with open(path, "rb") as fh:
                    inode, first = os.fstat(fh.fileno()).st_ino, fh.readline(64)
            except FileNotFoundError:
                break
            if first == b"p %d\n" % after:
                return suffix, False
            if inode == after:  # (a generation of before, without ``p``)
                return ("" if newer is None else newer), False
            newer, n = suffix, n + 1
            suffix = f".{n}"
        return ("" if newer is None else newer), newer is not None

    def _skip(self, resume: Dict[str, int]) -> None:
        """Pass over the runs a follower had: those that end by its offset in their stream."""
        while True:
            record = self._next_record()
            if record is None:
                return
            stream, length = record
            done = min(length, max(0, resume[stream] - self._offsets[stream]))
            self._offsets[stream] += done
            if done < length:
                self._run = [stream, length - done]
                return

    def _next_record(self) -> Optional[Tuple[str, int]]:
        """The next whole record (a line that is none: an empty run of stdout).  Records
        are parsed a block at a time: one at a time, 400,000 took 7 s of the master's CPU."""
        if self._taken == len(self._parsed):
            self._parsed, self._taken = [], 0
            while True:
                end = self._buffer.rfind(b"\n")
                if end >= 0:
                    break
                data = self._order.read(1 << 16)
                if not data:
                    return None
                self._buffer += data
            lines, self._buffer = self._buffer[:end + 1], self._buffer[end + 1:]
            self._parsed = [(_STREAMS.get(letter, "stdout"), int(length) if length else 0)
                            for letter, length in _RECORD.findall(lines)]
        record = self._parsed[self._taken]
        self._taken += 1
        return record

    def _bytes(self, stream: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``stream``'s file at ``offset`` (fewer at its end), read a
        block at a time."""
        start, cached = self._cache[stream]
        if not start <= offset or offset + length > start + len(cached):
            file = self._files[stream]
            file.seek(offset)
            start, cached = offset, file.read(max(length, 1 << 20))
            self._cache[stream] = (start, cached)
        return cached[offset - start:offset - start + length]

    def _rotated(self) -> bool:
        """Whether a new generation began (the order renamed, or removed with no backups
        kept, and made anew)."""
        try:
            now = os.stat(_paths(self.directory)["order"])
            return now.st_ino != os.fstat(self._order.fileno()).st_ino or \
                now.st_size < self._order.tell()
        except FileNotFoundError:
            return False  # between the renames of a rotation: not yet whole

    def read(self) -> List[Tuple[str, bytes, int]]:
        """What was written since the last read (up to ``READ_BYTES``), runs of one stream
        joined; [] when nothing was."""
        if self._generation is None:
            skipped = self.skipped
            if not self._open_generation():
                return []
            self._generation = True
            if self.skipped > skipped:  # (its reader says so before what comes next)
                return []
        out: List[Tuple[str, bytes, int]] = []
        budget, checked_rotation = READ_BYTES, False
        while budget > 0:
            if self._run is None:
                record = self._next_record()
                if record is None:
                    if checked_rotation or not self._rotated():
                        break
                    checked_rotation = True  # its last runs may have come meanwhile
                    record = self._next_record()
                    if record is None:
                        if out:  # (what one read returns is of one generation)
                            break
                        finished = os.fstat(self._order.fileno()).st_ino
                        _close(self._order, *self._files.values())
                        skipped = self.skipped
                        if not self._open_generation(finished):
                            self._generation = None
                            break
                        if self.skipped > skipped:  # (its reader says so here)
                            break
                        checked_rotation = False
                        continue
                self._run = list(record)
            stream, left = self._run
            file = self._files.get(stream)
            data = b""
            if file is not None and left:
                data = self._bytes(stream, self._offsets[stream], min(left, budget))
            if len(data) < min(left, budget):  # a file truncated under it: the run's rest
                left = len(data)                # is not there
            self._offsets[stream] += len(data)
            budget -= len(data)
            self._run = [stream, left - len(data)] if left - len(data) > 0 else None
            if data:
                if out and out[-1][0] == stream:
                    out[-1] = (stream, out[-1][1] + data, self._offsets[stream])
                else:
                    out.append((stream, data, self._offsets[stream]))
        return out

    def close(self) -> None:
        if self._generation:
            _close(self._order, *self._files.values())
            self._generation = None


def _close(*files) -> None:
    for file in files:
        if file is not None:
            file.close()
