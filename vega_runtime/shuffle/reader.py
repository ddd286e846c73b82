"""The reduce side of a shuffle: read every map's block, combine or sort."""

from __future__ import annotations

import io
import itertools
import pickle
import zlib
from typing import Callable, Iterable, Iterator

from ..errors import FetchFailed
from .blocks import BLOCK_TRAILER, BlockLocation
from .gc_pause import gc_paused
from .external import ExternalMerger, combine_and_sort, external_sort, record_sort_key

#: ``fetch(location) -> iterator of record batches``.
BlockFetcher = Callable[[BlockLocation], Iterator[list]]


def read_local_block(location: BlockLocation) -> Iterator[list]:
    """Batches of one block read straight from a shuffle file on this host. A missing,
    truncated or garbled file raises ``FetchFailed`` (its map output is recomputed)."""
    if location.length == 0:
        return
    where = f"{location.host}:{location.path}"
    try:
        fh = open(location.path, "rb", buffering=0)
    except OSError as exc:
        raise FetchFailed(location.shuffle_id, location.map_id, -1, where,
                          exc.strerror or str(exc)) from None
    with fh:
        fh.seek(location.offset)
        yield from load_block_batches(fh.read, location, where)


def load_block_batches(read: Callable[[int], bytes], location: BlockLocation,
                       where: str) -> Iterator[list]:
    """The record batches of one block, whose ``location.length`` bytes ``read(n)`` returns
    in order (at most ``n`` at a time, ``b""`` at their end).  A block that does not unpickle
    into batches or whose checksum does not match (a truncated or garbled shuffle file)
    raises ``FetchFailed``: the map output is lost, not the task."""
    def corrupt(problem: str) -> FetchFailed:
        return FetchFailed(location.shuffle_id, location.map_id, -1, where,
                           f"the shuffle block is corrupt ({problem})")

    if location.length < BLOCK_TRAILER.size:
        raise corrupt(f"{location.length} bytes is shorter than its checksum")
    payload = _Payload(read, location.length - BLOCK_TRAILER.size)
    stream = io.BufferedReader(payload, 1 << 16)
    load = pickle.load
    while stream.tell() < payload.length:
        try:
            with gc_paused():
                batch = load(stream)
        except FetchFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - garbled bytes fail in any way pickle can
            raise corrupt(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(batch, list):
            raise corrupt(f"a batch is a {type(batch).__name__}, not a list")
        yield batch
    if stream.tell() != payload.length:
        raise corrupt("its last batch runs past its end")
    trailer = _read_exactly(read, BLOCK_TRAILER.size)
    if len(trailer) != BLOCK_TRAILER.size:
        raise corrupt("it ends before its checksum")
    if BLOCK_TRAILER.unpack(trailer)[0] != payload.crc:
        raise corrupt("its checksum does not match")


class _Payload(io.RawIOBase):
    """The first ``length`` bytes from ``read``, their CRC-32 computed on the way."""

    def __init__(self, read: Callable[[int], bytes], length: int):
        self.read_source, self.length = read, length
        self.position = 0
        self.crc = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read_source(min(len(buffer), self.length - self.position))
        count = len(data)
        buffer[:count] = data
        self.position += count
        self.crc = zlib.crc32(data, self.crc)
        return count

    def tell(self) -> int:
        return self.position


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    parts, remaining = [], size
    while remaining:
        data = read(remaining)
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def read_shuffle(dep, reduce_id: int, locations: Iterable[BlockLocation], fetch: BlockFetcher,
                 memory_bound: int, spill_dir: str) -> Iterator:
    """Records of reduce partition ``reduce_id``, combined and/or sorted as ``dep`` asks."""
    batches = itertools.chain.from_iterable(fetch(loc) for loc in locations)
    records = itertools.chain.from_iterable(_tag_fetch_errors(batches, reduce_id))
    if dep.aggregator is not None:
        merger = ExternalMerger(dep.aggregator, dep.map_side_combine, memory_bound, spill_dir)
        merger.merge_all(records)
        return combine_and_sort(merger, dep.sort_key, dep.ascending, memory_bound, spill_dir)
    if dep.sort_key is not None:
        return external_sort(records, record_sort_key(dep.sort_key), not dep.ascending,
                             memory_bound, spill_dir)
    return records


def _tag_fetch_errors(batches: Iterator[list], reduce_id: int) -> Iterator[list]:
    """Fill in the reduce id of a FetchFailed raised by a fetcher."""
    try:
        yield from batches
    except FetchFailed as exc:
        if exc.reduce_id >= 0:
            raise
        raise FetchFailed(exc.shuffle_id, exc.map_id, reduce_id, exc.location, exc.reason) from None
