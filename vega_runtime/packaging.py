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
from typing import Dict, Iterable, List, Optional

from .errors import ApplicationRefused, BadPackage
from .ids import path_inside
from .records import FrozenRecord

EXCLUDED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
                 ".pytest_cache", "node_modules", ".eggs"}
#: --py-files zips that go on sys.path themselves (vega_cli.staging.ZIP_SUFFIXES), their
#: names' suffixes in any case (``is_zip_name``)
ARCHIVES = (".zip", ".egg", ".whl", ".jar")
SOURCES = "sources.json"

#: Limits on unpacking a package on a worker (a zip bomb must not fill its disk):
#: total uncompressed size, and uncompressed/compressed ratio of the whole archive.
MAX_EXTRACTED_BYTES = 1 << 30
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
    sources = {name: os.path.abspath(path) for name, path in members.items()
               if name.endswith(".py") and not name.startswith("files/")}
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in members.items():
            with open(path, "rb") as fh:
                _add(archive, fh.read(), name)
        _add(archive, json.dumps(sources, sort_keys=True).encode(), SOURCES)
    digest = sha256_of(staging)
    path = os.path.join(out_dir, f"package-{digest[:16]}.zip")
    os.replace(staging, path)
    return Package(path, digest, os.path.getsize(path))


#: members stored as they are, not deflated again: what is compressed already (deflating a
#: 300 MB --py-files .zip took 11.7 s, twice in cluster mode: vega submit's package, then
#: the driver's for its executors; storing it, about a second)
COMPRESSED = ARCHIVES + (".gz", ".tgz", ".bz2", ".xz", ".zst", ".lz4", ".snappy", ".deflate")


def _add(archive: zipfile.ZipFile, data: bytes, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same bytes, same hash
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED if name.lower().endswith(COMPRESSED) else \
        zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


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


def verify(data: bytes, sha256: str) -> bool:
    return hashlib.sha256(data).hexdigest() == sha256


def extract(data: bytes, directory: str) -> None:
    """Unpack a package into ``directory`` atomically (safe when two executors race).

    Raises ``BadPackage`` for bytes that are not a zip, a member that would land outside
    ``directory``, or contents past ``MAX_EXTRACTED_BYTES`` / ``MAX_COMPRESSION_RATIO``.
    """
    if os.path.isdir(directory):
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BadPackage(f"it is not a zip archive ({exc}); submit the job again") from None
    # one staging directory per thread: a worker fetches the package for each executor it
    # starts in a thread of its own
    staging = f"{directory}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        with archive:
            check_members(archive, staging, len(data))
            os.makedirs(staging, exist_ok=True)
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
    """Refuse a zip of ``size`` bytes whose members escape ``staging`` or that unpacks too
    big (a zip bomb; over ``size``, not the members' compressed sizes, which count bytes
    that overlapping members share once each)."""
    total = 0
    for info in archive.infolist():
        if path_inside(os.path.join(staging, info.filename), staging) is None:
            raise BadPackage(f"member {info.filename!r} escapes the package directory")
        total += info.file_size
    problem = expansion_problem(total, size)
    if problem:
        raise BadPackage(problem + ("; leave large data out of --py-files, --files and "
                                    "--archives and read it from storage"
                                    if total > MAX_EXTRACTED_BYTES else ""))


def expansion_problem(total: int, compressed: int, capped: bool = True) -> Optional[str]:
    """Why ``compressed`` bytes unpacking into ``total`` is refused (a zip or tar bomb), or
    None: past ``MAX_EXTRACTED_BYTES`` (when ``capped``), or past ``MAX_COMPRESSION_RATIO``
    above ``RATIO_EXEMPT_BYTES``."""
    if capped and total > MAX_EXTRACTED_BYTES:
        return (f"it would unpack to {total} bytes or more, past the limit of "
                f"{MAX_EXTRACTED_BYTES} (packaging.MAX_EXTRACTED_BYTES)")
    if total > max(compressed, 1) * MAX_COMPRESSION_RATIO and total > RATIO_EXEMPT_BYTES:
        return (f"it would unpack {compressed} bytes into {total} or more, a ratio past "
                f"{MAX_COMPRESSION_RATIO}:1 (packaging.MAX_COMPRESSION_RATIO)")
    return None


def upload(conn, package: Package, reply_timeout: Optional[float] = None) -> None:
    """Send ``package`` over a master connection unless the master has it already;
    ``ApplicationRefused`` (with the master's reason) if it could not store it.
    ``reply_timeout``: how long each of the master's replies may take (``TimeoutError``
    past it; None: no bound)."""
    from .net.messages import PackageQuery, PackageStatus, UploadPackage

    def reply():
        return conn.recv() if reply_timeout is None else conn.recv_within(reply_timeout)

    conn.send(PackageQuery(package.sha256))
    answer = reply()
    if isinstance(answer, PackageStatus) and answer.present:
        return
    with open(package.path, "rb") as fh:
        conn.send(UploadPackage(package.sha256, fh.read()))
    answer = reply()
    if not (isinstance(answer, PackageStatus) and answer.present):
        raise ApplicationRefused(getattr(answer, "reason", "") or
                                 f"it did not accept the job package {package.sha256[:12]}")


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
