"""The namespace: HDFS paths over a local directory, and what HDFS keeps about each inode.

HDFS path ``/a/b`` is ``ROOT/a/b``.  Owners, groups, permissions, replication and
block sizes live in memory (an entry found on disk without them belongs to the
superuser); modification times and lengths are the local file system's.  A
``Namespace`` is not thread-safe: its user, the ``Namesystem``, holds a lock.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from .errors import RemoteException
from .permissions import EXECUTE, Caller

__all__ = ["Namespace", "Meta", "Lease", "DEFAULT_FILE_PERMISSION", "DEFAULT_DIR_PERMISSION"]

ROOT_INODE_ID = 16385                           # INodeId.ROOT_INODE_ID; new inodes follow
DEFAULT_FILE_PERMISSION = 0o644
DEFAULT_DIR_PERMISSION = 0o755

#: (HDFS path, local path, stat) of an entry that exists.
Entry = Tuple[str, str, os.stat_result]


@dataclass
class Meta:
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
class Lease:
    """The one writer of a file, as HDFS's lease manager records it."""

    path: str
    user: str
    client: str


def parts_of(path: str) -> List[str]:
    return [p for p in path.split("/") if p]


def path_of(parts: List[str]) -> str:
    return "/" + "/".join(parts)


def child_of(path: str, name: str) -> str:
    return path.rstrip("/") + "/" + name


def parent_of(path: str) -> str:
    return path_of(parts_of(path)[:-1])


def stat_of(local: str) -> Optional[os.stat_result]:
    try:
        return os.stat(local)
    except OSError:
        return None


def is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def millis(ns: int) -> int:
    return ns // 1_000_000


def implicit_uwx(permission: int) -> int:
    """``FSDirMkdirOp.addImplicitUwx``: owner gains write and execute (the sticky bit goes).

    >>> oct(implicit_uwx(0o1550))
    '0o750'
    """
    return ((((permission >> 6) & 0o7) | 0o3) << 6) | (permission & 0o77)


