"""HTTPS: the master's web UI, JSON API (``/api/v1/``) and ``/metrics``; workers' ``/metrics``.

Every port speaks TLS 1.3 with a certificate of the cluster CA (``net/tls.py``); the
handshake runs on the connection's own thread, under the request deadline, and a client
speaking plain HTTP gets a plain-text 400 saying to use ``https://``.

The master's port answers only requests whose ``Host`` header (and absolute-form target,
``GET https://HOST/path``) names this master (a page on a foreign site cannot reach it
through DNS rebinding), and everything but ``/metrics`` and the UI's own files (which hold
no data) needs the API token: ``Authorization: Bearer TOKEN`` (or ``?token=TOKEN``), which
the UI's pages send from the browser's storage for their origin, where opening
``/?token=TOKEN`` once puts it (no cookie: a browser sends those to every port of a host).
"""

from __future__ import annotations

import functools
import hmac
import io
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
from typing import IO, Callable, Dict, Iterable, Optional, Union
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, unquote_plus, urlencode, urlsplit

from ..net.endpoints import address_family, host_port, unbracketed
from ..net.limits import AcceptBackoff, Admission, RateLimitedLog, Rejections
from ..net.tls import HttpsRefused, accept_https, http_scheme, http_server_context, waited
from ..net.ui_links import api_token, read_token_file  # noqa: F401 - here since they began here
from .spark_api import SparkApi

log = logging.getLogger(__name__)


UI_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
UI_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
            "style.css": "text/css; charset=utf-8",
            # the application pages on Spark's REST API (spark_api.py)
            "app.html": "text/html; charset=utf-8", "app-pages.js": "text/javascript; charset=utf-8",
            "charts.js": "text/javascript; charset=utf-8",
            # what both pages build on
            "dom.js": "text/javascript; charset=utf-8"}
#: what the UI's pages may load and run: their own files only (no inline script, nothing
#: from another site), so that even text of the API's that slipped into the page as markup
#: could not run a script and read the token the page keeps (inline styles are the bars')
UI_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
             "form-action 'none'; frame-ancestors 'none'")
#: the file in the master's work dir holding its API token (mode 0600), for local clients
TOKEN_FILE = "master.token"
#: application and driver ids as the master makes them (no path separators, no "..")
_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
#: a path a redirect may name: on this site (not "//host/...", which browsers read as a URL)
_LOCAL_PATH = re.compile(r"/(?![/\\])")
#: the paths the master answers GET on, and the one it answers POST on (an application's kill)
_GET_PATH = re.compile(r"/api/v1/(status|version|applications|history)(/.*)?\Z")
_KILL_PATH = re.compile(r"/api/v1/applications/[^/]+/kill\Z")
_NO_TOKEN_PAGE = b"""<!doctype html><meta charset="utf-8"><title>Vega: token needed</title>
<p>This Vega master needs its access token. Open the link <code>vega start-master</code>
prints, or the one <code>vega status --token</code> prints (<code>https://HOST:PORT/?token=...</code>).
"""


#: seconds a client has, from its connection being taken up, to send its request line and headers
REQUEST_TIMEOUT = 10.0
#: seconds the whole response may take to send
RESPONSE_TIMEOUT = 20.0
#: connections being served at once (each on a thread), in total and from one address
MAX_CONNECTIONS = 64
MAX_CONNECTIONS_PER_ADDRESS = 16
#: bytes of request line and headers a request may have (http.server alone takes 100 lines
#: of 64 KiB: 6.4 MB a connection, which anyone reaching the port could have it hold)
MAX_REQUEST_HEAD = 32 * 1024


class _RequestTimedOut(TimeoutError):
    """The client did not send its request within the deadline."""


class _RequestHeadTooLarge(Exception):
    """The client sent more than ``MAX_REQUEST_HEAD`` bytes without ending its headers."""


