"""The NameNode's operations on the namespace (HDFS's ``FSNamesystem`` and ``FSDir*Op``).

Every operation takes the calling user and, when permissions are enforced, makes
the checks of the HDFS Permissions Guide, in Hadoop's order:

* every operation: EXECUTE on each existing ancestor (traversal);
* LISTSTATUS of a directory: READ_EXECUTE on it; GETCONTENTSUMMARY: READ_EXECUTE on
  every directory below; OPEN: READ on the file;
* CREATE and MKDIRS: WRITE on the deepest existing ancestor; CREATE with overwrite
  also WRITE on the file it replaces; APPEND, SETREPLICATION, SETTIMES: WRITE on
  the path;
* DELETE and RENAME: WRITE on the parent of what goes (and the sticky bit:
  someone else's entry in a sticky directory stays); DELETE of a non-empty
  directory also ALL on it and every non-empty directory below; RENAME also WRITE
  on the destination's deepest existing ancestor;
* SETPERMISSION and SETOWNER: the caller owns the path; SETOWNER gives a path
  to another user only as the superuser, and to a group only the caller is in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from typing import Iterator, List, Optional

from .errors import RemoteException
from .namespace import (
    DEFAULT_DIR_PERMISSION,
    DEFAULT_FILE_PERMISSION,
    Lease,
    Namespace,
    child_of,
    implicit_uwx,
    is_dir,
    millis,
    parent_of,
    parts_of,
    stat_of,
)
from .permissions import ALL, READ, READ_EXECUTE, WRITE, Caller

__all__ = ["Namesystem", "MIN_BLOCK_SIZE", "MAX_REPLICATION"]

MIN_BLOCK_SIZE = 1024 * 1024                    # dfs.namenode.fs-limits.min-block-size
MAX_REPLICATION = 512                           # dfs.replication.max


class Namesystem:
    """The file system the NameNode and the DataNode share, under one lock."""

    def __init__(self, root: str, *, superuser: str, supergroup: str, replication: int,
                 block_size: int, enforce_permissions: bool):
        self.namespace = Namespace(root, superuser=superuser, supergroup=supergroup,
                                   replication=replication, block_size=block_size)
        self.enforce_permissions = enforce_permissions
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def _operation(self, user: str) -> Iterator[Caller]:
        """The lock held for one operation, and who is calling."""
        ns = self.namespace
        with self._lock:
            yield Caller(user, superuser=ns.superuser, supergroup=ns.supergroup,
                         enforced=self.enforce_permissions, inode_of=ns.meta_for)

    @staticmethod
    def normalize(raw: str) -> str:
        return Namespace.normalize(raw)

    # checks shared by several operations

    def _check_parent_write(self, caller: Caller, path: str, st) -> None:
        """What deleting or moving ``path`` asks of its parent: WRITE, and the sticky bit."""
        if not caller.checking or path == "/":
            return
        parent = parent_of(path)
        if st is not None:
            caller.check_sticky_bit(parent, path, is_dir(st))
        if stat_of(self.namespace.local(parent)) is not None:
            caller.check(parent, True, WRITE)

    def _check_ancestor_write(self, caller: Caller, path: str) -> None:
        """WRITE on the deepest existing ancestor, where ``path`` is to appear."""
        if caller.checking and path != "/":
            caller.check(self.namespace.last_existing_dir(parent_of(path)), True, WRITE)

    def _check_subtree(self, caller: Caller, entry, access: int, skip_empty: bool) -> None:
        """``access`` to the directory ``entry`` and every directory below it."""
        if not caller.checking or not is_dir(entry[2]):
            return
        for path, local, st in self.namespace.subtree(*entry):
            if is_dir(st) and not (skip_empty and not self.namespace.children(local)):
                caller.check(path, True, access)

    @staticmethod
    def _check_replication(path: str, replication: int, client: str) -> None:
        if replication > MAX_REPLICATION:
            raise RemoteException("IOException",
                                  f"Requested replication factor of {replication} exceeds "
                                  f"maximum of {MAX_REPLICATION} for {path} from {client}")

    def _check_lease(self, path: str, user: str, client: str, op: str) -> None:
        holder = self.namespace.leases.get(path)
        if holder is not None:
            raise RemoteException(
                "AlreadyBeingCreatedException",
                f"Failed to {op} {path} for {user} on {client} because this file lease is "
                f"currently owned by {holder.user} on {holder.client}")

    def _lease(self, path: str, user: str, client: str) -> Lease:
        lease = self.namespace.leases[path] = Lease(path, user, client)
        return lease

    # read operations

    def file_status(self, path: str, user: str) -> dict:
        with self._operation(user) as caller:
            local, st = self.namespace.existing(path, caller, f"File does not exist: {path}")
            return self.namespace.status((path, local, st), "")

    def list_status(self, path: str, user: str) -> List[dict]:
        """A directory's children by name; a file lists as itself with pathSuffix ''."""
        with self._operation(user) as caller:
            local, st = self.namespace.existing(path, caller, f"File {path} does not exist.")
            if not is_dir(st):
                return [self.namespace.status((path, local, st), "")]
            caller.check(path, True, READ_EXECUTE)
            return [self.namespace.status(entry, name)
                    for name, entry in self.namespace.entries(path, local)]

    def content_summary(self, path: str, user: str) -> dict:
        with self._operation(user) as caller:
            local, st = self.namespace.existing(path, caller, f"File does not exist: {path}")
            self._check_subtree(caller, (path, local, st), READ_EXECUTE, skip_empty=False)
            directories = files = length = consumed = 0
            for current, _, current_st in self.namespace.subtree(path, local, st):
                if is_dir(current_st):
                    directories += 1
                    continue
                files += 1
                length += current_st.st_size
                replication = self.namespace.meta_for(current, False).replication
                consumed += current_st.st_size * replication
            return {"directoryCount": directories, "fileCount": files, "length": length,
                    "quota": -1, "spaceConsumed": consumed, "spaceQuota": -1, "typeQuota": {}}

    def check_open(self, path: str, offset: int, user: str) -> None:
        """The NameNode's checks before redirecting an OPEN (``chooseDatanode``): READ is
        checked when it asks for block locations, that is of a file with data."""
        with self._operation(user) as caller:
            _, st = self.namespace.existing(path, caller, f"File {path} not found.")
            length = 0 if is_dir(st) else st.st_size
            if offset >= length > 0:
                raise RemoteException("IOException", f"Offset={offset} out of the range "
                                                     f"[0, {length}); OPEN, path={path}")
            if length > 0:
                caller.check(path, False, READ)

    def check_append(self, path: str, user: str) -> None:
        with self._operation(user) as caller:
            self.namespace.existing(path, caller, f"File {path} not found.")

    def open_for_read(self, path: str, user: str):
        """(binary file, length) of a file, for the DataNode's OPEN."""
        with self._operation(user) as caller:
            local, st = self.namespace.existing(path, caller, f"File does not exist: {path}")
            if is_dir(st):
                raise RemoteException("FileNotFoundException", f"Path is not a file: {path}")
            caller.check(path, False, READ)
            handle = open(local, "rb", buffering=0)
            return handle, os.fstat(handle.fileno()).st_size

    # write operations

    def mkdirs(self, path: str, permission: Optional[int], user: str) -> bool:
        permission = DEFAULT_DIR_PERMISSION if permission is None else permission
        with self._operation(user) as caller:
            _, st = self.namespace.inspect(path, caller, creating=True)
            if st is not None:
                if is_dir(st):
                    return True
                raise RemoteException("FileAlreadyExistsException",
                                      f"Path is not a directory: {path}")
            self._check_ancestor_write(caller, path)
            self.namespace.create_dirs(path, user, permission, implicit_uwx(permission))
            return True

    def rename(self, src: str, dst: str, user: str) -> bool:
        """``ClientProtocol.rename``: into an existing directory; false for a missing source,
        an existing destination, a missing destination parent or a move under itself."""
        ns = self.namespace
        with self._operation(user) as caller:
            src_local, src_st = ns.inspect(src, caller)
            dst_local, dst_st = ns.inspect(dst, caller, creating=True)
            if src_st is not None and src != "/" and dst_st is not None and is_dir(dst_st):
                dst = child_of(dst, parts_of(src)[-1])
                dst_local, dst_st = ns.local(dst), stat_of(ns.local(dst))
            self._check_parent_write(caller, src, src_st)
            self._check_ancestor_write(caller, dst)
            if src_st is None or src == "/":
                return False
            if dst == src:
                return True
            if dst.startswith(src + "/") or dst_st is not None:
                return False
            parent_st = stat_of(ns.local(parent_of(dst)))
            if parent_st is None or not is_dir(parent_st):
                return False
            os.rename(src_local, dst_local)
            ns.move(src, dst)
            return True

    def delete(self, path: str, recursive: bool, user: str) -> bool:
        with self._operation(user) as caller:
            local, st = self.namespace.inspect(path, caller)
            if st is not None and is_dir(st) and not recursive and self.namespace.children(local):
                raise RemoteException("PathIsNotEmptyDirectoryException",
                                      f"`{path} is non empty': Directory is not empty")
            self._check_parent_write(caller, path, st)
            if st is None:
                return False
            self._check_subtree(caller, (path, local, st), ALL, skip_empty=True)
            if path == "/":
                return False   # "the root is not allowed to be deleted"
            if os.path.islink(local) or not is_dir(st):
                os.unlink(local)
            else:
                shutil.rmtree(local)
            self.namespace.forget(path)
            return True

    def _owned(self, path: str, caller: Caller):
        """The metadata of an existing ``path`` that ``caller`` owns (or is the superuser)."""
        _, st = self.namespace.existing(path, caller, f"File does not exist: {path}")
        caller.check_owner(path, is_dir(st))
        return self.namespace.meta_for(path, is_dir(st))

    def set_permission(self, path: str, permission: Optional[int], user: str) -> None:
        with self._operation(user) as caller:
            meta = self._owned(path, caller)
            meta.permission = (permission if permission is not None else
                               DEFAULT_DIR_PERMISSION if meta.is_dir else DEFAULT_FILE_PERMISSION)

    def set_owner(self, path: str, owner: Optional[str], group: Optional[str],
                  user: str) -> None:
        if owner is None and group is None:
            raise RemoteException("IllegalArgumentException", "Both owner and group are empty.")
        with self._operation(user) as caller:
            meta = self._owned(path, caller)
            caller.check_new_owner(owner, group)
            meta.owner = owner or meta.owner
            meta.group = group or meta.group

    def set_replication(self, path: str, replication: Optional[int], client: str,
                        user: str) -> bool:
        replication = self.namespace.replication if replication is None else replication
        self._check_replication(path, replication, client)
        with self._operation(user) as caller:
            _, st = self.namespace.inspect(path, caller)
            if st is None:
                return False
            caller.check(path, is_dir(st), WRITE)
            if is_dir(st):
                return False
            self.namespace.meta_for(path, False).replication = replication
            return True

    def set_times(self, path: str, modification_time: int, access_time: int,
                  user: str) -> None:
        with self._operation(user) as caller:
            local, st = self.namespace.existing(path, caller,
                                                f"File/Directory {path} does not exist.")
            caller.check(path, is_dir(st), WRITE)
            meta = self.namespace.meta_for(path, is_dir(st))
            if modification_time != -1:
                os.utime(local, ns=(st.st_atime_ns, modification_time * 1_000_000))
            if access_time != -1 and not meta.is_dir:
                meta.access_time = access_time

    def open_for_create(self, path: str, user: str, client: str, *, permission: Optional[int],
                        overwrite: bool, replication: Optional[int], block_size: Optional[int],
                        create_parent: bool):
        """``startFile`` for the DataNode's CREATE: (binary file, lease)."""
        ns = self.namespace
        replication = ns.replication if replication is None else replication
        block_size = ns.block_size if block_size is None else block_size
        self._check_replication(path, replication, client)
        if block_size < MIN_BLOCK_SIZE:
            raise RemoteException(
                "IOException", f"Specified block size is less than configured minimum value "
                               f"(dfs.namenode.fs-limits.min-block-size): {block_size} < "
                               f"{MIN_BLOCK_SIZE}")
        with self._operation(user) as caller:
            local, st = ns.inspect(path, caller, creating=True)
            self._check_ancestor_write(caller, path)
            if path == "/" or (st is not None and is_dir(st)):
                raise RemoteException("FileAlreadyExistsException",
                                      f"{path} already exists as a directory")
            if st is not None and overwrite:
                caller.check(path, False, WRITE)
            parent = parent_of(path)
            parent_st = stat_of(ns.local(parent))
            if parent_st is None and not create_parent:
                raise RemoteException("FileNotFoundException",
                                      f"Parent directory doesn't exist: {parent}")
            if st is not None:
                if not overwrite:
                    self._check_lease(path, user, client, "CREATE_FILE")
                    raise RemoteException("FileAlreadyExistsException",
                                          f"{path} for client {client} already exists")
                os.unlink(local)
                ns.forget(path)
            if parent_st is None:
                ancestors = implicit_uwx(ns.meta_for(ns.last_existing_dir(parent), True).permission)
                ns.create_dirs(parent, user, ancestors, ancestors)
            handle = open(local, "xb")
            meta = ns.new_meta(False, user, ns.meta_for(parent, True).group,
                               DEFAULT_FILE_PERMISSION if permission is None else permission,
                               replication, block_size)
            meta.access_time = millis(time.time_ns())
            ns.set_meta(path, meta)
            return handle, self._lease(path, user, client)

    def open_for_append(self, path: str, user: str, client: str):
        """``appendFile`` for the DataNode's APPEND: (binary file, lease)."""
        with self._operation(user) as caller:
            local, st = self.namespace.inspect(path, caller)
            if st is not None and is_dir(st):
                raise RemoteException("FileAlreadyExistsException",
                                      f"Cannot append to directory {path}; already exists as a "
                                      f"directory.")
            if st is None:
                raise RemoteException("FileNotFoundException",
                                      f"Failed to append to non-existent file {path} for client "
                                      f"{client}")
            caller.check(path, False, WRITE)
            self._check_lease(path, user, client, "APPEND_FILE")
            handle = open(local, "ab")
            return handle, self._lease(path, user, client)

    def release(self, lease: Lease) -> None:
        with self._lock:
            if self.namespace.leases.get(lease.path) is lease:
                del self.namespace.leases[lease.path]