class Namespace:
    """Paths, inode metadata and leases of the file tree under ``root``."""

    def __init__(self, root: str, *, superuser: str, supergroup: str, replication: int,
                 block_size: int):
        self.root = os.path.realpath(root)
        self.superuser, self.supergroup = superuser, supergroup
        self.replication, self.block_size = replication, block_size
        self._next_id = ROOT_INODE_ID + 1
        self._meta: Dict[str, Meta] = {"/": Meta(True, ROOT_INODE_ID, superuser, supergroup,
                                                 DEFAULT_DIR_PERMISSION)}
        self.leases: Dict[str, Lease] = {}

    # paths

    @staticmethod
    def normalize(raw: str) -> str:
        """The HDFS path of a URL path: ``//`` and trailing ``/`` collapse; ``.``, ``..`` and
        names with ``:`` are invalid, as ``DFSUtil.isValidName`` says.

        >>> Namespace.normalize("//a//b/")
        '/a/b'
        """
        parts = parts_of(raw)
        for part in parts:
            if part in (".", "..") or ":" in part or "\0" in part:
                raise RemoteException("InvalidPathException",
                                      f"Invalid path name {path_of(parts)}")
        return path_of(parts)

    def local(self, path: str) -> str:
        local = os.path.join(self.root, *parts_of(path))
        if not self.inside(local):
            raise RemoteException("AccessControlException",
                                  f"Permission denied: {path} resolves outside the server root")
        return local

    def inside(self, local: str) -> bool:
        real = os.path.realpath(local)
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def inspect(self, path: str, caller: Caller,
                creating: bool = False) -> Tuple[str, Optional[os.stat_result]]:
        """The local path and stat of ``path`` (None if missing), once ``caller`` may traverse
        to it: EXECUTE on ``/`` and every existing ancestor, outermost first.  An ancestor
        that is a file is an error: ParentNotDirectoryException when creating, else
        AccessControlException, as ``FSDirectory.resolvePath`` reports it."""
        local = self.local(path)
        parts = parts_of(path)
        current = self.root
        for depth in range(len(parts)):
            ancestor = path_of(parts[:depth])
            if depth:
                current = os.path.join(current, parts[depth - 1])
                st = stat_of(current)
                if st is None:
                    return local, None
                if not is_dir(st):
                    raise RemoteException(
                        "ParentNotDirectoryException" if creating else "AccessControlException",
                        f"{ancestor} (is not a directory)")
            caller.check(ancestor, True, EXECUTE)
        return local, stat_of(local)

    def existing(self, path: str, caller: Caller, message: str) -> Tuple[str, os.stat_result]:
        """``inspect``, with a FileNotFoundException saying ``message`` if nothing is there."""
        local, st = self.inspect(path, caller)
        if st is None:
            raise RemoteException("FileNotFoundException", message)
        return local, st

    def children(self, local: str) -> List[str]:
        try:
            names = os.listdir(local)
        except OSError:
            return []
        return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))

    def entries(self, path: str, local: str) -> Iterator[Tuple[str, Entry]]:
        """(name, entry) of each child of a directory that exists inside the root, by name."""
        for name in self.children(local):
            child_local = os.path.join(local, name)
            child_st = stat_of(child_local)
            if child_st is not None and self.inside(child_local):
                yield name, (child_of(path, name), child_local, child_st)

    def subtree(self, path: str, local: str, st: os.stat_result) -> Iterator[Entry]:
        """``path`` and every entry below it; a directory reached twice (through symlinks) is
        visited once."""
        seen = set()
        pending = [(path, local, st)]
        while pending:
            entry = pending.pop()
            current, current_local, current_st = entry
            if is_dir(current_st):
                if (current_st.st_dev, current_st.st_ino) in seen:
                    continue
                seen.add((current_st.st_dev, current_st.st_ino))
                pending.extend(e for _, e in self.entries(current, current_local))
            yield entry

    def last_existing_dir(self, path: str) -> str:
        """The longest existing prefix of ``path`` (whose ancestors are known directories)."""
        parts = parts_of(path)
        existing = 0
        while existing < len(parts) and stat_of(self.local(path_of(parts[:existing + 1]))):
            existing += 1
        return path_of(parts[:existing])

    # metadata

    def new_meta(self, is_dir: bool, owner: str, group: str, permission: int,
                 replication: int = 0, block_size: int = 0) -> Meta:
        meta = Meta(is_dir, self._next_id, owner, group, permission, replication, block_size)
        self._next_id += 1
        return meta

    def meta_for(self, path: str, is_dir: bool) -> Meta:
        """The metadata of ``path``; an entry put there behind the server's back is the
        superuser's, with default permission, replication and block size."""
        meta = self._meta.get(path)
        if meta is None or meta.is_dir != is_dir:
            meta = self.new_meta(
                is_dir, self.superuser, self.supergroup,
                DEFAULT_DIR_PERMISSION if is_dir else DEFAULT_FILE_PERMISSION,
                0 if is_dir else self.replication, 0 if is_dir else self.block_size)
            self._meta[path] = meta
        return meta

    def set_meta(self, path: str, meta: Meta) -> None:
        self._meta[path] = meta

    def _keys_under(self, table: dict, path: str) -> List[str]:
        under = path.rstrip("/") + "/"
        return [k for k in table if k == path or k.startswith(under)]

    def forget(self, path: str) -> None:
        """Drop the metadata and leases of ``path`` and everything under it."""
        for table in (self._meta, self.leases):
            for key in self._keys_under(table, path):
                del table[key]

    def move(self, src: str, dst: str) -> None:
        """Metadata and leases of ``src`` and everything under it follow it to ``dst``."""
        for table in (self._meta, self.leases):
            for key in self._keys_under(table, src):
                value = table.pop(key)
                table[dst + key[len(src):]] = value
                if isinstance(value, Lease):
                    value.path = dst + key[len(src):]

    def status(self, entry: Entry, suffix: str) -> dict:
        """The spec's FileStatus properties, plus childrenNum, fileId and storagePolicy."""
        path, local, st = entry
        directory = is_dir(st)
        meta = self.meta_for(path, directory)
        mtime = millis(st.st_mtime_ns)
        return {
            "accessTime": 0 if directory else (mtime if meta.access_time is None
                                               else meta.access_time),
            "blockSize": 0 if directory else meta.block_size,
            "childrenNum": len(self.children(local)) if directory else 0,
            "fileId": meta.file_id,
            "group": meta.group,
            "length": 0 if directory else st.st_size,
            "modificationTime": mtime,
            "owner": meta.owner,
            "pathSuffix": suffix,
            "permission": format(meta.permission, "o"),
            "replication": 0 if directory else meta.replication,
            "storagePolicy": 0,
            "type": "DIRECTORY" if directory else "FILE",
        }

    def create_dirs(self, path: str, user: str, leaf_permission: int,
                    ancestor_permission: int) -> None:
        """``mkdir -p``: each missing directory of ``path`` is the user's, in its parent's
        group (HDFS's BSD rule), with ``ancestor_permission`` except the last."""
        parts = parts_of(path)
        existing = len(parts_of(self.last_existing_dir(path)))
        parent = self.meta_for(path_of(parts[:existing]), True)
        for i in range(existing, len(parts)):
            current = path_of(parts[:i + 1])
            try:
                os.mkdir(self.local(current))
            except FileExistsError:
                pass
            permission = leaf_permission if i == len(parts) - 1 else ancestor_permission
            parent = self._meta[current] = self.new_meta(True, user, parent.group, permission)
