"""Cheap estimates of how much memory a combine map or a buffer holds.

Spark samples collection sizes; we do the same: every few thousand records,
measure a few entries deeply and scale by the entry count.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any, Iterable, Iterator

#: Records between two size checks.
CHECK_EVERY = 8192
_SAMPLE = 24
_DICT_ENTRY_OVERHEAD = 100  # hash table slot, key and value pointers, slack


_END = object()


def batches(records: Iterator[Any], size: int = CHECK_EVERY) -> Iterator[Iterator[Any]]:
    """Consecutive lazy slices of ``size`` records, so loops can check memory between them.

    No list is built: the slices are iterators over the same source.
    """
    records = iter(records)
    while True:
        first = next(records, _END)
        if first is _END:
            return
        yield itertools.chain((first,), itertools.islice(records, size - 1))


def deep_size(obj: Any, depth: int = 2) -> int:
    size = sys.getsizeof(obj)
    if depth <= 0:
        return size
    if isinstance(obj, (list, tuple)) and obj:
        sample = obj[:8] if isinstance(obj, list) else obj[:8]
        per_item = sum(deep_size(x, depth - 1) for x in sample) / len(sample)
        size += int(per_item * len(obj))
    elif isinstance(obj, dict) and obj:
        sample = list(itertools.islice(obj.items(), 8))
        per_item = sum(deep_size(k, depth - 1) + deep_size(v, depth - 1) for k, v in sample) / len(sample)
        size += int(per_item * len(obj))
    return size


def estimate_dict(d: dict) -> int:
    """Bytes held by a combine map: sampled entry size times entry count."""
    if not d:
        return 0
    sample = list(itertools.islice(d.items(), _SAMPLE))
    per_entry = sum(deep_size(k) + deep_size(v) for k, v in sample) / len(sample)
    return int((per_entry + _DICT_ENTRY_OVERHEAD) * len(d))


def estimate_records(records: Iterable[Any], count: int) -> int:
    """Bytes held by ``count`` buffered records, from a sample of them."""
    sample = list(itertools.islice(records, _SAMPLE))
    if not sample:
        return 0
    per_record = sum(deep_size(r) for r in sample) / len(sample) + 8
    return int(per_record * count)