class _DeadlineReader(io.RawIOBase):
    """A socket's read side with one deadline for everything read through it, so a client
    trickling a byte now and then is cut off as surely as one that sends nothing; and,
    while ``limit`` is set (until the request's head is in), no more than ``limit`` bytes."""

    def __init__(self, sock: socket.socket, deadline: float, on_timeout, evicted):
        super().__init__()
        self.sock, self.deadline, self.on_timeout = sock, deadline, on_timeout
        self.evicted = evicted
        self.received = 0
        self.limit: Optional[int] = MAX_REQUEST_HEAD

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.limit is not None:
            if self.received >= self.limit:
                raise _RequestHeadTooLarge()
            buffer = memoryview(buffer)[:self.limit - self.received]
        try:
            got = waited(lambda: self.sock.recv_into(buffer), self.sock, self.deadline,
                         self.evicted)
        except socket.timeout:
            self.on_timeout(self.received)
            raise _RequestTimedOut("no complete request before the deadline") from None
        self.received += got
        return got


class _Handler(BaseHTTPRequestHandler):
    """Replies shared by the master's and the workers' HTTP handlers; reading the request has
    one deadline (``server.request_timeout``), sending the response another.  ``HEAD`` is
    answered as ``GET`` without the body; any method but ``allowed_methods`` gets 405."""

    #: the methods this port answers (the ``Allow`` header of a 405)
    allowed_methods = "GET, HEAD"

    def setup(self) -> None:
        deadline = time.monotonic() + self.server.request_timeout
        self._slot = self.server.slot_of(self.request)
        self._tls_socket = None
        if self.server.tls is not None:
            self.request = self._tls_socket = self._start_tls(deadline)
        super().setup()
        self.rfile.close()  # the plain socket file, replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline, self._timed_out,
                                                       self._slot.is_evicted))

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._tls_socket is not None:  # the server closes the plain socket it detached
                self._tls_socket.close()

    def _start_tls(self, deadline: float) -> ssl.SSLSocket:
        """The TLS handshake, before the request deadline (``accept_https``); raises
        ``HttpsRefused`` once the refusal is logged and counted."""
        try:
            return accept_https(self.request, self.server.tls, deadline, self._slot.is_evicted)
        except HttpsRefused as refused:
            if not self._slot.evicted:  # (given up: logged and counted then)
                self.server.reject(refused.reason, "dropped %s: %s", self.client_address[0],
                                   refused.message, level=refused.level)
            raise

    def _timed_out(self, received: int) -> None:
        if self._slot.evicted:  # logged and counted when it was given up
            return
        # browsers open connections ahead of need and may never use them: silence is DEBUG,
        # a request trickled in too slowly is WARNING
        self.server.reject("request_timeout", "dropped %s: %d bytes and no complete request "
                           "within %.0fs", self.client_address[0], received,
                           self.server.request_timeout,
                           level=logging.WARNING if received else logging.DEBUG)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _RequestHeadTooLarge:
            line_cut = not hasattr(self, "requestline")  # (set once the line is in)
            if line_cut:  # what http.server's send_error needs
                self.requestline = self.request_version = self.command = ""
            self.server.reject("request_too_large", "dropped %s: no end of its %s in %d bytes",
                               self.client_address[0],
                               "request line" if line_cut else "headers", MAX_REQUEST_HEAD)
            if line_cut:
                self.send_error(414, f"the request line exceeds {MAX_REQUEST_HEAD} bytes: "
                                     "shorten the URL")
            else:
                self.send_error(431, f"the request line and headers exceed {MAX_REQUEST_HEAD} "
                                     "bytes: send fewer or shorter headers")
            self._drain()

    def _drain(self, most: int = 256 * 1024, seconds: float = 1.0) -> None:
        """Read and drop what the client is still sending (up to ``most`` bytes, for up to
        ``seconds``), so that closing does not reset the connection and lose the answer."""
        raw = self.rfile.raw
        raw.limit, raw.on_timeout = None, lambda received: None
        raw.deadline = min(raw.deadline, time.monotonic() + seconds)
        try:
            while most > 0 and (chunk := self.rfile.read1(min(most, 1 << 16))):
                most -= len(chunk)
        except (OSError, _RequestTimedOut):
            pass

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        self.rfile.raw.limit = None  # the head is in
        self.server.request_in(self._slot)
        self.connection.settimeout(self.server.response_timeout)
        return True

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self.do_GET()

    def version_string(self) -> str:
        return "Vega"  # not http.server's "BaseHTTP/0.6 Python/3.x.y"

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """http.server's own refusals (a malformed request line, a URL or headers too long,
        a method without a ``do_`` handler) as one JSON error with this port's headers,
        instead of its HTML page; a method without a handler is 405 with ``Allow``."""
        self.close_connection = True
        headers = [("Connection", "close")]
        if code == 501:  # http.server's "Unsupported method"
            code, message = 405, (f"method {self.command} is not allowed: this port answers "
                                  f"{self.allowed_methods}")
            headers.append(("Allow", self.allowed_methods))
        self._json(code, {"error": message or self.responses.get(code, ("error",))[0]},
                   headers)

    def _json(self, code: int, body, headers: Iterable = ()) -> None:
        self._send(code, "application/json", json.dumps(body, indent=1).encode(), headers)

    def _send(self, code: int, kind: str, data: bytes, headers: Iterable = (),
              length: Optional[int] = None) -> None:
        """Answer ``data``, or (``length``) only the headers of a body of that many bytes
        the caller sends itself."""
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_file(self, code: int, kind: str, source: IO[bytes],
                   headers: Iterable = ()) -> None:
        """``_send`` of what ``source`` holds from where it is, a megabyte at a time."""
        start = source.tell()
        size = source.seek(0, os.SEEK_END) - start
        source.seek(start)
        self._send(code, kind, b"", headers, length=size)
        while self.command != "HEAD":
            chunk = source.read(1 << 20)
            if not chunk:
                break
            self.wfile.write(chunk)

    def log_message(self, fmt: str, *args) -> None:
        # http.server's request lines ("GET /?token=... HTTP/1.1"), with the token left out
        log.debug("http: " + fmt, *(_without_token(a) if isinstance(a, str) else a for a in args))


