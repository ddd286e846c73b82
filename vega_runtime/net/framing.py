"""Frames: a 4-byte big-endian length, then a msgpack map with a ``type`` field."""

from __future__ import annotations

import socket
import struct


import msgpack

from ..config_limits import FRAME_LIMIT as DEFAULT_MAX_FRAME
from ..errors import VegaError

HEADER = struct.Struct(">I")


class ProtocolError(VegaError):
    """A peer sent something that is not a valid frame; the connection is dropped."""

    def __init__(self, peer: str, problem: str):
        super().__init__(peer, problem)
        self.peer, self.problem = peer, problem

    def __str__(self) -> str:
        return f"protocol error from {self.peer}: {self.problem}"


class ConnectionClosed(VegaError):
    def __init__(self, peer: str):
        super().__init__(peer)
        self.peer = peer

    def __str__(self) -> str:
        return f"connection to {self.peer} closed"


def set_send_timeout(sock: socket.socket, seconds: float, receive: bool = False) -> None:
    """Make a blocking socket's sends fail (BlockingIOError) after ``seconds`` without
    progress; its receives still block for as long as it takes, unless ``receive``."""
    whole = int(seconds)
    value = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    if receive:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)


#: how a frame's strings are encoded and decoded: UTF-8, letting lone surrogates through, so
#: that text Python holds with them arrives as it was (a file name of bytes that are not
#: UTF-8, decoded with ``surrogateescape``, in a task's error: its executor died with a
#: UnicodeEncodeError sending it, and the task was retried as lost; an application name)
UNICODE_ERRORS = "surrogatepass"


def encode_frame(message: dict) -> bytes:
    body = msgpack.packb(message, use_bin_type=True, unicode_errors=UNICODE_ERRORS)
    return HEADER.pack(len(body)) + body


def send_frame(sock: socket.socket, message: dict) -> None:
    sock.sendall(encode_frame(message))


def recv_some(sock: socket.socket, view: memoryview, patient: bool) -> int:
    """``sock.recv_into(view)``; when ``patient``, a timeout (the socket's timeout is there
    for its sends) is waited out: nothing was consumed, so the read is simply retried."""
    while True:
        try:
            return sock.recv_into(view, len(view))
        except socket.timeout:
            if not patient:
                raise


def recv_exactly(sock: socket.socket, n: int, peer: str, patient: bool = False) -> bytes:
    """Read n bytes; memory grows with what actually arrives (1 MiB at a time), not with
    what a peer claims.  Works on TLS sockets too (whose reads end at a 16 KiB record)."""
    chunks, got = [], 0
    while got < n:
        chunk = memoryview(bytearray(min(n - got, 1 << 20)))
        filled = 0
        while filled < len(chunk):
            read = recv_some(sock, chunk[filled:], patient)
            if read == 0:
                raise ConnectionClosed(peer)
            filled += read
        chunks.append(chunk.obj)
        got += filled
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def recv_frame(sock: socket.socket, peer: str = "peer",
               max_frame: int = DEFAULT_MAX_FRAME, patient: bool = False) -> dict:
    """Read one frame; ProtocolError for oversized or malformed ones.  ``patient``: wait
    out socket timeouts (a server's connections have one for their sends)."""
    (length,) = HEADER.unpack(recv_exactly(sock, HEADER.size, peer, patient))
    if length > max_frame:
        raise ProtocolError(peer, f"frame of {length} bytes exceeds the limit of {max_frame}")
    body = recv_exactly(sock, length, peer, patient)
    return decode_body(body, peer)


#: What a frame's maps and arrays may hold, counted together with their entries: this many,
#: plus one for each ``BYTES_PER_ITEM`` bytes of the frame.  Bulk data (records, code,
#: results, packages, event lines) travels as byte and text strings, which decode to about
#: their size; a map or an array costs ~60 bytes of Python and an entry 8 or more, so a frame
#: of a million empty maps would decode into ~70 times its size.  A frame is refused once it
#: is past the count, having decoded no more than twice it.  (A frame can hold no more items
#: than it has bytes, so one under ~1 MiB is never counted.)
FRAME_ITEMS, BYTES_PER_ITEM = 1 << 20, 64


class _TooManyItems(Exception):
    pass


def decode_body(body: bytes, peer: str) -> dict:
    limit = FRAME_ITEMS + len(body) // BYTES_PER_ITEM
    try:
        if len(body) <= limit:
            message = msgpack.unpackb(body, raw=False, strict_map_key=False,
                                      unicode_errors=UNICODE_ERRORS)
        else:
            message = _decode_counted(body, limit, peer)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(peer, f"malformed msgpack ({type(exc).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(peer, "a frame must be a map with a string 'type'")
    return message




def _decode_counted(body: bytes, limit: int, peer: str):
    """``unpackb``, refusing a frame whose maps, arrays and entries add up to more than
    ``limit`` (one map or array over it is refused at its header, before it is made)."""
    count = 0

    def counted(container):
        nonlocal count
        count += len(container) + 1
        if count > limit:
            raise _TooManyItems()
        return container

    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False, object_hook=counted,
                               list_hook=counted, max_array_len=limit, max_map_len=limit,
                               unicode_errors=UNICODE_ERRORS)
    except (_TooManyItems, ValueError) as exc:
        if isinstance(exc, ValueError) and "exceeds max_" not in str(exc):
            raise
        raise ProtocolError(peer, f"a frame of {len(body)} bytes holds more maps, arrays and "
                                  f"their entries than the {limit} it may (bulk data must "
                                  "travel as byte strings)") from None
