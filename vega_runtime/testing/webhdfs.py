"""A WebHDFS server over a local directory: a stand-in NameNode and DataNode for tests and demos.

No HDFS cluster runs on the machines Vega is tested on, so this server speaks the
Apache Hadoop WebHDFS REST API (``/webhdfs/v1``, as specified in Hadoop's
``WebHDFS.md``) over a plain directory: HDFS path ``/a/b`` is ``ROOT/a/b``.
Where the specification is silent it does what Hadoop 3's NameNode
(``NamenodeWebHdfsMethods``) and DataNode (``WebHdfsHandler``) do, down to the
exception classes and messages, so clients see what a real cluster shows them.

* Two HTTP servers: the NameNode answers namespace operations and redirects data
  operations (``CREATE``, ``APPEND``, ``OPEN``) with ``307 Temporary Redirect``
  to the DataNode port, carrying every query parameter plus
  ``namenoderpcaddress``; the DataNode moves the bytes (``201 Created`` with a
  ``webhdfs://`` Location for CREATE, ``200`` for APPEND and OPEN).
* Bodies are streamed both ways in 64 KiB pieces (``Content-Length`` or
  ``Transfer-Encoding: chunked``); a DataNode that refuses a write answers
  ``Expect: 100-continue`` clients before they send any data.
* Owners, groups, permissions, replication and block sizes live in memory (files
  found on disk belong to the superuser); modification times and lengths are the
  local file system's.  A file has one writer at a time (HDFS's lease).
* Security is off, as with ``hadoop.security.authentication=simple``: ``user.name``
  (or ``doas``) names the caller, ``dr.who`` when absent; permissions are recorded
  but not enforced (``dfs.permissions.enabled=false``).

Use it as a context manager::

    with WebHDFSServer(tmp_dir) as server:
        client = hdfs.InsecureClient(server.namenode_url, user="alice")

or from a shell: ``python -m vega_runtime.testing.webhdfs --root DIR``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import re
import shutil
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

__all__ = ["WebHDFSServer", "RemoteException", "main"]

log = logging.getLogger(__name__)

PREFIX = "/webhdfs/v1"
#: ``hadoop.http.staticuser.user``: who a request without ``user.name`` is.
DEFAULT_WEB_USER = "dr.who"
DEFAULT_BLOCK_SIZE = 128 * 1024 * 1024          # dfs.blocksize
MIN_BLOCK_SIZE = 1024 * 1024                    # dfs.namenode.fs-limits.min-block-size
MAX_REPLICATION = 512                           # dfs.replication.max
ROOT_INODE_ID = 16385                           # INodeId.ROOT_INODE_ID; new inodes follow
DEFAULT_FILE_PERMISSION = 0o644
DEFAULT_DIR_PERMISSION = 0o755
#: The default ``dfs.webhdfs.user.provider.user.pattern``.
USER_PATTERN = r"^[A-Za-z_][A-Za-z0-9._-]*[$]?$"

#: Bytes read or written at a time; ``buffersize`` may choose another size within the bounds.
IO_CHUNK = 64 * 1024
MIN_IO_CHUNK, MAX_IO_CHUNK = 4 * 1024, 1024 * 1024
#: Request bytes read and dropped before an error reply; past that the connection is closed.
DRAIN_LIMIT = 64 * 1024 * 1024
MAX_LINE = 1024                 # longest chunk-size or trailer line of a chunked body

#: Every operation name of Hadoop's ``*OpParam.Op`` enums, by HTTP method: an ``op`` outside its
#: method's enum is a bad parameter (400 IllegalArgumentException); one inside it that this
#: server does not implement is a 400 UnsupportedOperationException, as Hadoop says for NULL.
_OP_ENUMS: Dict[str, Tuple[str, frozenset]] = {
    "GET": ("GetOpParam", frozenset(
        "OPEN GETFILESTATUS LISTSTATUS GETCONTENTSUMMARY GETQUOTAUSAGE GETFILECHECKSUM "
        "GETHOMEDIRECTORY GETDELEGATIONTOKEN GET_BLOCK_LOCATIONS GETFILEBLOCKLOCATIONS "
        "GETACLSTATUS GETXATTRS GETTRASHROOT LISTXATTRS GETALLSTORAGEPOLICY GETSTORAGEPOLICY "
        "GETECPOLICY GETSERVERDEFAULTS GETSNAPSHOTDIFF GETSNAPSHOTDIFFLISTING "
        "GETSNAPSHOTTABLEDIRECTORYLIST GETSNAPSHOTLIST GETLINKTARGET GETFILELINKSTATUS "
        "GETSTATUS GETECPOLICIES GETECCODECS GETTRASHROOTS NULL CHECKACCESS "
        "LISTSTATUS_BATCH".split())),
    "PUT": ("PutOpParam", frozenset(
        "CREATE MKDIRS CREATESYMLINK RENAME SETREPLICATION SETOWNER SETPERMISSION SETTIMES "
        "RENEWDELEGATIONTOKEN CANCELDELEGATIONTOKEN MODIFYACLENTRIES REMOVEACLENTRIES "
        "REMOVEDEFAULTACL REMOVEACL SETACL SETXATTR REMOVEXATTR ENABLEECPOLICY DISABLEECPOLICY "
        "SETECPOLICY CREATESNAPSHOT RENAMESNAPSHOT SETSTORAGEPOLICY SATISFYSTORAGEPOLICY "
        "ALLOWSNAPSHOT DISALLOWSNAPSHOT SETQUOTA SETQUOTABYSTORAGETYPE NULL".split())),
    "POST": ("PostOpParam", frozenset(
        "APPEND CONCAT TRUNCATE UNSETECPOLICY UNSETSTORAGEPOLICY NULL".split())),
    "DELETE": ("DeleteOpParam", frozenset("DELETE DELETESNAPSHOT NULL".split())),
}

#: Exception simple name -> (Java class, HTTP status), per the spec's "HTTP Response Codes".
_EXCEPTIONS: Dict[str, Tuple[str, int]] = {
    "IllegalArgumentException": ("java.lang.IllegalArgumentException", 400),
    "UnsupportedOperationException": ("java.lang.UnsupportedOperationException", 400),
    "InvalidPathException": ("org.apache.hadoop.fs.InvalidPathException", 400),
    "AccessControlException": ("org.apache.hadoop.security.AccessControlException", 403),
    "FileAlreadyExistsException": ("org.apache.hadoop.fs.FileAlreadyExistsException", 403),
    "PathIsNotEmptyDirectoryException":
        ("org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", 403),
    "ParentNotDirectoryException": ("org.apache.hadoop.fs.ParentNotDirectoryException", 403),
    "AlreadyBeingCreatedException":
        ("org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException", 403),
    "IOException": ("java.io.IOException", 403),
    "EOFException": ("java.io.EOFException", 403),
    "FileNotFoundException": ("java.io.FileNotFoundException", 404),
    "RuntimeException": ("java.lang.RuntimeException", 500),
}


class RemoteException(Exception):
    """A failed operation, sent as the spec's ``RemoteException`` JSON with its HTTP status."""

    def __init__(self, exception: str, message: str):
        super().__init__(message)
        self.exception = exception
        self.java_class_name, self.status = _EXCEPTIONS[exception]
        self.message = message

    def to_json(self) -> dict:
        return {"RemoteException": {"exception": self.exception,
                                    "javaClassName": self.java_class_name,
                                    "message": self.message}}