class _Slot:
    """A connection's place under the caps, while it waits for its request: ``evicted``
    once the server gave it to a newer connection (its thread then ends within
    ``EVICTION_CHECK`` seconds)."""

    __slots__ = ("address", "evicted")

    def __init__(self, address: str):
        self.address, self.evicted = address, False

    def is_evicted(self) -> bool:
        return self.evicted


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them (``per_address`` from one
    address).  One more takes the place of the oldest connection still waiting for its
    request from its own address (at the per-address cap) or from the address holding the
    most, when that holds more than its own, else its own (at the total cap), as the RPC server's
    handshakes do: so neither a few addresses nor a process holding connections open from a
    shared address lock the others out; what is left over is closed at once.  Each lives
    for at most the request deadline plus the response timeout.  Running out of
    descriptors is logged and backed off, not spun on."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler: type, name: str,
                 tls: Union[ssl.SSLContext, Callable[[], Optional[ssl.SSLContext]], None] = None,
                 max_connections: int = MAX_CONNECTIONS,
                 per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
                 request_timeout: float = REQUEST_TIMEOUT,
                 response_timeout: float = RESPONSE_TIMEOUT):
        self.name = name
        #: the TLS context, or what makes it at the first connection (``tls``)
        self._tls = tls
        self._tls_lock = threading.Lock()
        #: ``https``, or ``http`` when TLS is off for a benchmark
        self.scheme = http_scheme() if callable(tls) else "https" if tls is not None else "http"
        self.request_timeout, self.response_timeout = request_timeout, response_timeout
        self.admission = Admission(max_connections, per_address)
        #: connections still waiting for their request (oldest first), and every slot by
        #: its socket; evicted connections whose threads have not ended yet
        self._waiting: Dict[_Slot, None] = {}
        self._slots: Dict[socket.socket, _Slot] = {}
        self._leaving = 0
        self._slots_lock = threading.Lock()
        self.rejections = Rejections(("request_timeout", "request_too_large", "total_limit",
                                      "address_limit", "out_of_descriptors", "no_threads",
                                      "tls"))
        self.logs = RateLimitedLog(log)
        self._backoff = AcceptBackoff(name, log, self.rejections)
        self.address_family = address_family(address[0])  # what TCPServer's socket is made of
        super().__init__(address, handler)

    @property
    def tls(self) -> Optional[ssl.SSLContext]:
        """The TLS context (None: plain HTTP), made at the first connection when it was
        given as a function: its leaf (an ECDSA key) then costs the daemon's start-up
        nothing (~25 ms of CPU, on a local cluster's path to its first job)."""
        if callable(self._tls):
            with self._tls_lock:
                if callable(self._tls):
                    self._tls = self._tls()
        return self._tls

    def server_bind(self) -> None:
        # HTTPServer's own looks up the host's fully qualified name (a reverse DNS query,
        # slow where DNS is); the name is only used in CGI environments
        if self.server_address[0] == "::":  # every interface: IPv4 clients too
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
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

    def slot_of(self, request: socket.socket) -> _Slot:
        with self._slots_lock:
            return self._slots[request]

    def request_in(self, slot: _Slot) -> None:
        """The connection's request is in: it is served, and keeps its place."""
        with self._slots_lock:
            self._waiting.pop(slot, None)

    def _evict_for(self, address: str, refused: str) -> bool:
        """Give the place of the oldest connection still waiting for its request, from the
        address ``Admission.yields_to`` names, to a new one from ``address``; True if one
        was given up.  No more than ``max_connections`` given-up threads may be ending at
        once."""
        holder = self.admission.yields_to(address, refused)
        with self._slots_lock:
            victim = next((s for s in self._waiting if s.address == holder), None)
            if victim is None or self._leaving >= self.admission.total:
                return False
            del self._waiting[victim]
            victim.evicted = True
            self._leaving += 1
        self.admission.release(victim.address)
        self.reject(refused, "dropped a connection from %s waiting for its request, for one "
                    "from %s", victim.address, address,
                    level=logging.INFO if refused == "total_limit" else logging.DEBUG)
        return True

    def process_request(self, request, client_address) -> None:
        refused = self.admission.admit(client_address[0])
        if refused is not None and self._evict_for(client_address[0], refused):
            refused = self.admission.admit(client_address[0])
        if refused is not None:
            self.reject(refused, "refused %s: already %d connections%s", client_address[0],
                        self.admission.total if refused == "total_limit"
                        else self.admission.per_address,
                        "" if refused == "total_limit" else " from that address")
            self.shutdown_request(request)
            return
        slot = _Slot(client_address[0])
        with self._slots_lock:
            self._slots[request] = slot
            self._waiting[slot] = None
        try:
            super().process_request(request, client_address)
        except RuntimeError as exc:  # can't start new thread
            self._ended(request)
            self.reject("no_threads", "dropped %s: %s", client_address[0], exc)
            self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], HttpsRefused):  # those are logged already
            super().handle_error(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._ended(request)

    def _ended(self, request: socket.socket) -> None:
        with self._slots_lock:
            slot = self._slots.pop(request)
            self._waiting.pop(slot, None)
            if slot.evicted:
                self._leaving -= 1
        if not slot.evicted:  # (an evicted one's place was given away)
            self.admission.release(slot.address)

    @property
    def rejected(self) -> int:
        return self.rejections.total()

    def connection_counts(self) -> Dict[str, int]:
        return {"established": self.admission.active}


def _serve(host: str, port: int, handler: type, name: str,
           tls: Union[ssl.SSLContext, Callable[[], Optional[ssl.SSLContext]], None],
           **limits) -> ThreadingHTTPServer:
    server = _Server((unbracketed(host), port), handler, name, tls, **limits)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name,
                     daemon=True).start()
    return server


