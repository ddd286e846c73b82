"""Reduce-side combining and sorting that spill sorted runs past a memory bound.

``ExternalMerger`` combines values per key in a dict; when the dict is too
large its items are sorted by key hash and spilled.  At the end the runs
(and what is still in memory) are merged with ``heapq.merge`` on the hash,
equal keys within one hash group combined in run order, which keeps
``group_by_key``'s values in input order.

``external_sort`` sorts records by a key function the same way.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import os
import pickle
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, List, Optional

from ..rdd.partitioner import RangePartitioner, identity
from ..serde import RecordSlice, dump_batches, dump_record_list, plain_records, read_batch_file
from .blocks import naming_a_full_disk
from .combine import combine_batch
from .gc_pause import gc_paused
from .sizing import batches, estimate_dict, estimate_records

_first = itemgetter(0)


class _Run:
    """A spill file of pickled batches, read back lazily and deleted after."""

    def __init__(self, records: Iterable, directory: str, batch_records: int):
        import tempfile  # here: a driver loads this module, executors that spill use it

        fd, self.path = tempfile.mkstemp(prefix="spill-", dir=directory)
        try:
            with naming_a_full_disk(directory, "spilled records"), os.fdopen(fd, "wb") as out:
                if isinstance(records, list):
                    dump_record_list(records, out, batch_records)
                else:
                    dump_batches(records, out, batch_records)
        except BaseException:
            os.unlink(self.path)  # a partial spill must not stay on a full disk
            raise

    def __iter__(self) -> Iterator:
        try:
            yield from read_batch_file(self.path)
        finally:
            os.unlink(self.path)

    def batches(self) -> Iterator[list]:
        """The run's batches of records, as written."""
        try:
            with open(self.path, "rb") as fh:
                while True:
                    try:
                        with gc_paused():
                            batch = pickle.load(fh)
                    except EOFError:
                        return
                    yield batch
        finally:
            os.unlink(self.path)


class ExternalMerger:
    """Combine ``(key, value)`` (or ``(key, combiner)``) pairs within a memory bound."""

    def __init__(self, aggregator, values_are_combiners: bool, memory_bound: int,
                 spill_dir: str, batch_records: int = 1024):
        self.aggregator = aggregator
        self.values_are_combiners = values_are_combiners
        self.memory_bound = memory_bound
        self.spill_dir = spill_dir
        self.batch_records = batch_records
        self.combiners: dict = {}
        self.runs: List[_Run] = []
        self.spilled_bytes = 0

    def merge_all(self, records: Iterator) -> None:
        for batch in batches(records):
            with gc_paused():
                self._merge_batch(batch)
            if estimate_dict(self.combiners) > self.memory_bound:
                self._spill()

    def _merge_batch(self, chunk: Iterator) -> None:
        agg = self.aggregator
        if self.values_are_combiners:
            combine_batch(self.combiners, chunk, None, agg.merge_combiners)
        else:
            combine_batch(self.combiners, chunk, agg.create_combiner, agg.merge_value)

    def _spill(self) -> None:
        ordered = sorted(((hash(k), k, c) for k, c in self.combiners.items()), key=_first)
        self.runs.append(_Run(ordered, self.spill_dir, self.batch_records))
        self.combiners = {}

    def items(self) -> Iterator:
        if not self.runs:
            return iter(self.combiners.items())
        self._spill()
        return self._merged()

    def _merged(self) -> Iterator:
        merge = self.aggregator.merge_combiners
        streams = heapq.merge(*self.runs, key=_first)
        for _, group in itertools.groupby(streams, key=_first):
            first = next(group)
            pending = {first[1]: first[2]}
            for _, key, combiner in group:
                if key in pending:
                    pending[key] = merge(pending[key], combiner)
                else:
                    pending[key] = combiner
            yield from pending.items()


def external_sort(records: Iterator, key: Callable[[Any], Any], reverse: bool,
                  memory_bound: int, spill_dir: str, batch_records: int = 1024) -> Iterator:
    """Records sorted by ``key(record)``, spilling sorted runs past the bound."""
    buffer: list = []
    runs: List[_Run] = []
    for batch in batches(records):
        with gc_paused():
            buffer.extend(batch)
        if estimate_records(reversed(buffer), len(buffer)) > memory_bound:
            buffer.sort(key=key, reverse=reverse)
            runs.append(_Run(buffer, spill_dir, batch_records))
            buffer = []
    buffer.sort(key=key, reverse=reverse)
    if not runs:
        return iter(buffer)
    if reverse:
        return heapq.merge(*runs, iter(buffer), key=key, reverse=True)
    in_memory = (buffer[i:i + batch_records] for i in range(0, len(buffer), batch_records))
    return itertools.chain.from_iterable(
        merge_sorted_batches([run.batches() for run in runs] + [in_memory], key))


