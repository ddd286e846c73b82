"""Job packages kept by the master: submitters ask for and upload them, workers and
cluster-mode drivers fetch them.  ``<work_dir>/packages/<sha256>.zip``, named by content;
their bytes travel in chunks both ways (``net.package_stream``)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
import time
from typing import Callable, Dict, List, Optional, Set

from .. import ids
from ..net.connection import Connection
from ..executor_loss import binary_size
from ..net.framing import ProtocolError
from ..net.messages import (FetchPackage, PackageData, PackageQuery, PackageStatus,
                            UploadPackage, UploadReady)
from ..net.package_stream import receive_file, send_file
from ..private_files import set_aside_foreign

log = logging.getLogger(__name__)

#: a package an application's executors may still be fetching: one stored or asked for
#: this many seconds before the application is forgotten is kept (a submitter asks, then
#: uploads, then registers or submits: seconds apart)
WANTED_GRACE = 60.0


class PackageStore:
    def __init__(self, work_dir: str, clock: Callable[[], float] = time.monotonic,
                 max_size: int = 0):
        self.directory = os.path.join(work_dir, "packages")
        #: the largest package stored (``vega.package.max_size``; 0: as large as fits)
        self.max_size = max_size
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

    def refusal(self, sha256: str, size: int) -> Optional[PackageStatus]:
        """The answer refusing an upload of ``size`` bytes before a byte of it is sent, or
        None: past ``max_size`` (which it names: the submitter says so as a usage error), or
        more than the space free here."""
        if self.max_size and size > self.max_size:
            return PackageStatus(sha256, False, (
                f"its job package {sha256[:12]} is {binary_size(size)}, more than "
                f"vega.package.max_size ({binary_size(self.max_size)}) on the master: ship "
                "large data some other way (HDFS, storage every host reads) or raise the "
                "master's vega.package.max_size"), self.max_size)
        os.makedirs(self.directory, exist_ok=True)
        free = shutil.disk_usage(self.directory).free
        if size > free:
            return PackageStatus(sha256, False, self._not_stored(
                sha256, size, os.strerror(errno.ENOSPC), f", {binary_size(free)} free"))
        return None

    def _not_stored(self, sha256: str, size: int, why: str, free: str = "") -> str:
        return (f"it could not store the job package {sha256[:12]} ({size} bytes{free}) in "
                f"{self.directory}: {why}; free space there or give the master another work "
                "dir")

    def receive(self, conn: Connection, upload: UploadPackage) -> PackageStatus:
        """Take an upload's bytes into a temporary name of its own and rename it into place
        (two drivers uploading one package at once each write their own copy: with one
        temporary name, the second rename found the file gone); the answer for the
        submitter.  Bytes that do not hash to the package's name, or a write that fails (a
        full disk), leave nothing behind, not even the part written; a submitter gone before
        the end (``ConnectionClosed``) neither."""
        sha256, size = upload.sha256, upload.size
        if size < 0:
            raise ProtocolError(conn.peer, f"an upload of {size} bytes")
        refusal = self.refusal(sha256, size)
        if refusal is not None:
            return refusal
        conn.send(UploadReady(sha256))
        tmp = self._temporary(sha256)
        out, failed, digest = None, None, ""
        try:
            try:
                out = open(tmp, "wb")
            except OSError as exc:
                failed = exc
            digest, write_failed = receive_file(conn, size, out)
            failed = failed or write_failed
            if out is not None:
                try:
                    out.close()
                except OSError as exc:  # the last of the bytes did not fit
                    failed = failed or exc
        finally:
            if out is not None and not out.closed:
                with contextlib.suppress(OSError):
                    out.close()
            if failed is not None or digest != sha256:  # (or an exception is on its way)
                with contextlib.suppress(OSError):
                    os.remove(tmp)
        if failed is not None:
            return PackageStatus(sha256, False, self._not_stored(
                sha256, size, failed.strerror or str(failed)))
        if digest != sha256:
            return PackageStatus(sha256, False, (
                f"the {size} bytes it received for the job package {sha256[:12]} hash to "
                f"{digest[:12]}: the package changed while it was sent, or was damaged on "
                "the way; submit the job again"))
        self._keep(sha256, tmp, size)
        return PackageStatus(sha256, True)

    def store(self, sha256: str, data: bytes) -> None:
        """Store ``data`` as the package, as an upload of it would (tests give a master its
        packages so); an OSError leaves nothing behind."""
        tmp = self._temporary(sha256)
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        self._keep(sha256, tmp, len(data))

    def _temporary(self, sha256: str) -> str:
        """A name of this upload's own (``remove_unused`` deletes what a killed master left)."""
        return f"{self.path(sha256)}.{os.getpid()}.{threading.get_ident()}.tmp"

    def _keep(self, sha256: str, tmp: str, size: int) -> None:
        with self.lock:
            os.replace(tmp, self.path(sha256))
            self._wanted[sha256] = self.clock()
        log.info("stored package %s (%d bytes)", sha256[:12], size)

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

    def remove_copy(self, sha256: str, in_use: Callable[[], bool]) -> None:
        """Delete the package's extracted copy, which cluster-mode drivers run from, and keep
        the zip (its application's executors may run it), unless ``in_use()``."""
        if not ids.PACKAGE.matches(sha256):  # "" (no package), or a bad recovery record
            return
        with self.lock:
            if not in_use():
                shutil.rmtree(os.path.join(self.directory, sha256), ignore_errors=True)

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
                status = self.receive(conn, message)
                if not status.present:  # the submitter is told why, and the master serves on
                    log.warning("refused the upload of %s: %s", conn.peer, status.reason)
                conn.send(status)
            elif isinstance(message, FetchPackage):
                self._send(conn, message.sha256)
            else:
                raise ProtocolError(conn.peer, f"unexpected {type(message).__name__}")
            message = conn.recv()

    def _send(self, conn: Connection, sha256: str) -> None:
        try:
            fh = open(self.path(sha256), "rb")
        except FileNotFoundError:  # a clean "not found", not a dropped session
            log.warning("%s asked for package %s, which this master does not have",
                        conn.peer, sha256[:12])
            conn.send(PackageStatus(sha256, False))
            return
        with fh:  # removed meanwhile, it is still read whole
            size = os.fstat(fh.fileno()).st_size
            conn.send(PackageData(sha256, size))
            send_file(conn, fh, size)
