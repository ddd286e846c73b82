"""The identifiers Vega processes exchange, each with its one pattern.

Several of them become file names (``<work_dir>/packages/<sha256>.zip``,
``<work_dir>/apps/<app_id>/output.log``, ``<work_dir>/<app_id>/<executor_id>.log``),
so what a peer sends is checked against these patterns before it touches a path:
``net/messages.py`` refuses a message whose id fields do not match (a protocol
error: the peer is dropped), and the functions that build paths check again
(``check``).  Every pattern starts with a fixed prefix and has no ``/``, no NUL
and no leading dot, so a valid id is always one plain name inside its directory.

>>> PACKAGE.matches("0" * 64), PACKAGE.matches("../../outside")
(True, False)
>>> APP.matches("app-20261203083328-0001"), APP.matches("app-20261203083328-0001/../x")
(True, False)
"""

from __future__ import annotations

import os
import re
import time
from typing import Optional

from .errors import InvalidIdentifier
from .records import FrozenRecord


class IdKind(FrozenRecord):
    """One kind of identifier: a name for messages and its full-match pattern."""
    name: str
    pattern: str
    example: str
    #: "" is accepted too (an optional field: no package, a new application)
    allow_empty: bool

    def __init__(self, name, pattern, example, allow_empty=False):
        setattr = object.__setattr__
        setattr(self, "name", name)
        setattr(self, "pattern", pattern)
        setattr(self, "example", example)
        setattr(self, "allow_empty", allow_empty)

    def matches(self, value) -> bool:
        if not isinstance(value, str):
            return False
        if value == "" and self.allow_empty:
            return True
        return _compiled(self.pattern).fullmatch(value) is not None

    def check(self, value) -> str:
        """``value`` itself, or ``InvalidIdentifier`` when it does not match."""
        if not self.matches(value):
            raise InvalidIdentifier(self.name, value, self.example)
        return value

    def or_empty(self) -> "IdKind":
        return IdKind(self.name, self.pattern, self.example, allow_empty=True)


_PATTERNS: dict = {}


def path_inside(path: str, directory: str) -> Optional[str]:
    """``path`` resolved (symbolic links followed) if it is below ``directory`` (resolved
    too: a directory reached through a link is still itself), else None.  Paths a peer
    names (a shuffle block, a broadcast, a cluster-mode driver's job file) are read only
    from where they belong; one holding NUL names no file at all (None, where
    ``os.path.realpath`` would raise ValueError).

    >>> path_inside("/srv/work/app-1/shuffle_0_0_0.data", "/srv/work")
    '/srv/work/app-1/shuffle_0_0_0.data'
    >>> path_inside("/srv/work/../secret", "/srv/work"), path_inside("/srv/work/a\\0", "/srv/work")
    (None, None)
    """
    if "\0" in path or "\0" in directory:
        return None
    real = os.path.realpath(path)
    return real if real.startswith(os.path.realpath(directory) + os.sep) else None


def _compiled(pattern: str):
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(pattern, re.ASCII)
    return _PATTERNS[pattern]


_STAMP = r"\d{14}"  # time.strftime("%Y%m%d%H%M%S")

#: A job package: the sha256 of its zip, as ``hashlib.sha256().hexdigest()`` spells it.
PACKAGE = IdKind("package id", r"[0-9a-f]{64}", "64 lowercase hex digits (a sha256)")
#: An application: ``app-<stamp>-<n>``; a Context makes its own with 4 random hex digits,
#: which a master takes, unless it knows it already: then it numbers it (0001, 0002, ...:
#: more digits past 9999).
APP = IdKind("application id", rf"app-{_STAMP}-[0-9a-f]{{4,12}}", "app-20261203083328-0001")


def numbered_app_id(now: float, number: int) -> str:
    """The master's id of its ``number``-th application, as Spark's master numbers them.

    >>> APP.matches(numbered_app_id(0.0, 1)), numbered_app_id(0.0, 12345)[-6:]
    (True, '-12345')
    """
    return time.strftime("app-%Y%m%d%H%M%S-", time.localtime(now)) + f"{number:04d}"


def new_context_id(now: float, hex_digits: int = 4) -> str:
    """The id a Context makes itself at ``now``: ``app-<stamp>-`` and random hex digits (4,
    as Spark's 4-digit numbers; more when those of its second are taken, up to 12).

    >>> APP.matches(new_context_id(0.0)), len(new_context_id(0.0, 8))
    (True, 27)
    """
    return time.strftime("app-%Y%m%d%H%M%S-", time.localtime(now)) + \
        os.urandom(hex_digits // 2).hex()


#: A cluster-mode driver, numbered by the master: ``driver-<stamp>-<n>``.
DRIVER = IdKind("driver id", rf"driver-{_STAMP}-[0-9]{{4,12}}", "driver-20261203083328-0001")
#: What ``vega logs`` and ``vega kill`` accept: an application or a driver.
APP_OR_DRIVER = IdKind("application or driver id",
                       rf"(?:app-{_STAMP}-[0-9a-f]{{4,12}}|driver-{_STAMP}-[0-9]{{4,12}})",
                       "app-20261203083328-0001 or driver-20261203083328-0001")
#: The PYTHONHASHSEED of an application's executors: a fixed seed, never "random"; Python
#: takes 0 to 4294967295 (2**32 - 1): up to nine digits, or ten up to it
HASH_SEED = IdKind("hash seed", r"(?:[0-9]{1,9}|[0-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}"
                   r"|429[0-3][0-9]{6}|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}"
                   r"|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-5])", "0")
#: An executor of an application, numbered from 1: ``exec-<n>``.
EXECUTOR = IdKind("executor id", r"exec-[0-9]{1,9}", "exec-1")
#: A worker: ``worker-<stamp>-<advertised host>-<shuffle port>``; the host is a name or an
#: IPv4/IPv6 address (with a zone: ``fe80::1%eth0``).
WORKER = IdKind("worker id", rf"worker-{_STAMP}-[A-Za-z0-9._:%\[\]-]{{1,255}}-[0-9]{{1,5}}",
                "worker-20261203083328-10.0.0.7-40123")