# -- the token ---------------------------------------------------------------------------
def master_token(secret: Optional[bytes], work_dir: str) -> str:
    """The master's API token: derived from the cluster secret, else random for this run of
    the master.  Written (mode 0600) to ``TOKEN_FILE`` in its work dir either way, so local
    clients running as the same user can read it."""
    token = api_token(secret) if secret else secrets.token_hex(32)
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, TOKEN_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def ui_link(host: str, port: int, token: str) -> str:
    """The link that opens the web UI in a browser (and signs it in)."""
    return f"{http_scheme()}://{host_port(host, port)}/?token={token}"


# -- the Host header ---------------------------------------------------------------------
def allowed_hosts(bind_host: str, advertise_host: str, extra: Iterable[str] = ()) -> frozenset:
    """Host names the master answers to: its bind and advertised names, this machine's
    name, localhost, and ``extra`` (``*`` turns the check off).  Any IP address literal is
    accepted as well (see ``host_allowed``)."""
    names = {"localhost", bind_host, advertise_host, socket.gethostname(), *extra}
    return frozenset(n.strip().lower().strip("[]").rstrip(".") for n in names if n and n.strip())


def host_allowed(header: Optional[str], names: frozenset) -> bool:
    """Whether a request's ``Host`` header names this master.

    DNS rebinding needs a host *name* (the attacker's, resolving to this machine), so IP
    address literals are safe and all accepted; a name must be one of ``names``.  A request
    without a Host header does not come from a browser.
    """
    if header is None or "*" in names:
        return True
    host = header.strip().lower()
    if host.startswith("["):  # [v6] or [v6]:port
        name, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and port[1:].isdigit())):
            return False
    else:
        name, colon, port = host.partition(":")
        if colon and not port.isdigit():
            return False
    name = name.rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return bool(name) and name in names


