"""A cluster driver's connection to its master.

It uploads the application's package, registers the application, hands each message
the master sends to the backend, and, when the master goes away, registers the
application again under its id (with backoff) so running jobs go on while the master
restarts.  A master that stays away past the reconnect timeout is reported gone and still
tried, for as long as the driver runs (Spark's drivers wait for their master as long):
jobs go on on the executors the application has.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Callable, Optional

from ..errors import ApplicationRefused, MasterUnreachable
from ..net.connection import HANDSHAKE_TIMEOUT, Connection, secret_refused
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.endpoints import host_port
from ..net.messages import (ApplicationRejected, RegisterApplication, RegisteredApplication,
                            RequestExecutors, UnregisterApplication)
from ..records import replace
from ..retry import Backoff

log = logging.getLogger(__name__)

#: seconds a stopping driver waits for its master to take in what it sent before it left
UNREGISTER_WAIT = 5.0


class MasterClient:
    """The registered application's channel to the master (``conn`` changes when it
    reconnects)."""

    def __init__(self, host: str, port: int, secret: Optional[bytes],
                 reconnect_timeout: float = 60.0):
        self.address = (host, port)
        self.secret = secret or b""
        self.url = f"vega://{host_port(host, port)}"
        #: how long to try registering again with a master that went away
        self.reconnect_timeout = reconnect_timeout
        self.conn: Optional[Connection] = None
        self.registration: Optional[RegisterApplication] = None
        self.app_id = ""
        #: how often the master wants a ``DriverHeartbeat`` (0: never), from its registration
        self.heartbeat_interval = 0.0
        self._closing = threading.Event()  # the driver stops: no more reconnecting
        #: set once the master has closed the followed connection after ``close`` asked it to
        self._closed_by_master = threading.Event()
        self._follower: Optional[threading.Thread] = None

    def upload_package(self, path: str) -> str:
        """Store the application's package on the master; its SHA-256."""
        from ..packaging import Package, sha256_of, upload

        package = Package(path, sha256_of(path), os.path.getsize(path))
        conn = self._connect()
        try:
            upload(conn, package)
        finally:
            conn.close()
        return package.sha256

    def register(self, registration: RegisterApplication) -> str:
        """Register the application; its id.  Raises ``MasterUnreachable`` or
        ``ApplicationRefused``."""
        self.registration = registration
        self.conn = self._connect()
        self.conn.send(registration)
        reply = self.conn.recv()
        if isinstance(reply, ApplicationRejected):
            self.conn.close()
            raise ApplicationRefused(reply.reason)
        self.app_id = reply.app_id if isinstance(reply, RegisteredApplication) else ""
        self.heartbeat_interval = getattr(reply, "heartbeat_interval", 0.0)
        return self.app_id

    def _connect(self) -> Connection:
        try:
            return Connection.connect(*self.address, self.secret)
        except (OSError, ProtocolError) as exc:
            raise MasterUnreachable(self.url, str(exc), secret_refused(exc)) from None

    def send(self, message) -> None:
        """Raises ``OSError`` while the master is away."""
        self.conn.send(message)

    def request_executors(self, total: int) -> None:
        """Ask for ``total`` executors in all (dynamic allocation); a re-registration after
        the master restarts asks for the same."""
        self.registration = replace(self.registration, requested_executors=total)
        self.send(RequestExecutors(total))

    def follow(self, on_message: Callable[[object], None],
               on_gone: Callable[[str, bool], None],
               on_back: Callable[[], None] = lambda: None) -> None:
        """Hand each message from the master to ``on_message`` on a thread of its own.
        ``on_gone(reason, refused)``: the master has been away past the reconnect timeout
        (``refused`` False: it is still tried), or it answered that it will not take the
        application back (``refused`` True: the end); ``on_back()``: it took the
        application back after losing it."""
        self._follower = threading.Thread(target=self._follow, args=(on_message, on_gone, on_back),
                                          name="driver-master", daemon=True)
        self._follower.start()

    def _follow(self, on_message: Callable[[object], None],
                on_gone: Callable[[str, bool], None], on_back: Callable[[], None]) -> None:
        while True:
            try:
                while True:
                    on_message(self.conn.recv())
            except (OSError, ConnectionClosed, ProtocolError) as exc:
                if self._closing.is_set():
                    self._closed_by_master.set()
                    return
                self.conn.shutdown()  # what is sent meanwhile waits in buffers, not a dead socket
                log.warning("lost the connection to the master (%s); reconnecting", exc)
                refused = self._reconnect(self.reconnect_timeout)
                if refused is None:
                    on_back()
                if refused == "" and not self._closing.is_set():
                    log.error("the master did not come back within %gs "
                              "(vega.master.reconnect_timeout): jobs go on on this application's "
                              "executors, none can be added or replaced until it is back, and "
                              "the driver keeps trying to reach it", self.reconnect_timeout)
                    on_gone(str(exc), False)
                    refused = self._reconnect(math.inf)
                    if refused is None:
                        on_back()
                if refused:  # it is there, but will not take the application back
                    log.error("the master did not resume application %s: %s", self.app_id,
                              refused)
                    on_gone(refused, True)
                    return
                if self._closing.is_set():
                    return

    def _reconnect(self, timeout: float) -> Optional[str]:
        """Register this application again, under its id, with backoff, for up to
        ``timeout`` seconds: None once it is back, else why not (the master's refusal, or
        "" when it did not answer in time or the driver stops)."""
        deadline = time.monotonic() + timeout
        backoff = Backoff(0.1, 2.0)
        while not self._closing.is_set() and time.monotonic() < deadline:
            conn = None
            try:  # an attempt ends by the deadline: a silent master's 10 s do not overshoot it
                conn = Connection.connect(*self.address, self.secret, timeout=min(
                    HANDSHAKE_TIMEOUT, max(0.1, deadline - time.monotonic())))
                conn.send(replace(self.registration, app_id=self.app_id))
                # a master that accepts and never answers (stopped, frozen, overloaded) is
                # given what the submitter gives a reply (vega.master.reconnect_timeout)
                reply = conn.recv_within(min(self.reconnect_timeout,
                                             max(0.1, deadline - time.monotonic())))
                if isinstance(reply, RegisteredApplication):
                    lost, self.conn = self.conn, conn
                    self.heartbeat_interval = reply.heartbeat_interval
                    lost.close()  # shut down when it was lost; now its descriptor goes too
                    log.warning("reconnected to the master; application %s resumed", self.app_id)
                    return None
                conn.close()
                return getattr(reply, "reason", "") or f"it answered {type(reply).__name__}"
            except (OSError, ConnectionClosed, ProtocolError):  # TimeoutError: no answer
                if conn is not None:
                    conn.close()
                self._closing.wait(backoff.next())
        return ""

    def stop_reconnecting(self) -> None:
        self._closing.set()

    def close(self, wait: float = UNREGISTER_WAIT) -> None:
        """Unregister the application (if the master is there to hear it) and disconnect,
        once the master has closed the connection (up to ``wait`` seconds): it has then
        written everything sent before (the task output ``vega logs`` shows), so a
        ``vega logs`` run as the driver ends sees all of it."""
        self._closing.set()
        if self.conn is None:
            return
        try:
            self.conn.send(UnregisterApplication(self.app_id))
        except OSError:
            pass
        else:
            if self._follower is not None:
                self._closed_by_master.wait(wait)
        self.conn.close()
        if self._follower is not None and self._follower is not threading.current_thread():
            self._follower.join(wait)  # it ends as its connection closes
