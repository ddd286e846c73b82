"""Storage levels for ``RDD.persist``, with PySpark's names."""

from __future__ import annotations

from typing import NamedTuple


class StorageLevel(NamedTuple):
    """Where cached partitions live and how many copies are kept.

    >>> StorageLevel.MEMORY_AND_DISK
    StorageLevel(use_disk=True, use_memory=True, replication=1, name='MEMORY_AND_DISK')
    """

    use_disk: bool
    use_memory: bool
    replication: int
    name: str

    def __str__(self) -> str:
        return self.name


StorageLevel.NONE = StorageLevel(False, False, 1, "NONE")
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, 1, "MEMORY_ONLY")
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, 2, "MEMORY_ONLY_2")
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, 1, "MEMORY_AND_DISK")
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, 2, "MEMORY_AND_DISK_2")
StorageLevel.DISK_ONLY = StorageLevel(True, False, 1, "DISK_ONLY")
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, 2, "DISK_ONLY_2")
