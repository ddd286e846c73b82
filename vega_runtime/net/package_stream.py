"""Job packages in transit: a header message (``UploadPackage``, ``PackageData``) saying how
many bytes follow, then the bytes as ``PackageChunk`` messages, written to a file and
hashed as they arrive.

A package travelled as one frame before: ~56 MB/s up and ~72 MB/s down on loopback for
300 MB (each copy of a whole package in fresh memory cost ~0.5 s: reading it, packing the
frame, joining what arrived, unpacking it), memory for several copies on each side, and
none past the 1 GiB frame limit.  In chunks each side holds one chunk, and a package may
be as large as the disks it lands on.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Optional

from .framing import ProtocolError

#: bytes per ``PackageChunk``: large enough that the per-message work (a frame's header,
#: msgpack, the lock) is noise next to encrypting it, small enough that its copies stay in
#: memory already touched
CHUNK = 1 << 20


def send_file(conn, fh: BinaryIO, size: int) -> None:
    """Send the ``size`` bytes ``fh`` reads as ``PackageChunk`` messages; ``OSError`` if the
    file ends before (it changed since it was measured)."""
    from .cluster_messages import PackageChunk

    left = size
    while left:
        data = fh.read(min(CHUNK, left))
        if not data:
            raise OSError(f"{getattr(fh, 'name', 'the package')} ended {left} bytes before "
                          f"its {size}: it changed while it was sent")
        conn.send(PackageChunk(data))
        left -= len(data)


def receive_file(conn, size: int, out: Optional[BinaryIO]) -> tuple:
    """Read the ``size`` bytes that follow on ``conn`` as ``PackageChunk`` messages into
    ``out``; ``(sha256 hex digest, OSError or None)``.  A write that fails (a full disk) is
    returned, not raised, once the rest is read: the sender, still sending, is then answered
    in turn.  ``out`` None: the bytes are read and dropped.  ``ProtocolError`` for any other
    message, or bytes past ``size``; ``ConnectionClosed`` for a sender gone before the end
    (a truncated package is never taken for a whole one)."""
    from .cluster_messages import PackageChunk

    if size < 0:
        raise ProtocolError(conn.peer, f"a package of {size} bytes")
    digest, left, failed = hashlib.sha256(), size, None
    while left:
        message = conn.recv()
        if not isinstance(message, PackageChunk):
            raise ProtocolError(conn.peer, f"{type(message).__name__} in a package's bytes, "
                                           f"{left} of its {size} still to come")
        data = message.data
        if len(data) > left:
            raise ProtocolError(conn.peer, f"a package of {size} bytes sent more")
        if not data:  # (empty chunks would hold this thread for ever, the package no nearer)
            raise ProtocolError(conn.peer, f"an empty chunk, {left} of {size} bytes to come")
        left -= len(data)
        digest.update(data)
        if out is not None and failed is None:
            try:
                out.write(data)
            except OSError as exc:
                failed = exc
    if out is not None and failed is None:
        try:
            out.flush()
        except OSError as exc:
            failed = exc
    return digest.hexdigest(), failed
