"""What the NameNode and the DataNode handlers share: parsing a WebHDFS request, running it,
and replying with JSON or Hadoop's ``RemoteException``."""

from __future__ import annotations

import http.server
import json
import logging
import sys
import urllib.parse
from typing import Optional, Tuple

from .body import IO_CHUNK, BodyError, RequestBody
from .errors import RemoteException
from .params import Params

__all__ = ["Handler", "PREFIX", "PATH_SAFE"]

log = logging.getLogger(__name__)

PREFIX = "/webhdfs/v1"
#: Characters a path keeps unquoted in a Location header.
PATH_SAFE = "/!$&'()*+,;=:@-._~"


class Handler(http.server.BaseHTTPRequestHandler):
    """A WebHDFS request: ``handle_webhdfs`` of a subclass does the work; errors become
    ``RemoteException`` replies, and the request body is dealt with either way."""

    protocol_version = "HTTP/1.1"
    server_version = "VegaWebHDFS/1.0"
    timeout = 60            # an idle keep-alive connection, or a stalled peer, is dropped
    disable_nagle_algorithm = True   # headers and body go in separate writes
    role = ""
    json_type = "application/json"

    # per request

    def parse_request(self) -> bool:
        self._expects_continue = False
        self._started = False
        self._chunk = IO_CHUNK
        if not super().parse_request():
            return False
        self.body = RequestBody(self.rfile, self.headers, self._expects_continue,
                                self._send_continue)
        return True

    def handle_expect_100(self) -> bool:
        # Answered only when the body is wanted (see RequestBody).
        self._expects_continue = True
        return True

    def _send_continue(self) -> None:
        self.send_response_only(100)
        self.end_headers()

    def send_response(self, code, message=None):
        self._started = True
        super().send_response(code, message)

    def log_message(self, format, *args):
        if self.server.owner.log_requests:
            sys.stderr.write(f"[webhdfs {self.role}] {self.address_string()} - "
                             f"{format % args}\n")

    def do_GET(self):
        self._serve("GET")

    def do_PUT(self):
        self._serve("PUT")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            url = urllib.parse.urlsplit(self.path)
            if url.path != PREFIX and not url.path.startswith(PREFIX + "/"):
                self.discard_body()
                self.send(404, f"Not Found: WebHDFS paths start with {PREFIX}/\n".encode(),
                          "text/plain; charset=utf-8")
                return
            try:
                raw_path = urllib.parse.unquote(url.path[len(PREFIX):], errors="strict")
            except UnicodeDecodeError:
                raise RemoteException("InvalidPathException",
                                      f"Invalid path name {url.path[len(PREFIX):]}") from None
            self.handle_webhdfs(method, raw_path, Params(url.query), url.query)
            self.discard_body()   # a body nobody wanted (a GET with one) must not be parsed
        except RemoteException as err:
            self._fail(err)
        except BodyError as err:
            self.close_connection = True
            self._fail(RemoteException("IllegalArgumentException", str(err)))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except OSError as err:
            self._fail(RemoteException("IOException", str(err)))
        except Exception as err:   # a bug here must not take the server down
            log.exception("webhdfs %s: %s %s failed", self.role, method, self.path)
            self._fail(RemoteException("RuntimeException", f"{type(err).__name__}: {err}"))

    def handle_webhdfs(self, method: str, raw_path: str, params: Params, query: str) -> None:
        raise NotImplementedError

    # request bodies

    def read_body(self):
        """The request body in pieces of at most ``self._chunk`` bytes, read as they come."""
        return self.body.read(self._chunk)

    def discard_body(self) -> None:
        if not self.body.discard(self._chunk):
            self.close_connection = True

    # replies

    def send(self, status: int, body: bytes = b"", content_type: Optional[str] = None,
             headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_json(self, status: int, document: dict) -> None:
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
        self.send(status, body, self.json_type,
                  (("Cache-Control", "no-cache"), ("Pragma", "no-cache")))

    def _fail(self, err: RemoteException) -> None:
        if self._started:        # mid-reply: all that can be said is to hang up
            self.close_connection = True
            return
        try:
            self.discard_body()
            self.send_json(err.status, err.to_json())
        except OSError:
            self.close_connection = True
