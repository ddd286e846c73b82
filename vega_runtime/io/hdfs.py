"""HDFS through WebHDFS (the ``hdfs`` package), for ``hdfs://`` and ``webhdfs://`` URLs.

``hdfs://namenode:9870/path`` names the NameNode's WebHDFS HTTP address (as the
Rust Vega does).  Every client has a timeout; authentication is WebHDFS
"simple" (a user name; Kerberos is not supported).  Reads of byte ranges
use OPEN's ``offset``/``length``, so tasks read only their own split.

The NameNode answers data operations (OPEN, CREATE, APPEND) with a redirect to a
DataNode.  A client follows it, with the user name and the data, only to the NameNode's
own host or a host in ``vega.hdfs.datanodes``; a redirect anywhere else raises
``HdfsRedirectRefused`` before anything is sent there.
"""

from __future__ import annotations

import io
import os
import posixpath
from typing import List, Optional, Sequence, Tuple

# (``urllib.parse`` and ``ipaddress`` load where used: every Context makes HdfsSettings)

from ..errors import InputError, VegaError
from ..net.endpoints import host_port
from ..records import FrozenRecord
from .globs import expand_braces, has_pattern, is_hidden, name_matches, unescape

SCHEMES = ("hdfs", "webhdfs")


class HdfsSettings(FrozenRecord):
    """Who Vega is to WebHDFS, how long it waits for it, and the namenode of URLs that
    name none (``hdfs:///data``, as Hadoop's ``fs.defaultFS``)."""

    user: str
    timeout: float
    datanodes: Tuple[str, ...]  # vega.hdfs.datanodes: where redirects may lead
    namenode: str  # vega.hdfs.namenode: host:port, or ""

    def __init__(self, user="", timeout=30.0, datanodes=(), namenode=""):
        setattr = object.__setattr__
        setattr(self, "user", user)
        setattr(self, "timeout", timeout)
        setattr(self, "datanodes", datanodes)
        setattr(self, "namenode", namenode)

    def resolved_user(self, url: str = "") -> str:
        """The HDFS user: ``vega.hdfs.user``, else HADOOP_USER_NAME, else this account's
        name; an account with none (a container's uid without a passwd entry, no USER or
        LOGNAME) is an ``HdfsError`` for ``url`` saying how to name one."""
        import getpass

        if self.user or os.environ.get("HADOOP_USER_NAME"):
            return self.user or os.environ["HADOOP_USER_NAME"]
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            raise HdfsError(url or "", f"this account (uid {os.getuid()}) has no user name "
                            "(no passwd entry; USER and LOGNAME unset) to act as on HDFS: "
                            "name the HDFS user with vega.hdfs.user (or HADOOP_USER_NAME)"
                            ) from None


class HdfsError(VegaError):
    """A WebHDFS operation failed; names the URL and the cause."""

    def __init__(self, url: str, reason: str):
        super().__init__(url, reason)
        self.url, self.reason = url, reason

    def __str__(self) -> str:
        return f"HDFS {self.url}: {self.reason}"


class HdfsRedirectRefused(HdfsError):
    """The NameNode redirected to a host that is neither itself nor a listed DataNode."""

    def __init__(self, url: str, target: str, namenode: str):
        super().__init__(url, target)
        self.args = (url, target, namenode)  # so it pickles across processes
        self.url, self.target, self.namenode = url, target, namenode
        self.reason = str(self)

    def __str__(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.target)
        host = parts.hostname or self.target
        return (f"HDFS {self.url}: the namenode {self.namenode} redirected to "
                f"{parts.scheme}://{parts.netloc}, which is not the namenode's host nor in "
                f"vega.hdfs.datanodes; nothing was sent there. If {host} is a datanode of "
                f"this cluster, add it to vega.hdfs.datanodes (e.g. --conf "
                f"vega.hdfs.datanodes={host}, or *.domain, or a network such as 10.0.0.0/24)")


def redirect_allowed(host: str, namenode_host: str, datanodes: Sequence[str]) -> bool:
    """May a WebHDFS client follow a redirect to ``host``?  Only to the namenode's own host
    or a host ``datanodes`` lists: by name, ``*.domain``, address or network.

    >>> redirect_allowed("nn", "nn", ()), redirect_allowed("evil.com", "nn", ())
    (True, False)
    >>> redirect_allowed("dn3.example.com", "nn", ["*.example.com"])
    True
    >>> redirect_allowed("10.0.0.7", "nn", ["10.0.0.0/24"])
    True
    >>> redirect_allowed("example.com", "nn", ["*.example.com"])  # the domain itself: no
    False
    """
    import ipaddress

    host = host.lower().rstrip(".")
    if host == namenode_host.lower().rstrip("."):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for allowed in datanodes:
        if allowed.startswith("*."):
            if address is None and host.endswith(allowed[1:]):
                return True
        elif "/" in allowed or address is not None:
            try:
                if address is not None and address in ipaddress.ip_network(allowed, strict=False):
                    return True
            except ValueError:  # a name in the list, an address in the redirect
                pass
        elif host == allowed:
            return True
    return False


