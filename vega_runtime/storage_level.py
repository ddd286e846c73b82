"""Storage levels for ``RDD.persist``, with PySpark's names, constructor and text.

Vega keeps cached records as Python objects in memory or pickled on disk:
``use_off_heap`` and ``deserialized`` are carried (and printed) as PySpark
does, while ``use_disk``, ``use_memory`` and ``replication`` decide where
blocks live.
"""

from __future__ import annotations

from typing import Tuple


class StorageLevel:
    """Where cached partitions live and how many copies are kept.

    >>> StorageLevel.MEMORY_AND_DISK
    StorageLevel(True, True, False, False, 1)
    >>> str(StorageLevel.MEMORY_ONLY_2), StorageLevel.MEMORY_ONLY_2.name
    ('Memory Serialized 2x Replicated', 'MEMORY_ONLY_2')
    >>> StorageLevel(True, False, False, False, 1) == StorageLevel.DISK_ONLY
    True
    """

    __slots__ = ("use_disk", "use_memory", "use_off_heap", "deserialized", "replication")

    def __init__(self, useDisk: bool, useMemory: bool, useOffHeap: bool, deserialized: bool,
                 replication: int = 1):
        self.use_disk, self.use_memory, self.use_off_heap = useDisk, useMemory, useOffHeap
        self.deserialized, self.replication = deserialized, replication

    # PySpark's attribute names
    useDisk = property(lambda self: self.use_disk)
    useMemory = property(lambda self: self.use_memory)
    useOffHeap = property(lambda self: self.use_off_heap)

    def _key(self) -> Tuple[bool, bool, bool, bool, int]:
        return (self.use_disk, self.use_memory, self.use_off_heap, self.deserialized,
                self.replication)

    def __eq__(self, other) -> bool:
        return isinstance(other, StorageLevel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self):
        return (StorageLevel, self._key())

    def __repr__(self) -> str:
        return "StorageLevel({}, {}, {}, {}, {})".format(*self._key())

    def __str__(self) -> str:
        places = [word for flag, word in ((self.use_disk, "Disk"), (self.use_memory, "Memory"),
                                          (self.use_off_heap, "OffHeap")) if flag]
        form = "Deserialized" if self.deserialized else "Serialized"
        return " ".join(places + [form, f"{self.replication}x Replicated"])

    @property
    def description(self) -> str:
        """Spark's (Scala's) ``StorageLevel.description``, what its REST API and UI show.

        >>> StorageLevel.MEMORY_AND_DISK_2.description, StorageLevel.OFF_HEAP.description
        ('Disk Memory Serialized 2x Replicated', 'Disk Memory (off heap) Serialized 1x Replicated')
        """
        memory = ("Memory (off heap) " if self.use_off_heap else "Memory ") \
            if self.use_memory else ""
        return (("Disk " if self.use_disk else "") + memory
                + ("Deserialized " if self.deserialized else "Serialized ")
                + f"{self.replication}x Replicated")

    @property
    def name(self) -> str:
        """The constant's name (``MEMORY_ONLY``), else ``repr``: how blocks name their level
        in messages and the web UI."""
        return _NAMES.get(self._key(), repr(self))

    @classmethod
    def named(cls, name: str) -> "StorageLevel":
        """The level a ``name`` (see above) stands for."""
        level = getattr(cls, name, None)
        if isinstance(level, StorageLevel):
            return level
        fields = [part.strip() for part in name[len("StorageLevel("):-1].split(",")]
        return cls(*(part == "True" for part in fields[:4]), int(fields[4]))


_CONSTANTS = {
    "NONE": (False, False, False, False, 1),
    "DISK_ONLY": (True, False, False, False, 1),
    "DISK_ONLY_2": (True, False, False, False, 2),
    "DISK_ONLY_3": (True, False, False, False, 3),
    "MEMORY_ONLY": (False, True, False, False, 1),
    "MEMORY_ONLY_2": (False, True, False, False, 2),
    "MEMORY_AND_DISK": (True, True, False, False, 1),
    "MEMORY_AND_DISK_2": (True, True, False, False, 2),
    "MEMORY_AND_DISK_DESER": (True, True, False, True, 1),
    "OFF_HEAP": (True, True, True, False, 1),
}
_NAMES = {key: name for name, key in _CONSTANTS.items()}
for _name, _key in _CONSTANTS.items():
    setattr(StorageLevel, _name, StorageLevel(*_key))