# -- the master's port ---------------------------------------------------------------------
def start_http(host: str, port: int, master, secret: Optional[bytes] = None,
               open_reads: bool = False, token: Optional[str] = None,
               hosts: Optional[frozenset] = None, **limits) -> ThreadingHTTPServer:
    """The master's HTTPS port: the web UI, ``/api/v1/`` and ``/metrics``.

    Its certificate is issued by the CA of ``secret`` (the no-secret CA without one) and
    names ``hosts``.  ``token`` defaults to ``master_token(secret, master.work_dir)``;
    ``hosts`` (the names the Host header may give) to this master's.  Everything but ``/metrics`` needs the
    token; with ``open_reads`` reading does not.  The server's ``token`` attribute holds it.
    ``limits`` are ``_Server``'s (``max_connections``, ``per_address``, ``request_timeout``,
    ``response_timeout``).
    """
    token = token or master_token(secret, master.work_dir)
    hosts = hosts if hosts is not None else allowed_hosts(host, master.advertise_host)
    token_bytes = token.encode()
    spark = SparkApi(master)

    class Handler(_Handler):
        allowed_methods = "GET, HEAD, POST"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

        def _handle(self, method: str) -> None:
            try:
                self._route(method)
            except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
                # the client hung up, or stopped reading, while it was answered: its own
                # doing (a tab closed mid-poll), not an error of the master's
                log.debug("HTTP %s %r: the client went away: %s", method,
                          _without_token(self.path[:200]), exc)
            except Exception:  # a bug of ours: answer, and keep serving everyone else
                log.exception("HTTP %s %r failed", method, _without_token(self.path[:200]))
                try:
                    self._json(500, {"error": "internal error (see the master's log)"})
                except OSError:
                    pass

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path.rstrip("/") or "/"
            if path == "/metrics" and method == "GET":  # open, for Prometheus (any Host)
                return self._metrics()
            if not host_allowed(self.headers.get("Host"), hosts) or \
                    not self.path.startswith("/") and not _authority_allowed(url, hosts):
                return self._json(403, {"error": "this master does not answer to that Host "
                                                 "header (add the name with --ui-allowed-hosts)"})
            origin = self.headers.get("Origin")
            if method == "POST" and origin is not None and \
                    urlsplit(origin).netloc.lower() != (self.headers.get("Host") or "").lower():
                return self._json(403, {"error": "cross-origin request refused"})
            query = parse_qsl(url.query, keep_blank_values=True)
            page = _ui_file(path)
            if method == "GET" and page is not None:
                if any(k == "token" for k, _ in query):
                    return self._sign_in(path, query)
                with open(os.path.join(UI_DIR, page), "rb") as fh:  # no data: no token needed
                    return self._send(200, UI_FILES[page], fh.read(),
                                      [("Content-Security-Policy", UI_POLICY)])
            verdict = self._credentials(query if method == "GET" else ())
            if verdict == "malformed":
                return self._json(400, {"error": "malformed Authorization header"})
            if verdict != "ok" and not (open_reads and method == "GET"):
                if method == "GET" and not path.startswith("/api/"):
                    return self._send(401, "text/html; charset=utf-8", _NO_TOKEN_PAGE)
                if verdict == "wrong":  # sent, but not this master's: another's, or old
                    return self._json(401, {"error": "that token is not this master's (another "
                                                     "master's, or from before its secret "
                                                     "changed): vega status --token prints it"})
                return self._json(401, {"error": "send Authorization: Bearer <token> "
                                                 "(vega status --token prints it)"})
            path = decoded_path(path)
            if path is None:
                return self._json(400, {"error": "an encoded / (%2F) in a path segment is "
                                                 "ambiguous: write / or leave it out"})
            if method == "POST":
                return self._post(path)
            if _KILL_PATH.match(path):
                return self._wrong_method(path, "POST")
            answer = spark.get(path, url.query)
            if answer is not None:
                return self._json(*answer)
            self._get(path)

        # -- authentication ---------------------------------------------------------
        def _credentials(self, query=()) -> str:
            """ok, missing, wrong or malformed: the Authorization header if there is one,
            else a ``?token=`` in the query (of a GET).  No cookie: a browser sends a
            host's cookies to every port of it, so any HTTPS server another user runs on
            the same host would get it (the UI keeps the token in its origin's storage)."""
            header = self.headers.get("Authorization")
            if header is not None:
                raw = _ascii(header)
                if raw is None:
                    return "malformed"
                scheme, _, value = raw.strip().partition(b" ")
                if scheme.lower() != b"bearer":
                    return "wrong"
                return "ok" if hmac.compare_digest(value.strip(), token_bytes) else "wrong"
            given = next((v for k, v in query if k == "token"), None)
            if given is None:
                return "missing"
            raw = _ascii(given)
            return "ok" if raw is not None and hmac.compare_digest(raw, token_bytes) else "wrong"

        def _sign_in(self, path: str, query: list) -> None:
            """``?token=`` on a page of the UI: a right one redirects to the same URL with
            the token moved to the fragment (``#token=``), which the page's script keeps
            in its origin's storage (scheme, host and port: no other server of the host
            sees it) and drops from the address; a wrong one is refused."""
            given = _ascii(next(v for k, v in query if k == "token"))
            if given is None or not hmac.compare_digest(given, token_bytes):
                return self._json(401, {"error": "wrong token (vega status --token prints it)"})
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            if not _LOCAL_PATH.match(path):  # "//host" or "/\\host": another site to a browser
                path = "/"
            location = path + (f"?{rest}" if rest else "") + f"#token={token}"
            self._send(303, "text/plain; charset=utf-8", b"signed in\n", [("Location", location)])

        # -- endpoints -----------------------------------------------------------------
        def _metrics(self) -> None:
            from prometheus_client.exposition import CONTENT_TYPE_LATEST

            from .metrics import metrics_text

            self._send(200, CONTENT_TYPE_LATEST, metrics_text(master, self.server))

        def _get(self, path: str) -> None:
            if path == "/api/v1/status":
                return self._json(200, master.status())
            if path == "/api/v1/applications":
                return self._json(200, master.status()["applications"])
            if path.startswith("/api/v1/applications/"):
                return self._application(path[len("/api/v1/applications/"):])
            if path == "/api/v1/history":
                return self._json(200, master.history())
            if path.startswith("/api/v1/history/"):
                app_id = path[len("/api/v1/history/"):]
                summary = master.history_of(app_id) if _APP_ID.match(app_id) else None
                if summary is None:
                    return self._json(404, {"error": "no event log for that application"})
                return self._json(200, summary)
            self._json(404, {"error": "not found"})

        def _application(self, rest: str) -> None:
            app_id, _, action = rest.partition("/")
            if not _APP_ID.match(app_id) or action not in ("", "logs", "output"):
                return self._json(404, {"error": "not found"})
            if action == "logs":  # Spark's: the event log, as a zip file
                archive = spark.event_logs_zip(app_id)
                if archive is None:
                    return self._json(404, {"error": f"no event log of {app_id} on this "
                                                     "master"})
                with archive:
                    return self._send_file(200, "application/octet-stream", archive, [
                        ("Content-Disposition", f"attachment; filename=eventLogs-{app_id}.zip")])
            if action == "output":
                text = master.application_output(app_id)
                if text is None:
                    return self._json(404, {"error": f"no application {app_id}"})
                return self._send(200, "text/plain; charset=utf-8", text.encode())
            detail = master.application_detail(app_id)
            if detail is None:
                return self._json(404, {"error": f"no application {app_id}"})
            self._json(200, detail)

        def _wrong_method(self, path: str, allowed: str) -> None:
            """405 for a method ``path`` does not answer (POST .../status, a GET of a kill),
            with the ones it does (``Allow``), as Spark's REST server answers it."""
            self._json(405, {"error": f"method {self.command} is not allowed on {path}: it "
                                      f"answers {allowed}"}, [("Allow", allowed)])

        def _post(self, path: str) -> None:
            prefix, suffix = "/api/v1/applications/", "/kill"
            app_id = path[len(prefix):-len(suffix)]
            if not (path.startswith(prefix) and path.endswith(suffix) and _APP_ID.match(app_id)):
                if _GET_PATH.match(path) and not _KILL_PATH.match(path):
                    return self._wrong_method(path, "GET, HEAD")
                return self._json(404, {"error": "not found"})
            if master.kill(app_id, "through the HTTP API"):
                return self._json(200, {"killed": True, "id": app_id})
            self._json(404, {"killed": False, "id": app_id,
                             "error": f"{app_id} is not a running application or cluster-mode "
                                      "driver: GET /api/v1/status lists them"})

    server = _serve(host, port, Handler, "master-http",
                    functools.partial(http_server_context, secret, hosts), **limits)
    server.token = token
    return server


