"""Bounds every listening daemon shares: admission caps, rejection counts, rate-limited
logging, and surviving a process that has run out of file descriptors.

Used by the RPC server (``net.server``) and the HTTP servers (``deploy.http_api``)::

    admission = Admission(total=64, per_address=16)
    reason = admission.admit("10.0.0.7")      # None, or why the connection must go
    ...
    admission.release("10.0.0.7")

Nothing here blocks on a socket; every counter is read by the metrics at scrape time.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import Counter
from typing import Dict, Optional

from ..retry import Backoff

#: accept() failures that mean "no descriptors or kernel memory left now": back off and retry
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


#: lines a server logs at once of one kind of refusal, then lines a second: a handful of
#: misconfigured peers are each named, and a day-long flood adds ~2 MB a reason to the log
#: (every refusal is counted in the metrics all the same)
LOG_BURST, LOG_RATE = 20, 0.2


class RateLimitedLog:
    """Log through ``logger`` at most ``burst`` lines at once and ``rate`` lines a second
    after that, per key (a token bucket each); what is held back is counted and reported
    with the next line of the same key.

    The burst is large enough that a handful of misconfigured peers are each logged; the
    rate small enough that a flood of bad connections cannot fill a disk with log lines.
    """

    def __init__(self, logger: logging.Logger, burst: float = LOG_BURST,
                 rate: float = LOG_RATE, clock=time.monotonic):
        self.logger, self.burst, self.rate, self.clock = logger, burst, rate, clock
        self._lock = threading.Lock()
        self._tokens: Dict[str, float] = {}
        self._updated: Dict[str, float] = {}
        self._held: Counter = Counter()

    def log(self, key: str, level: int, fmt: str, *args) -> bool:
        """Log ``fmt % args`` unless ``key`` is over its rate; True if it was logged."""
        now = self.clock()
        with self._lock:
            tokens = min(self.burst, self._tokens.get(key, self.burst)
                         + (now - self._updated.get(key, now)) * self.rate)
            self._updated[key] = now
            if tokens < 1:
                self._tokens[key] = tokens
                self._held[key] += 1
                return False
            self._tokens[key] = tokens - 1
            held = self._held.pop(key, 0)
        if held:
            fmt += " (%d similar messages were not logged)"
            args += (held,)
        self.logger.log(level, fmt, *args)
        return True


class Admission:
    """Caps on concurrent connections, in total and per source address (thread-safe)."""

    def __init__(self, total: int, per_address: int):
        self.total, self.per_address = total, per_address
        self._lock = threading.Lock()
        self._by_address: Counter = Counter()
        self.active = 0

    def admit(self, address: str) -> Optional[str]:
        """Take a slot for a connection from ``address``; None if granted, else the reason
        (a metric label: ``"total_limit"`` or ``"address_limit"``) it was refused."""
        with self._lock:
            if self.active >= self.total:
                return "total_limit"
            if self._by_address[address] >= self.per_address:
                return "address_limit"
            self.active += 1
            self._by_address[address] += 1
            return None

    def busiest(self, than: str) -> Optional[str]:
        """The address holding the most slots, if it holds more than ``than`` does: whose
        connection to give up when the total is reached, so that a flood from a few
        addresses cannot lock out the others."""
        with self._lock:
            if not self._by_address:
                return None
            address, count = max(self._by_address.items(), key=lambda item: item[1])
            return address if count > self._by_address[than] else None

    def yields_to(self, address: str, refused: str) -> Optional[str]:
        """Whose oldest waiting connection makes room for a new one from ``address`` that
        ``admit`` refused for ``refused``: at the cap of one address, that address's (a
        client sharing its address with one that holds connections open gets in); at the
        total cap, the ``busiest`` address's, if it holds more than ``address`` does, else
        ``address``'s own if it holds any (a flood spread evenly over several addresses,
        the client's among them, as any user of a host can spread one over 127.0.0.0/8,
        must not lock that client out either)."""
        if refused != "total_limit":
            return address
        busiest = self.busiest(than=address)
        if busiest is not None:
            return busiest
        with self._lock:
            return address if self._by_address[address] > 0 else None

    def release(self, address: str) -> None:
        with self._lock:
            self.active -= 1
            self._by_address[address] -= 1
            if self._by_address[address] <= 0:
                del self._by_address[address]


class Rejections:
    """Connections a server dropped, by reason (metric labels), thread-safe.  The ``reasons``
    a server knows start at zero, so their series exist before the first rejection."""

    def __init__(self, reasons=()):
        self._lock = threading.Lock()
        self._counts: Counter = Counter({reason: 0 for reason in reasons})

    def add(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1

    def counts(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class AcceptBackoff:
    """What an accept loop does when accept() fails: descriptors or memory exhausted means
    log at ERROR (rate-limited), wait 50 ms doubling to 1 s, and try again; any other error
    is the peer's (a connection reset before it was accepted) and is retried at once."""

    FIRST, LAST = 0.05, 1.0

    def __init__(self, name: str, logger: logging.Logger, rejections: Rejections):
        self.name, self.rejections = name, rejections
        self.logs = RateLimitedLog(logger, burst=1, rate=0.2)  # one line every 5 s at most
        self.backoff = Backoff(self.FIRST, self.LAST)
        self.delay = 0.0

    def failed(self, exc: OSError) -> float:
        """Seconds to wait before the next accept()."""
        if exc.errno not in EXHAUSTED:
            return 0.0
        self.delay = self.backoff.next()
        self.rejections.add("out_of_descriptors")
        self.logs.log("exhausted", logging.ERROR,
                      "%s: cannot accept connections: %s; retrying in %.2fs (raise the "
                      "descriptor limit, ulimit -n, or find who holds the connections)",
                      self.name, exc.strerror or exc, self.delay)
        return self.delay

    def succeeded(self) -> None:
        self.backoff.reset()
        self.delay = 0.0
