"""The map side of a shuffle: partition, combine, spill, write one data file.

Records are combined in one dict per map task (the partitioner is called
once per distinct key, not per record).  When the dict outgrows the memory
bound it is bucketed by reduce partition and spilled as a run file laid out
like the final output; at the end the runs' segments are concatenated per
reduce partition into the data file (reducers merge combiners anyway, so
runs need no map-side merge).
"""

from __future__ import annotations

import os
import zlib
from functools import partial
from operator import itemgetter
from typing import Iterator, List

from ..private_files import open_private
from ..serde import RecordSlice, dump_record_list, plain_values
from .blocks import BLOCK_TRAILER, write_index
from .combine import (combine_batch, combine_mapped, combine_side, count_batch, counted_pairs,
                      mapped_fold, mapped_pairs, tagged_side, times)
from .external import range_buckets
from .gc_pause import gc_paused
from .sizing import batches, estimate_dict, estimate_records


def write_map_output(records: Iterator, dep, data_path: str, index_path: str,
                     memory_bound: int, batch_records: int) -> List[int]:
    """Write one map task's output; returns the reduce partitions' byte offsets."""
    num_reduces = dep.partitioner.num_partitions
    if dep.map_side_combine:
        chunks = _combined_chunks(records, dep.aggregator, memory_bound)
    else:
        chunks = _buffered_chunks(records, memory_bound)
    runs = []
    for number, chunk in enumerate(chunks):
        with gc_paused():  # bucketing makes a tuple per key (a dict's items), with no cycles
            buckets = range_buckets(chunk, dep) or _bucket(chunk, dep.partitioner, num_reduces)
            run_path = f"{data_path}.run{number}"
            runs.append((run_path, _write_run(buckets, run_path, batch_records)))
    if not runs:
        runs.append((f"{data_path}.run0", _write_run([[] for _ in range(num_reduces)],
                                                     f"{data_path}.run0", batch_records)))
    offsets = _merge_runs(runs, data_path, num_reduces)
    write_index(index_path, offsets)
    return offsets


def _combined_chunks(records: Iterator, aggregator, memory_bound: int) -> Iterator[dict]:
    """Dicts of key -> combiner, each at most about ``memory_bound`` bytes; the size is
    checked between batches of records."""
    create, merge = aggregator.create_combiner, aggregator.merge_value
    counted = counted_pairs(records, aggregator)
    if counted is not None:  # word count's (w, 1) pairs reduced by add: count the words
        yield from _counted_chunks(counted, memory_bound)
        return
    side, mapped = tagged_side(records, aggregator), mapped_pairs(records, aggregator)
    if side is not None:  # one side of a cogroup: its values go to their lists untagged
        records, fold = side.records, partial(combine_side, side=side.tag, create=create)
    elif mapped is not None:  # map(f)'s records: f called in the combine loop
        records, fold = mapped.records, partial(combine_mapped, f=mapped.f,
                                                fold=mapped_fold(aggregator),
                                                source=mapped.source)
    else:
        fold = partial(combine_batch, create=create, merge=merge)
    combiners: dict = {}
    for batch in batches(records):
        with gc_paused():
            fold(combiners, batch)
        if estimate_dict(combiners) > memory_bound:
            yield combiners
            combiners = {}
    if combiners:
        yield combiners


def _counted_chunks(pairs, memory_bound: int) -> Iterator[dict]:
    """``_combined_chunks`` of ``(key, c)`` pairs summed: each key's count times ``c``."""
    counts: dict = {}
    for batch in batches(pairs.keys):
        with gc_paused():
            count_batch(counts, batch)
        if estimate_dict(counts) > memory_bound:
            yield times(counts, pairs.constant)
            counts = {}
    if counts:
        yield times(counts, pairs.constant)


def _buffered_chunks(records: Iterator, memory_bound: int) -> Iterator[list]:
    """Lists of records, each at most about ``memory_bound`` bytes."""
    buffer: list = []
    for batch in batches(records):
        with gc_paused():
            buffer.extend(batch)
        if estimate_records(reversed(buffer), len(buffer)) > memory_bound:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def _bucket(chunk, partitioner, num_reduces: int) -> list:
    """The chunk's records (a dict's items) per reduce partition. A dict's buckets whose
    keys and values are all plain (checked once per chunk, in C) are ``RecordSlice``s known
    to be plain, which ``dump_record_list`` writes without checking each batch again."""
    if isinstance(chunk, dict):
        items, keys = chunk.items(), list(chunk)
        plain = plain_values(keys) and plain_values(chunk.values())
    else:
        items, keys, plain = chunk, list(map(_first, chunk)), False
    if num_reduces == 1:
        buckets = [list(items)]
    else:
        buckets = [[] for _ in range(num_reduces)]
        appends = [b.append for b in buckets]
        for item, partition in zip(items, partitioner.partitions_of(keys)):
            appends[partition](item)
    if plain:
        return [RecordSlice(bucket, 0, len(bucket), True) for bucket in buckets]
    return buckets


_first = itemgetter(0)


def _write_run(buckets: List[list], path: str, batch_records: int) -> List[int]:
    """One block per bucket (its batches, then their checksum); returns the offsets."""
    offsets = [0]
    with open_private(path, "wb") as out:
        checked = _Checksummed(out)
        for bucket in buckets:
            if dump_record_list(bucket, checked, batch_records):
                checked.end_block()
            offsets.append(out.tell())
    return offsets


class _Checksummed:
    """A binary stream that keeps the CRC-32 of what is written, for a block's trailer."""

    def __init__(self, out):
        self.out, self.crc = out, 0

    def write(self, data: bytes) -> int:
        self.crc = zlib.crc32(data, self.crc)
        return self.out.write(data)

    def end_block(self) -> None:
        self.out.write(BLOCK_TRAILER.pack(self.crc))
        self.crc = 0


def _merge_runs(runs, data_path: str, num_reduces: int) -> List[int]:
    """Concatenate the runs' segments per reduce partition into the data file."""
    if len(runs) == 1:
        run_path, offsets = runs[0]
        os.replace(run_path, data_path)
        return offsets
    offsets = [0]
    handles = [open(path, "rb") for path, _ in runs]
    try:
        with open_private(data_path, "wb") as out:
            checked = _Checksummed(out)
            for reduce_id in range(num_reduces):
                copied = 0
                for fh, (_, run_offsets) in zip(handles, runs):
                    length = run_offsets[reduce_id + 1] - run_offsets[reduce_id]
                    if length:  # the run's block without its trailer
                        fh.seek(run_offsets[reduce_id])
                        copied += _copy_range(fh, checked, length - BLOCK_TRAILER.size)
                if copied:
                    checked.end_block()
                offsets.append(out.tell())
    finally:
        for fh in handles:
            fh.close()
        for path, _ in runs:
            os.unlink(path)
    return offsets


def _copy_range(src, dst, length: int) -> int:
    remaining = length
    while remaining > 0:
        data = src.read(min(remaining, 1 << 20))
        if not data:
            break
        dst.write(data)
        remaining -= len(data)
    return length - remaining

