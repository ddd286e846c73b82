"""Which address a process tells others to reach it at."""

from __future__ import annotations

import os
import socket
from typing import Optional

from .endpoints import address_family
from .server import is_loopback


def advertise_address(explicit: Optional[str], peer_host: str) -> str:
    """``--host`` if given, else ``VEGA_LOCAL_IP``, else the local address that routes to
    ``peer_host`` (loopback only when the peer is on loopback too; of the peer's family)."""
    if explicit:
        return explicit
    if os.environ.get("VEGA_LOCAL_IP"):
        return os.environ["VEGA_LOCAL_IP"]
    family = address_family(peer_host)
    if is_loopback(peer_host):
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"
    probe = socket.socket(family, socket.SOCK_DGRAM)
    try:
        probe.connect((peer_host, 9))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        address = socket.gethostbyname(socket.gethostname())
    finally:
        probe.close()
    return address
