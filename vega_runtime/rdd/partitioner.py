"""Partitioners map a key to a reduce partition."""

from __future__ import annotations

import bisect
import sys
from itertools import repeat
from operator import methodcaller, mod
from zlib import crc32 as _crc32
from typing import Any, Callable, Iterable, List, Sequence

from ..user_code import unwrapped


def identity(key: Any) -> Any:
    """The default sort key: the key itself (recognised by the sort path, which then skips
    calling it per record)."""
    return key


def portable_hash(key: Any) -> int:
    """Hash used to partition keys: the same in every process of an application.

    Python randomizes ``hash()`` of strings per process, so strings and bytes
    hash with CRC-32 instead (the driver, executors and hosts agree without a
    shared ``PYTHONHASHSEED``); ``None`` hashes to 0 and tuples element-wise,
    as in PySpark; everything else uses ``hash()``.

    >>> portable_hash(None), portable_hash(7), portable_hash("a") == portable_hash("a")
    (0, 7, True)
    """
    kind = type(key)
    if kind is str:
        return _crc32(key.encode("utf-8", "surrogatepass"))
    if kind is bytes:
        return _crc32(key)
    if key is None:
        return 0
    if kind is tuple:
        h = 0x345678
        for item in key:
            h ^= portable_hash(item)
            h *= 1000003
            h &= sys.maxsize  # PySpark's mask: the same value as PySpark for tuples of ints
        h ^= len(key)
        if h == -1:
            h = -2
        return h
    return hash(key)


def checked_partitions(num_partitions: int) -> int:
    """``num_partitions`` asked for explicitly, once known to be a positive number.

    >>> checked_partitions(0)
    Traceback (most recent call last):
      ...
    ValueError: number of partitions must be positive, not 0
    """
    if num_partitions < 1:
        raise ValueError(f"number of partitions must be positive, not {num_partitions}")
    return num_partitions


def seed_free(key: Any) -> bool:
    """Whether ``portable_hash(key)`` is the same in every process, whatever its hash seed:
    numbers, strings, bytes and None, and tuples of them (``hash()`` of anything else may
    depend on the seed: dates, frozensets, most objects).

    >>> seed_free((1, "a", None)), seed_free(frozenset({"a"}))
    (True, False)
    """
    kind = type(key)
    if kind is tuple:
        return all(map(seed_free, key))
    return kind in _SEED_FREE


_SEED_FREE = {int, bool, float, complex, str, bytes, type(None)}


class Partitioner:
    num_partitions: int

    def __call__(self, key: Any) -> int:
        raise NotImplementedError

    @property
    def numPartitions(self) -> int:
        """PySpark's name of ``num_partitions`` (``rdd.partitioner.numPartitions``)."""
        return self.num_partitions

    @property
    def partitionFunc(self) -> Callable[[Any], int]:
        """PySpark's attribute: the function whose value modulo ``numPartitions`` is a key's
        partition (this partitioner itself, unless it hashes)."""
        return self

    def places_alike_everywhere(self, key: Any) -> bool:
        """Whether every process puts ``key`` in the same partition, whatever its hash seed
        (not known of an arbitrary partitioner's function)."""
        return False

    def partitions_of(self, keys: List[Any]) -> Iterable[int]:
        """The partition of each of ``keys``, in order (a shuffle's map side calls this
        once per chunk of keys rather than the partitioner once per key)."""
        return map(self, keys)


_INT, _STR = {int}, {str}
_utf8 = methodcaller("encode", "utf-8", "surrogatepass")


class HashPartitioner(Partitioner):
    """``partition_func(key) % num_partitions``.

    >>> HashPartitioner(4)(10)
    2
    """

    def __init__(self, num_partitions: int, partition_func: Callable[[Any], int] = portable_hash):
        self.num_partitions = num_partitions
        self.partition_func = partition_func

    def __call__(self, key: Any) -> int:
        return self.partition_func(key) % self.num_partitions

    @property
    def partitionFunc(self) -> Callable[[Any], int]:
        return unwrapped(self.partition_func)  # the function given to partition_by

    def places_alike_everywhere(self, key: Any) -> bool:
        return unwrapped(self.partition_func) is portable_hash and seed_free(key)

    def partitions_of(self, keys: List[Any]) -> Iterable[int]:
        """With ``portable_hash`` and keys all ``int`` or all ``str``, the hashes come from
        C (``hash``, or ``crc32`` of the UTF-8 bytes: what ``portable_hash`` computes) with no
        Python call per key.

        >>> HashPartitioner(4).partitions_of([10, 11])
        [2, 3]
        """
        n = self.num_partitions
        if self.partition_func is portable_hash or unwrapped(self.partition_func) is portable_hash:
            kinds = set(map(type, keys))
            if kinds == _INT:
                return list(map(mod, map(hash, keys), repeat(n)))
            if kinds == _STR:
                return list(map(mod, map(_crc32, map(_utf8, keys)), repeat(n)))
        return map(self, keys)

    def __eq__(self, other) -> bool:
        return (isinstance(other, HashPartitioner) and other.num_partitions == self.num_partitions
                and unwrapped(other.partition_func) is unwrapped(self.partition_func))

    def __hash__(self) -> int:
        return hash((HashPartitioner, self.num_partitions))


class IdentityPartitioner(Partitioner):
    """Keys are partition numbers already (used by repartition and coalesce)."""

    def __init__(self, num_partitions: int):
        self.num_partitions = num_partitions

    def __call__(self, key: int) -> int:
        return key

    def places_alike_everywhere(self, key: Any) -> bool:
        return True


class RangePartitioner(Partitioner):
    """Keys below ``bounds[i]`` go to partition i; reversed when descending.

    >>> RangePartitioner([10, 20], ascending=True)(15)
    1
    """

    def __init__(self, bounds: Sequence[Any], ascending: bool = True,
                 key_func: Callable[[Any], Any] = identity):
        self.bounds: List[Any] = list(bounds)
        self.num_partitions = len(self.bounds) + 1
        self.ascending = ascending
        self.key_func = key_func

    def __call__(self, key: Any) -> int:
        if self.key_func is not identity:  # called once per shuffled record: skip the identity
            key = self.key_func(key)
        p = bisect.bisect_left(self.bounds, key)
        return p if self.ascending else self.num_partitions - 1 - p

    def places_alike_everywhere(self, key: Any) -> bool:
        return True  # by comparisons with the bounds
