"""Shuffle file layout and the descriptions of map outputs.

A map task writes ``shuffle_S_M_A.data`` (pickled record batches grouped by
reduce partition, each non-empty block ending with the CRC-32 of its batches,
``BLOCK_TRAILER``) and ``shuffle_S_M_A.index`` (``num_reduces + 1`` offsets,
little-endian int64).  A block that does not check out is a lost map output.
A ``MapStatus`` tells the driver where that output is;
a ``BlockLocation`` tells one reducer where its piece of it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
from typing import Iterable, List, Optional, Sequence

from ..io.disk import naming_a_full_disk as full_disk
from ..private_files import open_private, private_fd
from ..records import FrozenRecord


class MapStatus(FrozenRecord):
    """Where one map task wrote its shuffle output, and each reduce partition's offsets in it."""
    shuffle_id: int
    map_id: int
    executor_id: str
    host: str
    path: str  # the data file
    offsets: tuple  # num_reduces + 1 byte offsets
    port: int  # the host's shuffle service; 0 when every reader shares the disk

    def __init__(self, shuffle_id, map_id, executor_id, host, path, offsets, port=0):
        setattr = object.__setattr__
        setattr(self, "shuffle_id", shuffle_id)
        setattr(self, "map_id", map_id)
        setattr(self, "executor_id", executor_id)
        setattr(self, "host", host)
        setattr(self, "path", path)
        setattr(self, "offsets", offsets)
        setattr(self, "port", port)

    def block(self, reduce_id: int) -> "BlockLocation":
        start = self.offsets[reduce_id]
        return BlockLocation(self.shuffle_id, self.map_id, self.executor_id, self.host,
                             self.path, start, self.offsets[reduce_id + 1] - start, self.port)

    def bytes_written(self) -> int:
        return self.offsets[-1]

    def to_wire(self) -> list:
        return [self.shuffle_id, self.map_id, self.executor_id, self.host, self.path,
                list(self.offsets), self.port]

    @classmethod
    def from_wire(cls, data: Sequence) -> "MapStatus":
        shuffle_id, map_id, executor_id, host, path, offsets, port = data
        return cls(shuffle_id, map_id, executor_id, host, path, tuple(offsets), port)


#: What ends every non-empty block: the CRC-32 of the block's bytes before it.
BLOCK_TRAILER = struct.Struct(">I")

#: The most bytes of a block one request to a shuffle service asks for: a larger block is
#: fetched in several chunks (so no block is too big for a frame, and unpickling starts
#: after the first chunk; a 42 MiB block came in 0.2-0.5 s in 4 MiB chunks, 1.0 s whole).
FETCH_CHUNK_BYTES = 4 << 20
#: The most bytes a shuffle service reads and sends for one request (it refuses more).
SERVICE_MAX_REQUEST_BYTES = 64 << 20


class BlockLocation(FrozenRecord):
    """One reduce partition's bytes in one map output file."""
    shuffle_id: int
    map_id: int
    executor_id: str
    host: str
    path: str
    offset: int
    length: int
    port: int

    def __init__(self, shuffle_id, map_id, executor_id, host, path, offset, length, port=0):
        setattr = object.__setattr__
        setattr(self, "shuffle_id", shuffle_id)
        setattr(self, "map_id", map_id)
        setattr(self, "executor_id", executor_id)
        setattr(self, "host", host)
        setattr(self, "path", path)
        setattr(self, "offset", offset)
        setattr(self, "length", length)
        setattr(self, "port", port)


def output_paths(shuffle_dir: str, shuffle_id: int, map_id: int, attempt: int):
    stem = os.path.join(shuffle_dir, f"shuffle_{shuffle_id}_{map_id}_{attempt}")
    return stem + ".data", stem + ".index"


def naming_a_full_disk(directory: str, what: str):
    """A full disk met writing ``what`` (map output, spilled records) into ``directory``,
    named with its free space and where Vega's work directory is set."""
    return full_disk(directory, what, "free space there or give Vega a work directory on a "
                                      "larger disk (vega worker --work-dir; vega.local.dir "
                                      "for local masters)")


def remove_map_output(data_path: str, index_path: str) -> None:
    """Delete what a map task attempt wrote (its runs, data file and index, finished or
    not): a failed attempt must not leave partial files filling the disk."""
    directory, stem = os.path.split(data_path)
    names = {os.path.basename(index_path), os.path.basename(index_path) + ".tmp"}
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in entries:
        if name in names or name == stem or name.startswith(stem + ".run"):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass


#: what names the file in an executor's spill directory that marks one of its map attempts
#: as writing its output (``map_attempt_in_flight``): this prefix, then the attempt's stem
#: (``shuffle_S_M_A``, ``output_paths``' without the suffix)
IN_FLIGHT_PREFIX = "writing-"
_IN_FLIGHT_MARK = re.compile(re.escape(IN_FLIGHT_PREFIX) + r"(shuffle_\d+_\d+_\d+)")


