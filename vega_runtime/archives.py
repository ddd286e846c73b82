"""Unpacking the archives tasks are given (``add_archive``, ``vega submit --archives``).

An archive is the user's, but it may come from anywhere (a downloaded environment, a
colleague's build): nothing in it may land outside the directory it unpacks in.  Before
anything is written, every member is checked, and the first that could escape or harm is
refused by name (``BadArchive``):

- a name that is absolute or has a ``..`` part, or that two members share;
- a member under a symbolic link of the archive (the "zip slip" through a link), or
  under a member that is a file;
- a symbolic link whose target, followed through the archive's other links, leaves the
  directory (an absolute target included), but a packed virtual environment's interpreter
  (``venv_interpreter_links``); a hard link to anything but a regular file of the archive;
- a device file or FIFO;
- an archive that would unpack past ``packaging.MAX_COMPRESSION_RATIO`` (a zip or tar
  bomb: it unpacks to at most 100 times its size on disk, whatever its entries say they
  take, which overlapping ones count more than once; a tar's members count for
  ``MEMBER_BYTES`` each besides their headers and data, so that one cannot hold millions
  of empty files either), read no further than the member that passes the limit.  There is no cap on the size itself: a packed environment may be
  gigabytes, as on Spark.

What is unpacked is private (0600, or 0700 for directories and files their owner could
run: no setuid, setgid or sticky bit, nothing for group and others) and belongs to the
unpacking account (tarfile's ``data`` filter is also applied where Python has it).  The
same rules hold in the driver, which unpacks first (a refused archive stops there), and
in executors.
"""

from __future__ import annotations

import os
import posixpath
import re
import tarfile
import zipfile
from typing import Dict, List, Optional

from . import packaging
from .errors import BadArchive
from .private_files import make_private_dirs

#: what to do about a symbolic link out of the archive (a virtual environment's interpreter
#: links are accepted: ``venv_interpreter_links``)
LINK_OUT_ADVICE = ("rebuild it without that (only a virtual environment's bin/python, "
                   "bin/python3 and bin/python3.N, next to its pyvenv.cfg, may link outside)")
#: the names a virtual environment gives its interpreter, under its ``bin``
_VENV_INTERPRETER = re.compile(r"python(3(\.[0-9]+)?)?")
#: a chain of links longer than this is refused as a loop (Linux's ELOOP limit)
MAX_LINK_HOPS = 40
#: what each member of a tar counts for unpacked, besides its header and data: the file
#: made of it (an inode) and its check here (~500 bytes of memory).  Without it a
#: .tar.gz of 200,000 empty files in 1.2 MB (headers compress ~80:1) passed the ratio and
#: unpacked them all, in the driver and every executor.  (A zip's entries take at least
#: 76 bytes each in the file, which the ratio, over the file's size, bounds already.)
MEMBER_BYTES = 1024


def unpack_name_problem(name: str) -> Optional[str]:
    """What is wrong with ``name`` as the directory an archive unpacks in (the ``NAME`` of
    ``PATH#NAME``), or None.

    >>> unpack_name_problem("env"), unpack_name_problem("..")
    (None, "'..' is not a directory name of its own: give a name without '/', not '.' or '..'")
    """
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        return (f"{name!r} is not a directory name of its own: give a name without '/', "
                "not '.' or '..'")
    return None


def check(path: str) -> None:
    """``unpack``'s checks alone, nothing written: ``BadArchive`` for an archive it would
    refuse, a corrupt one included (``vega submit --archives``, before anything starts: it
    was found as the Context unpacked it, a cluster-mode driver's after the upload). A
    gzip-compressed tar is read through, as unpacking reads it."""
    unpack(path, None)


def unpack(path: str, target: Optional[str], bounded: bool = True) -> None:
    """Unpack the archive at ``path`` (.zip, .tar, .tar.gz, .tgz, by its name) into
    ``target``, a new directory (None: check it only); ``BadArchive`` (nothing written) for
    a member that could escape ``target`` or (``bounded``) an archive past the compression
    ratio: a directory ``add_file`` zipped itself is not held to it."""
    name = os.path.basename(path)
    try:
        if name.endswith(".zip"):
            _unpack_zip(path, target, bounded)
        else:
            _unpack_tar(path, target, bounded)
    except getattr(tarfile, "FilterError", ()) as exc:  # the data filter's: it names the member
        raise BadArchive(name, str(exc)) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        why = str(exc).splitlines()[0].rstrip(":")  # tarfile.open lists each method it tried
        kind = "zip" if name.endswith(".zip") else "tar" if name.endswith(".tar") else \
            "gzip-compressed tar"
        raise BadArchive(name, f"it cannot be read as a {kind} file ({why})",
                         "check that it is whole and of the kind its name says") from None


