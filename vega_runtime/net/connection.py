"""Authenticated connections: TLS 1.3, the HMAC handshake and a framed, typed channel.

Every connection is TLS 1.3 with both ends presenting a certificate of the
cluster's CA, which is derived from the secret (``tls.py``).  Inside it, a
challenge/response proves again that both ends hold the secret, without
sending it::

    server -> client   Challenge{nonce}
    client -> server   Authenticate{mac = HMAC(secret, "client" + nonce), nonce2}
    server -> client   Authenticated{mac = HMAC(secret, "server" + nonce2)}

A peer that fails it, or later sends an oversized, malformed, unknown or
out-of-turn frame, gets a ``ProtocolError`` and is disconnected by its server.
The server's two steps (``challenge``, ``answer_authenticate``) are plain
functions over bytes and maps: ``Server`` drives them on non-blocking sockets.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Optional

from .framing import (DEFAULT_MAX_FRAME, HEADER, ConnectionClosed, ProtocolError, decode_body,
                      encode_frame, recv_exactly, recv_frame, recv_some, send_frame)
from ..retry import Backoff
from .messages import from_wire, to_wire

if TYPE_CHECKING:
    import ssl

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
#: bytes a connection asks its socket for at once: the frames of a batch (tasks launched
#: or finished together) are taken from one read, not two reads per frame
READ_CHUNK = 64 << 10
#: the largest frame either side reads before the handshake is complete
HANDSHAKE_MAX_FRAME = 4096
#: a peer that acknowledges nothing for this long (its host down or cut off the network
#: while the connection was open) ends the connections made to it (``Connection.connect``):
#: the kernel sees no answer to keepalive probes, or to data sent; without this a driver
#: never noticed its master gone silent, nor an executor its driver (docs/fault-tolerance.md)
PEER_TIMEOUT = 120.0
#: overrides PEER_TIMEOUT (seconds), for every process started with it in its environment
PEER_TIMEOUT_ENV = "VEGA_NET_PEER_TIMEOUT"


class AuthenticationFailed(ProtocolError):
    """The peer does not know the cluster secret."""


def _mac(secret: bytes, role: bytes, nonce: bytes) -> bytes:
    # hashlib and hmac (OpenSSL's libcrypto) load at the first handshake, not with this
    # module: local[N] executors use ``Connection`` over a socketpair and never need them
    import hashlib
    import hmac

    return hmac.new(secret, role + nonce, hashlib.sha256).digest()


def _same_mac(received: bytes, expected: bytes) -> bool:
    import hmac

    return hmac.compare_digest(received, expected)


def _expect(message: dict, kind: str, peer: str, field: str) -> bytes:
    if message.get("type") != kind or not isinstance(message.get(field), bytes):
        raise AuthenticationFailed(peer, f"expected {kind} during the handshake, "
                                         f"got {message.get('type')!r}")
    return message[field]


def challenge() -> tuple:
    """The server's first step: ``(nonce, Challenge frame as bytes)``."""
    nonce = os.urandom(32)
    return nonce, encode_frame({"type": "Challenge", "nonce": nonce})


def answer_authenticate(reply: dict, nonce: bytes, secret: bytes, peer: str) -> bytes:
    """The server's second step: check the client's Authenticate map against ``nonce``;
    the Authenticated frame (bytes) to send back, or AuthenticationFailed."""
    mac = _expect(reply, "Authenticate", peer, "mac")
    client_nonce = _expect(reply, "Authenticate", peer, "nonce")
    if not _same_mac(mac, _mac(secret, b"client", nonce)):
        raise AuthenticationFailed(peer, "wrong cluster secret")
    return encode_frame({"type": "Authenticated", "mac": _mac(secret, b"server", client_nonce)})


class HandshakeRefused(AuthenticationFailed):
    """The server closed the connection before its Challenge: it is at its cap of connections
    in the handshake (from this address, or in total), or the port is not a Vega port."""


def secret_refused(exc: BaseException) -> bool:
    """Whether a failed connection's ``exc`` says the peer is there and refused this
    process's secret (or its lack of one), not that it could not be reached."""
    return isinstance(exc, AuthenticationFailed) and not isinstance(exc, HandshakeRefused)


