"""Pausing Python's cyclic garbage collector while a shuffle builds many containers.

Unpickling a batch of records or combining it into a dict allocates thousands of
tuples and lists; each 700 allocations start a collection, and every tenth of those
walks the older objects too (the growing combine map), so the collector took more
CPU than the unpickling itself (a join's reduce side: 172 ms with it on, 70 ms off).
Shuffle records hold no reference cycles, so the collector frees nothing there:
pausing it for one batch (a bounded amount of work) and then letting it run once
costs nothing in memory.  Garbage cycles made by user code during the batch are
collected right after it.
"""

from __future__ import annotations

import gc


class gc_paused:  # noqa: N801 - used like a function: ``with gc_paused():``
    """A context manager: no cyclic collection inside the block (if it was enabled)."""

    __slots__ = ("enabled",)

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        if self.enabled:
            gc.disable()

    def __exit__(self, *exc) -> None:
        if self.enabled:
            gc.enable()
