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
from itertools import compress, repeat
from operator import eq, itemgetter
from typing import Iterator, List, Tuple

from ..private_files import open_private
from ..serde import PairColumns, RecordSlice, dump_record_list, plain_values
from .blocks import BLOCK_TRAILER, naming_a_full_disk, remove_map_output, write_index
from .checksum import crc32_combine
from .combine import (combine_batch, combine_mapped, combine_side, count_batch, counted_pairs,
                      mapped_fold, mapped_pairs, tagged_side, times)
from .external import range_buckets
from .gc_pause import gc_paused
from .sizing import batches, estimate_dict, estimate_records


def write_map_output(records: Iterator, dep, data_path: str, index_path: str,
                     memory_bound: int, batch_records: int) -> List[int]:
    """Write one map task's output; returns the reduce partitions' byte offsets.  An attempt
    that fails (its records raise, the disk is full) deletes what it wrote."""
    try:
        return _write_map_output(records, dep, data_path, index_path, memory_bound,
                                 batch_records)
    except BaseException:
        remove_map_output(data_path, index_path)
        raise


def _write_map_output(records: Iterator, dep, data_path: str, index_path: str,
                      memory_bound: int, batch_records: int) -> List[int]:
    num_reduces = dep.partitioner.num_partitions
    writing = partial(naming_a_full_disk, os.path.dirname(data_path), "shuffle output")
    if dep.map_side_combine:
        chunks = _combined_chunks(records, dep.aggregator, memory_bound)
    else:
        chunks = _buffered_chunks(records, memory_bound)
    runs = []
    for number, chunk in enumerate(chunks):
        with gc_paused():  # bucketing makes a tuple per key (a dict's items), with no cycles
            buckets = range_buckets(chunk, dep) or _bucket(chunk, dep.partitioner, num_reduces)
            run_path = f"{data_path}.run{number}"
            with writing():  # the records were made outside: a full disk there is the user's
                runs.append((run_path, _write_run(buckets, run_path, batch_records)))
            del buckets  # the chunk's records freed now, in the order they were made,
            chunk.clear()  # not while the next chunk fills
    with writing():
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
    """The chunk's records (a dict's items) per reduce partition. A dict whose keys and
    values are all plain (checked once per chunk, in C) is cut into ``PairColumns`` with a
    pass in C per partition while there are few partitions (100k int pairs into 2,
    marshalled: 20 against 32 ms with a Python loop over its items), else into
    ``RecordSlice``s known to be plain, which ``dump_record_list`` writes without checking
    each batch again."""
    if isinstance(chunk, dict):
        items, keys = chunk.items(), list(chunk)
        plain = plain_values(keys) and plain_values(chunk.values())
        if plain and num_reduces <= _COLUMN_PASSES_MAX:
            return _column_buckets(keys, list(chunk.values()), partitioner, num_reduces)
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


#: The most reduce partitions a plain dict is cut into with a pass per partition; past it,
#: one Python loop over its items costs less.
_COLUMN_PASSES_MAX = 8


def _column_buckets(keys: list, values: list, partitioner, num_reduces: int) -> List[PairColumns]:
    """``PairColumns`` per reduce partition of the pairs ``zip(keys, values)``, in order."""
    if num_reduces == 1:
        return [PairColumns(keys, values)]
    partitions = list(partitioner.partitions_of(keys))
    masks = (list(map(eq, partitions, repeat(p))) for p in range(num_reduces))
    return [PairColumns(list(compress(keys, mask)), list(compress(values, mask))) for mask in masks]


_first = itemgetter(0)


def _write_run(buckets: List[list], path: str, batch_records: int) -> Tuple[List[int], List[int]]:
    """One block per bucket (its batches, then their checksum); returns the offsets and the
    blocks' checksums (0 for an empty one)."""
    offsets, crcs = [0], []
    with open_private(path, "wb") as out:
        checked = _Checksummed(out)
        for bucket in buckets:
            crcs.append(checked.end_block() if dump_record_list(bucket, checked, batch_records) else 0)
            offsets.append(out.tell())
    return offsets, crcs


class _Checksummed:
    """A binary stream that keeps the CRC-32 of what is written, for a block's trailer."""

    def __init__(self, out):
        self.out, self.crc = out, 0

    def write(self, data: bytes) -> int:
        self.crc = zlib.crc32(data, self.crc)
        return self.out.write(data)

    def end_block(self) -> int:
        """Write the block's trailer; returns the block's checksum."""
        crc, self.crc = self.crc, 0
        self.out.write(BLOCK_TRAILER.pack(crc))
        return crc


def _merge_runs(runs, data_path: str, num_reduces: int) -> List[int]:
    """Concatenate the runs' blocks per reduce partition into the data file, one block (and
    one checksum, combined from the runs') per partition. The kernel copies the bytes
    (``copy_file_range``): they do not pass through Python."""
    if len(runs) == 1:
        run_path, (offsets, _) = runs[0]
        os.replace(run_path, data_path)
        return offsets
    offsets = [0]
    handles = [open(path, "rb", buffering=0) for path, _ in runs]
    try:
        with open_private(data_path, "wb") as out:
            dst = out.fileno()  # written to by the kernel's copies only, at its position
            for reduce_id in range(num_reduces):
                crc, copied = 0, 0
                for fh, (_, (run_offsets, run_crcs)) in zip(handles, runs):
                    start, stop = run_offsets[reduce_id], run_offsets[reduce_id + 1]
                    if stop > start:  # the run's block without its trailer
                        length = stop - start - BLOCK_TRAILER.size
                        _copy_range(fh.fileno(), dst, start, length)
                        crc = crc32_combine(crc, run_crcs[reduce_id], length)
                        copied += length
                if copied:
                    copied += os.write(dst, BLOCK_TRAILER.pack(crc))
                offsets.append(offsets[-1] + copied)
    finally:
        for fh in handles:
            fh.close()
        for path, _ in runs:
            os.unlink(path)
    return offsets


def _copy_range(src: int, dst: int, offset: int, length: int) -> None:
    """Append ``length`` bytes of ``src`` from ``offset`` to ``dst`` (file descriptors)."""
    while length > 0:
        try:
            done = os.copy_file_range(src, dst, length, offset)
        except OSError:  # not between these file systems (kernels before 5.3)
            done = os.write(dst, os.pread(src, min(length, 1 << 20), offset))
        if done == 0:
            raise OSError(f"shuffle run ended {length} bytes early")
        offset += done
        length -= done