def client_handshake(sock: socket.socket, secret: bytes, peer: str) -> None:
    # TLS (ssl, cryptography) loads when a client first connects, not with this module:
    # local[N] executors use ``Connection`` over a socketpair and never need it
    import ssl

    from .tls import PLAINTEXT_ENV, describe_client_side, plaintext_for_benchmarks

    try:
        first = recv_frame(sock, peer, max_frame=HANDSHAKE_MAX_FRAME)
    except ssl.SSLError as exc:  # the server's alert about our certificate arrives here
        raise AuthenticationFailed(peer, describe_client_side(exc)) from None
    except (ConnectionClosed, ConnectionResetError):
        hint = (f" (this process has {PLAINTEXT_ENV}=1: does the server too?)"
                if plaintext_for_benchmarks() else "")
        raise HandshakeRefused(peer, "the server closed the connection before its challenge: "
                                     "it is refusing connections (too many in their handshake) "
                                     "or this is not a Vega port" + hint) from None
    except TimeoutError:  # a TLS server that waits for us to speak first: an HTTPS port
        raise TimeoutError(f"{peer} sent no challenge within {sock.gettimeout():g}s: this is "
                           "not a Vega RPC port (a web UI's HTTPS port? the master's RPC port "
                           "is vega.master.port, 7077 by default), or its daemon is "
                           "overloaded") from None
    try:
        _client_handshake(sock, secret, peer, first)
    except ConnectionClosed:
        raise AuthenticationFailed(peer, "the peer closed the connection during the handshake: "
                                         "does this host have the cluster's secret?") from None


def _client_handshake(sock: socket.socket, secret: bytes, peer: str, first: dict) -> None:
    nonce = _expect(first, "Challenge", peer, "nonce")
    client_nonce = os.urandom(32)
    send_frame(sock, {"type": "Authenticate", "mac": _mac(secret, b"client", nonce),
                      "nonce": client_nonce})
    reply = recv_frame(sock, peer, max_frame=HANDSHAKE_MAX_FRAME)
    mac = _expect(reply, "Authenticated", peer, "mac")
    if not _same_mac(mac, _mac(secret, b"server", client_nonce)):
        raise AuthenticationFailed(peer, "the server does not know the cluster secret")


def wrap_client(context: ssl.SSLContext, sock: socket.socket, peer: str,
                has_secret: bool = True) -> ssl.SSLSocket:
    """The TLS handshake of a client (``has_secret``: with a cluster secret); errors say
    whose certificate was refused."""
    import ssl

    from .tls import describe_client_side

    try:
        return context.wrap_socket(sock)
    except ssl.SSLCertVerificationError as exc:
        raise AuthenticationFailed(peer, describe_client_side(exc, has_secret)) from None
    except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
        # closed before the handshake: refused at the server's cap (retried), or the
        # server closed on our ClientHello (a plaintext server)
        raise HandshakeRefused(peer, "the server closed the connection during the TLS "
                                     "handshake: it is refusing connections (too many in "
                                     "their handshake), or it does not speak TLS 1.3, or "
                                     "this is not a Vega port") from None
    except ssl.SSLError as exc:
        raise AuthenticationFailed(peer, describe_client_side(exc)) from None
    except TimeoutError:  # the kernel accepted for it: the process itself does not answer
        raise TimeoutError(f"{peer} accepted the connection but did not answer its TLS "
                           f"handshake within {sock.gettimeout():g}s: the process there is "
                           "stopped (SIGSTOP), hung or overloaded") from None