def _guarded_session(url: str, base_url: str, datanodes: Sequence[str]):
    """A requests session that sends nothing to a host other than the namenode's or a listed
    datanode: neither a request the hdfs package makes to a Location it was given (CREATE,
    APPEND) nor a redirect requests would follow (OPEN)."""
    from urllib.parse import urljoin, urlsplit

    import requests

    namenode_host = urlsplit(base_url).hostname or ""

    def check(target: str) -> None:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not redirect_allowed(
                parts.hostname or "", namenode_host, datanodes):
            raise HdfsRedirectRefused(url, target, base_url)

    class GuardedSession(requests.Session):
        def request(self, method, url, *args, **kwargs):
            check(url)
            return super().request(method, url, *args, **kwargs)

        def get_redirect_target(self, resp):
            target = super().get_redirect_target(resp)
            if target:
                check(urljoin(resp.url, target))
            return target

    return GuardedSession()


def is_hdfs(path: str) -> bool:
    return path.split("://", 1)[0] in SCHEMES if "://" in path else False


def qualify(url: str, settings: HdfsSettings) -> str:
    """``hdfs:///a`` (no namenode) as ``hdfs://NAMENODE/a``, NAMENODE being
    ``vega.hdfs.namenode``, as Hadoop reads it with ``fs.defaultFS``; other URLs unchanged.

    >>> qualify("hdfs:///a/b", HdfsSettings(namenode="nn:9870"))
    'hdfs://nn:9870/a/b'
    """
    scheme, rest = url.split("://", 1)
    if not rest.startswith("/"):
        return url
    if not settings.namenode:
        raise HdfsError(url, "the URL names no namenode: give hdfs://host:port/path, or set "
                             "vega.hdfs.namenode (host:port) for hdfs:/// URLs")
    return f"{scheme}://{settings.namenode}{rest}"


def split_url(url: str) -> Tuple[str, str]:
    """``hdfs://nn:9870/a/b`` -> (``http://nn:9870``, ``/a/b``).

    As in a Hadoop ``Path``, everything after the authority is the path, ``#`` and ``?``
    included (they are file name characters, not a fragment or a query):

    >>> split_url("hdfs://nn/logs/a#b?.txt")
    ('http://nn:9870', '/logs/a#b?.txt')
    """
    from urllib.parse import urlsplit

    authority = url_authority(url)
    path = url[len(authority):]
    parts = urlsplit(authority)
    if not parts.hostname:
        raise HdfsError(url, "the URL names no namenode (use hdfs://host:port/path)")
    port = parts.port or 9870
    return f"http://{host_port(parts.hostname, port)}", path or "/"


def url_authority(url: str) -> str:
    """``hdfs://nn:9870/a/b`` -> ``hdfs://nn:9870``: the URL up to its path."""
    start = url.find("://") + 3 if "://" in url else 0
    slash = url.find("/", start)
    return url if slash < 0 else url[:slash]


def namenode_url(namenode: str) -> str:
    """Accept ``http://h:p``, ``hdfs://h:p`` or ``h:p``; return the WebHDFS HTTP address."""
    from urllib.parse import urlsplit

    text = namenode.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if not parts.hostname:
        raise VegaError(f"invalid namenode address {namenode!r}: use host:port")
    return f"http://{host_port(parts.hostname, parts.port or 9870)}"


def client(base_url: str, settings: HdfsSettings, url: str = ""):
    """A WebHDFS client of the namenode at ``base_url`` that follows redirects only to
    allowed hosts; ``url`` (default ``base_url``) names what it is for in errors."""
    from hdfs import InsecureClient

    session = _guarded_session(url or base_url, base_url, settings.datanodes)
    return InsecureClient(base_url, user=settings.resolved_user(url or base_url),
                          timeout=settings.timeout,
                          session=session)


def _explain(url: str, exc: Exception) -> HdfsError:
    if isinstance(exc, HdfsError):
        return exc
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