def _without_token(target: str) -> str:
    """A request target (or request line) as a log may show it: the value of a query field
    whose name, percent-decoded as ``parse_qsl`` decodes it, holds ``token`` left out.

    >>> _without_token("/api/v1/status?a=1&token=3f9c&b=2")
    '/api/v1/status?a=1&token=...&b=2'
    >>> _without_token("GET /?%74oken=3f9c&t%4fKEN=3f9c HTTP/1.1")
    'GET /?%74oken=...&t%4fKEN=... HTTP/1.1'
    """
    return _QUERY_FIELD.sub(lambda m: m[1] + "=..." if "token" in unquote_plus(m[1][1:]).lower()
                            else m[0], target)


#: ``?NAME=VALUE`` or ``&NAME=VALUE`` (a ``;`` too) in a request target or line
_QUERY_FIELD = re.compile(r"([?&;][^=&;#\s]*)=[^&;#\s]*")


def _ui_file(path: str) -> Optional[str]:
    """The UI file (a name of ``UI_FILES``) a path names, or None."""
    name = "index.html" if path in ("/", "/index.html") else path[len("/ui/"):] \
        if path.startswith("/ui/") else ""
    return name if name in UI_FILES else None


def _authority_allowed(url, names: frozenset) -> bool:
    """Whether an absolute-form request target (``GET https://HOST/path``, which HTTP/1.1
    says a server must take, its authority then standing for the Host header) names this
    master: it is checked as the Host header is."""
    return url.scheme.lower() in ("http", "https") and bool(url.netloc) and \
        host_allowed(url.netloc.rpartition("@")[2], names)


