"""A TLS socket one thread may read while another writes.

An OpenSSL connection must not be used by two threads at once, and Python's ``ssl``
releases the GIL inside ``SSL_read``/``SSL_write``: a connection whose reader thread
blocks in ``recv`` while another thread sends (every Vega connection) could interleave the
two and corrupt records ("malformed msgpack", ``SSLEOFError`` in violation of protocol).
``SerialTls`` runs every OpenSSL call under one lock, on a non-blocking socket, and waits
for the socket (``poll``) with the lock released, so a blocked reader never holds up a
sender.  It offers what ``Connection`` and the framing use: ``recv_into``, ``sendall``,
``settimeout``, ``shutdown``, ``close``, ``fileno``.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from typing import Optional

#: the longest one poll() waits: its milliseconds are a C int (past ~24.8 days, "timeout is
#: too large"); a longer timeout (vega.net.send_timeout, say) is waited in steps
LONGEST_POLL = 24 * 3600.0


class SerialTls:
    def __init__(self, sock: ssl.SSLSocket):
        self._sock = sock
        self._timeout: Optional[float] = sock.gettimeout()
        self._lock = threading.Lock()
        self._shut = False
        sock.setblocking(False)

    # -- the socket interface the framing uses ------------------------------------------
    def recv_into(self, view, nbytes: int = 0) -> int:
        deadline = self._deadline()
        while True:
            with self._lock:
                if self._shut:
                    return 0
                try:
                    return self._sock.recv_into(view, nbytes or len(view))
                except ssl.SSLZeroReturnError:
                    return 0
                except ssl.SSLWantReadError:
                    wanted = select.POLLIN
                except ssl.SSLWantWriteError:
                    wanted = select.POLLOUT
            self._wait(wanted, deadline)

    def sendall(self, data) -> None:
        view, sent = memoryview(data).cast("B"), 0
        deadline = self._deadline()
        while sent < len(view):
            with self._lock:
                if self._shut:
                    raise BrokenPipeError("the connection was shut down")
                try:
                    sent += self._sock.send(view[sent:])
                    continue
                except ssl.SSLWantWriteError:
                    wanted = select.POLLOUT
                except ssl.SSLWantReadError:
                    wanted = select.POLLIN
            self._wait(wanted, deadline)

    def settimeout(self, timeout: Optional[float]) -> None:
        self._timeout = timeout

    def gettimeout(self) -> Optional[float]:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def shutdown(self, how: int) -> None:
        """Wake a thread waiting on the socket; the connection is done both ways."""
        with self._lock:
            self._shut = True
            socket.socket.shutdown(self._sock, how)

    def close(self) -> None:
        with self._lock:
            self._shut = True
            self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str):  # getpeercert, version, setsockopt, ...
        return getattr(self._sock, name)

    # -- waiting, without the lock --------------------------------------------------------
    def _deadline(self) -> Optional[float]:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _wait(self, events: int, deadline: Optional[float]) -> None:
        fd = self._sock.fileno()
        if fd < 0:
            raise OSError("the connection is closed")
        poller = select.poll()
        poller.register(fd, events | select.POLLHUP | select.POLLERR)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = None if left is None else min(left, LONGEST_POLL)
        if not poller.poll(None if step is None else step * 1000):
            if step is not None and step < left:  # a long timeout is waited in steps
                return
            raise socket.timeout("timed out")
