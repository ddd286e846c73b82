"""HDFS through WebHDFS (the ``hdfs`` package), for ``hdfs://`` and ``webhdfs://`` URLs.

``hdfs://namenode:9870/path`` names the NameNode's WebHDFS HTTP address (as the
Rust Vega does).  Every client has a timeout; authentication is WebHDFS
"simple" (a user name; Kerberos is not supported yet).  Reads of byte ranges
use OPEN's ``offset``/``length``, so tasks read only their own split.
"""

from __future__ import annotations

import fnmatch
import io
import os
import posixpath
from dataclasses import dataclass
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

from ..errors import InputError, VegaError

SCHEMES = ("hdfs", "webhdfs")


@dataclass(frozen=True)
class HdfsSettings:
    """Who Vega is to WebHDFS and how long it waits for it."""

    user: str = ""
    timeout: float = 30.0

    def resolved_user(self) -> str:
        import getpass

        return self.user or os.environ.get("HADOOP_USER_NAME") or getpass.getuser()


class HdfsError(VegaError):
    """A WebHDFS operation failed; names the URL and the cause."""

    def __init__(self, url: str, reason: str):
        super().__init__(url, reason)
        self.url, self.reason = url, reason

    def __str__(self) -> str:
        return f"HDFS {self.url}: {self.reason}"


def is_hdfs(path: str) -> bool:
    return path.split("://", 1)[0] in SCHEMES if "://" in path else False


def split_url(url: str) -> Tuple[str, str]:
    """``hdfs://nn:9870/a/b`` -> (``http://nn:9870``, ``/a/b``)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise HdfsError(url, "the URL names no namenode (use hdfs://host:port/path)")
    port = parts.port or 9870
    return f"http://{parts.hostname}:{port}", parts.path or "/"


def namenode_url(namenode: str) -> str:
    """Accept ``http://h:p``, ``hdfs://h:p`` or ``h:p``; return the WebHDFS HTTP address."""
    text = namenode.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if not parts.hostname:
        raise VegaError(f"invalid namenode address {namenode!r}: use host:port")
    return f"http://{parts.hostname}:{parts.port or 9870}"


def client(base_url: str, settings: HdfsSettings):
    from hdfs import InsecureClient

    return InsecureClient(base_url, user=settings.resolved_user(), timeout=settings.timeout)


def _explain(url: str, exc: Exception) -> HdfsError:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    kind = type(exc).__name__
    if kind in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout"):
        return HdfsError(url, f"the namenode is unreachable ({kind}); check the address and "
                              "that WebHDFS is enabled")
    if "Permission denied" in message or "AccessControlException" in message:
        return HdfsError(url, f"permission denied: {message}")
    if "does not exist" in message or "FileNotFoundException" in message:
        return HdfsError(url, "file does not exist")
    return HdfsError(url, message)


def list_files(spec: str, settings: HdfsSettings) -> List[Tuple[str, int]]:
    """(URL, size) of every file a URL names: a file, a directory (recursively, skipping
    ``_`` and ``.`` names) or a glob in the last path component."""
    base, path = split_url(spec)
    prefix = spec[: len(spec) - len(urlsplit(spec).path)]
    hdfs = client(base, settings)
    try:
        if any(ch in posixpath.basename(path) for ch in "*?["):
            parent = posixpath.dirname(path) or "/"
            names = [n for n, _ in hdfs.list(parent, status=True)
                     if fnmatch.fnmatch(n, posixpath.basename(path))]
            if not names:
                raise InputError(spec, "no file matches this pattern")
            found = []
            for name in sorted(names):
                found += _walk(hdfs, prefix, posixpath.join(parent, name))
            return found
        status = hdfs.status(path, strict=False)
        if status is None:
            raise InputError(spec, "no such file or directory")
        return _walk(hdfs, prefix, path, status)
    except VegaError:
        raise
    except Exception as exc:  # the hdfs package raises requests' and its own errors
        raise _explain(spec, exc) from None


def _walk(hdfs, prefix: str, path: str, status: Optional[dict] = None) -> List[Tuple[str, int]]:
    status = status or hdfs.status(path)
    if status["type"] == "FILE":
        return [(prefix + path, status["length"])]
    found = []
    for name, child in sorted(hdfs.list(path, status=True)):
        if name.startswith(("_", ".")):
            continue
        found += _walk(hdfs, prefix, posixpath.join(path, name), child)
    return found


class _RangeReader(io.RawIOBase):
    """A seekable read-only file over WebHDFS OPEN (reopened at each seek)."""

    def __init__(self, url: str, settings: HdfsSettings):
        self.url = url
        self.base, self.path = split_url(url)
        self.hdfs = client(self.base, settings)
        self.position = 0
        self._stream = None
        self._context = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("WebHDFS reads seek from the start only")
        if offset != self.position or self._stream is None:
            self._close_stream()
            self.position = offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        if self._stream is None:
            try:
                self._context = self.hdfs.read(self.path, offset=self.position, chunk_size=0)
                self._stream = self._context.__enter__()
            except Exception as exc:
                raise _explain(self.url, exc) from None
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _close_stream(self) -> None:
        if self._context is not None:
            try:
                self._context.__exit__(None, None, None)
            except Exception:
                pass
        self._stream = self._context = None

    def close(self) -> None:
        self._close_stream()
        super().close()


def open_read(url: str, settings: HdfsSettings) -> io.BufferedReader:
    return io.BufferedReader(_RangeReader(url, settings), buffer_size=1 << 20)


class HdfsOutput:
    """File operations the atomic output commit needs, on HDFS."""

    def __init__(self, url: str, settings: HdfsSettings):
        self.url = url
        self.base, self.root = split_url(url)
        self.hdfs = client(self.base, settings)

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _explain(f"{self.base}{args[0] if args else ''} ({what})", exc) from None

    def exists(self, path: str) -> bool:
        return self._call("status", self.hdfs.status, path, strict=False) is not None

    def makedirs(self, path: str) -> None:
        self._call("mkdirs", self.hdfs.makedirs, path)

    def write(self, path: str, data: bytes, overwrite: bool = True) -> None:
        self._call("create", self.hdfs.write, path, data=data, overwrite=overwrite)

    def rename(self, source: str, target: str) -> None:
        if self.exists(target):
            self._call("delete", self.hdfs.delete, target)
        self._call("rename", self.hdfs.rename, source, target)

    def delete(self, path: str) -> None:
        self._call("delete", self.hdfs.delete, path, recursive=True)

    def list(self, path: str) -> List[str]:
        return self._call("list", self.hdfs.list, path)
