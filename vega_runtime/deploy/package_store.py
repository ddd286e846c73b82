"""Job packages kept by the master: submitters ask for and upload them, workers and
cluster-mode drivers fetch them.  ``<work_dir>/packages/<sha256>.zip``, named by content."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from typing import Callable, Dict, List, Optional, Set

from .. import ids
from ..net.connection import Connection
from ..net.framing import ProtocolError
from ..net.messages import FetchPackage, PackageData, PackageQuery, PackageStatus, UploadPackage
from ..packaging import verify
from ..private_files import set_aside_foreign

log = logging.getLogger(__name__)

#: a package an application's executors may still be fetching: one stored or asked for
#: this many seconds before the application is forgotten is kept (a submitter asks, then
#: uploads, then registers or submits: seconds apart)
WANTED_GRACE = 60.0


class PackageStore:
    def __init__(self, work_dir: str, clock: Callable[[], float] = time.monotonic):
        self.directory = os.path.join(work_dir, "packages")
        # run as they are found (cluster-mode drivers): none another account could have put
        set_aside_foreign(self.directory, "job packages")
        #: held while a package is stored or found and then taken into use (a driver
        #: submitted), and while one is checked unused and removed: neither comes between
        self.lock = threading.RLock()
        #: when each package was last stored or found by a submitter (``clock()``: the
        #: master's, in which it takes the times its users stopped using one)
        self.clock = clock
        self._wanted: Dict[str, float] = {}

    def path(self, sha256: str) -> str:
        """Where the package is; ``InvalidIdentifier`` unless ``sha256`` is a package id
        (messages are checked when decoded: this is the second line)."""
        return os.path.join(self.directory, f"{ids.PACKAGE.check(sha256)}.zip")

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path(sha256))

    def want(self, sha256: str) -> bool:
        """Whether the package is here, for a submitter about to use it: one found is not
        removed for a user who had it before (``remove_unwanted``)."""
        with self.lock:
            found = self.exists(sha256)
            if found:
                self._wanted[sha256] = self.clock()
            return found

    def remove_unwanted(self, sha256: str, since: float, in_use: Callable[[], bool]) -> bool:
        """Remove the package that a user has stopped using, unless a submitter stored or
        found it after ``since`` (``time.monotonic()`` when that user took it) or
        ``in_use()``: the same job submitted again as the last run of it ended must not lose
        its package between its upload and its driver's start.  Whether it was removed."""
        with self.lock:
            if self._wanted.get(sha256, -1.0) > since or in_use():
                return False
            self._wanted.pop(sha256, None)
            self.remove(sha256)
            return True

    def read(self, sha256: str) -> Optional[bytes]:
        """The package's bytes, or None when this master does not have it."""
        try:
            with open(self.path(sha256), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def store(self, sha256: str, data: bytes) -> None:
        """Write the package under a temporary name of this upload's own and rename it into
        place (two drivers uploading one package at once each write their own copy: with one
        temporary name, the second rename found the file gone); an OSError (a full disk,
        say) leaves nothing behind, not even the part written."""
        tmp = f"{self.path(sha256)}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
            with self.lock:
                os.replace(tmp, self.path(sha256))
                self._wanted[sha256] = self.clock()
        except OSError:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        log.info("stored package %s (%d bytes)", sha256[:12], len(data))

    def remove(self, sha256: str) -> None:
        """Delete the package and its extracted copy (cluster-mode drivers run from it)."""
        if not ids.PACKAGE.matches(sha256):  # "" (no package), or a bad recovery record
            return
        try:
            os.remove(self.path(sha256))
        except FileNotFoundError:
            pass
        shutil.rmtree(os.path.join(self.directory, sha256), ignore_errors=True)
        log.info("removed package %s", sha256[:12])

    def remove_unused(self, used: Set[str], unchanged_since: float) -> List[str]:
        """At the master's start: delete the packages not in ``used`` and unchanged since
        ``unchanged_since`` (a later one may be an upload whose application is about to
        register), and the temporary files of uploads a killed master was writing.  Returns
        the packages deleted."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:  # none yet
            return []
        changed: Dict[str, float] = {}  # a package's zip and its copy: the later of the two
        for entry in entries:
            sha256 = entry.name[:-len(".zip")] if entry.name.endswith(".zip") else entry.name
            with contextlib.suppress(OSError):
                if entry.name.endswith(".tmp"):
                    os.remove(entry.path)
                elif ids.PACKAGE.matches(sha256) and sha256 not in used:
                    when = entry.stat(follow_symlinks=False).st_mtime
                    changed[sha256] = max(when, changed.get(sha256, when))
        removed = sorted(sha256 for sha256, when in changed.items() if when < unchanged_since)
        for sha256 in removed:
            self.remove(sha256)
        return removed

    def serve(self, conn: Connection, message) -> None:
        """Answer package queries, uploads and fetches on one connection until it closes."""
        while True:
            if isinstance(message, PackageQuery):
                conn.send(PackageStatus(message.sha256, self.want(message.sha256)))
            elif isinstance(message, UploadPackage):
                if not verify(message.data, message.sha256):
                    raise ProtocolError(conn.peer, "uploaded package does not match its sha256")
                try:
                    self.store(message.sha256, message.data)
                except OSError as exc:  # the submitter is told why, and the master serves on
                    reason = (f"it could not store the job package {message.sha256[:12]} "
                              f"({len(message.data)} bytes) in {self.directory}: "
                              f"{exc.strerror or exc}; free space there or give the master "
                              "another work dir")
                    log.warning("refused the upload of %s: %s", conn.peer, reason)
                    conn.send(PackageStatus(message.sha256, False, reason))
                else:
                    conn.send(PackageStatus(message.sha256, True))
            elif isinstance(message, FetchPackage):
                data = self.read(message.sha256)
                if data is None:  # a clean "not found", not a dropped session
                    log.warning("%s asked for package %s, which this master does not have",
                                conn.peer, message.sha256[:12])
                    conn.send(PackageStatus(message.sha256, False))
                else:
                    conn.send(PackageData(message.sha256, data))
            else:
                raise ProtocolError(conn.peer, f"unexpected {type(message).__name__}")
            message = conn.recv()