def _unpack_zip(path: str, target: Optional[str], bounded: bool) -> None:
    name = os.path.basename(path)
    with zipfile.ZipFile(path) as archive:
        seen = set()
        for info in archive.infolist():
            seen.add(_checked_name(name, info.filename, seen))
        files = {posixpath.normpath(i.filename) for i in archive.infolist() if not i.is_dir()}
        for info in archive.infolist():
            _check_parents(name, info.filename, files)
        # over the file's own size: entries may share their compressed bytes (a zip bomb
        # of overlapping entries), which their compress_size would count once each
        problem = bounded and packaging.expansion_problem(
            sum(info.file_size for info in archive.infolist()), os.path.getsize(path))
        if problem:
            raise BadArchive(name, problem)
        if target is None:
            return
        make_private_dirs(target)
        archive.extractall(target)  # zipfile makes no links, devices nor setuid files,
        for where, dirs, files in os.walk(target):  # and no mode: the umask would decide
            for name in dirs:
                os.chmod(os.path.join(where, name), 0o700)
            for name in files:
                os.chmod(os.path.join(where, name), 0o600)


def _unpack_tar(path: str, target: Optional[str], bounded: bool) -> None:
    name = os.path.basename(path)
    compressed = os.path.getsize(path)
    with tarfile.open(path) as archive:
        members: List[tarfile.TarInfo] = []
        names: Dict[str, tarfile.TarInfo] = {}
        for count, info in enumerate(archive, 1):  # lazily: a bomb's member is refused
            if bounded:  # before its data is read
                _check_tar_expansion(name, info, count, compressed)
            member = _checked_name(name, info.name, names)
            if member is None:  # "." (the directory itself): nothing to unpack
                continue
            if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
                kind = "a FIFO" if info.isfifo() else "a device file" if info.isdev() else \
                    "of an unknown type"
                raise BadArchive(name, f"member {info.name!r} is {kind}: an archive for tasks "
                                       "holds files, directories and links")
            names[member] = info
            members.append(info)
        links = {member: info.linkname for member, info in names.items() if info.issym()}
        files = {member for member, info in names.items() if not info.isdir()}
        interpreters = venv_interpreter_links(names)
        for member, info in names.items():
            _check_links(name, member, info, links, names, files, member in interpreters)
            # private, as every file Vega writes (private_files): tarfile sets the mode
            # the archive gives, whatever the umask
            info.mode = 0o700 if info.isdir() or info.mode & 0o100 else 0o600
            info.uid, info.gid, info.uname, info.gname = os.getuid(), os.getgid(), "", ""
        if target is None:
            return
        make_private_dirs(target)
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+, 3.12+
            links_out = {id(names[member]) for member in interpreters}

            def data_filter(info: tarfile.TarInfo, path: str):  # but for the venv's links
                return (tarfile.tar_filter if id(info) in links_out else tarfile.data_filter)(
                    info, path)

            archive.extractall(target, members, numeric_owner=True, filter=data_filter)
        else:
            archive.extractall(target, members, numeric_owner=True)


def venv_interpreter_links(names: Dict[str, tarfile.TarInfo]) -> set:
    """The members of a tar (``{member: info}``) that are a packed virtual environment's
    interpreter: a symbolic link ``DIR/bin/python``, ``python3`` or ``python3.N`` where
    ``DIR/pyvenv.cfg`` is a file of the archive.  Each may point anywhere: venv-pack (the
    first packer PySpark's "Python Package Management" shows) keeps ``bin/python`` a link
    to the Python the environment was made with, which every host must have at that path,
    as venv-pack's documentation says, and Spark's ``tar`` unpacking keeps.  Nothing is
    unpacked through such a link (a member under one is refused), and it is only run."""
    found = set()
    for member, info in names.items():
        parts = member.split("/")
        if info.issym() and len(parts) >= 2 and parts[-2] == "bin" and \
                _VENV_INTERPRETER.fullmatch(parts[-1]):
            config = names.get("/".join(parts[:-2] + ["pyvenv.cfg"]))
            if config is not None and config.isreg():
                found.add(member)
    return found


