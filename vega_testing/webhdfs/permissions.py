"""Permission checks as HDFS makes them with simple authentication (``FSPermissionChecker``).

A caller is a user name and its groups.  Group membership is kept simple: a user
belongs to the group with its own name, and the superuser also to the supergroup
(there is no group mapping service).  The superuser passes every check.  For
anyone else the owner bits of an inode apply to its owner, the group bits to
members of its group, the other bits to everybody else, with no fallback from
one class to the next, as in POSIX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from .errors import RemoteException

if TYPE_CHECKING:
    from .namespace import Meta

__all__ = ["READ", "WRITE", "EXECUTE", "READ_EXECUTE", "ALL", "Caller", "mode_string"]

# FsAction bits
EXECUTE, WRITE, READ = 1, 2, 4
READ_EXECUTE = READ | EXECUTE
ALL = READ | WRITE | EXECUTE
#: ``FsAction`` names, as Hadoop prints ``access=`` in a denial.
_ACTION_NAMES = ("NONE", "EXECUTE", "WRITE", "WRITE_EXECUTE", "READ", "READ_EXECUTE",
                 "READ_WRITE", "ALL")
STICKY = 0o1000


def mode_string(is_dir: bool, permission: int) -> str:
    """``ls``-style mode, as ``FsPermission.toString`` writes it (sticky bit as t/T).

    >>> mode_string(True, 0o755), mode_string(True, 0o1777), mode_string(False, 0o1640)
    ('drwxr-xr-x', 'drwxrwxrwt', '-rw-r----T')
    """
    bits = "".join(symbol if permission & (1 << (8 - i)) else "-"
                   for i, symbol in enumerate("rwxrwxrwx"))
    if permission & STICKY:
        bits = bits[:-1] + ("t" if permission & EXECUTE else "T")
    return ("d" if is_dir else "-") + bits


def _describe(path: str, inode: Meta) -> str:
    return f'"{path}":{inode.owner}:{inode.group}:{mode_string(inode.is_dir, inode.permission)}'


def _denied(message: str) -> RemoteException:
    return RemoteException("AccessControlException", message)


class Caller:
    """Who makes a request, and the checks HDFS makes of them.

    ``inode_of(path, is_dir)`` looks an inode up; it is called only when a check is made
    (never for the superuser, nor when ``enforced`` is false, as with
    ``dfs.permissions.enabled=false``).

    >>> from types import SimpleNamespace as Node
    >>> bobs = Node(is_dir=True, owner="bob", group="supergroup", permission=0o755)
    >>> alice = Caller("alice", superuser="hdfs", supergroup="supergroup", enforced=True,
    ...                inode_of=lambda path, is_dir: bobs)
    >>> alice.check("/dir", True, EXECUTE)
    >>> alice.check("/dir", True, WRITE)
    Traceback (most recent call last):
    ...
    vega_testing.webhdfs.errors.RemoteException: Permission denied: user=alice, \
access=WRITE, inode="/dir":bob:supergroup:drwxr-xr-x
    """

    def __init__(self, user: str, *, superuser: str, supergroup: str, enforced: bool,
                 inode_of: Callable[[str, bool], Meta]):
        self.user = user
        self.is_superuser = user == superuser
        self.groups = {user, supergroup} if self.is_superuser else {user}
        self.checking = enforced and not self.is_superuser
        self._inode_of = inode_of

    def allows(self, inode: Meta, access: int) -> bool:
        if inode.owner == self.user:
            granted = inode.permission >> 6
        elif inode.group in self.groups:
            granted = inode.permission >> 3
        else:
            granted = inode.permission
        return granted & access == access

    def check(self, path: str, is_dir: bool, access: int) -> None:
        """``access`` to the inode at ``path``, or an AccessControlException naming it."""
        if not self.checking:
            return
        inode = self._inode_of(path, is_dir)
        if not self.allows(inode, access):
            raise _denied(f"Permission denied: user={self.user}, "
                          f"access={_ACTION_NAMES[access]}, inode={_describe(path, inode)}")

    def check_owner(self, path: str, is_dir: bool) -> None:
        """Only the owner (or the superuser) changes an inode's permission or owner."""
        if self.checking and self._inode_of(path, is_dir).owner != self.user:
            raise _denied(f"Permission denied. user={self.user} is not the owner of "
                          f"inode={path}")

    def check_sticky_bit(self, parent: str, path: str, is_dir: bool) -> None:
        """In a sticky directory only the superuser, the directory's owner or the entry's owner
        may delete or move an entry."""
        if not self.checking:
            return
        directory, inode = self._inode_of(parent, True), self._inode_of(path, is_dir)
        if directory.permission & STICKY and self.user not in (directory.owner, inode.owner):
            raise _denied(f"Permission denied by sticky bit: user={self.user}, "
                          f"path={_describe(path, inode)}, parent={_describe(parent, directory)}")

    def check_new_owner(self, owner: Optional[str], group: Optional[str]) -> None:
        """SETOWNER beyond the ownership check: giving an inode away takes the superuser, and
        a group must be one of the caller's."""
        if not self.checking:
            return
        if owner is not None and owner != self.user:
            raise _denied(f"User {self.user} is not a super user (non-super user cannot "
                          f"change owner).")
        if group is not None and group not in self.groups:
            raise _denied(f"User {self.user} does not belong to {group}")