def detect_dead_peer(sock, seconds: float) -> None:
    """Make the kernel end ``sock`` when its peer stops answering for about ``seconds``:
    keepalive probes once it is idle, TCP_USER_TIMEOUT on unacknowledged data.  A host
    that drops off the network sends no reset, so without them a connection to it looks
    open until TCP gives up on data (15 minutes), or for ever when idle.  No-op for what is
    not a TCP socket (a proxy, a Unix socket)."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", seconds / 3), ("TCP_KEEPINTVL", seconds / 3),
                        ("TCP_USER_TIMEOUT", seconds * 1000)):
        if hasattr(socket, name):  # Linux
            options.append((socket.IPPROTO_TCP, getattr(socket, name), max(1, int(value))))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except (AttributeError, OSError):
            return


def peer_timeout() -> float:
    """``PEER_TIMEOUT``, or the positive number of seconds ``$VEGA_NET_PEER_TIMEOUT`` holds."""
    try:
        seconds = float(os.environ.get(PEER_TIMEOUT_ENV) or PEER_TIMEOUT)
    except ValueError:
        return PEER_TIMEOUT
    return seconds if seconds > 0 else PEER_TIMEOUT


class Connection:
    """A framed channel carrying message dataclasses; ``send`` is thread-safe."""

    def __init__(self, sock: socket.socket, peer: str, max_frame: int = DEFAULT_MAX_FRAME,
                 patient: bool = False):
        ssl = sys.modules.get("ssl")  # not loaded: it cannot be a TLS socket
        if ssl is not None and isinstance(sock, ssl.SSLSocket):
            from .tls_socket import SerialTls

            sock = SerialTls(sock)  # read by one thread while others send
        self.sock = sock
        self.peer = peer
        self.max_frame = max_frame
        #: the socket's timeout bounds sends only: receives wait it out and go on
        self.patient = patient
        self._send_lock = threading.Lock()
        self.closed = False
        #: what was read past the last whole frame (``buffered``); one reader at a time
        self._inbuf = bytearray()
        self._chunk = memoryview(bytearray(READ_CHUNK))

    @classmethod
    def connect(cls, host: str, port: int, secret: bytes, timeout: float = HANDSHAKE_TIMEOUT,
                max_frame: int = DEFAULT_MAX_FRAME) -> "Connection":
        """Connect and authenticate.  A server refusing the connection for its handshake cap
        (many executors of one host connecting at once) is tried again, 50 ms doubling to
        1 s with jitter, for up to ``timeout`` seconds.  A peer silent for ``peer_timeout()``
        later ends the connection (``detect_dead_peer``): a driver's to its master, an
        executor's to its driver, a worker's to its master."""
        from .endpoints import host_port

        peer = host_port(host, port)
        deadline, backoff = time.monotonic() + timeout, Backoff(0.05, 1.0, jitter=0.5)
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=timeout)
            except TimeoutError:  # no reset, no answer: nothing there says why
                raise TimeoutError(f"{peer} did not answer within {timeout:g}s: its host is "
                                   "down or cut off the network, or a firewall drops what "
                                   "is sent to that port") from None
            detect_dead_peer(sock, peer_timeout())
            try:
                # (TLS loaded once something answers: a command told that nothing listens
                # there, vega status of a stopped master, says so without ~35 ms of imports)
                from .tls import cluster_tls

                tls = cluster_tls(secret)
                if tls is not None:
                    sock = wrap_client(tls.client, sock, peer, bool(secret))
                client_handshake(sock, secret, peer)
                break
            except HandshakeRefused:
                sock.close()
                pause = backoff.next()
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
            except BaseException:
                sock.close()
                raise
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, peer, max_frame)

    def send(self, message) -> None:
        data = to_wire(message)
        with self._send_lock:
            try:
                send_frame(self.sock, data)
            except OSError:
                # the peer went away or stopped reading (a server's connections have a send
                # timeout): part of a frame may be out, so the channel is done; shutting it
                # down wakes the thread reading from it, which ends the connection
                self.shutdown()
                raise

    def send_many(self, messages: list) -> None:
        """Send several messages in one write (one TLS record for a batch of small ones)."""
        data = b"".join(encode_frame(to_wire(message)) for message in messages)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.shutdown()
                raise

    def recv(self):
        """The next message (from one thread at a time); ProtocolError for an oversized or
        malformed frame, ConnectionClosed at the end."""
        (length,) = HEADER.unpack(self._take(HEADER.size))
        if length > self.max_frame:
            raise ProtocolError(self.peer, f"frame of {length} bytes exceeds the limit of "
                                           f"{self.max_frame}")
        return from_wire(decode_body(self._take(length), self.peer), self.peer)

    def recv_within(self, seconds: float):
        """``recv``, each read of it waiting at most ``seconds`` (``TimeoutError`` past them,
        saying so): the reply to a request, from a peer that may accept and never answer
        (stopped, frozen).  The connection is of no further use after a timeout."""
        previous = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        try:
            return self.recv()
        except socket.timeout:
            raise TimeoutError(f"{self.peer} accepted the connection but did not answer within "
                               f"{seconds:g}s: the process there is stopped, frozen or "
                               "overloaded") from None
        finally:
            self.sock.settimeout(previous)

    def recv_more(self) -> list:
        """The messages whose whole frames were read already (by earlier ``recv``s), without
        reading the socket: a batch sent in one write is taken together after its first."""
        messages = []
        buf = self._inbuf
        while len(buf) >= HEADER.size:
            (length,) = HEADER.unpack_from(buf)
            if len(buf) - HEADER.size < length:
                break
            messages.append(self.recv())  # checks the length and the frame as recv does
        return messages

    @property
    def buffered(self) -> bool:
        """Whether bytes of the next frame were read already (the socket may not be readable
        while a whole message waits here: check this before waiting for it)."""
        return bool(self._inbuf)

    def _take(self, n: int) -> bytes:
        """``n`` bytes: from what was read before, then reads of up to ``READ_CHUNK``; the
        rest of a larger frame is read exactly (memory grows with what arrives)."""
        buf = self._inbuf
        if len(buf) < n and n - len(buf) > READ_CHUNK:
            head = bytes(buf)
            buf.clear()
            return head + recv_exactly(self.sock, n - len(head), self.peer, self.patient)
        while len(buf) < n:
            got = recv_some(self.sock, self._chunk, self.patient)
            if got == 0:
                raise ConnectionClosed(self.peer)
            buf += self._chunk[:got]
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def shutdown(self) -> None:
        """End the connection both ways without releasing the descriptor (safe while another
        thread blocks on it: its recv returns)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.shutdown()
            self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()


