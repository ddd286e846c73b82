"""A threaded TCP server for authenticated, framed connections.

Each accepted connection gets a thread: the handshake (with a deadline),
then the handler's receive loop.  Whatever one peer does wrong ends only
that peer's connection; it is logged once and counted, and the server keeps
serving everyone else.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Callable, Optional

from ..errors import VegaError
from .connection import HANDSHAKE_TIMEOUT, Connection, server_handshake
from .framing import DEFAULT_MAX_FRAME, ConnectionClosed, ProtocolError

log = logging.getLogger(__name__)

Handler = Callable[[Connection], None]


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


class Server:
    def __init__(self, host: str, port: int, secret: Optional[bytes], handler: Handler,
                 name: str, max_frame: int = DEFAULT_MAX_FRAME):
        if secret is None and not is_loopback(host):
            raise InsecureBindError(host)
        self.secret = secret or b""
        self.handler = handler
        self.name = name
        self.max_frame = max_frame
        self.rejected = 0
        self.listener = socket.create_server((host, port), reuse_port=False, backlog=128)
        self.host, self.port = self.listener.getsockname()[:2]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept",
                                        daemon=True)

    def start(self) -> "Server":
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, address = self.listener.accept()
            except OSError:
                return
            peer = f"{address[0]}:{address[1]}"
            threading.Thread(target=self._serve, args=(sock, peer), daemon=True,
                             name=f"{self.name}-{peer}").start()

    def _serve(self, sock: socket.socket, peer: str) -> None:
        conn = Connection(sock, peer, self.max_frame)
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT)
            server_handshake(sock, self.secret, peer)
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.handler(conn)
        except ProtocolError as exc:
            self.rejected += 1
            log.warning("%s: dropped %s: %s", self.name, peer, exc.problem)
        except (ConnectionClosed, socket.timeout, OSError) as exc:
            log.debug("%s: %s disconnected: %s", self.name, peer, exc)
        except Exception:  # a bug in a handler must not take the server down
            log.exception("%s: error serving %s", self.name, peer)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        try:
            self.listener.close()
        except OSError:
            pass
