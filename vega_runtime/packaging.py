"""Job packages: the job file, its --py-files and --files in one zip named by sha256.

Layout inside the zip::

    job/<job.py>          the job script
    py/<module.py>        --py-files: .py files, packages (directories), .zip/.egg/.whl/.jar
    files/<name>          --files
    sources.json          {member: absolute path on the submitting machine} of every .py
                          file, so tracebacks name the files the user wrote

A package is uploaded to the master once; workers cache it extracted under
``<work_dir>/packages/<sha256>/`` and executors put ``py/`` (and the archives
in it) on ``sys.path`` and find ``files/`` through ``SparkFiles``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import threading
import zipfile
import zlib
from typing import Dict, Iterable, List, Optional, Union

from .errors import ApplicationRefused, BadPackage, PackageTooLarge
from .executor_loss import binary_size
from .ids import path_inside
from .records import FrozenRecord

EXCLUDED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
                 ".pytest_cache", "node_modules", ".eggs"}
#: --py-files zips that go on sys.path themselves (vega_cli.staging.ZIP_SUFFIXES), their
#: names' suffixes in any case (``is_zip_name``)
ARCHIVES = (".zip", ".egg", ".whl", ".jar")
SOURCES = "sources.json"

#: The limit on unpacking a package on a worker or master (a zip bomb must not fill its
#: disk): uncompressed/compressed ratio of the whole archive.  Its total size is bounded by
#: the free space where it is unpacked (``space_problem``), and by ``vega.package.max_size``
#: where vega submit builds it and the master takes it, when that is set.
MAX_COMPRESSION_RATIO = 100
#: archives that unpack to less than this are not held to the ratio (tiny files of zeros
#: compress well and are harmless)
RATIO_EXEMPT_BYTES = 1 << 20


class Package(FrozenRecord):
    """A job package (zip) on disk: its path, SHA-256 and size."""
    path: str
    sha256: str
    size: int

    def __init__(self, path: str, sha256: str, size: int):
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "sha256", sha256)
        object.__setattr__(self, "size", size)


def build_package(job: str, py_files: Iterable[str], files: Iterable[str], out_dir: str,
                  archives: Iterable[str] = ()) -> Package:
    """Zip the job and its dependencies; the file is named by its content hash.  ``archives``
    (``PATH#NAME``, for a cluster-mode driver to add) go in as ``archives/NAME/FILE``."""
    os.makedirs(out_dir, exist_ok=True)
    staging = os.path.join(out_dir, "package.zip.tmp")
    members = package_members(job, py_files, files, archives)
    sources = {name: os.path.abspath(path) for name, path in members.items()
               if name.endswith(".py") and not name.startswith("files/")}
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in members.items():
            _add_file(archive, path, name)
        _add(archive, json.dumps(sources, sort_keys=True).encode(), SOURCES)
    digest = sha256_of(staging)
    path = os.path.join(out_dir, f"package-{digest[:16]}.zip")
    os.replace(staging, path)
    return Package(path, digest, os.path.getsize(path))


def package_members(job: str, py_files: Iterable[str], files: Iterable[str],
                    archives: Iterable[str] = ()) -> Dict[str, str]:
    """``{member name: path}`` of what ``build_package`` puts in a package."""
    members = {"job/" + os.path.basename(job): job}
    for item in py_files:
        name = os.path.basename(os.path.normpath(item))
        if os.path.isdir(item):
            members.update(_tree(item, "py/" + name))
        else:
            members["py/" + name] = item
    members.update({"files/" + os.path.basename(item): item for item in files})
    for item in archives:
        path, _, name = item.partition("#")
        members[f"archives/{name}/{os.path.basename(path)}"] = path
    return members


#: members stored as they are, not deflated again: what is compressed already (deflating a
#: 300 MB --py-files .zip took 11.7 s, twice in cluster mode: vega submit's package, then
#: the driver's for its executors; storing it, about a second)
COMPRESSED = ARCHIVES + (".gz", ".tgz", ".bz2", ".xz", ".zst", ".lz4", ".snappy", ".deflate")


#: how much of a member's start is deflated to see whether deflating it pays
SAMPLE = 256 << 10
#: a member whose sample deflates to more than this fraction of it is stored: random bytes,
#: model weights, media (deflating 300 MB of random bytes took 11.6 s and saved nothing)
STORE_ABOVE = 0.9


def _add(archive: zipfile.ZipFile, data: bytes, name: str) -> None:
    archive.writestr(_member(name, _deflates(name, data[:SAMPLE])), data)


def _add_file(archive: zipfile.ZipFile, path: str, name: str) -> None:
    """Copy the file at ``path`` into ``archive`` a block at a time (a 300 MB --files was read
    whole, then copied again into the zip)."""
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
        size = os.fstat(fh.fileno()).st_size
        info = _member(name, _deflates(name, head))
        with archive.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
            out.write(head)
            shutil.copyfileobj(fh, out, 1 << 20)


def _member(name: str, deflated: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same bytes, same hash
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
    return info


def _deflates(name: str, head: bytes) -> bool:
    """Whether a member named ``name`` starting with ``head`` is worth deflating: not when
    its name says it is compressed, nor when ``head`` barely shrinks.

    >>> _deflates("a.py", b"import os; " * 100), _deflates("a.bin", os.urandom(4096))
    (True, False)
    >>> _deflates("deps.zip", bytes(4096))
    False
    """
    if name.lower().endswith(COMPRESSED):
        return False
    return len(head) < 512 or len(zlib.compress(head, 1)) <= len(head) * STORE_ABOVE


def _tree(root: str, prefix: str) -> Dict[str, str]:
    """``{member name: path}`` of the regular files under ``root``, build and VCS litter
    left out, and what is no file to ship: a FIFO (reading it waited for ever), a socket, a
    device (a link to /dev/zero read without end), a broken link."""
    members = {}
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            full = os.path.join(current, name)
            if not name.endswith((".pyc", ".pyo")) and os.path.isfile(full):  # links followed
                members[prefix + "/" + os.path.relpath(full, root).replace(os.sep, "/")] = full
    return members


def is_zip_name(name: str) -> bool:
    """Whether a Python file named ``name`` is a zip archive that goes on ``sys.path``
    itself: its suffix one of ``ARCHIVES`` in any case, as PySpark's ``addPyFile`` tells
    (``filename[-4:].lower() in PACKAGE_EXTENSIONS``); ``zipimport`` reads any name.

    >>> [is_zip_name(n) for n in ("lib.zip", "LIB.ZIP", "deps.Egg", "lib.py", "zip")]
    [True, True, True, False, False]
    """
    return name.lower().endswith(ARCHIVES)


def py_case_problem(name: str) -> Optional[str]:
    """Why Python would import nothing from a file named ``name`` that ends in ``.py`` in
    another case (``MOD.PY``: its importers match ``.py`` as written), or None.

    >>> py_case_problem("lib/util.PY").endswith("rename it util.py"), py_case_problem("util.py")
    (True, None)
    """
    if name.lower().endswith(".py") and not name.endswith(".py"):
        return ("Python imports a module only from a file whose name ends in .py (lower case): "
                f"rename it {os.path.basename(name)[:-3]}.py")
    return None


def zip_problem(path: str) -> Optional[str]:
    """Why Python could not import from the zip (``.zip``, ``.egg``, ``.whl``) at the local
    ``path``, or None: its central directory, what ``zipimport`` reads first, does not read.

    >>> zip_problem(__file__)
    'File is not a zip file'
    """
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def extract(source: Union[bytes, str], directory: str) -> None:
    """Unpack a package (its bytes, or the path of its zip) into ``directory`` atomically
    (safe when two executors race).

    Raises ``BadPackage`` for bytes that are not a zip, a member that would land outside
    ``directory``, or contents past ``MAX_COMPRESSION_RATIO`` or the free space there.
    """
    if os.path.isdir(directory):
        return
    size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except zipfile.BadZipFile as exc:
        raise BadPackage(f"it is not a zip archive ({exc}); submit the job again") from None
    # one staging directory per thread: a worker fetches the package for each executor it
    # starts in a thread of its own
    staging = f"{directory}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with archive:
            os.makedirs(staging, exist_ok=True)
            check_members(archive, staging, size)
            archive.extractall(staging)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BadPackage(f"it cannot be unpacked ({exc}); submit the job again") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rename(staging, directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process won the race


def check_members(archive: zipfile.ZipFile, staging: str, size: int) -> None:
    """Refuse a zip of ``size`` bytes whose members escape ``staging`` (a directory), or
    that unpacks too big: past the ratio (a zip bomb; over ``size``, not the members'
    compressed sizes, which count bytes that overlapping members share once each) or the
    space free in ``staging``."""
    total = 0
    for info in archive.infolist():
        if path_inside(os.path.join(staging, info.filename), staging) is None:
            raise BadPackage(f"member {info.filename!r} escapes the package directory")
        total += info.file_size
    problem = expansion_problem(total, size) or space_problem(total, staging)
    if problem:
        raise BadPackage(problem)


def space_problem(size: int, directory: str) -> Optional[str]:
    """Why ``size`` bytes cannot be written in ``directory`` (an existing one), or None: the
    free space there is less."""
    free = shutil.disk_usage(directory).free
    if size <= free:
        return None
    return (f"its {binary_size(size)} would not fit in {directory}, which has "
            f"{binary_size(free)} free; free space there or "
            "give this daemon another work dir, or leave large data out of --py-files, "
            "--files and --archives and read it from storage")


def expansion_problem(total: int, compressed: int) -> Optional[str]:
    """Why ``compressed`` bytes unpacking into ``total`` is refused (a zip or tar bomb), or
    None: past ``MAX_COMPRESSION_RATIO`` above ``RATIO_EXEMPT_BYTES``."""
    if total > max(compressed, 1) * MAX_COMPRESSION_RATIO and total > RATIO_EXEMPT_BYTES:
        return (f"it would unpack {compressed} bytes into {total} or more, a ratio past "
                f"{MAX_COMPRESSION_RATIO}:1 (packaging.MAX_COMPRESSION_RATIO)")
    return None


def upload(conn, package: Package, reply_timeout: Optional[float] = None) -> None:
    """Send ``package`` over a master connection unless the master has it already, in
    chunks (``net.package_stream``); ``ApplicationRefused`` (with the master's reason) if it
    will not or could not store it.  ``reply_timeout``: how long each of the master's
    replies may take (``TimeoutError`` past it; None: no bound)."""
    from .net.messages import PackageQuery, PackageStatus, UploadPackage, UploadReady
    from .net.package_stream import send_file

    def reply():
        return conn.recv() if reply_timeout is None else conn.recv_within(reply_timeout)

    def refused(answer) -> ApplicationRefused:
        if getattr(answer, "max_size", 0):
            return PackageTooLarge(package.sha256, package.size, answer.max_size)
        return ApplicationRefused(getattr(answer, "reason", "") or
                                  f"it did not accept the job package {package.sha256[:12]}")

    conn.send(PackageQuery(package.sha256))
    answer = reply()
    if isinstance(answer, PackageStatus) and answer.present:
        return
    conn.send(UploadPackage(package.sha256, package.size))
    answer = reply()  # refused before a byte is sent (too large, no room), or go ahead
    if not isinstance(answer, UploadReady):
        raise refused(answer)
    with open(package.path, "rb") as fh:
        send_file(conn, fh, package.size)
    answer = reply()
    if not (isinstance(answer, PackageStatus) and answer.present):
        raise refused(answer)


def source_copies(package_dir: str) -> Dict[str, str]:
    """``{extracted file: path on the submitting machine}`` of an extracted package's .py files."""
    try:
        with open(os.path.join(package_dir, SOURCES)) as fh:
            sources = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {os.path.join(package_dir, name): path for name, path in sources.items()}


def python_paths(package_dir: str) -> List[str]:
    """``sys.path`` entries of an extracted package: ``py/``, and in it the archives and the
    directories given to ``--py-files``, each on the path as it was on the driver's (a
    directory's modules and packages import by their own names)."""
    py = os.path.join(package_dir, "py")
    if not os.path.isdir(py):
        return []
    return [py] + sorted(os.path.join(py, n) for n in os.listdir(py)
                         if is_zip_name(n) or (os.path.isdir(os.path.join(py, n))
                                                     and n != "__pycache__"))