def default_secret_file() -> str:
    """Where the cluster secret lives unless named: ``$VEGA_CONF_DIR/secret``, else
    ``~/.vega/secret`` — the user's Vega home, never the working directory (where a
    checkout's ``git add -A`` would pick it up)."""
    home = os.environ.get("VEGA_CONF_DIR") or os.path.join(os.path.expanduser("~"), ".vega")
    return os.path.join(home, "secret")


def usable_default_secret_file() -> str:
    """``default_secret_file()`` to read or make, or a ``ConfigError`` when this account has
    no home to put it in (``private_files.expand_home``): a ``~/.vega/secret`` left as it
    is would be made in the working directory, one secret per directory."""
    from ..private_files import expand_home

    path = default_secret_file()
    return expand_home(path, "the cluster secret") if path.startswith("~") else path


def resolve_secret_file(path: Optional[str]) -> str:
    """The secret file to use: ``path`` when given (``--secret-file``, ``VEGA_SECRET_FILE``,
    ``vega.secret.file``), else the default one when it exists, else ``''`` (no secret)."""
    if path:
        return os.path.abspath(os.path.expanduser(path))
    default = default_secret_file()
    return default if not default.startswith("~") and os.path.isfile(default) else ""


def secret_file_to_use(path: Optional[str]) -> str:
    """``resolve_secret_file(path)``, with the default file also when it may be there behind
    a directory this account may not look into (a ~/.vega that ``sudo -E vega ...`` made
    root's): reading it then says so, where taking it for absent had a client say 'this
    process has none ... put it at' that very path.  A file named that is not there is a
    ``SecretFileMissing``."""
    from ..errors import SecretFileMissing

    chosen = resolve_secret_file(path)
    if not chosen:
        default = default_secret_file()
        chosen = default if not default.startswith("~") and _hidden(default) else ""
    if chosen and not os.path.isfile(chosen) and not _hidden(chosen):
        raise SecretFileMissing(chosen, default_secret_file())
    return chosen


def secret_file_for(option: Optional[str]) -> str:
    """--secret-file, else VEGA_SECRET_FILE, else ~/.vega/secret if it exists, else '';
    raises ``ConfigError`` when the file named does not exist."""
    return secret_file_to_use(option or os.environ.get("VEGA_SECRET_FILE"))


def _hidden(path: str) -> bool:
    """Whether this account may not look whether ``path`` exists (EACCES on its way)."""
    try:
        os.stat(path)
    except PermissionError:
        return True
    except OSError:
        pass
    return False


def load_secret(path: Optional[str]) -> Optional[bytes]:
    """The cluster secret from a file (its stripped contents), or None when no file is
    named.  A file every user of the host can read (or write) is used, with a warning saying
    how to close it, as ssh warns of an unprotected key (a group may be let in on purpose:
    Kubernetes mounts it 0440 for the pod's group).  A file holding nothing but whitespace
    is a ``SecretFileMissing``: running without a secret is ``--no-secret``'s choice, never
    a left-empty file's."""
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode & 0o777
            secret = fh.read().strip()
    except PermissionError as exc:  # was a bare PermissionError (vega status: "cannot reach
        from ..errors import SecretFileMissing  # the master ... Is it running?")

        raise SecretFileMissing(path, default_secret_file(), f"cannot be read ({exc.strerror}):"
                                " make it readable to this account (owned by it, mode 0600)") \
            from None
    if mode & 0o007:
        log.warning("the cluster secret %s is open to every user of this host (mode %04o): "
                    "whoever reads it can join the cluster and run code on it; chmod 600 %s",
                    path, mode, path)
    if not secret:
        from ..errors import SecretFileMissing

        raise SecretFileMissing(path, default_secret_file(), "is empty")
    return secret


def new_secret() -> bytes:
    """A new random cluster secret (64 hex digits)."""
    return os.urandom(32).hex().encode()


def create_secret_file(path: str, durable: bool = True,
                       secret: Optional[bytes] = None) -> bytes:
    """Write ``secret`` (a new random one by default) readable only by its owner.

    The file is born with mode 0600 under a temporary name and linked into place, so it
    is never readable by others, never half-written, and never replaces an existing
    secret (``FileExistsError``; ``NotADirectoryError`` for a file where its directory must
    be).  A directory made for it is 0700.  It is on disk
    (fsync) before it is in place unless not ``durable`` (a local cluster's secret, which
    lives as long as its application's scratch directory).
    """
    secret = secret or new_secret()
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except FileExistsError:  # a file where the directory must be: not another's new secret
        raise NotADirectoryError(errno.ENOTDIR, f"{directory} is a file, not a directory",
                                 directory) from None
    staging = f"{path}.tmp-{os.getpid()}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secret + b"\n")
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.link(staging, path)
    finally:
        os.unlink(staging)
    return secret