def list_files(spec: str, settings: HdfsSettings) -> List[Tuple[str, int, int]]:
    """(URL, size, block size) of every file a URL names: a file, a directory (recursively,
    skipping ``_`` and ``.`` names) or a glob (see ``io.globs``)."""
    spec = qualify(spec, settings)
    base, path = split_url(spec)
    prefix = url_authority(spec)
    hdfs = client(base, settings, spec)
    try:
        if has_pattern(path):
            matches = sorted({match: status for pattern in expand_braces(path)
                              for match, status in _glob(hdfs, pattern)}.items())
            if not matches:
                raise InputError(spec, "no file matches this pattern")
            found = []
            for match, status in matches:
                found += _walk(hdfs, prefix, match, status)
            return found
        status = hdfs.status(unescape(path), strict=False)
        if status is None:
            raise InputError(spec, "no such file or directory")
        return _walk(hdfs, prefix, unescape(path), status)
    except VegaError:
        raise
    except Exception as exc:  # the hdfs package raises requests' and its own errors
        raise _explain(spec, exc) from None


def _glob(hdfs, pattern: str) -> List[Tuple[str, dict]]:
    """(path, FileStatus) of each match of a glob (braces expanded) whose components may
    each be a pattern, as Hadoop's globber finds them: directory by directory."""
    components = [c for c in pattern.split("/") if c]
    level: List[Tuple[str, Optional[dict]]] = [("/", None)]
    for i, component in enumerate(components):
        following = []
        for parent, status in level:
            if status is not None and status["type"] != "DIRECTORY":
                continue
            if has_pattern(component):
                last = i == len(components) - 1
                following += [(posixpath.join(parent, name), child) for name, child
                              in sorted(hdfs.list(parent, status=True))
                              if name_matches(name, component, last)]
            else:
                path = posixpath.join(parent, unescape(component))
                child = hdfs.status(path, strict=False)
                if child is not None:
                    following.append((path, child))
        level = following
    return level


def _walk(hdfs, prefix: str, path: str,
          status: Optional[dict] = None) -> List[Tuple[str, int, int]]:
    status = status or hdfs.status(path)
    if status["type"] == "FILE":
        return [(prefix + path, status["length"], status.get("blockSize") or 0)]
    found = []
    for name, child in sorted(hdfs.list(path, status=True)):
        if is_hidden(name):
            continue
        found += _walk(hdfs, prefix, posixpath.join(path, name), child)
    return found


class _RangeReader(io.RawIOBase):
    """A seekable read-only file over WebHDFS OPEN (reopened at each seek)."""

    def __init__(self, url: str, settings: HdfsSettings):
        self.url = url
        self.base, self.path = split_url(url)
        self.hdfs = client(self.base, settings, url)
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
    return io.BufferedReader(_RangeReader(qualify(url, settings), settings),
                             buffer_size=1 << 20)


class _Upload:
    """The ``hdfs`` package's streaming writer, whose errors (a DataNode's full disk, say)
    are one ``HdfsError`` naming the file, not a bare ``[Errno 28] ...`` after the package's
    own ERROR log line and traceback of the same error."""

    def __init__(self, url: str, writer):
        self.url, self.writer = url, writer

    def __enter__(self):
        _quiet_upload_errors()
        try:
            return self.writer.__enter__()
        except Exception as exc:
            raise _explain(self.url, exc) from None

    def __exit__(self, *exc_info) -> None:
        try:
            self.writer.__exit__(*exc_info)
        except Exception as exc:
            if exc_info[1] is None:  # else the body's own error goes on
                raise _explain(self.url, exc) from None


def _quiet_upload_errors() -> None:
    """Drop the ``hdfs`` package's "Exception in child." log record: the upload's error is
    raised (and reported) all the same when the writer closes."""
    import logging

    logger = logging.getLogger("hdfs.util")
    if _drop_child_exception not in logger.filters:
        logger.addFilter(_drop_child_exception)


def _drop_child_exception(record) -> bool:
    return record.getMessage() != "Exception in child."


class HdfsOutput:
    """File operations the atomic output commit needs, on HDFS."""

    def __init__(self, url: str, settings: HdfsSettings):
        self.url = url
        self.base, self.root = split_url(url)
        self.hdfs = client(self.base, settings, url)

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

    def open_write(self, path: str) -> "_Upload":
        """A file-like writer of a new ``path`` (replacing one there), to use in ``with``."""
        return _Upload(f"{self.base}{path}", self._call("create", self.hdfs.write, path,
                                                        overwrite=True))

    def rename(self, source: str, target: str) -> None:
        if self.exists(target):
            self._call("delete", self.hdfs.delete, target)
        self._call("rename", self.hdfs.rename, source, target)

    def delete(self, path: str) -> None:
        self._call("delete", self.hdfs.delete, path, recursive=True)

    def list(self, path: str) -> List[str]:
        return self._call("list", self.hdfs.list, path)
