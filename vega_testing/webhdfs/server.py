"""``WebHDFSServer``: a NameNode and a DataNode over a local directory, started and stopped
as one."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import socketserver
import threading
import time
import urllib.parse
from typing import Dict, List, Optional

from .datanode import DataNodeHandler
from .handler import PATH_SAFE, PREFIX
from .namenode import NameNodeHandler
from .namesystem import Namesystem

__all__ = ["WebHDFSServer", "DEFAULT_BLOCK_SIZE"]

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 128 * 1024 * 1024          # dfs.blocksize


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection, every one tracked so that stopping can end them all."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, handler, owner: "WebHDFSServer", family: int):
        self.address_family = family
        self.owner = owner
        self.namesystem = owner._namesystem
        self._connections: Dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, handler)

    def server_bind(self):
        # HTTPServer.server_bind looks the host name up (getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"webhdfs-{self.RequestHandlerClass.role}-connection",
                                  daemon=True)
        with self._connections_lock:
            self._connections[request] = thread
            self.connections_accepted += 1
        thread.start()

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._connections_lock:
                self._connections.pop(request, None)

    def handle_error(self, request, client_address):
        log.debug("webhdfs: connection from %s ended with an error", client_address,
                  exc_info=True)

    def close_connections(self, timeout: float) -> List[threading.Thread]:
        """End every connection: reading stops at once (an idle keep-alive connection closes,
        a reply being written may finish); whatever still runs after ``timeout`` seconds is
        cut off.  Returns the threads still alive after that (normally none)."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for how in (socket.SHUT_RD, socket.SHUT_RDWR):
            for sock, _ in connections:
                try:
                    sock.shutdown(how)
                except OSError:
                    pass
            deadline = time.monotonic() + timeout
            for _, thread in connections:
                thread.join(max(0.0, deadline - time.monotonic()))
            connections = [(s, t) for s, t in connections if t.is_alive()]
            if not connections:
                break
        return [t for _, t in connections]


