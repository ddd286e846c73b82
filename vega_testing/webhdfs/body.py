"""Request bodies, streamed: ``Content-Length`` or ``Transfer-Encoding: chunked`` framing,
``Expect: 100-continue``, and draining what nobody read so a connection can be reused."""

from __future__ import annotations

import re
from typing import BinaryIO, Callable, Iterator, Tuple

__all__ = ["RequestBody", "BodyError", "IO_CHUNK", "MIN_IO_CHUNK", "MAX_IO_CHUNK"]

#: Bytes read or written at a time; ``buffersize`` may choose another size within the bounds.
IO_CHUNK = 64 * 1024
MIN_IO_CHUNK, MAX_IO_CHUNK = 4 * 1024, 1024 * 1024
#: Request bytes read and dropped before an error reply; past that the connection is closed.
DRAIN_LIMIT = 64 * 1024 * 1024
MAX_LINE = 1024                 # longest chunk-size or trailer line of a chunked body


class BodyError(Exception):
    """The request body is malformed or ended early; the connection cannot be reused."""


class RequestBody:
    """The body of one request, read as it comes.

    ``send_continue`` answers a client that sent ``Expect: 100-continue``; it is called
    only when the body is wanted, so a refused write costs the client no upload.

    >>> import io
    >>> body = RequestBody(io.BytesIO(b"5;ext=1\\r\\nhello\\r\\n0\\r\\n\\r\\n"),
    ...                    {"Transfer-Encoding": "chunked"}, False, lambda: None)
    >>> list(body.read(4)), body.state
    ([b'hell', b'o'], 'done')
    """

    def __init__(self, rfile: BinaryIO, headers, expects_continue: bool,
                 send_continue: Callable[[], None]):
        self._rfile = rfile
        self._headers = headers
        self._expects_continue = expects_continue
        self._send_continue = send_continue
        self._continue_sent = False
        self.state = "unread"      # unread | reading | done

    def framing(self) -> Tuple[str, int]:
        """("chunked", -1) or ("length", Content-Length); a missing length is 0."""
        encoding = self._headers.get("Transfer-Encoding")
        if encoding is not None:
            if [c.strip().lower() for c in encoding.split(",") if c.strip()] == ["chunked"]:
                return "chunked", -1
            raise BodyError(f"Unsupported Transfer-Encoding: {encoding}")
        length = self._headers.get("Content-Length")
        if length is None:
            return "length", 0
        if not length.strip().isdigit():
            raise BodyError(f"Invalid Content-Length: {length}")
        return "length", int(length)

    def read(self, chunk: int) -> Iterator[bytes]:
        """The body in pieces of at most ``chunk`` bytes."""
        framing, length = self.framing()
        self.state = "reading"
        if self._expects_continue and (framing == "chunked" or length > 0):
            self._send_continue()
            self._continue_sent = True
        yield from self._chunked(chunk) if framing == "chunked" else self._exactly(length, chunk)
        self.state = "done"

    def _pieces(self, length: int, chunk: int, truncated: Callable[[int], str]) -> Iterator[bytes]:
        remaining = length
        while remaining:
            data = self._rfile.read(min(chunk, remaining))
            if not data:
                raise BodyError(truncated(length - remaining))
            remaining -= len(data)
            yield data

    def _exactly(self, length: int, chunk: int) -> Iterator[bytes]:
        yield from self._pieces(length, chunk, lambda got: f"Request body ended after {got} of "
                                                           f"{length} bytes")

    def _chunked(self, chunk: int) -> Iterator[bytes]:
        while True:
            line = self._rfile.readline(MAX_LINE + 1)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size):
                raise BodyError("Malformed chunked request body: bad chunk size line")
            if int(size, 16) == 0:
                break
            yield from self._pieces(int(size, 16), chunk,
                                    lambda _: "Malformed chunked request body: truncated chunk")
            if self._rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise BodyError("Malformed chunked request body: chunk not followed by CRLF")
        for _ in range(100):     # trailer fields, then the empty line
            line = self._rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return
            if not line.endswith(b"\n"):
                break
        raise BodyError("Malformed chunked request body: bad trailer")

    def discard(self, chunk: int) -> bool:
        """Read and drop an unread body, so the connection can carry the next request.  False
        when the connection must close instead: a body already half read, too big, never sent
        (the client waits for 100 Continue) or malformed."""
        if self.state == "done":
            return True
        if self.state == "reading":
            return False
        try:
            framing, length = self.framing()
            if framing == "length" and length == 0:
                self.state = "done"
                return True
            if (self._expects_continue and not self._continue_sent) or length > DRAIN_LIMIT:
                return False
            total = 0
            for piece in self.read(chunk):
                total += len(piece)
                if total > DRAIN_LIMIT:
                    return False
            return True
        except (BodyError, OSError):
            return False
