"""A TCP server for authenticated, framed connections that no client can stall.

Shape: one thread (``NAME-accept``) owns a ``selectors`` loop that accepts
connections and runs every handshake still in progress on non-blocking
sockets; a connection that proves the secret is handed to a thread of its own
running the handler, exactly as before.  Why:

- Before the handshake a peer is anyone who can reach the port.  Here it
  costs one descriptor and a small ``_Handshake`` record, never a thread.
  Handshakes are capped in total and per source address; a new connection
  over a cap takes the place of the oldest handshake of its own address (at
  the per-address cap) or of the address holding the most, when that holds
  more than its own, else of its own (at the total cap), so neither a flood
  from a few addresses, nor one spread evenly over many (its victim's among
  them), nor a process holding connections open from a shared address locks
  out the others; what is left over is closed at once.  Each
  handshake has one deadline for the whole exchange, checked by the loop, so
  trickling a byte a second does not extend it.
- The TLS 1.3 handshake (``tls.py``: both sides present a certificate of the
  cluster's CA) runs in the same loop: the accepted socket is wrapped with
  ``do_handshake_on_connect=False`` and ``do_handshake()`` is retried on the
  readiness it asks for (``SSLWantReadError``/``SSLWantWriteError``); then the
  Challenge/Authenticate exchange follows inside it.  The one deadline and the
  caps cover both.  Reads loop until the socket would block, because TLS may
  hold decrypted bytes (``pending()``) that the selector cannot see.
- After the handshake a peer has the cluster secret: it is trusted to hold a
  connection, and the handlers (master, shuffle service) are blocking code
  that reads one message after another.  Keeping a thread per authenticated
  connection keeps them unchanged.  Those sockets get a send timeout, so a
  peer that stops reading fails the send (and is dropped) instead of blocking
  the sender, which may hold a daemon's lock.
- asyncio would run the handshakes as well, but would put a second
  concurrency model and an event loop thread into every daemon beside the
  blocking handlers, for a few dozen lines of state machine.  A bounded pool
  of handshake threads ties the cap to a number of threads, each parked on a
  slow client until its deadline; the selector's cap is only a policy number
  and all handshakes cost one thread.
- accept() failing for lack of descriptors (EMFILE/ENFILE) or memory is
  logged at ERROR (at most once every 5 s), the listener is left alone for
  50 ms doubling to 1 s, and accepting resumes: the loop only ends on ``stop``.

Measured with ``scripts/bench/connection_flood.py`` (a master limited to 256
descriptors, 400 idle connections to each of its ports): 68 threads and 137
descriptors at the peak, where one thread per connection reached the limit,
lost its accept thread and stopped answering; figures in docs/cluster.md.

Whatever one peer does wrong ends only that peer's connection; it is counted
by reason (``rejections``, read by /metrics) and logged at a bounded rate.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import logging
import selectors
import socket
import ssl
import threading
import time
import weakref
from typing import Callable, Dict, Optional

from ..errors import VegaError
from .connection import (HANDSHAKE_MAX_FRAME, HANDSHAKE_TIMEOUT, AuthenticationFailed,
                         Connection, answer_authenticate, challenge)
from .endpoints import address_family, host_port, unbracketed
from .framing import (DEFAULT_MAX_FRAME, HEADER, ConnectionClosed, ProtocolError, decode_body,
                      set_send_timeout)
from .limits import AcceptBackoff, Admission, RateLimitedLog, Rejections
from .tls import cluster_tls, describe_server_side

log = logging.getLogger(__name__)

Handler = Callable[[Connection], None]

_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

#: seconds a send on an authenticated connection may make no progress before it fails
SEND_TIMEOUT = 20.0
MAX_HANDSHAKES = 64
MAX_HANDSHAKES_PER_ADDRESS = 16
#: why connections are dropped or refused (labels of vega_rejected_connections_total)
REASONS = ("auth_failed", "tls", "protocol", "handshake_timeout", "total_limit", "address_limit",
           "out_of_descriptors", "no_threads")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InsecureBindError(VegaError):
    def __init__(self, host: str):
        super().__init__(host)
        self.host = host

    def __str__(self) -> str:
        return (f"refusing to listen on {self.host} without a cluster secret: anyone who can "
                "reach the port could run code here. Bind to 127.0.0.1, or give a secret "
                "(--secret-file, VEGA_SECRET_FILE or ~/.vega/secret)")


class _Handshake:
    """One connection in the handshake: TLS first (when on), then what is left to send and
    what has been read of the Authenticate frame."""

    __slots__ = ("sock", "peer", "address", "deadline", "nonce", "out", "inbuf", "need",
                 "header_done", "answered", "tls_pending", "tls_wants")

    def __init__(self, sock: socket.socket, peer: str, address: str, deadline: float,
                 tls: bool = False):
        self.sock, self.peer, self.address, self.deadline = sock, peer, address, deadline
        self.nonce, frame = challenge()
        self.out = memoryview(frame)
        self.inbuf = bytearray()
        self.need = HEADER.size
        self.header_done = False
        self.answered = False
        self.tls_pending = tls
        self.tls_wants = selectors.EVENT_READ

    def shake(self) -> None:
        """One step of the TLS handshake; ``tls_pending`` is False once it is done."""
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.tls_wants = selectors.EVENT_READ
        except ssl.SSLWantWriteError:
            self.tls_wants = selectors.EVENT_WRITE
        else:
            self.tls_pending = False

    def write(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except _WOULD_BLOCK:
            return
        self.out = self.out[sent:]

    def read(self, secret: bytes) -> None:
        """Read what is there of the Authenticate frame; once whole, queue the answer."""
        while not self.answered:
            try:
                data = self.sock.recv(self.need - len(self.inbuf))
            except _WOULD_BLOCK:
                return
            if not data:
                raise ConnectionClosed(self.peer)
            self.inbuf += data
            if len(self.inbuf) < self.need:
                continue
            if not self.header_done:
                (length,) = HEADER.unpack(self.inbuf)
                if length > HANDSHAKE_MAX_FRAME:
                    raise ProtocolError(self.peer, f"frame of {length} bytes exceeds the "
                                                   f"limit of {HANDSHAKE_MAX_FRAME}")
                self.header_done, self.need, self.inbuf = True, length, bytearray()
                if length:
                    continue
            reply = decode_body(bytes(self.inbuf), self.peer)
            self.out = memoryview(bytes(self.out) + answer_authenticate(
                reply, self.nonce, secret, self.peer))
            self.answered = True

    def step(self, secret: bytes) -> None:
        """Move the handshake on as far as the socket allows."""
        if self.tls_pending:
            self.shake()
            if self.tls_pending:
                return
        self.write()
        if not self.answered:
            self.read(secret)
            self.write()

    def events(self) -> int:
        if self.tls_pending:
            return self.tls_wants
        wanted = 0 if self.answered else selectors.EVENT_READ
        return wanted | (selectors.EVENT_WRITE if self.out else 0)


class Server:
    """Listens on ``host:port``; every connection that completes the handshake within
    ``handshake_timeout`` seconds is served by ``handler(conn)`` on a thread of its own."""

    def __init__(self, host: str, port: int, secret: Optional[bytes], handler: Handler,
                 name: str, max_frame: int = DEFAULT_MAX_FRAME,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT,
                 max_handshakes: int = MAX_HANDSHAKES,
                 max_handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS,
                 send_timeout: float = SEND_TIMEOUT):
        if secret is None and not is_loopback(host):
            raise InsecureBindError(host)
        self.secret = secret or b""
        tls = cluster_tls(self.secret)
        self.tls_context = tls.server if tls is not None else None
        self.tls_summary = tls.summary if tls is not None else "plaintext (benchmark switch)"
        self.handler = handler
        self.name = name
        self.max_frame = max_frame
        self.handshake_timeout = handshake_timeout
        self.send_timeout = send_timeout
        self.admission = Admission(max_handshakes, max_handshakes_per_address)
        self.rejections = Rejections(REASONS)
        self.logs = RateLimitedLog(log)
        self._backoff = AcceptBackoff(name, log, self.rejections)
        self.listener = socket.create_server((unbracketed(host), port), family=address_family(host),
                                             reuse_port=False, backlog=128,
                                             dualstack_ipv6=host == "::")
        self.listener.setblocking(False)
        self.host, self.port = self.listener.getsockname()[:2]
        #: authenticated connections being served
        self.established = 0
        self._lock = threading.Lock()
        # the threads serving them (a running thread is held by threading itself)
        self._serving: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()
        # in accept order, which is deadline order: the handshake timeout is the same for all
        self._handshakes: "collections.OrderedDict[socket.socket, _Handshake]" = \
            collections.OrderedDict()
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._selector.register(self.listener, selectors.EVENT_READ, "listener")
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, "wakeup")
        self._paused_until: Optional[float] = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-accept", daemon=True)

    # -- what /metrics reads -------------------------------------------------------------------
    @property
    def rejected(self) -> int:
        """Connections dropped so far, all reasons together."""
        return self.rejections.total()

    def connection_counts(self) -> Dict[str, int]:
        return {"handshake": self.admission.active, "established": self.established}

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "Server":
        log.info("%s: listening on %s:%d, %s", self.name, self.host, self.port, self.tls_summary)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the connections still in the handshake (served ones end
        with their handlers); the port is closed when this returns."""
        self._stopped.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            try:
                self._wakeup_w.send(b"x")
            except OSError:
                pass
            self._thread.join(5)
        if not self._thread.is_alive():
            self._close_all()

    def _close_all(self) -> None:
        for state in list(self._handshakes.values()):
            self._forget(state)
        for sock in (self.listener, self._wakeup_r, self._wakeup_w):
            sock.close()
        self._selector.close()

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    self._turn()
                except Exception:  # a bug here must not silence the port
                    log.exception("%s: error in the accept loop", self.name)
                    time.sleep(0.1)
        finally:
            self._close_all()

    def _turn(self) -> None:
        for key, _ in self._selector.select(self._timeout()):
            if key.data == "listener":
                self._accept()
            elif key.data == "wakeup":
                with contextlib.suppress(BlockingIOError):
                    self._wakeup_r.recv(64)
            else:
                self._advance(key.data)
        now = time.monotonic()
        while self._handshakes:
            state = next(iter(self._handshakes.values()))
            if state.deadline > now:
                break
            self._reject(state, "handshake_timeout", "no handshake within %.0fs%s",
                         self.handshake_timeout,
                         " (no TLS handshake: a plaintext client?)" if state.tls_pending
                         else "")
        if self._paused_until is not None and now >= self._paused_until:
            self._paused_until = None
            self._selector.register(self.listener, selectors.EVENT_READ, "listener")

    def _timeout(self) -> Optional[float]:
        """Seconds until the next handshake deadline or the end of an accept back-off."""
        wakeups = [t for t in (self._paused_until,) if t is not None]
        if self._handshakes:
            wakeups.append(next(iter(self._handshakes.values())).deadline)
        # (at most a day: a selector's wait is in milliseconds, a C int; a handshake deadline
        # of vega.net.handshake_timeout=1e7 killed the server's thread with OverflowError)
        return min(max(0.0, min(wakeups) - time.monotonic()), 86400.0) if wakeups else None

    def _accept(self) -> None:
        for _ in range(64):  # then let the handshakes in progress have a turn
            try:
                sock, address = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                delay = self._backoff.failed(exc)
                if delay:
                    self._selector.unregister(self.listener)
                    self._paused_until = time.monotonic() + delay
                    return
                continue
            self._backoff.succeeded()
            self._admit(sock, address)

    def _admit(self, sock: socket.socket, address) -> None:
        peer = host_port(address[0], address[1])
        refused = self.admission.admit(address[0])
        if refused is not None and self._evict_for(address[0], refused):
            refused = self.admission.admit(address[0])
        if refused is not None:
            self.rejections.add(refused)
            limit = (f"{self.admission.total} connections in the handshake"
                     if refused == "total_limit" else
                     f"{self.admission.per_address} connections in the handshake from one address")
            self.logs.log(refused, logging.WARNING, "%s: refused %s: already %s", self.name,
                          peer, limit)
            sock.close()
            return
        sock.setblocking(False)
        if self.tls_context is not None:
            try:
                sock = self.tls_context.wrap_socket(sock, server_side=True,
                                                    do_handshake_on_connect=False)
            except OSError as exc:  # the peer is already gone
                log.debug("%s: %s disconnected before TLS: %s", self.name, peer, exc)
                self.admission.release(address[0])
                sock.close()
                return
        state = _Handshake(sock, peer, address[0], time.monotonic() + self.handshake_timeout,
                           tls=self.tls_context is not None)
        self._handshakes[sock] = state
        self._selector.register(sock, state.events(), state)
        self._advance(state)

    def _evict_for(self, address: str, refused: str) -> bool:
        """Make room for a connection from ``address`` refused for ``refused``: drop the
        oldest handshake of the address ``Admission.yields_to`` names (a hog has to keep
        opening connections faster than a handshake takes). True if one was dropped."""
        victims = self.admission.yields_to(address, refused)
        victim = next((s for s in self._handshakes.values() if s.address == victims), None)
        if victim is None:
            return False
        self._reject(victim, refused, "%d connections in the handshake; %s holds the most",
                     self.admission.total if refused == "total_limit"
                     else self.admission.per_address, victims)
        return True

    def _advance(self, state: _Handshake) -> None:
        if state.sock not in self._handshakes:  # evicted earlier in the same turn
            return
        try:
            state.step(self.secret)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            log.debug("%s: %s disconnected during the handshake: %s", self.name, state.peer, exc)
            return self._forget(state)
        except ssl.SSLError as exc:
            return self._reject(state, "tls", "%s", describe_server_side(exc))
        except AuthenticationFailed as exc:
            return self._reject(state, "auth_failed", "%s", exc.problem)
        except ProtocolError as exc:
            return self._reject(state, "protocol", "%s", exc.problem)
        except (ConnectionClosed, OSError) as exc:
            log.debug("%s: %s disconnected during the handshake: %s", self.name, state.peer, exc)
            return self._forget(state)
        if state.answered and not state.out:
            self._forget(state, close=False)
            self._hand_over(state.sock, state.peer)
        else:
            self._selector.modify(state.sock, state.events(), state)

    def _reject(self, state: _Handshake, reason: str, fmt: str, *args) -> None:
        self.rejections.add(reason)
        self.logs.log(reason, logging.WARNING, "%s: dropped %s: " + fmt, self.name, state.peer,
                      *args)
        self._forget(state)

    def _forget(self, state: _Handshake, close: bool = True) -> None:
        if self._handshakes.pop(state.sock, None) is None:
            return
        self._selector.unregister(state.sock)
        self.admission.release(state.address)
        if close:
            state.sock.close()

    # -- authenticated connections ---------------------------------------------------------------
    def _hand_over(self, sock: socket.socket, peer: str) -> None:
        tls = isinstance(sock, ssl.SSLSocket)
        try:
            if tls:
                # the ssl module waits out SO_SNDTIMEO on a blocking socket (it selects and
                # retries): a socket timeout bounds its sends, and receives wait it out
                sock.settimeout(self.send_timeout)
            else:
                sock.setblocking(True)
                set_send_timeout(sock, self.send_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # the peer is already gone
            log.debug("%s: %s disconnected after the handshake: %s", self.name, peer, exc)
            sock.close()
            return
        conn = Connection(sock, peer, self.max_frame, patient=tls)
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                  name=f"{self.name}-{peer}")
        with self._lock:
            self.established += 1
            self._serving.add(thread)
        try:
            thread.start()
        except RuntimeError as exc:  # can't start new thread
            with self._lock:
                self.established -= 1
            self.rejections.add("no_threads")
            self.logs.log("no_threads", logging.ERROR, "%s: dropped %s: %s", self.name, peer, exc)
            conn.close()

    def _serve(self, conn: Connection) -> None:
        try:
            self.handler(conn)
        except ProtocolError as exc:
            self.rejections.add("protocol")
            self.logs.log("protocol", logging.WARNING, "%s: dropped %s: %s", self.name,
                          conn.peer, exc.problem)
        except (ConnectionClosed, OSError) as exc:
            log.debug("%s: %s disconnected: %s", self.name, conn.peer, exc)
        except Exception:  # a bug in a handler must not take the server down
            log.exception("%s: error serving %s", self.name, conn.peer)
        finally:
            conn.close()
            with self._lock:
                self.established -= 1

    def join_served(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the threads serving connections to end (their
        handlers return once their connections close); whether all did."""
        deadline = time.monotonic() + timeout
        with self._lock:
            serving = [thread for thread in self._serving if thread.ident is not None]
        for thread in serving:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in serving)
