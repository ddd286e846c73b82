"""Files only their owner may read: work directories 0700, what is in them 0600.

A daemon's work directory holds job packages (user code), shuffle data and cached
partitions (user data), logs (task output), its recovery state and its HTTP token;
a driver's application directory holds broadcast values and spills.  None of it is
for the other accounts of a host.  Daemons and executors therefore run with the
umask 0o077 (``use_private_umask``: every file and directory they or the libraries
they call create, zip extraction and ``logging.FileHandler`` included, is private);
files a process of the user's own umask creates for them (a driver's event log,
local-cluster's daemon logs) are opened with an explicit mode (``open_private``).

>>> import tempfile, stat
>>> with tempfile.TemporaryDirectory() as root:
...     with open_private(os.path.join(root, "x.log"), "ab") as fh: _ = fh.write(b"hi")
...     oct(stat.S_IMODE(os.stat(os.path.join(root, "x.log")).st_mode))
'0o600'
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
import threading
from typing import Callable, Dict, List, Optional

from .errors import DirectoryOfAnotherAccount

log = logging.getLogger(__name__)

#: group and others get nothing
PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600

_FLAGS = {"ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
          "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
          # a new file (appended to), or FileExistsError
          "x": os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL,
          "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
          "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC}


def use_private_umask() -> None:
    """From now on this process (and the processes it starts) creates private files."""
    os.umask(PRIVATE_UMASK)


def open_regular(path: str, check: Callable[[int], None] = lambda fd: None):
    """``open(path, "rb")`` of a regular file, never through a symbolic link (OSError
    ELOOP) nor left waiting on a FIFO or reading a device another account put in its place
    (OSError EINVAL, "not a regular file"); ``check(fd)`` may refuse it first (raising)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        check(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_private(path: str, mode: str = "ab", encoding: Optional[str] = None):
    """``open(path, mode)`` for writing, creating the file 0600 whatever the umask (an
    existing file keeps its mode).  In a directory others may write to (a shared event log
    directory, ``/tmp`` for a pid or log file) another account could have put something
    in its place first: a symbolic link is not followed (``OSError`` ELOOP), or it would
    send what this process writes to any file it may write; an existing file of another
    account is refused (``PermissionError`` naming its owner), or its owner would read
    what is written, or (a pid file) change it."""
    fd = private_fd(path, mode)
    mode = "a" if mode == "x" else mode
    return os.fdopen(fd, mode, encoding=encoding) if "b" not in mode else os.fdopen(fd, mode)


def private_fd(path: str, mode: str = "ab") -> int:
    """``open_private``'s file descriptor.  A file it creates is its own whoever the file
    system says owns it (root on an NFS export squashed to nobody)."""
    flags = _FLAGS[mode] | os.O_NOFOLLOW
    for _ in range(3):  # (a file removed between the two opens is created again)
        try:
            return os.open(path, flags | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            if flags & os.O_EXCL:
                raise
        try:  # an existing one, not truncated before its owner is known, nor waited on (a FIFO)
            fd = os.open(path, (flags & ~(os.O_CREAT | os.O_TRUNC)) | os.O_NONBLOCK)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # a FIFO no one reads
                raise
            raise OSError(errno.EINVAL, "not a regular file", path) from None
        try:
            info = os.fstat(fd)
            if info.st_uid != os.getuid():
                raise PermissionError(errno.EPERM, f"it belongs to {account_name(info.st_uid)}, "
                                      f"not to this account, {account_name(os.getuid())}: its "
                                      "owner could read or change what is written to it", path)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            os.set_blocking(fd, True)
            if flags & os.O_TRUNC:
                os.ftruncate(fd, 0)
            return fd
        except BaseException:
            os.close(fd)
            raise
    raise FileExistsError(errno.EEXIST, "it keeps being replaced while it is opened", path)


def make_private_dirs(path: str) -> str:
    """``os.makedirs(path)`` with every directory it creates 0700, whatever the umask
    (``os.makedirs`` gives its ``mode`` to the last one only); existing ones are left
    as they are."""
    missing, current = [], path
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:  # made meanwhile by another process
            if not os.path.isdir(directory):
                raise
    return path


def make_private_dir(path: str, follow_links: bool = True) -> str:
    """Create ``path`` (0700) if needed; a daemon's own directory that exists with access
    for group or others (made by an older Vega, or by hand) is made 0700, saying so.  One
    that exists and belongs to another account is refused (``DirectoryOfAnotherAccount``):
    its owner could read what is written there, replace it, or plant symbolic links that
    this process would write through (say ``/tmp/work/master`` made by another user of the
    host before the master first started); so is one below a directory another account
    could change (``check_parents``).  ``follow_links`` False: a symbolic link in its
    place, or in any directory's above it, is refused (``OSError`` ELOOP), not followed."""
    check_parents(path, follow_links)
    existed = os.path.isdir(path)
    make_private_dirs(path)
    nofollow = 0 if follow_links else os.O_NOFOLLOW
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | nofollow)
    try:  # the directory opened, not whatever is put in its place meanwhile, is chmodded
        info = os.fstat(fd)
        if existed and info.st_uid != os.getuid():
            raise DirectoryOfAnotherAccount(path, account_name(info.st_uid),
                                            account_name(os.getuid()))
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
            log.info("made %s private (mode %o; it was %o)", path,
                     stat.S_IMODE(info.st_mode) & ~0o077, stat.S_IMODE(info.st_mode))
    finally:
        os.close(fd)
    return path


#: symbolic links ``check_parents`` follows in one path, as the kernel's MAXSYMLINKS
_MAX_LINKS = 40
#: ``vega.strict_modes``: False, ``check_parents`` checks no owner or mode (links still)
_strict_modes = [True]


def use_strict_modes(strict: bool) -> None:
    """``vega.strict_modes`` of this process (a daemon's, read as it starts)."""
    _strict_modes[0] = strict


def check_parents(path: str, follow_links: bool = True) -> None:
    """OpenSSH's ``StrictModes`` for the directories above ``path`` (those that exist, from
    /): each must belong to this account or root and, unless it has the sticky bit (/tmp),
    be writable by neither group nor others.  Else someone else could rename ``path`` away
    while a daemon runs and put a symbolic link in its place (``/tmp/work/master`` below a
    ``/tmp/work`` another user made), and the daemon would write where the link points:
    ``DirectoryOfAnotherAccount`` naming the directory, its owner and mode.  The links on
    the way are followed, checking the directories they lead through; with
    ``follow_links`` False, one is refused (``OSError`` ELOOP).  With ``vega.strict_modes``
    off (``use_strict_modes``), only that.

    >>> check_parents("/proc/self/../no-such-dir")
    """
    uid = os.getuid()
    pending = [name for name in os.path.abspath(path).split("/") if name]
    current, links = "/", 0
    _check_above(current, path, uid)
    while pending:
        name = pending.pop(0)
        if name in (".", ".."):
            current = os.path.dirname(current) if name == ".." else current
            continue
        candidate = os.path.join(current, name)
        try:
            info = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return  # what is missing, make_private_dirs makes (0700, this account's)
        if stat.S_ISLNK(info.st_mode):
            links += 1
            if not follow_links or links > _MAX_LINKS:
                raise OSError(errno.ELOOP, "a symbolic link is in its place: not followed",
                              candidate)
            target = os.readlink(candidate)
            current = "/" if target.startswith("/") else current
            pending[:0] = [part for part in target.split("/") if part]
            continue
        if not stat.S_ISDIR(info.st_mode):
            return  # a file in the way: the mkdir or open after this says so
        if pending:
            _check_above(candidate, path, uid, info)
        current = candidate


def _check_above(directory: str, path: str, uid: int,
                 info: Optional[os.stat_result] = None) -> None:
    if not _strict_modes[0]:
        return
    info = info or os.stat(directory)
    if info.st_uid not in (0, uid) or (others_may_write(info, uid)
                                       and not info.st_mode & stat.S_ISVTX):
        raise DirectoryOfAnotherAccount(directory, account_name(info.st_uid), account_name(uid),
                                        stat.S_IMODE(info.st_mode), path)


def current_umask() -> int:
    """This process's umask (Linux's /proc/self/status says it; elsewhere it is set and put
    back, which is not atomic but only ever sets the same value again).

    >>> 0 <= current_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def expand_home(path: str, what: str) -> str:
    """``os.path.expanduser(path)``, or a ``ConfigError`` naming ``what`` when ``path``
    starts with ``~`` and this account has no home to put there (HOME unset and a uid
    without a passwd entry, as a container's): expanduser leaves such a path as it is, and
    a literal ``~`` directory would be made in the working directory (holding a secret of
    its own per directory, and one ``rm -rf ~`` away from the user's real home).

    >>> expand_home("/srv/events", "vega.eventlog.dir")
    '/srv/events'
    """
    expanded = os.path.expanduser(path)
    if expanded.startswith("~"):
        from .errors import ConfigError

        raise ConfigError("", what, f"{path} is in a home directory, and this account has "
                          f"none: HOME is unset and uid {os.getuid()} has no passwd entry. "
                          "Set HOME to a directory of yours")
    return expanded


def others_may_write(info: os.stat_result, uid: int) -> bool:
    """Whether accounts other than ``uid`` (and root) may write to what ``info`` describes
    by its mode: others may, or its group may and that group is not the account's own.  A
    user private group (Debian's and Ubuntu's, which give users the umask 002) is the
    account's own when no other account has it, as primary group or as member: a directory
    of 0775 in it is as private as one of 0755 (Debian's OpenSSH judges so too).

    >>> others_may_write(os.stat_result((0o40755, 0, 0, 0, 0, 0, 0, 0, 0, 0)), 0)
    False
    """
    if info.st_mode & 0o002:
        return True
    return bool(info.st_mode & 0o020) and not _group_of_one(info.st_gid, uid)


def _group_of_one(gid: int, uid: int) -> bool:
    """Whether the group ``gid`` has this account ``uid`` as its one member (its primary
    group, or its only listed member), no other account's primary group."""
    import grp
    import pwd

    try:
        group, me = grp.getgrgid(gid), pwd.getpwuid(uid)
    except KeyError:
        return False
    if any(name != me.pw_name for name in group.gr_mem):
        return False
    primary = [entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid]
    return all(other == uid for other in primary) and (uid in primary or
                                                       group.gr_mem == [me.pw_name])


def account_name(uid: int) -> str:
    """``NAME (uid N)``, or ``uid N`` for a uid without a name."""
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


#: where ``new_private_dir`` looks, in order, as ``tempfile.gettempdir`` does on POSIX
_TEMP_ENV = ("TMPDIR", "TEMP", "TMP")
_TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")


def new_private_dir(prefix: str, parent: Optional[str] = None,
                    claim: Optional[Callable[[str], None]] = None, strict: bool = False) -> str:
    """A new directory ``PREFIX`` + 8 random characters (0700) in ``parent``, else in the
    first usable temporary directory (``$TMPDIR``, ``$TEMP``, ``$TMP``, /tmp, /var/tmp,
    /usr/tmp, the working directory); its absolute path: ``tempfile.mkdtemp``, without
    importing ``tempfile`` (and the ``shutil``, ``bz2`` and ``lzma`` it loads: ~4 ms of
    every Context's start-up). A process that set ``tempfile.tempdir`` gets tempfile's.
    ``claim(path)`` is told each path before it is made, so a caller interrupted (Ctrl-C)
    between the directory's making and this function's return knows what to remove.
    ``strict``: the directories above it are checked (``check_parents``; a driver's
    application directory, whose broadcasts and shuffle files executors unpickle), and
    it is removed again if one is refused."""
    path = _new_private_dir(prefix, parent, claim)
    if strict:
        try:
            check_parents(path)
        except DirectoryOfAnotherAccount:
            os.rmdir(path)
            raise
    return path


def _new_private_dir(prefix: str, parent: Optional[str],
                     claim: Optional[Callable[[str], None]]) -> str:
    tempfile = sys.modules.get("tempfile")
    if parent is None and tempfile is not None and tempfile.tempdir is not None:
        return tempfile.mkdtemp(prefix=prefix)
    if parent is not None:
        candidates = [parent]
    else:
        candidates = [os.environ[name] for name in _TEMP_ENV if os.environ.get(name)]
        candidates += [*_TEMP_DIRS, os.getcwd()]
    for directory in candidates:
        for _ in range(100):  # names taken meanwhile: another one
            path = os.path.abspath(os.path.join(directory, prefix + os.urandom(4).hex()))
            if claim is not None:
                claim(path)
            try:
                os.mkdir(path, DIR_MODE)
                return path
            except FileExistsError:
                continue
            except OSError:
                if parent is not None:
                    raise
                break  # not usable: the next one
    import tempfile

    return tempfile.mkdtemp(prefix=prefix)  # raises as it does when none is usable


#: a tree with more entries than this is removed by several threads (``remove_tree``)
PARALLEL_REMOVAL = 8


#: in a directory a process owns: a file it holds a ``flock`` on for as long as it (or a
#: child it forked) runs, so that one left by a process killed outright can be told apart
OWNER_LOCK = ".owner.lock"


def hold_owner_lock(directory: str) -> int:
    """Mark ``directory`` as this process's while it runs (``OWNER_LOCK``, locked, then put
    in place by a rename, so it is never seen there unlocked); the descriptor to close
    once the directory is gone."""
    import fcntl

    path = os.path.join(directory, f"{OWNER_LOCK}.{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(path, os.path.join(directory, OWNER_LOCK))
    return fd


def remove_abandoned(parent: str, prefix: str) -> List[str]:
    """Remove the directories in ``parent`` named ``prefix...`` whose owner lock nobody holds:
    their process ended without removing them (SIGKILL, the OOM killer, a power cut), and
    with them whatever it left (a driver's spills and shuffle files).  Directories without
    a lock (being made, or of another version) stay, and so does anything but a directory
    of this account (``parent`` is often a shared ``/tmp``): a link there is not followed,
    and another account's directory is not emptied, since its owner could swap an entry
    for a link to this account's files while they are listed.  The paths removed."""
    import fcntl

    removed = []
    try:
        names = [n for n in os.listdir(parent) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(parent, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue  # a link, or another account's (in a sticky /tmp, a name of ours stays ours)
        try:
            fd = os.open(os.path.join(path, OWNER_LOCK), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # no lock (yet), or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its process runs
        finally:
            os.close(fd)
        log.info("removing %s, left by a process that ended without removing it", path)
        remove_tree(path)
        removed.append(path)
    return removed


def set_aside_foreign(directory: str, what: str) -> List[str]:
    """Rename ``directory`` to ``DIRECTORY.foreign-TIME`` if another account owns it, else
    so what is in it that another account owns (a link too: ``lstat``), saying so at
    WARNING: a cache of ``what`` this process would use as it finds it (job packages, run
    as they are), planted while the work dir above was open to others, before it was made
    0700.  Set aside, not removed: its owner might still swap what is in it for links
    while it was emptied.  The paths set aside."""
    import time

    uid = os.getuid()
    try:
        if os.lstat(directory).st_uid != uid:
            foreign = [directory]
        else:
            foreign = [entry.path for entry in os.scandir(directory)
                       if entry.stat(follow_symlinks=False).st_uid != uid
                       and ".foreign-" not in entry.name]
    except OSError:
        return []  # none yet
    for path in foreign:
        aside = f"{path}.foreign-{time.strftime('%Y%m%d%H%M%S')}"
        owner = os.lstat(path).st_uid
        os.rename(path, aside)  # (then said: what reads the log finds it done)
        log.warning("%s (%s) belongs to %s, not to this account: another user could have put "
                    "it there while the work dir was open to others; not used, set aside as "
                    "%s", path, what, account_name(owner), aside)
    return foreign


def remove_tree(path: str, threads: int = 8) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` without importing ``shutil`` (a Context's
    stop), with the files, then the directories of each depth (deepest first), removed by
    ``threads`` threads at once when the tree has more than ``PARALLEL_REMOVAL`` entries.
    Where removing a directory (or a file whose blocks are on disk) waits for the device,
    ~3 ms each on an ext4 mounted with ``discard``, a local cluster's application directory
    (a dozen directories) goes in the time of a few.  Symbolic links are removed, never
    followed; what cannot be removed is left.

    >>> import tempfile
    >>> root, outside = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for name in ("a/b/c", "a/d", "e", "g/h/i"):
    ...     os.makedirs(os.path.join(root, name))
    >>> for name in ("a/b/f", "a/d/f", "g/h/f", "f"):
    ...     open(os.path.join(root, name), "w").close()
    >>> os.symlink(outside, os.path.join(root, "e", "elsewhere"))
    >>> remove_tree(root, threads=2); os.path.exists(root), os.path.isdir(outside)
    (False, True)
    >>> os.rmdir(outside)
    """
    files: List[str] = []
    levels: Dict[int, List[str]] = {}
    _list_tree(path, 0, files, levels)
    parallel = threads if len(files) + sum(map(len, levels.values())) > PARALLEL_REMOVAL else 1
    _remove_all(files, os.unlink, parallel)
    for depth in sorted(levels, reverse=True):
        _remove_all(levels[depth], os.rmdir, parallel)


def _list_tree(path: str, depth: int, files: List[str], levels: Dict[int, List[str]]) -> None:
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    _list_tree(entry.path, depth + 1, files, levels)
                else:
                    files.append(entry.path)
    except OSError:
        return
    levels.setdefault(depth, []).append(path)


def _remove_all(paths: List[str], remove, threads: int) -> None:
    """``remove`` every path (errors ignored), by up to ``threads`` threads."""
    pending = list(reversed(paths))

    def drain() -> None:
        while True:
            try:
                path = pending.pop()  # atomic: each path is taken by one thread
            except IndexError:
                return
            try:
                remove(path)
            except OSError:
                pass  # already gone, or not removable: left, as rmtree(ignore_errors=True)

    helpers = []
    for _ in range(min(threads, len(paths)) - 1):
        helper = threading.Thread(target=drain, name="vega-remove", daemon=True)
        try:
            helper.start()
        except RuntimeError:  # at exit, where Python 3.12 starts no thread: this one does all
            break
        helpers.append(helper)
    drain()
    for helper in helpers:
        helper.join()