@contextlib.contextmanager
def map_attempt_in_flight(spill_dir: str, data_path: str):
    """While a map attempt writes ``data_path`` (its runs, then its index): a mark in its
    executor's own ``spill_dir``. The shuffle directory is shared by every executor of the
    application on the host, so when an executor dies mid-write (SIGKILLed, ended by the
    task reaper) the mark is what tells whoever sees its process end which unfinished
    files there were its (``remove_dead_executor_output``).

    An attempt that fails or is killed deletes what it wrote here too, after
    ``write_map_output``'s own clean-up: a kill (executor_loop's ``TaskKilled``, raised
    once a task) that lands while that clean-up runs (the attempt met a full disk, and
    the job failed on another's) cuts it short, and the files were left for the
    application's end."""
    stem = os.path.basename(data_path)[:-len(".data")]
    mark = os.path.join(spill_dir, IN_FLIGHT_PREFIX + stem)
    with naming_a_full_disk(spill_dir, "shuffle output"):
        os.close(private_fd(mark, "wb"))
    try:
        yield
    except BaseException:
        remove_map_output(data_path, data_path[:-len(".data")] + ".index")
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(mark)


def unfinished_attempt_files(shuffle_names: Iterable[str], spill_names: Iterable[str]) -> List[str]:
    """The files (``shuffle_names``: a shuffle directory's) that a dead executor's map
    attempts left unfinished, its spill directory's names being ``spill_names``: the runs,
    data file and temporary index of each attempt marked in flight there
    (``map_attempt_in_flight``) whose index is missing. An attempt whose index is there
    committed its output (the index is written last), which reducers may still fetch: it
    stays; files of attempts not marked are other executors' (running, or finished).

    >>> unfinished_attempt_files(
    ...     ["shuffle_0_1_7.data.run0", "shuffle_0_1_7.data", "shuffle_0_0_6.data",
    ...      "shuffle_0_0_6.index", "shuffle_0_2_8.data.run0"],
    ...     ["writing-shuffle_0_1_7", "writing-shuffle_0_0_6", "spill-x1"])
    ['shuffle_0_1_7.data', 'shuffle_0_1_7.data.run0']
    """
    names = set(shuffle_names)
    doomed = []
    for mark in spill_names:
        match = _IN_FLIGHT_MARK.fullmatch(mark)
        if match is None or match.group(1) + ".index" in names:
            continue
        stem = match.group(1)
        doomed += [name for name in names if name in (stem + ".data", stem + ".index.tmp")
                   or name.startswith(stem + ".data.run")]
    return sorted(doomed)


def remove_dead_executor_output(shuffle_dir: str, spill_dir: str) -> List[str]:
    """(Its process gone.) Delete what an executor's map attempts in flight had written in
    ``shuffle_dir`` (``unfinished_attempt_files``: nobody registered it, and their own
    clean-up never ran) and its ``spill_dir``; the names of the map output files deleted."""
    import shutil  # (here: an executor, or a driver that loses none, does without it)

    try:
        marks = os.listdir(spill_dir)
    except FileNotFoundError:
        return []
    doomed = []
    if any(mark.startswith(IN_FLIGHT_PREFIX) for mark in marks):
        try:
            doomed = unfinished_attempt_files(os.listdir(shuffle_dir), marks)
        except FileNotFoundError:
            pass
    for name in doomed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(shuffle_dir, name))
    shutil.rmtree(spill_dir, ignore_errors=True)
    return doomed


#: a map output file's name (``output_paths``, its runs and its index's temporary file):
#: its shuffle id, map id and attempt (a task id)
_ATTEMPT_FILE = re.compile(r"shuffle_(\d+)_(\d+)_(\d+)\.(?:data|index)")


def map_output_task_id(name: str) -> Optional[int]:
    """The id of the map task attempt that wrote the file ``name`` (``output_paths``', its
    runs and unfinished index included), None for another file.

    >>> map_output_task_id("shuffle_3_1_17.data.run0"), map_output_task_id("x.data")
    (17, None)
    """
    match = _ATTEMPT_FILE.match(name)
    return int(match.group(3)) if match else None


def write_index(path: str, offsets: List[int]) -> None:
    tmp = path + ".tmp"
    with open_private(tmp, "wb") as out:
        out.write(struct.pack(f"<{len(offsets)}q", *offsets))
    os.replace(tmp, path)


def read_index(path: str) -> tuple:
    with open(path, "rb") as fh:
        data = fh.read()
    return struct.unpack(f"<{len(data) // 8}q", data)