class WebHDFSServer:
    """A NameNode and a DataNode over ``root_dir``; port 0 picks a free port.

    ``start()`` returns once both ports accept connections; ``stop()`` ends every
    connection and thread.  ``superuser``/``supergroup`` own what is found on disk,
    ``replication`` and ``block_size`` are the defaults of new files.  ``datanode_host``
    (default: ``host``) is where the DataNode listens and where the NameNode redirects data
    operations: another loopback address (127.0.0.2) plays a DataNode, or a rogue third
    host, on another machine; ``datanode_connections`` counts the connections it took.  With
    ``enforce_permissions`` (HDFS's ``dfs.permissions.enabled``) every operation is
    checked against owners, groups and modes as HDFS checks them; without it (the
    default) permissions are recorded but not enforced.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root, WebHDFSServer(root) as server:
    ...     server.namenode_url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, root_dir: str, host: str = "127.0.0.1", namenode_port: int = 0,
                 datanode_port: int = 0, *, superuser: str = "hdfs",
                 supergroup: str = "supergroup", replication: int = 1,
                 block_size: int = DEFAULT_BLOCK_SIZE, log_requests: bool = False,
                 enforce_permissions: bool = False, datanode_host: Optional[str] = None):
        os.makedirs(root_dir, exist_ok=True)
        self.root_dir = os.path.realpath(root_dir)
        self.host = host
        self.datanode_host = datanode_host
        self.log_requests = log_requests
        self.enforce_permissions = enforce_permissions
        self._requested_ports = (namenode_port, datanode_port)
        self._namesystem = Namesystem(self.root_dir, superuser=superuser,
                                      supergroup=supergroup, replication=replication,
                                      block_size=block_size,
                                      enforce_permissions=enforce_permissions)
        self._servers: List[_HTTPServer] = []
        self._threads: List[threading.Thread] = []
        self._state = "new"
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        where = (f"namenode={self.namenode_url} datanode={self.datanode_url}"
                 if self._state == "running" else self._state)
        return f"<WebHDFSServer {self.root_dir} {where}>"

    def __enter__(self) -> "WebHDFSServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "WebHDFSServer":
        with self._state_lock:
            if self._state != "new":
                raise RuntimeError(f"a WebHDFSServer starts once (this one is {self._state})")
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            servers: List[_HTTPServer] = []
            try:
                hosts = (self.host, self.datanode_host or self.host)
                for handler, host, port in zip((NameNodeHandler, DataNodeHandler), hosts,
                                               self._requested_ports):
                    servers.append(_HTTPServer((host, port), handler, self, family))
            except BaseException:
                for server in servers:
                    server.server_close()
                raise
            self._servers = servers
            for server in servers:
                thread = threading.Thread(target=server.serve_forever,
                                          kwargs={"poll_interval": 0.05},
                                          name=f"webhdfs-{server.RequestHandlerClass.role}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
            self._state = "running"
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end open connections (see ``close_connections``), join every thread.
        Stopping twice, or a server never started, is harmless."""
        with self._state_lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopping"
        # serve_forever notices shutdown within its poll interval: wait for both at once.
        stoppers = [threading.Thread(target=server.shutdown, name="webhdfs-stop")
                    for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers:
            server.server_close()
        for thread in self._threads:
            thread.join()
        leftovers = [t for server in self._servers for t in server.close_connections(timeout)]
        if leftovers:
            log.warning("webhdfs: %d connection thread(s) did not end", len(leftovers))
        with self._state_lock:
            self._state = "stopped"

    # addresses

    def _port(self, index: int) -> int:
        if not self._servers:
            raise RuntimeError("the WebHDFSServer is not started")
        return self._servers[index].server_address[1]

    @property
    def namenode_port(self) -> int:
        return self._port(0)

    @property
    def datanode_port(self) -> int:
        return self._port(1)

    def _url_host(self, host_header: Optional[str] = None) -> str:
        """The host name clients use: the bound one, or for a wildcard bind the name the
        client reached us by (its Host header), else loopback."""
        if self.host not in ("", "0.0.0.0", "::"):
            return self.host
        if host_header:
            name = urllib.parse.urlsplit("//" + host_header).hostname
            if name:
                return name
        return "::1" if self.host == "::" else "127.0.0.1"

    def namenode_netloc(self, host_header: Optional[str] = None) -> str:
        return _netloc(self._url_host(host_header), self.namenode_port)

    @property
    def namenode_url(self) -> str:
        return f"http://{self.namenode_netloc()}"

    @property
    def datanode_connections(self) -> int:
        """How many connections the DataNode has accepted so far."""
        if not self._servers:
            raise RuntimeError("the WebHDFSServer is not started")
        return self._servers[1].connections_accepted

    def _datanode_url_host(self, host_header: Optional[str] = None) -> str:
        if self.datanode_host not in (None, "", "0.0.0.0", "::"):
            return self.datanode_host
        return self._url_host(host_header)

    @property
    def datanode_url(self) -> str:
        return f"http://{_netloc(self._datanode_url_host(), self.datanode_port)}"

    def datanode_location(self, path: str, query: str, host_header: Optional[str]) -> str:
        """Where the NameNode sends a data operation: the DataNode, with the client's query
        string exactly as sent (every parameter) and ``namenoderpcaddress`` appended."""
        host = self._url_host(host_header)
        datanode_host = self._datanode_url_host(host_header)
        kept = [piece for piece in query.split("&") if piece and
                urllib.parse.unquote_plus(piece.split("=", 1)[0]).lower() != "namenoderpcaddress"]
        kept.append("namenoderpcaddress=" + urllib.parse.quote(
            _netloc(host, self.namenode_port), safe=":[]"))
        return (f"http://{_netloc(datanode_host, self.datanode_port)}{PREFIX}"
                f"{urllib.parse.quote(path, safe=PATH_SAFE)}?{'&'.join(kept)}")
