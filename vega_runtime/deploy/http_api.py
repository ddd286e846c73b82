"""HTTP: the master's web UI, JSON API (``/api/v1/``) and ``/metrics``; workers' ``/metrics``."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import socket
import socketserver
import threading
import time
from typing import Dict, Optional
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..net.limits import AcceptBackoff, Admission, RateLimitedLog, Rejections
from ..net.server import is_loopback

log = logging.getLogger(__name__)


UI_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
UI_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
            "style.css": "text/css; charset=utf-8"}


#: seconds a client has, from its connection being taken up, to send its request line and headers
REQUEST_TIMEOUT = 10.0
#: seconds the whole response may take to send
RESPONSE_TIMEOUT = 20.0
#: connections being served at once (each on a thread), in total and from one address
MAX_CONNECTIONS = 64
MAX_CONNECTIONS_PER_ADDRESS = 16


class _RequestTimedOut(TimeoutError):
    """The client did not send its request within the deadline."""


class _DeadlineReader(io.RawIOBase):
    """A socket's read side with one deadline for everything read through it, so a client
    trickling a byte now and then is cut off as surely as one that sends nothing."""

    def __init__(self, sock: socket.socket, deadline: float, on_timeout):
        super().__init__()
        self.sock, self.deadline, self.on_timeout = sock, deadline, on_timeout
        self.received = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise socket.timeout("request deadline passed")
            self.sock.settimeout(remaining)
            got = self.sock.recv_into(buffer)
        except socket.timeout:
            self.on_timeout(self.received)
            raise _RequestTimedOut("no complete request before the deadline") from None
        self.received += got
        return got


class _Handler(BaseHTTPRequestHandler):
    """Replies shared by the master's and the workers' HTTP handlers; reading the request has
    one deadline (``server.request_timeout``), sending the response another."""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the plain socket file, replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(
            self.connection, time.monotonic() + self.server.request_timeout, self._timed_out))

    def _timed_out(self, received: int) -> None:
        # browsers open connections ahead of need and may never use them: silence is DEBUG,
        # a request trickled in too slowly is WARNING
        self.server.reject("request_timeout", "dropped %s: %d bytes and no complete request "
                           "within %.0fs", self.client_address[0], received,
                           self.server.request_timeout,
                           level=logging.WARNING if received else logging.DEBUG)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.connection.settimeout(self.server.response_timeout)
        return True

    def _json(self, code: int, body) -> None:
        self._send(code, "application/json", json.dumps(body, indent=1).encode())

    def _send(self, code: int, kind: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        log.debug("http: " + fmt, *args)


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them (``per_address`` from one
    address): more are closed at once.  Each lives for at most the request deadline plus the
    response timeout.  Running out of descriptors is logged and backed off, not spun on."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler: type, name: str,
                 max_connections: int = MAX_CONNECTIONS,
                 per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
                 request_timeout: float = REQUEST_TIMEOUT,
                 response_timeout: float = RESPONSE_TIMEOUT):
        self.name = name
        self.request_timeout, self.response_timeout = request_timeout, response_timeout
        self.admission = Admission(max_connections, per_address)
        self.rejections = Rejections(("request_timeout", "total_limit", "address_limit",
                                      "out_of_descriptors", "no_threads"))
        self.logs = RateLimitedLog(log)
        self._backoff = AcceptBackoff(name, log, self.rejections)
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer's own looks up the host's fully qualified name (a reverse DNS query,
        # slow where DNS is); the name is only used in CGI environments
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def reject(self, reason: str, fmt: str, *args, level: int = logging.WARNING) -> None:
        self.rejections.add(reason)
        self.logs.log(f"{reason}-{level}", level, "%s: " + fmt, self.name, *args)

    def get_request(self):
        try:
            request = super().get_request()
        except OSError as exc:
            time.sleep(self._backoff.failed(exc))  # socketserver retries when the port is ready
            raise
        self._backoff.succeeded()
        return request

    def process_request(self, request, client_address) -> None:
        refused = self.admission.admit(client_address[0])
        if refused is not None:
            self.reject(refused, "refused %s: already %d connections%s", client_address[0],
                        self.admission.total if refused == "total_limit"
                        else self.admission.per_address,
                        "" if refused == "total_limit" else " from that address")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError as exc:  # can't start new thread
            self.admission.release(client_address[0])
            self.reject("no_threads", "dropped %s: %s", client_address[0], exc)
            self.shutdown_request(request)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.admission.release(client_address[0])

    @property
    def rejected(self) -> int:
        return self.rejections.total()

    def connection_counts(self) -> Dict[str, int]:
        return {"established": self.admission.active}


def _serve(host: str, port: int, handler: type, name: str, **limits) -> ThreadingHTTPServer:
    server = _Server((host, port), handler, name, **limits)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                     daemon=True).start()
    return server


def api_token(secret: Optional[bytes]) -> str:
    """The token the HTTP API accepts (``Authorization: Bearer ...``), derived from the
    cluster secret so whoever holds the secret can compute it."""
    return hmac.new(secret or b"", b"vega-http-api", hashlib.sha256).hexdigest()


def start_http(host: str, port: int, master, secret: Optional[bytes] = None,
               open_reads: bool = False, **limits) -> ThreadingHTTPServer:
    """The master's HTTP port: the web UI, ``/api/v1/`` and ``/metrics``.

    Changing anything (killing an application) needs the API token; reading is open to
    loopback clients, and to everyone only with ``open_reads``.  ``limits`` are ``_Server``'s
    (``max_connections``, ``per_address``, ``request_timeout``, ``response_timeout``).
    """
    token = api_token(secret)

    class Handler(_Handler):
        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            return hmac.compare_digest(header, f"Bearer {token}")

        def _may_read(self) -> bool:
            return open_reads or is_loopback(self.client_address[0]) or self._authorized()

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if not self._may_read():
                return self._json(401, {"error": "send Authorization: Bearer <token> "
                                                 "(vega status --token prints it)"})
            if path == "/api/v1/status":
                return self._json(200, master.status())
            if path == "/api/v1/applications":
                return self._json(200, master.status()["applications"])
            if path.startswith("/api/v1/applications/"):
                return self._application(path[len("/api/v1/applications/"):])
            if path == "/api/v1/history":
                return self._json(200, master.history())
            if path.startswith("/api/v1/history/"):
                summary = master.history_of(path[len("/api/v1/history/"):])
                if summary is None:
                    return self._json(404, {"error": "no event log for that application"})
                return self._json(200, summary)
            if path == "/metrics":
                from prometheus_client.exposition import CONTENT_TYPE_LATEST

                from .metrics import metrics_text

                return self._send(200, CONTENT_TYPE_LATEST, metrics_text(master, self.server))
            name = "index.html" if path in ("/", "/index.html") else path[len("/ui/"):] \
                if path.startswith("/ui/") else ""
            if name in UI_FILES:
                with open(os.path.join(UI_DIR, name), "rb") as fh:
                    return self._send(200, UI_FILES[name], fh.read())
            self._json(404, {"error": "not found"})

        def _application(self, rest: str) -> None:
            app_id, _, action = rest.partition("/")
            if action == "logs":
                text = master.application_output(app_id)
                if text is None:
                    return self._json(404, {"error": f"no application {app_id}"})
                return self._send(200, "text/plain; charset=utf-8", text.encode())
            detail = master.application_detail(app_id)
            if detail is None:
                return self._json(404, {"error": f"no application {app_id}"})
            self._json(200, detail)

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0].rstrip("/")
            if not (path.startswith("/api/v1/applications/") and path.endswith("/kill")):
                return self._json(404, {"error": "not found"})
            if not self._authorized():
                return self._json(401, {"error": "killing needs Authorization: Bearer <token>"})
            app_id = path[len("/api/v1/applications/"):-len("/kill")]
            killed = master.drivers.kill(app_id) or master.kill_application(
                app_id, "killed through the HTTP API")
            self._json(200 if killed else 404, {"killed": killed, "id": app_id})

    return _serve(host, port, Handler, "master-http", **limits)


def start_metrics_http(host: str, port: int, collector) -> ThreadingHTTPServer:
    """A small HTTP server answering ``/metrics`` from one collector (workers, drivers)."""
    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            from prometheus_client.exposition import CONTENT_TYPE_LATEST

            from .metrics import registry_text

            if self.path.rstrip("/") != "/metrics":
                return self._json(404, {"error": "not found"})
            self._send(200, CONTENT_TYPE_LATEST, registry_text(collector))

    server = _serve(host, port, Handler, "metrics-http")
    if hasattr(collector, "http"):  # a collector that reports its HTTP server's connections
        collector.http = server
    return server