def merge_sorted_batches(runs: List[Iterable[list]], key: Callable[[Any], Any]) -> Iterator[list]:
    """Merge runs of records sorted by ascending ``key``, each given as its batches (lists),
    a batch at a time: every round takes, from each run's current batch, the records up to
    the smallest of the batches' last keys (``bisect``) and sorts them together (Timsort
    merges such sorted pieces in C), where ``heapq.merge`` runs Python code per record.
    Stable: of equal keys, those of an earlier run come first (a run whose batch ends at
    the bound may have more of that key to come, so later runs give only smaller keys).
    """
    heads = []  # [batch, its keys, how many of them are merged, the rest of the run]
    for run in runs:
        run = iter(run)
        head = _head(run, key)
        if head is not None:
            heads.append(head)
    while heads:
        bound = min(head[1][-1] for head in heads)
        pieces, equal_keys_too, exhausted = [], True, False
        for head in heads:
            batch, keys, position, _ = head
            if equal_keys_too:
                cut = bisect.bisect_right(keys, bound, position)
                equal_keys_too = bound < keys[-1]  # else more of ``bound`` may follow
            else:
                cut = bisect.bisect_left(keys, bound, position)
            if cut > position:
                pieces.append(batch[position:cut] if position or cut < len(batch) else batch)
                head[2] = cut
                exhausted = exhausted or cut == len(batch)
        if exhausted:
            heads = [head if head[2] < len(head[0]) else _head(head[3], key) for head in heads]
            heads = [head for head in heads if head is not None]
        if len(pieces) == 1:
            yield pieces[0]
        else:
            merged = list(itertools.chain.from_iterable(pieces))
            merged.sort(key=key)
            yield merged


def _head(run: Iterator[list], key: Callable[[Any], Any]) -> Optional[list]:
    """The merge state of ``run`` at its next non-empty batch; None at its end."""
    for batch in run:
        if batch:
            return [batch, list(map(key, batch)), 0, run]
    return None


def record_sort_key(sort_key: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The sort key of a ``(key, value)`` record, ``sort_key(key)``: ``itemgetter(0)`` (no
    Python call per record) for the default ``identity``."""
    if sort_key is identity:
        return _first
    return lambda kv: sort_key(kv[0])


def range_buckets(chunk, dep) -> Optional[List[RecordSlice]]:
    """The map side of a range-partitioned sorted shuffle (``sort_by_key``): ``chunk`` (a list
    of records) sorted by key in C, then cut into the reduce partitions' buckets at the
    partitioner's bounds with ``bisect`` (a few key calls per bound), so neither the
    partitioner nor a Python loop runs per record. Every bucket is then a sorted run, which
    the reducer's sort (Timsort) merges instead of sorting from scratch. Equal keys keep their
    input order (the sort is stable). The buckets are slices of a sorted copy of ``chunk``:
    ``chunk`` keeps the records in the order they were made, which is their order in memory,
    so whether they are plain (``plain_records``) is checked, and they are freed, in that
    order (600k TeraSort records were freed in 0.06 s against 0.13 s in sorted order: each
    one a cache miss).
    None when the shuffle is not such a one (the caller buckets record by record).
    """
    partitioner = dep.partitioner
    if (dep.aggregator is not None or dep.sort_key is None or not isinstance(chunk, list)
            or type(partitioner) is not RangePartitioner or partitioner.key_func is not dep.sort_key):
        return None
    key = record_sort_key(dep.sort_key)
    ascending = partitioner.ascending
    plain = plain_records(chunk)
    ordered = sorted(chunk, key=key, reverse=not ascending)
    keys_ascend = ordered if ascending else _Reversed(ordered)
    # partition p holds the keys k with bounds[p-1] < k <= bounds[p]
    cuts = [0, *(bisect.bisect_right(keys_ascend, bound, key=key) for bound in partitioner.bounds),
            len(ordered)]
    if ascending:
        return [RecordSlice(ordered, cuts[p], cuts[p + 1], plain) for p in range(partitioner.num_partitions)]
    size = len(ordered)  # ordered descends: partition n-1-p holds its positions size-cuts[p+1] ..
    return [RecordSlice(ordered, size - cuts[p + 1], size - cuts[p], plain)
            for p in reversed(range(partitioner.num_partitions))]


class _Reversed:
    """A list read back to front, for ``bisect`` (which reads a few items of it)."""

    __slots__ = ("items",)

    def __init__(self, items: list):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[len(self.items) - 1 - index]


def combine_and_sort(merger: ExternalMerger, sort_key: Optional[Callable], ascending: bool,
                     memory_bound: int, spill_dir: str) -> Iterator:
    items = merger.items()
    if sort_key is None:
        return items
    return external_sort(items, record_sort_key(sort_key), not ascending, memory_bound, spill_dir)
