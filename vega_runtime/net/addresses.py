"""Which address a process tells others to reach it at."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import List, Optional

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


def resolved_addresses(host: str) -> List[str]:
    """The addresses ``host`` resolves to here ([] when it does not resolve).

    >>> resolved_addresses("127.0.0.1"), resolved_addresses("no-such-host.invalid")
    (['127.0.0.1'], [])
    """
    try:
        resolved = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(sockaddr[0].split("%")[0] for *_, sockaddr in resolved))


def loopback_resolution(host: str) -> List[str]:
    """The addresses ``host`` resolves to here when each one is a loopback address (a name
    Debian's /etc/hosts maps to 127.0.1.1, ``localhost``, ``127.0.0.1``: a daemon named so
    listens where no other machine reaches it), else [] (also when it does not resolve:
    whoever uses it says so).

    >>> loopback_resolution("127.0.1.1"), loopback_resolution("10.0.0.7")
    (['127.0.1.1'], [])
    """
    addresses = resolved_addresses(host)
    if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return addresses
    return []


def reachable_instead(host: str, peer_host: str) -> Optional[str]:
    """The address to advertise (and listen on) instead of ``host`` when ``host`` resolves
    here to loopback addresses only while the peer is elsewhere, where it could never reach
    it: VEGA_LOCAL_IP, else the address of the interface that routes to ``peer_host``
    (Spark's ``Utils.findLocalInetAddress`` does the same); None when ``host`` is fine.

    >>> reachable_instead("10.0.0.7", "10.0.0.1"), reachable_instead("127.0.1.1", "127.0.0.1")
    (None, None)
    """
    if is_loopback(peer_host) or not loopback_resolution(host):
        return None
    instead = advertise_address(None, peer_host)  # (VEGA_LOCAL_IP may be a name)
    return None if loopback_resolution(instead) else instead


def bind_refusal(exc: OSError, port: int) -> str:
    """What to do about ``exc``, the refusal of a listening socket on ``port``: a port in
    use, or one below 1024, which only root (or CAP_NET_BIND_SERVICE) may take; else ''.

    >>> bind_refusal(PermissionError(errno.EACCES, "Permission denied"), 80)[:52]
    'Ports below 1024 are for root (or a process granted '
    """
    if exc.errno == errno.EADDRINUSE:
        return ("Another process already listens on that port (a daemon left running? "
                "'ss -ltnp' names it): stop it, or give this one another port.")
    if exc.errno == errno.EACCES and 0 < port < 1024:
        return ("Ports below 1024 are for root (or a process granted CAP_NET_BIND_SERVICE): "
                "give this one a port of 1024 or above (0: any free port).")
    return ""
