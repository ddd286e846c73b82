"""The reduce side of a shuffle: read every map's block, combine or sort."""

from __future__ import annotations

import itertools
import pickle
from typing import Callable, Iterable, Iterator

from ..errors import FetchFailed
from .blocks import BlockLocation
from .external import ExternalMerger, combine_and_sort, external_sort

#: ``fetch(location) -> iterator of record batches``.
BlockFetcher = Callable[[BlockLocation], Iterator[list]]


def read_local_block(location: BlockLocation) -> Iterator[list]:
    """Batches of one block read straight from a shuffle file on this host."""
    if location.length == 0:
        return
    try:
        fh = open(location.path, "rb")
    except OSError as exc:
        raise FetchFailed(location.shuffle_id, location.map_id, -1,
                          f"{location.host}:{location.path}", exc.strerror or str(exc)) from None
    with fh:
        fh.seek(location.offset)
        end = location.offset + location.length
        load = pickle.load
        while fh.tell() < end:
            yield load(fh)


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
        key = dep.sort_key
        return external_sort(records, lambda kv: key(kv[0]), not dep.ascending, memory_bound,
                             spill_dir)
    return records


def _tag_fetch_errors(batches: Iterator[list], reduce_id: int) -> Iterator[list]:
    """Fill in the reduce id of a FetchFailed raised by a fetcher."""
    try:
        yield from batches
    except FetchFailed as exc:
        if exc.reduce_id >= 0:
            raise
        raise FetchFailed(exc.shuffle_id, exc.map_id, reduce_id, exc.location, exc.reason) from None
