"""The stage payloads an executor holds: the ones its driver counts on it holding.

A stage attempt's payload (its RDD, function and settings, pickled) goes to an executor
with the first of its tasks sent there, and again only once ``EXECUTOR_PAYLOADS`` other
payloads have been sent to that executor since (the driver's ``PoolSlot.payloads_sent``).
The executor counts the same way, as payloads arrive, in the order the driver sent them:
counting as tasks ran instead (the first design) drifted from the driver's count, since
a task killed while it waited never runs and a payload sent again while the executor
still had it did not count as new, and the executor then dropped a payload the driver
went on counting on ("payload was never sent", a task failure a local master does not
retry).  A payload the count has passed stays while a task that needs it waits to run.

Pure bookkeeping (no I/O); its methods are called from the thread reading the driver's
messages and from the one running tasks.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional, Tuple

from ..net.messages import EXECUTOR_PAYLOADS

Key = Tuple[int, int]  # (stage id, stage attempt)


class StagePayloads:
    """Stage payloads by stage attempt: the bytes as they came, the payload once loaded.

    >>> payloads = StagePayloads(keep=1)
    >>> payloads.arrived((0, 0), b"zero")
    >>> payloads.arrived((0, 0), None)  # a second task of the stage, sent without it
    >>> payloads.arrived((1, 0), b"one")  # the driver counts stage 0's as dropped now
    >>> payloads.take((0, 0), None, bytes.decode), payloads.take((0, 0), None, bytes.decode)
    ('zero', 'zero')
    >>> payloads.held()  # stage 0's went once its last waiting task took it
    [(1, 0)]
    """

    def __init__(self, keep: int = EXECUTOR_PAYLOADS):
        self.keep = keep
        self._lock = threading.Lock()
        #: the latest ``keep`` stage attempts whose payload arrived, oldest first: what the
        #: driver counts on this executor holding
        self._counted: Dict[Key, None] = {}
        #: each payload held: its bytes, or what loading them made
        self._held: Dict[Key, Any] = {}
        #: tasks that arrived and have not run (nor been dropped), by stage attempt
        self._waiting: Dict[Key, int] = {}

    def arrived(self, key: Key, data: Optional[bytes]) -> None:
        """A task of stage attempt ``key`` arrived, carrying its payload ``data`` or not
        (call in the order the driver's messages arrive)."""
        with self._lock:
            self._waiting[key] = self._waiting.get(key, 0) + 1
            if data is not None:
                self._count(key, data)

    def take(self, key: Key, data: Optional[bytes], load: Callable[[bytes], Any]) -> Any:
        """The payload of a task of ``key`` about to run (``data``: the one it carries),
        loaded by ``load(bytes)`` the first time (what it raises, the task's next attempt
        meets again); None if the driver never sent it.  A task that did not arrive (one
        run in the driver's own executor) counts as arrived now."""
        with self._lock:
            if key not in self._held and data is not None:
                self._count(key, data)
            item = self._held.get(key)
            self._ran(key)
        if not isinstance(item, bytes):
            return item
        payload = load(item)
        with self._lock:
            if self._held.get(key) is item:
                self._held[key] = payload
        return payload

    def dropped(self, key: Key) -> None:
        """A task of ``key`` that arrived will not run (killed while it waited)."""
        with self._lock:
            self._ran(key)

    def held(self) -> list:
        with self._lock:
            return list(self._held)

    def _count(self, key: Key, data: bytes) -> None:
        self._counted.pop(key, None)  # sent again: the driver counts it as the latest
        self._counted[key] = None
        self._held.setdefault(key, data)
        while len(self._counted) > self.keep:
            oldest = next(iter(self._counted))
            del self._counted[oldest]
            self._forget_unused(oldest)

    def _ran(self, key: Key) -> None:
        waiting = self._waiting.pop(key, 0) - 1
        if waiting > 0:
            self._waiting[key] = waiting
        else:
            self._forget_unused(key)

    def _forget_unused(self, key: Key) -> None:
        if key not in self._counted and key not in self._waiting:
            self._held.pop(key, None)