def _check_tar_expansion(archive: str, info: tarfile.TarInfo, count: int,
                         compressed: int) -> None:
    """``BadArchive`` if the tar (``compressed`` bytes) unpacks past the ratio by its
    ``count``-th member ``info``: its headers and data, or with ``MEMBER_BYTES`` a member."""
    unpacked = info.offset_data + info.size
    problem = packaging.expansion_problem(unpacked, compressed)
    if problem:
        raise BadArchive(archive, f"member {info.name!r}: {problem}")
    problem = packaging.expansion_problem(unpacked + count * MEMBER_BYTES, compressed)
    if problem:
        raise BadArchive(archive, f"member {info.name!r}: {problem}, counting each of its "
                                  f"{count} members so far as {MEMBER_BYTES} bytes more than "
                                  "its header and data (too many files for its size)")


def _checked_name(archive: str, raw: str, seen) -> Optional[str]:
    """``raw`` as a path inside the archive's directory, None for the directory itself;
    ``BadArchive`` if it is absolute, climbs out with ``..``, or is in ``seen`` already."""
    if raw.startswith("/") or os.path.isabs(raw):
        raise BadArchive(archive, f"member {raw!r} has an absolute name")
    if ".." in raw.replace("\\", "/").split("/"):
        raise BadArchive(archive, f"member {raw!r} has a '..' in its name")
    member = posixpath.normpath(raw)
    if member in (".", ""):
        return None
    if member in seen:
        raise BadArchive(archive, f"member {raw!r} comes twice: which one is meant is unclear")
    return member


def _check_parents(archive: str, raw: str, files) -> None:
    """``BadArchive`` if a directory of member ``raw`` is one of ``files`` (members that are
    not directories: it could not be unpacked, or a link would be followed)."""
    parts = posixpath.normpath(raw).split("/")
    for depth in range(1, len(parts)):
        if "/".join(parts[:depth]) in files:
            raise BadArchive(archive, f"member {raw!r} is under {'/'.join(parts[:depth])!r}, "
                                      "which the archive has as a file or link")


def _check_links(archive: str, member: str, info: tarfile.TarInfo, links: Dict[str, str],
                 names: Dict[str, tarfile.TarInfo], files, may_leave: bool) -> None:
    parts = member.split("/")
    for depth in range(1, len(parts)):
        if "/".join(parts[:depth]) in links:
            raise BadArchive(archive, f"member {info.name!r} is under the symbolic link "
                                      f"{'/'.join(parts[:depth])!r} of the archive")
    _check_parents(archive, info.name, files)
    if info.issym() and not info.linkname:
        raise BadArchive(archive, f"member {info.name!r} is a symbolic link to nothing")
    if info.issym() and not may_leave and _leaves(member, info.linkname, links):
        raise BadArchive(archive, f"member {info.name!r} is a symbolic link to "
                                  f"{info.linkname!r}, outside the directory it unpacks in",
                         LINK_OUT_ADVICE)
    if info.islnk():
        source = names.get(posixpath.normpath(info.linkname)) \
            if ".." not in info.linkname.split("/") and not info.linkname.startswith("/") else None
        if source is None or not source.isreg():
            raise BadArchive(archive, f"member {info.name!r} is a hard link to "
                                      f"{info.linkname!r}, not to a file of the archive")


def _leaves(link: str, target: str, links: Dict[str, str]) -> bool:
    """Whether the symbolic link ``link`` -> ``target`` resolves outside the archive's
    directory, following the archive's own links (``{link: target}``) as the system would."""
    if target.startswith("/"):
        return True
    resolved = link.split("/")[:-1]
    pending = target.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        further = links.get("/".join(resolved))
        if further is not None:
            hops += 1
            if hops > MAX_LINK_HOPS or further.startswith("/"):
                return True
            resolved.pop()
            pending = further.split("/") + pending
    return False