def _bad_param(name: str, reason: str) -> RemoteException:
    """What Hadoop's ExceptionHandler makes of a parameter Jersey could not build."""
    return RemoteException("IllegalArgumentException",
                           f'Invalid value for webhdfs parameter "{name}": {reason}')


# -- query parameters -------------------------------------------------------------------------

class _Params:
    """Query parameters as WebHDFS reads them: names are case-insensitive and the first value
    of a repeated name wins; a missing value, or the literal ``null``, is the default."""

    _NUMBER_KINDS = {"long": (64, "long integer"), "integer": (32, "integer"),
                     "short": (16, "short integer")}

    def __init__(self, query: str):
        self._values: Dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            self._values.setdefault(name.lower(), value)

    def raw(self, name: str) -> Optional[str]:
        return self._values.get(name)

    def _given(self, name: str) -> Optional[str]:
        value = self._values.get(name)
        return None if value is None or value == "null" else value

    def op(self, method: str) -> str:
        enum, names = _OP_ENUMS[method]
        value = self._values.get("op", "null").upper()
        if value not in names:
            raise _bad_param("op", f"No enum constant org.apache.hadoop.hdfs.web.resources."
                                   f"{enum}.Op.{value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._given(name)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad_param(name, f'Failed to parse "{value}" to Boolean.')

    def number(self, name: str, default: Optional[int], kind: str = "long", radix: int = 10,
               minimum: Optional[int] = None, maximum: Optional[int] = None) -> Optional[int]:
        value = self._given(name)
        if value is None:
            return default
        bits, label = self._NUMBER_KINDS[kind]
        digits = "0-7" if radix == 8 else "0-9"
        number = int(value, radix) if re.fullmatch(f"[+-]?[{digits}]+", value) else None
        if number is None or not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
            raise _bad_param(name, f'Failed to parse "{value}" as a radix-{radix} {label}.')
        shown = (lambda n: format(n, "o")) if radix == 8 else str
        if minimum is not None and number < minimum:
            raise _bad_param(name, f"Invalid parameter range: {name} = {shown(number)} < "
                                   f"{shown(minimum)}")
        if maximum is not None and number > maximum:
            raise _bad_param(name, f"Invalid parameter range: {name} = {shown(number)} > "
                                   f"{shown(maximum)}")
        return number

    def string(self, name: str) -> Optional[str]:
        return self._values.get(name) or None

    def user(self) -> str:
        """The caller: ``doas`` (a proxied user) over ``user.name``, else ``dr.who``."""
        names = {}
        for name in ("user.name", "doas"):
            value = self._values.get(name) or None
            if value is not None and not re.fullmatch(USER_PATTERN, value):
                raise _bad_param(name, f'Invalid value: "{value}" does not belong to the '
                                       f'domain {USER_PATTERN}')
            names[name] = value
        return names["doas"] or names["user.name"] or DEFAULT_WEB_USER

    def destination(self) -> Optional[str]:
        value = self._values.get("destination") or None
        if value is not None and not value.startswith("/"):
            raise _bad_param("destination", f'Invalid parameter value: destination = "{value}" '
                                            f'is not an absolute path.')
        return value

    def declared(self, method: str) -> dict:
        """Every parameter Hadoop declares for ``method``, parsed (so a malformed one is a 400
        whatever the op), with its default when absent."""
        args: dict = {"buffersize": self.number("buffersize", None, "integer", minimum=1),
                      "noredirect": self.boolean("noredirect", False)}
        if method == "GET":
            args["offset"] = self.number("offset", 0, minimum=0)
            args["length"] = self.number("length", None, minimum=0)
        elif method == "PUT":
            args["permission"] = self.number("permission", None, "short", radix=8, minimum=0,
                                             maximum=0o1777)
            args["overwrite"] = self.boolean("overwrite", False)
            args["replication"] = self.number("replication", None, "short", minimum=1)
            args["blocksize"] = self.number("blocksize", None, minimum=1)
            args["modificationtime"] = self.number("modificationtime", -1)
            args["accesstime"] = self.number("accesstime", -1)
            args["createparent"] = self.boolean("createparent", True)
            args["destination"] = self.destination()
            args["owner"] = self.string("owner")
            args["group"] = self.string("group")
        elif method == "DELETE":
            args["recursive"] = self.boolean("recursive", False)
        return args


# -- the namespace ----------------------------------------------------------------------------

@dataclass
class _Meta:
    """What HDFS keeps about an inode that a local file system does not."""

    is_dir: bool
    file_id: int
    owner: str
    group: str
    permission: int
    replication: int = 0
    block_size: int = 0
    access_time: Optional[int] = None   # ms; None: the file's modification time


@dataclass
class _Lease:
    """The one writer of a file, as HDFS's lease manager records it."""

    path: str
    user: str
    client: str


def _parts(path: str) -> List[str]:
    return [p for p in path.split("/") if p]


def _path_of(parts: List[str]) -> str:
    return "/" + "/".join(parts)


def _child(path: str, name: str) -> str:
    return path.rstrip("/") + "/" + name


def _parent(path: str) -> str:
    return _path_of(_parts(path)[:-1])


def _stat(local: str) -> Optional[os.stat_result]:
    try:
        return os.stat(local)
    except OSError:
        return None


def _is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def _millis(ns: int) -> int:
    return ns // 1_000_000


def _implicit_uwx(permission: int) -> int:
    """``FSDirMkdirOp.addImplicitUwx``: owner gains write and execute (the sticky bit goes)."""
    return ((((permission >> 6) & 0o7) | 0o3) << 6) | (permission & 0o77)


class _Namespace:
    """The file system the two servers share: paths, metadata and leases under one lock."""

    def __init__(self, root: str, *, superuser: str, supergroup: str, replication: int,
                 block_size: int):
        self.root = os.path.realpath(root)
        self.superuser, self.supergroup = superuser, supergroup
        self.replication, self.block_size = replication, block_size
        self._lock = threading.RLock()
        self._next_id = ROOT_INODE_ID + 1
        self._meta: Dict[str, _Meta] = {"/": _Meta(True, ROOT_INODE_ID, superuser, supergroup,
                                                   DEFAULT_DIR_PERMISSION)}
        self._leases: Dict[str, _Lease] = {}

    # paths

    @staticmethod
    def normalize(raw: str) -> str:
        """The HDFS path of a URL path: ``//`` and trailing ``/`` collapse; ``.``, ``..`` and
        names with ``:`` are invalid, as ``DFSUtil.isValidName`` says."""
        parts = _parts(raw)
        for part in parts:
            if part in (".", "..") or ":" in part or "\0" in part:
                raise RemoteException("InvalidPathException",
                                      f"Invalid path name {_path_of(parts)}")
        return _path_of(parts)

    def _local(self, path: str) -> str:
        local = os.path.join(self.root, *_parts(path))
        if not self._inside(local):
            raise RemoteException("AccessControlException",
                                  f"Permission denied: {path} resolves outside the server root")
        return local

    def _inside(self, local: str) -> bool:
        real = os.path.realpath(local)
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def _inspect(self, path: str, creating: bool = False) -> Tuple[str, Optional[os.stat_result]]:
        """The local path and stat of ``path`` (None if missing).  An ancestor that is a file
        is an error: ParentNotDirectoryException when creating, else AccessControlException,
        as ``FSDirectory.resolvePath`` reports it."""
        local = self._local(path)
        parts = _parts(path)
        current = self.root
        for i, name in enumerate(parts[:-1]):
            current = os.path.join(current, name)
            st = _stat(current)
            if st is None:
                return local, None
            if not _is_dir(st):
                raise RemoteException(
                    "ParentNotDirectoryException" if creating else "AccessControlException",
                    f"{_path_of(parts[:i + 1])} (is not a directory)")
        return local, _stat(local)

    def _children(self, local: str) -> List[str]:
        try:
            names = os.listdir(local)
        except OSError:
            return []
        return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))

    # metadata

    def _new_meta(self, is_dir: bool, owner: str, group: str, permission: int,
                  replication: int = 0, block_size: int = 0) -> _Meta:
        meta = _Meta(is_dir, self._next_id, owner, group, permission, replication, block_size)
        self._next_id += 1
        return meta

    def _meta_for(self, path: str, is_dir: bool) -> _Meta:
        """The metadata of ``path``; a file put there behind the server's back is the
        superuser's, with default permission, replication and block size."""
        meta = self._meta.get(path)
        if meta is None or meta.is_dir != is_dir:
            meta = self._new_meta(
                is_dir, self.superuser, self.supergroup,
                DEFAULT_DIR_PERMISSION if is_dir else DEFAULT_FILE_PERMISSION,
                0 if is_dir else self.replication, 0 if is_dir else self.block_size)
            self._meta[path] = meta
        return meta

    def _forget(self, path: str) -> None:
        """Drop the metadata and leases of ``path`` and everything under it."""
        under = path.rstrip("/") + "/"
        for table in (self._meta, self._leases):
            for key in [k for k in table if k == path or k.startswith(under)]:
                del table[key]

    def _move(self, src: str, dst: str) -> None:
        under = src + "/"
        for table in (self._meta, self._leases):
            for key in [k for k in table if k == src or k.startswith(under)]:
                value = table.pop(key)
                table[dst + key[len(src):]] = value
                if isinstance(value, _Lease):
                    value.path = dst + key[len(src):]

    def _status(self, path: str, local: str, st: os.stat_result, suffix: str) -> dict:
        """The spec's FileStatus properties, plus childrenNum, fileId and storagePolicy."""
        is_dir = _is_dir(st)
        meta = self._meta_for(path, is_dir)
        mtime = _millis(st.st_mtime_ns)
        return {
            "accessTime": 0 if is_dir else (mtime if meta.access_time is None
                                            else meta.access_time),
            "blockSize": 0 if is_dir else meta.block_size,
            "childrenNum": len(self._children(local)) if is_dir else 0,
            "fileId": meta.file_id,
            "group": meta.group,
            "length": 0 if is_dir else st.st_size,
            "modificationTime": mtime,
            "owner": meta.owner,
            "pathSuffix": suffix,
            "permission": format(meta.permission, "o"),
            "replication": 0 if is_dir else meta.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }

    def _create_dirs(self, path: str, user: str, leaf_permission: int,
                     ancestor_permission: int) -> None:
        """``mkdir -p``: each missing directory of ``path`` is the user's, in its parent's
        group (HDFS's BSD rule), with ``ancestor_permission`` except the last."""
        parts = _parts(path)
        existing = len(_parts(self._last_existing_dir(path)))
        parent = self._meta_for(_path_of(parts[:existing]), True)
        for i in range(existing, len(parts)):
            current = _path_of(parts[:i + 1])
            try:
                os.mkdir(self._local(current))
            except FileExistsError:
                pass
            permission = leaf_permission if i == len(parts) - 1 else ancestor_permission
            parent = self._meta[current] = self._new_meta(True, user, parent.group, permission)

    def _last_existing_dir(self, path: str) -> str:
        """The longest existing prefix of ``path`` (whose ancestors are known directories)."""
        parts = _parts(path)
        existing = 0
        while existing < len(parts) and _stat(self._local(_path_of(parts[:existing + 1]))):
            existing += 1
        return _path_of(parts[:existing])

    # read operations

    def file_status(self, path: str) -> dict:
        with self._lock:
            local, st = self._inspect(path)
            if st is None:
                raise RemoteException("FileNotFoundException", f"File does not exist: {path}")
            return self._status(path, local, st, "")

    def list_status(self, path: str) -> List[dict]:
        """A directory's children by name; a file lists as itself with pathSuffix ''."""
        with self._lock:
            local, st = self._inspect(path)
            if st is None:
                raise RemoteException("FileNotFoundException", f"File {path} does not exist.")
            if not _is_dir(st):
                return [self._status(path, local, st, "")]
            statuses = []
            for name in self._children(local):
                child_local = os.path.join(local, name)
                child_st = _stat(child_local)
                if child_st is not None and self._inside(child_local):
                    statuses.append(self._status(_child(path, name), child_local, child_st, name))
            return statuses

    def content_summary(self, path: str) -> dict:
        with self._lock:
            local, st = self._inspect(path)
            if st is None:
                raise RemoteException("FileNotFoundException", f"File does not exist: {path}")
            directories = files = length = consumed = 0
            seen = set()
            pending = [(path, local, st)]
            while pending:
                current, current_local, current_st = pending.pop()
                if not _is_dir(current_st):
                    files += 1
                    length += current_st.st_size
                    consumed += current_st.st_size * self._meta_for(current, False).replication
                    continue
                if (current_st.st_dev, current_st.st_ino) in seen:
                    continue
                seen.add((current_st.st_dev, current_st.st_ino))
                directories += 1
                for name in self._children(current_local):
                    child_local = os.path.join(current_local, name)
                    child_st = _stat(child_local)
                    if child_st is not None and self._inside(child_local):
                        pending.append((_child(current, name), child_local, child_st))
            return {"directoryCount": directories, "fileCount": files, "length": length,
                    "quota": -1, "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}}

    def check_open(self, path: str, offset: int) -> None:
        """The NameNode's checks before redirecting an OPEN (``chooseDatanode``)."""
        with self._lock:
            _, st = self._inspect(path)
            if st is None:
                raise RemoteException("FileNotFoundException", f"File {path} not found.")
            length = 0 if _is_dir(st) else st.st_size
            if offset >= length > 0:
                raise RemoteException("IOException", f"Offset={offset} out of the range "
                                                     f"[0, {length}); OPEN, path={path}")

    def check_append(self, path: str) -> None:
        with self._lock:
            if self._inspect(path)[1] is None:
                raise RemoteException("FileNotFoundException", f"File {path} not found.")

    def open_for_read(self, path: str):
        """(binary file, length) of a file, for the DataNode's OPEN."""
        with self._lock:
            local, st = self._inspect(path)
            if st is None:
                raise RemoteException("FileNotFoundException", f"File does not exist: {path}")
            if _is_dir(st):
                raise RemoteException("FileNotFoundException", f"Path is not a file: {path}")
            handle = open(local, "rb", buffering=0)
            return handle, os.fstat(handle.fileno()).st_size

    # write operations

    def mkdirs(self, path: str, permission: Optional[int], user: str) -> bool:
        permission = DEFAULT_DIR_PERMISSION if permission is None else permission
        with self._lock:
            _, st = self._inspect(path, creating=True)
            if st is not None:
                if _is_dir(st):
                    return True
                raise RemoteException("FileAlreadyExistsException",
                                      f"Path is not a directory: {path}")
            self._create_dirs(path, user, permission, _implicit_uwx(permission))
            return True

    def rename(self, src: str, dst: str) -> bool:
        """``ClientProtocol.rename``: into an existing directory; false for a missing source,
        an existing destination, a missing destination parent or a move under itself."""
        with self._lock:
            src_local, src_st = self._inspect(src)
            dst_local, dst_st = self._inspect(dst, creating=True)
            if src_st is None or src == "/":
                return False
            if dst_st is not None and _is_dir(dst_st):
                dst = _child(dst, _parts(src)[-1])
                dst_local, dst_st = self._local(dst), _stat(self._local(dst))
            if dst == src:
                return True
            if dst.startswith(src + "/") or dst_st is not None:
                return False
            parent_st = _stat(self._local(_parent(dst)))
            if parent_st is None or not _is_dir(parent_st):
                return False
            os.rename(src_local, dst_local)
            self._move(src, dst)
            return True

    def delete(self, path: str, recursive: bool) -> bool:
        with self._lock:
            local, st = self._inspect(path)
            if st is None:
                return False
            if _is_dir(st) and not recursive and self._children(local):
                raise RemoteException("PathIsNotEmptyDirectoryException",
                                      f"`{path} is non empty': Directory is not empty")
            if path == "/":
                return False   # "the root is not allowed to be deleted"
            if os.path.islink(local) or not _is_dir(st):
                os.unlink(local)
            else:
                shutil.rmtree(local)
            self._forget(path)
            return True

    def _existing(self, path: str, message: str) -> Tuple[str, os.stat_result, _Meta]:
        local, st = self._inspect(path)
        if st is None:
            raise RemoteException("FileNotFoundException", message)
        return local, st, self._meta_for(path, _is_dir(st))

    def set_permission(self, path: str, permission: Optional[int]) -> None:
        with self._lock:
            _, st, meta = self._existing(path, f"File does not exist: {path}")
            meta.permission = (permission if permission is not None else
                               DEFAULT_DIR_PERMISSION if _is_dir(st) else DEFAULT_FILE_PERMISSION)

    def set_owner(self, path: str, owner: Optional[str], group: Optional[str]) -> None:
        if owner is None and group is None:
            raise RemoteException("IllegalArgumentException", "Both owner and group are empty.")
        with self._lock:
            meta = self._existing(path, f"File does not exist: {path}")[2]
            meta.owner = owner or meta.owner
            meta.group = group or meta.group

    def set_replication(self, path: str, replication: Optional[int], client: str) -> bool:
        replication = self.replication if replication is None else replication
        self._check_replication(path, replication, client)
        with self._lock:
            _, st = self._inspect(path)
            if st is None or _is_dir(st):
                return False
            self._meta_for(path, False).replication = replication
            return True

    def set_times(self, path: str, modification_time: int, access_time: int) -> None:
        with self._lock:
            local, st, meta = self._existing(path, f"File/Directory {path} does not exist.")
            if modification_time != -1:
                os.utime(local, ns=(st.st_atime_ns, modification_time * 1_000_000))
            if access_time != -1 and not meta.is_dir:
                meta.access_time = access_time

    @staticmethod
    def _check_replication(path: str, replication: int, client: str) -> None:
        if replication > MAX_REPLICATION:
            raise RemoteException("IOException",
                                  f"Requested replication factor of {replication} exceeds "
                                  f"maximum of {MAX_REPLICATION} for {path} from {client}")

    def _check_lease(self, path: str, user: str, client: str, op: str) -> None:
        holder = self._leases.get(path)
        if holder is not None:
            raise RemoteException(
                "AlreadyBeingCreatedException",
                f"Failed to {op} {path} for {user} on {client} because this file lease is "
                f"currently owned by {holder.user} on {holder.client}")

    def open_for_create(self, path: str, user: str, client: str, *, permission: Optional[int],
                        overwrite: bool, replication: Optional[int], block_size: Optional[int],
                        create_parent: bool):
        """``startFile`` for the DataNode's CREATE: (binary file, lease)."""
        replication = self.replication if replication is None else replication
        block_size = self.block_size if block_size is None else block_size
        self._check_replication(path, replication, client)
        if block_size < MIN_BLOCK_SIZE:
            raise RemoteException(
                "IOException", f"Specified block size is less than configured minimum value "
                               f"(dfs.namenode.fs-limits.min-block-size): {block_size} < "
                               f"{MIN_BLOCK_SIZE}")
        with self._lock:
            local, st = self._inspect(path, creating=True)
            if path == "/" or (st is not None and _is_dir(st)):
                raise RemoteException("FileAlreadyExistsException",
                                      f"{path} already exists as a directory")
            parent = _parent(path)
            parent_st = _stat(self._local(parent))
            if parent_st is None and not create_parent:
                raise RemoteException("FileNotFoundException",
                                      f"Parent directory doesn't exist: {parent}")
            if st is not None:
                if not overwrite:
                    self._check_lease(path, user, client, "CREATE_FILE")
                    raise RemoteException("FileAlreadyExistsException",
                                          f"{path} for client {client} already exists")
                os.unlink(local)
                self._forget(path)
            if parent_st is None:
                ancestors = _implicit_uwx(
                    self._meta_for(self._last_existing_dir(parent), True).permission)
                self._create_dirs(parent, user, ancestors, ancestors)
            handle = open(local, "xb")
            self._meta[path] = self._new_meta(
                False, user, self._meta_for(parent, True).group,
                DEFAULT_FILE_PERMISSION if permission is None else permission,
                replication, block_size)
            self._meta[path].access_time = _millis(time.time_ns())
            lease = self._leases[path] = _Lease(path, user, client)
            return handle, lease

    def open_for_append(self, path: str, user: str, client: str):
        """``appendFile`` for the DataNode's APPEND: (binary file, lease)."""
        with self._lock:
            local, st = self._inspect(path)
            if st is not None and _is_dir(st):
                raise RemoteException("FileAlreadyExistsException",
                                      f"Cannot append to directory {path}; already exists as a "
                                      f"directory.")
            if st is None:
                raise RemoteException("FileNotFoundException",
                                      f"Failed to append to non-existent file {path} for client "
                                      f"{client}")
            self._check_lease(path, user, client, "APPEND_FILE")
            handle = open(local, "ab")
            lease = self._leases[path] = _Lease(path, user, client)
            return handle, lease

    def release(self, lease: _Lease) -> None:
        with self._lock:
            if self._leases.get(lease.path) is lease:
                del self._leases[lease.path]


# -- HTTP -------------------------------------------------------------------------------------

class _BodyError(Exception):
    """The request body is malformed or ended early; the connection cannot be reused."""


_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    """What both roles share: request parsing, streamed bodies, JSON replies and errors."""

    protocol_version = "HTTP/1.1"
    server_version = "VegaWebHDFS/1.0"
    timeout = 60            # an idle keep-alive connection, or a stalled peer, is dropped
    disable_nagle_algorithm = True   # headers and body go in separate writes
    role = ""
    json_type = "application/json"

    # per request

    def parse_request(self) -> bool:
        self._expects_continue = False
        self._continue_sent = False
        self._body_state = "unread"      # unread | reading | done
        self._started = False
        self._chunk = IO_CHUNK
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        # Answered only when the body is wanted, so a refused write costs the client no upload.
        self._expects_continue = True
        return True

    def send_response(self, code, message=None):
        self._started = True
        super().send_response(code, message)

    def log_message(self, format, *args):
        if self.server.owner.log_requests:
            sys.stderr.write(f"[webhdfs {self.role}] {self.address_string()} - "
                             f"{format % args}\n")

    def do_GET(self):
        self._serve("GET")

    def do_PUT(self):
        self._serve("PUT")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            url = urllib.parse.urlsplit(self.path)
            if url.path != PREFIX and not url.path.startswith(PREFIX + "/"):
                self._discard_body()
                self._send(404, f"Not Found: WebHDFS paths start with {PREFIX}/\n".encode(),
                           "text/plain; charset=utf-8")
                return
            try:
                raw_path = urllib.parse.unquote(url.path[len(PREFIX):], errors="strict")
            except UnicodeDecodeError:
                raise RemoteException("InvalidPathException",
                                      f"Invalid path name {url.path[len(PREFIX):]}") from None
            self.handle_webhdfs(method, raw_path, _Params(url.query), url.query)
            self._discard_body()   # a body nobody wanted (a GET with one) must not be parsed
        except RemoteException as err:
            self._fail(err)
        except _BodyError as err:
            self.close_connection = True
            self._fail(RemoteException("IllegalArgumentException", str(err)))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except OSError as err:
            self._fail(RemoteException("IOException", str(err)))
        except Exception as err:   # a bug here must not take the server down
            log.exception("webhdfs %s: %s %s failed", self.role, method, self.path)
            self._fail(RemoteException("RuntimeException", f"{type(err).__name__}: {err}"))

    def handle_webhdfs(self, method: str, raw_path: str, params: _Params, query: str) -> None:
        raise NotImplementedError

    # replies

    def _send(self, status: int, body: bytes = b"", content_type: Optional[str] = None,
              headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_json(self, status: int, document: dict) -> None:
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
        self._send(status, body, self.json_type,
                   (("Cache-Control", "no-cache"), ("Pragma", "no-cache")))

    def _fail(self, err: RemoteException) -> None:
        if self._started:        # mid-reply: all that can be said is to hang up
            self.close_connection = True
            return
        try:
            self._discard_body()
            self._send_json(err.status, err.to_json())
        except OSError:
            self.close_connection = True

    # request bodies

    def _body_framing(self) -> Tuple[str, int]:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if [c.strip().lower() for c in encoding.split(",") if c.strip()] == ["chunked"]:
                return "chunked", -1
            raise _BodyError(f"Unsupported Transfer-Encoding: {encoding}")
        length = self.headers.get("Content-Length")
        if length is None:
            return "length", 0
        if not length.strip().isdigit():
            raise _BodyError(f"Invalid Content-Length: {length}")
        return "length", int(length)

    def _body(self) -> Iterator[bytes]:
        """The request body in pieces of at most ``self._chunk`` bytes, read as they come."""
        framing, length = self._body_framing()
        self._body_state = "reading"
        if self._expects_continue and (framing == "chunked" or length > 0):
            self.send_response_only(100)
            self.end_headers()
            self._continue_sent = True
        pieces = self._chunked() if framing == "chunked" else self._exactly(length)
        yield from pieces
        self._body_state = "done"

    def _exactly(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining:
            data = self.rfile.read(min(self._chunk, remaining))
            if not data:
                raise _BodyError(f"Request body ended after {length - remaining} of "
                                 f"{length} bytes")
            remaining -= len(data)
            yield data

    def _chunked(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size):
                raise _BodyError("Malformed chunked request body: bad chunk size line")
            remaining = int(size, 16)
            if remaining == 0:
                break
            while remaining:
                data = self.rfile.read(min(self._chunk, remaining))
                if not data:
                    raise _BodyError("Malformed chunked request body: truncated chunk")
                remaining -= len(data)
                yield data
            if self.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n"):
                raise _BodyError("Malformed chunked request body: chunk not followed by CRLF")
        for _ in range(100):     # trailer fields, then the empty line
            line = self.rfile.readline(MAX_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return
            if not line.endswith(b"\n"):
                break
        raise _BodyError("Malformed chunked request body: bad trailer")

    def _discard_body(self) -> None:
        """Read and drop an unread body, so the connection can carry the next request; a body
        already half read, too big, never sent (the client waits for 100 Continue) or
        malformed closes the connection instead."""
        if self._body_state == "done":
            return
        if self._body_state == "reading":
            self.close_connection = True
            return
        try:
            framing, length = self._body_framing()
            if framing == "length" and length == 0:
                self._body_state = "done"
                return
            if (self._expects_continue and not self._continue_sent) or length > DRAIN_LIMIT:
                self.close_connection = True
                return
            total = 0
            for piece in self._body():
                total += len(piece)
                if total > DRAIN_LIMIT:
                    self.close_connection = True
                    return
        except (_BodyError, OSError):
            self.close_connection = True


class _NameNodeHandler(_Handler):
    """Namespace operations, and 307 redirects to the DataNode for the data ones."""

    role = "namenode"
    json_type = "application/json"

    _ACTIONS = {
        ("GET", "OPEN"): "_open", ("GET", "GETFILESTATUS"): "_get_file_status",
        ("GET", "LISTSTATUS"): "_list_status", ("GET", "GETCONTENTSUMMARY"): "_content_summary",
        ("GET", "GETHOMEDIRECTORY"): "_home_directory", ("GET", "GETTRASHROOT"): "_trash_root",
        ("PUT", "CREATE"): "_create", ("PUT", "MKDIRS"): "_mkdirs", ("PUT", "RENAME"): "_rename",
        ("PUT", "SETPERMISSION"): "_set_permission", ("PUT", "SETOWNER"): "_set_owner",
        ("PUT", "SETREPLICATION"): "_set_replication", ("PUT", "SETTIMES"): "_set_times",
        ("POST", "APPEND"): "_append", ("DELETE", "DELETE"): "_delete",
    }

    def handle_webhdfs(self, method, raw_path, params, query):
        op = params.op(method)
        args = params.declared(method)
        user = params.user()
        path = self.server.namespace.normalize(raw_path)
        action = self._ACTIONS.get((method, op))
        if action is None:
            raise RemoteException("UnsupportedOperationException", f"op={op} is not supported")
        self._discard_body()   # the NameNode never takes data, even if a client sends some
        getattr(self, action)(path, args, user, query)

    def _redirect(self, path: str, query: str, noredirect: bool) -> None:
        location = self.server.owner.datanode_location(path, query, self.headers.get("Host"))
        if noredirect:
            self._send_json(200, {"Location": location})
        else:
            self._send(307, b"", "application/octet-stream", (("Location", location),))

    def _open(self, path, args, user, query):
        self.server.namespace.check_open(path, args["offset"])
        self._redirect(path, query, args["noredirect"])

    def _create(self, path, args, user, query):
        self._redirect(path, query, args["noredirect"])   # the DataNode creates (as HDFS does)

    def _append(self, path, args, user, query):
        self.server.namespace.check_append(path)
        self._redirect(path, query, args["noredirect"])

    def _get_file_status(self, path, args, user, query):
        self._send_json(200, {"FileStatus": self.server.namespace.file_status(path)})

    def _list_status(self, path, args, user, query):
        statuses = self.server.namespace.list_status(path)
        self._send_json(200, {"FileStatuses": {"FileStatus": statuses}})

    def _content_summary(self, path, args, user, query):
        self._send_json(200, {"ContentSummary": self.server.namespace.content_summary(path)})

    def _home_directory(self, path, args, user, query):
        self._send_json(200, {"Path": f"/user/{user}"})

    def _trash_root(self, path, args, user, query):
        self._send_json(200, {"Path": f"/user/{user}/.Trash"})

    def _mkdirs(self, path, args, user, query):
        created = self.server.namespace.mkdirs(path, args["permission"], user)
        self._send_json(200, {"boolean": created})

    def _rename(self, path, args, user, query):
        destination = args["destination"]
        if destination is None:
            raise RemoteException("IllegalArgumentException",
                                  "Required param destination for op: RENAME is null or empty")
        namespace = self.server.namespace
        self._send_json(200, {"boolean": namespace.rename(path, namespace.normalize(destination))})

    def _delete(self, path, args, user, query):
        self._send_json(200, {"boolean": self.server.namespace.delete(path, args["recursive"])})

    def _set_permission(self, path, args, user, query):
        self.server.namespace.set_permission(path, args["permission"])
        self._send(200, b"", "application/octet-stream")

    def _set_owner(self, path, args, user, query):
        self.server.namespace.set_owner(path, args["owner"], args["group"])
        self._send(200, b"", "application/octet-stream")

    def _set_replication(self, path, args, user, query):
        changed = self.server.namespace.set_replication(path, args["replication"],
                                                        self.client_address[0])
        self._send_json(200, {"boolean": changed})

    def _set_times(self, path, args, user, query):
        self.server.namespace.set_times(path, args["modificationtime"], args["accesstime"])
        self._send(200, b"", "application/octet-stream")


class _DataNodeHandler(_Handler):
    """The bytes: CREATE (PUT), APPEND (POST) and OPEN (GET), reached through a redirect."""

    role = "datanode"
    json_type = "application/json; charset=utf-8"

    _ACTIONS = {("PUT", "CREATE"): "_create", ("POST", "APPEND"): "_append",
                ("GET", "OPEN"): "_open"}

    def handle_webhdfs(self, method, raw_path, params, query):
        op = params.raw("op")
        action = self._ACTIONS.get((method, (op or "").upper()))
        if action is None:
            raise RemoteException("IllegalArgumentException", f"Invalid operation {op}")
        if not params.raw("namenoderpcaddress"):
            raise RemoteException("IllegalArgumentException",
                                  "namenoderpcaddress is not specified: DataNode URLs come from "
                                  "a NameNode redirect")
        args = params.declared(method)
        if args["buffersize"] is not None:
            self._chunk = min(max(args["buffersize"], MIN_IO_CHUNK), MAX_IO_CHUNK)
        user = params.user()
        getattr(self, action)(self.server.namespace.normalize(raw_path), args, user)

    def _receive(self, handle, lease) -> None:
        try:
            with handle:
                for piece in self._body():
                    handle.write(piece)
        finally:
            self.server.namespace.release(lease)

    def _create(self, path, args, user):
        handle, lease = self.server.namespace.open_for_create(
            path, user, self.client_address[0], permission=args["permission"],
            overwrite=args["overwrite"], replication=args["replication"],
            block_size=args["blocksize"], create_parent=args["createparent"])
        self._receive(handle, lease)
        location = (f"webhdfs://{self.server.owner.namenode_netloc(self.headers.get('Host'))}"
                    f"{urllib.parse.quote(path, safe=_PATH_SAFE)}")
        self._send(201, b"", None, (("Location", location), ("Access-Control-Allow-Origin", "*")))

    def _append(self, path, args, user):
        handle, lease = self.server.namespace.open_for_append(path, user, self.client_address[0])
        self._receive(handle, lease)
        self._send(200)

    def _open(self, path, args, user):
        handle, size = self.server.namespace.open_for_read(path)
        with handle:
            offset = args["offset"]
            if offset > size:
                raise RemoteException("EOFException", "Cannot seek after EOF")
            count = size - offset if args["length"] is None else min(size - offset, args["length"])
            handle.seek(offset)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(count))
            self.send_header("Access-Control-Allow-Methods", "GET")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            while count > 0:
                data = handle.read(min(self._chunk, count))
                if not data:   # the file shrank under us: the promised length cannot be kept
                    self.close_connection = True
                    return
                self.wfile.write(data)
                count -= len(data)


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection, every one tracked so that stopping can end them all."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, handler, owner: "WebHDFSServer", family: int):
        self.address_family = family
        self.owner = owner
        self.namespace = owner._namespace
        self._connections: Dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self):
        # HTTPServer.server_bind looks the host name up (getfqdn), which can hang without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"webhdfs-{self.RequestHandlerClass.role}-connection",
                                  daemon=True)
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._connections_lock:
                self._connections.pop(request, None)

    def handle_error(self, request, client_address):
        log.debug("webhdfs: connection from %s ended with an error", client_address,
                  exc_info=True)

    def close_connections(self, timeout: float) -> List[threading.Thread]:
        """End every connection: reading stops at once (an idle keep-alive connection closes,
        a reply being written may finish); whatever still runs after ``timeout`` seconds is
        cut off.  Returns the threads still alive after that (normally none)."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for how in (socket.SHUT_RD, socket.SHUT_RDWR):
            for sock, _ in connections:
                try:
                    sock.shutdown(how)
                except OSError:
                    pass
            deadline = time.monotonic() + timeout
            for _, thread in connections:
                thread.join(max(0.0, deadline - time.monotonic()))
            connections = [(s, t) for s, t in connections if t.is_alive()]
            if not connections:
                break
        return [t for _, t in connections]


class WebHDFSServer:
    """A NameNode and a DataNode over ``root_dir``; port 0 picks a free port.

    ``start()`` returns once both ports accept connections; ``stop()`` ends every
    connection and thread.  ``superuser``/``supergroup`` own what is found on disk,
    ``replication`` and ``block_size`` are the defaults of new files.
    """

    def __init__(self, root_dir: str, host: str = "127.0.0.1", namenode_port: int = 0,
                 datanode_port: int = 0, *, superuser: str = "hdfs",
                 supergroup: str = "supergroup", replication: int = 1,
                 block_size: int = DEFAULT_BLOCK_SIZE, log_requests: bool = False):
        os.makedirs(root_dir, exist_ok=True)
        self.root_dir = os.path.realpath(root_dir)
        self.host = host
        self.log_requests = log_requests
        self._requested_ports = (namenode_port, datanode_port)
        self._namespace = _Namespace(self.root_dir, superuser=superuser, supergroup=supergroup,
                                     replication=replication, block_size=block_size)
        self._servers: List[_HTTPServer] = []
        self._threads: List[threading.Thread] = []
        self._state = "new"
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        where = (f"namenode={self.namenode_url} datanode={self.datanode_url}"
                 if self._state == "running" else self._state)
        return f"<WebHDFSServer {self.root_dir} {where}>"

    def __enter__(self) -> "WebHDFSServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "WebHDFSServer":
        with self._state_lock:
            if self._state != "new":
                raise RuntimeError(f"a WebHDFSServer starts once (this one is {self._state})")
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            servers: List[_HTTPServer] = []
            try:
                for handler, port in zip((_NameNodeHandler, _DataNodeHandler),
                                         self._requested_ports):
                    servers.append(_HTTPServer((self.host, port), handler, self, family))
            except BaseException:
                for server in servers:
                    server.server_close()
                raise
            self._servers = servers
            for server in servers:
                thread = threading.Thread(target=server.serve_forever,
                                          kwargs={"poll_interval": 0.05},
                                          name=f"webhdfs-{server.RequestHandlerClass.role}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
            self._state = "running"
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end open connections (see ``close_connections``), join every thread.
        Stopping twice, or a server never started, is harmless."""
        with self._state_lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopping"
        # serve_forever notices shutdown within its poll interval: wait for both at once.
        stoppers = [threading.Thread(target=server.shutdown, name="webhdfs-stop")
                    for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers:
            server.server_close()
        for thread in self._threads:
            thread.join()
        leftovers = [t for server in self._servers for t in server.close_connections(timeout)]
        if leftovers:
            log.warning("webhdfs: %d connection thread(s) did not end", len(leftovers))
        with self._state_lock:
            self._state = "stopped"

    # addresses

    def _port(self, index: int) -> int:
        if not self._servers:
            raise RuntimeError("the WebHDFSServer is not started")
        return self._servers[index].server_address[1]

    @property
    def namenode_port(self) -> int:
        return self._port(0)

    @property
    def datanode_port(self) -> int:
        return self._port(1)

    def _url_host(self, host_header: Optional[str] = None) -> str:
        """The host name clients use: the bound one, or for a wildcard bind the name the
        client reached us by (its Host header), else loopback."""
        if self.host not in ("", "0.0.0.0", "::"):
            return self.host
        if host_header:
            name = urllib.parse.urlsplit("//" + host_header).hostname
            if name:
                return name
        return "::1" if self.host == "::" else "127.0.0.1"

    def namenode_netloc(self, host_header: Optional[str] = None) -> str:
        return _netloc(self._url_host(host_header), self.namenode_port)

    @property
    def namenode_url(self) -> str:
        return f"http://{self.namenode_netloc()}"

    @property
    def datanode_url(self) -> str:
        return f"http://{_netloc(self._url_host(), self.datanode_port)}"

    def datanode_location(self, path: str, query: str, host_header: Optional[str]) -> str:
        """Where the NameNode sends a data operation: the DataNode, with the client's query
        string exactly as sent (every parameter) and ``namenoderpcaddress`` appended."""
        host = self._url_host(host_header)
        kept = [piece for piece in query.split("&") if piece and
                urllib.parse.unquote_plus(piece.split("=", 1)[0]).lower() != "namenoderpcaddress"]
        kept.append("namenoderpcaddress=" + urllib.parse.quote(
            _netloc(host, self.namenode_port), safe=":[]"))
        return (f"http://{_netloc(host, self.datanode_port)}{PREFIX}"
                f"{urllib.parse.quote(path, safe=_PATH_SAFE)}?{'&'.join(kept)}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vega_runtime.testing.webhdfs",
        description="Serve a directory over WebHDFS: a stand-in HDFS NameNode and DataNode.")
    parser.add_argument("--root", required=True, help="the directory HDFS path / maps to")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--namenode-port", type=int, default=9870,
                        help="NameNode (WebHDFS) port; 0 picks one (default 9870)")
    parser.add_argument("--datanode-port", type=int, default=0,
                        help="DataNode port; 0 picks one (default 0)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    server = WebHDFSServer(args.root, args.host, args.namenode_port, args.datanode_port,
                           log_requests=not args.quiet)
    try:
        server.start()
    except OSError as err:
        print(f"webhdfs: cannot listen on {args.host}: {err}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(f"NameNode (WebHDFS): {server.namenode_url}", flush=True)
    print(f"DataNode:           {server.datanode_url}", flush=True)
    print(f"Serving {server.root_dir} until Ctrl-C", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
