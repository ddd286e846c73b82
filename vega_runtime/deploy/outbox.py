"""Messages to one peer, sent in order by a thread of that peer's own.

The master decides under its lock and only *queues* messages there (a
non-blocking append, so the order of decisions is the order on the wire); an
outbox's thread writes them to the socket with no lock held.  A slow or dead
peer stalls only its own outbox; a send that fails closes that connection and
is reported once through ``on_error`` (the master turns it into a "connection
lost" event for that peer), never raised in another client's thread.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Callable, Deque, Optional

from ..net.connection import Connection

log = logging.getLogger(__name__)

#: A peer this many messages behind is treated as lost (it is not reading).
MAX_QUEUED = 10_000

_CLOSE = object()  # queued by close(): send what is before it, then close


class Outbox:
    def __init__(self, conn: Connection, on_error: Callable[[str], None], name: str,
                 max_queued: int = MAX_QUEUED):
        self.conn = conn
        self.on_error = on_error
        self.max_queued = max_queued
        self._queue: Deque[object] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._closing = False
        self._behind: Optional[_Behind] = None
        self._thread = threading.Thread(target=self._run, name=f"outbox-{name}", daemon=True)
        self._thread.start()

    def put(self, message) -> None:
        """Queue ``message`` (never blocks); ignored once the outbox is closing."""
        with self._ready:
            if self._closing:
                return
            behind = len(self._queue) >= self.max_queued
            if behind:  # reported from the outbox's thread
                self._closing = True
                self._queue.clear()
                message = self._behind = _Behind(f"it fell {self.max_queued} messages behind")
            self._queue.append(message)
            self._ready.notify()
        if behind:
            self.conn.close()  # wakes the thread if it is stuck writing to this peer

    def close(self, wait: float = 0.0) -> None:
        """Send what is queued, then close the connection; wait up to ``wait`` seconds."""
        with self._ready:
            if not self._closing:
                self._closing = True
                self._queue.append(_CLOSE)
                self._ready.notify()
        if wait and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                message = self._queue.popleft()
            if message is _CLOSE:
                self.conn.close()
                return
            try:
                if isinstance(message, _Behind):
                    raise message
                self.conn.send(message)
            except Exception as exc:  # noqa: BLE001 - any failure ends this peer only
                with self._ready:
                    self._closing = True
                    self._queue.clear()
                    reason = str(self._behind or exc)
                self.conn.close()
                log.warning("dropped %s: %s", self.conn.peer, reason)
                self.on_error(reason)
                return


class _Behind(Exception):
    """The peer does not read what it is sent."""