def decoded_path(raw: str) -> Optional[str]:
    """A request's path with its segments percent-decoded, as Spark's REST API takes them
    (``app%2D1`` is ``app-1``); None when a segment holds an encoded ``/`` (``%2F``), which
    Spark's server refuses as ambiguous.

    >>> decoded_path("/api/v1/applications/app%2D1/jobs")
    '/api/v1/applications/app-1/jobs'
    >>> decoded_path("/api/v1/applications/app-1%2Fjobs") is None
    True
    """
    if "%2f" in raw.lower():
        return None
    return unquote(raw)


def _ascii(text: str) -> Optional[bytes]:
    """A header value as bytes, or None if it is not printable ASCII."""
    if any(not " " <= c <= "~" for c in text):
        return None
    return text.encode("ascii")


def start_metrics_http(host: str, port: int, collector, secret: Optional[bytes] = None,
                       hosts: Iterable[str] = (), **limits) -> ThreadingHTTPServer:
    """A small HTTPS server answering ``/metrics`` from one collector (workers), with a
    certificate of the CA of ``secret`` naming ``host`` and ``hosts``; ``limits`` as
    ``start_http``'s."""
    class Handler(_Handler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            from prometheus_client.exposition import CONTENT_TYPE_LATEST

            from .metrics import registry_text

            if urlsplit(self.path).path.rstrip("/") != "/metrics":  # (a query is fine)
                return self._json(404, {"error": "not found"})
            self._send(200, CONTENT_TYPE_LATEST, registry_text(collector))

    server = _serve(host, port, Handler, "metrics-http",
                    functools.partial(http_server_context, secret,
                                      (host, socket.gethostname(), *hosts)), **limits)
    if hasattr(collector, "http"):  # a collector that reports its HTTP server's connections
        collector.http = server
    return server
