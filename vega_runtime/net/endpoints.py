"""``host:port`` as text, IPv6 addresses included (``[::1]:7077``, as URLs write them)."""

from __future__ import annotations

import socket
from typing import Tuple


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (RFC 3986), as URLs and peers' names show it.

    >>> host_port("10.0.0.5", 7077), host_port("::1", 7077), host_port("[fe80::1]", 80)
    ('10.0.0.5:7077', '[::1]:7077', '[fe80::1]:80')
    """
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def split_host_port(text: str) -> Tuple[str, int]:
    """``(host, port)`` of ``host:port``, ``[v6]:port`` or a bare ``v6:port`` (the last colon
    ends the address); the host without brackets, as sockets take it.

    >>> split_host_port("node1:7077"), split_host_port("[::1]:40123"), split_host_port("::1:9")
    (('node1', 7077), ('::1', 40123), ('::1', 9))
    """
    host, _, port = text.rpartition(":")
    return unbracketed(host), int(port)


def unbracketed(host: str) -> str:
    """``host`` without the brackets an IPv6 address has in a URL.

    >>> unbracketed("[::1]"), unbracketed("node1")
    ('::1', 'node1')
    """
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def address_family(host: str) -> socket.AddressFamily:
    """The family of sockets that listen on ``host`` (a name or address; ``""``: every IPv4
    interface): IPv6 for an IPv6 address, else IPv4.

    >>> address_family("::"), address_family("0.0.0.0"), address_family("node1")
    (<AddressFamily.AF_INET6: 10>, <AddressFamily.AF_INET: 2>, <AddressFamily.AF_INET: 2>)
    """
    return socket.AF_INET6 if ":" in host else socket.AF_INET


#: ``port_answer``'s answers
REFUSED, ACCEPTED, SILENT = "refused", "accepted", "silent"


def port_answer(host: str, port: int, timeout: float) -> str:
    """How ``host`` answers a TCP connection to ``port``: ``REFUSED`` (its host answered
    and nothing listens there: the process that did has ended), ``ACCEPTED`` (something
    accepted it; closed at once, no handshake is started; a stopped process's socket
    still accepts), or ``SILENT`` (no answer within ``timeout`` seconds, or no route: a
    host down, gone, or cut off by a firewall that drops packets)."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return ACCEPTED
    except ConnectionRefusedError:
        return REFUSED
    except OSError:
        return SILENT


def refuses(host: str, port: int, timeout: float) -> bool:
    """Whether ``host`` refuses a TCP connection to ``port`` (``port_answer``)."""
    return port_answer(host, port, timeout) == REFUSED
