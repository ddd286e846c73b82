"""Asking a master for its status document (what ``vega status --json`` prints), in one place."""

from __future__ import annotations

import json
from typing import Optional

from .connection import Connection
from .framing import ConnectionClosed, ProtocolError
from .messages import RequestStatus, StatusReply


def fetch_master_status(host: str, port: int, secret: bytes, timeout: float = 5.0,
                        reply_timeout: Optional[float] = None) -> dict:
    """The status document of the master at ``host:port``; raises ``OSError`` or
    ``ProtocolError`` (a closed connection, a wrong secret, an unexpected reply) when it
    cannot be had.  ``timeout``: for the connection; ``reply_timeout``: for the answer
    (``TimeoutError`` past it; None: no bound)."""
    conn = Connection.connect(host, port, secret, timeout=timeout)
    try:
        conn.send(RequestStatus())
        reply = conn.recv() if reply_timeout is None else conn.recv_within(reply_timeout)
    except ConnectionClosed:  # a Vega port that is not a master's dropped the request
        raise ProtocolError(f"{host}:{port}", "it closed the connection instead of answering "
                                              "with its status: is this a master's RPC port "
                                              "(not a worker's shuffle port or a driver's)?") \
            from None
    finally:
        conn.close()
    if not isinstance(reply, StatusReply):
        raise ProtocolError(f"{host}:{port}", f"expected StatusReply, got {type(reply).__name__}")
    return json.loads(reply.status_json)
