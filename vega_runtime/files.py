"""Files shipped to tasks, found by name (PySpark's SparkFiles).

Two ways in: ``vega submit --files`` (the package's ``files/`` directory is the
root), and ``Context.add_file``/``add_py_file``/``add_archive`` while a job
runs.  An added file travels as a broadcast of its bytes; every stage payload
carries the list (``AddedFiles``) ahead of its RDD, and an executor writes each
new one into its root directory while it unpickles the payload, so a module
added with ``add_py_file`` is importable before the stage's closures load.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import sys
import threading
from typing import Callable, Iterator, Mapping, Optional, Tuple

from .errors import InputError, VegaError
from .private_files import make_private_dirs, open_private
from .records import FrozenRecord

#: the files shipped with ``vega submit --files`` (a driver's) or in the job package (a
#: cluster executor's): each SparkFiles root links to them
FILES_DIR_ENV = "VEGA_FILES_DIR"
#: a cluster executor's package's --py-files: each SparkFiles root links to its files too, as
#: spark-submit ships them with the --files (a driver's --files directory links to them)
PY_FILES_DIR_ENV = "VEGA_PY_FILES_DIR"
#: a driver the master runs in the Python of an archive: the directory that archive was
#: unpacked in before it started (its working directory's NAME), which its SparkFiles root
#: links to (``link_unpacked``) rather than unpacking the archive a second time
DRIVER_UNPACKED_ENV = "VEGA_DRIVER_UNPACKED_ARCHIVE"
#: the archives ``add_archive`` (and ``vega submit --archives``) unpacks, as Spark's addArchive
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


class SparkFiles:
    """``SparkFiles.get("lookup.csv")`` -> the local path of a shipped or added file."""

    @staticmethod
    def get_root_directory() -> str:
        """The directory shipped and added files are in: in a task (and a thread it starts)
        its executor's, on the driver its Context's (the last started of those running); it
        exists whether or not any file was shipped, as PySpark's."""
        root = getattr(_running_task, "root", None) or _executor_root[0] or \
            (_driver_roots[-1] if _driver_roots else None)
        if root is None:
            raise VegaError("SparkFiles has a directory in tasks, and in a driver once its "
                            "Context has started: start the Context first")
        return root

    @classmethod
    def get(cls, filename: str) -> str:
        """The absolute path of ``filename`` (``dir/name`` inside an added directory) shipped
        with ``vega submit --files`` or added with ``add_file``; as PySpark's, it does not
        check that the file was shipped (opening a file that was not names its path)."""
        return os.path.abspath(os.path.join(cls.get_root_directory(), filename))

    getRootDirectory = get_root_directory


#: the SparkFiles roots of this process's running Contexts, oldest first (``driver_root_started``)
_driver_roots: list = []
#: the SparkFiles root of the task running in this thread (``task_root``)
_running_task = threading.local()
#: an executor process's root, for threads its tasks start (``executor_root``)
_executor_root: list = [None]


def prepare_root(root: str) -> str:
    """Make ``root`` a SparkFiles root: the directory, linking to the files shipped with
    the job (``FILES_DIR_ENV``, then the files of ``PY_FILES_DIR_ENV``).  Returns it.  Its
    directories are private (0700), as the rest of the application's."""
    make_private_dirs(root)
    for variable in (FILES_DIR_ENV, PY_FILES_DIR_ENV):
        shipped = os.environ.get(variable)
        if not shipped or not os.path.isdir(shipped) or os.path.samefile(shipped, root):
            continue
        for name in os.listdir(shipped):
            link, target = os.path.join(root, name), os.path.join(os.path.abspath(shipped), name)
            if not os.path.lexists(link) and (variable == FILES_DIR_ENV or os.path.isfile(target)):
                os.symlink(target, link)
    return root


def driver_root_started(root: str) -> None:
    """A Context started with SparkFiles root ``root``: the driver's root while it runs
    (the last started Context's, of those running: each has its own), and on ``sys.path``
    (``on_module_path``)."""
    _driver_roots.append(root)
    on_module_path(root)


def driver_root_stopped(root: str) -> None:
    if root in _driver_roots:
        _driver_roots.remove(root)
    if root not in _driver_roots:  # its files are deleted with the app: off sys.path, and
        sys.path[:] = [entry for entry in sys.path  # the zips added in it too
                       if entry != root and not entry.startswith(root + os.sep)]


def executor_root(root: str) -> None:
    """This process is an executor's (one application's) and ``root`` its SparkFiles root,
    on ``sys.path`` (``on_module_path``)."""
    _executor_root[0] = root
    on_module_path(root)


def on_module_path(root: str) -> None:
    """Put the SparkFiles root ``root`` on ``sys.path``, second (ahead of installed
    packages), as PySpark's driver and Python workers do: a ``.py`` file (or a package's
    directory, or an archive unpacked as one) shipped with ``--files``, ``add_file`` or
    ``add_archive`` is importable by its name, one added later as soon as it is written
    (``materialize``)."""
    if root not in sys.path:
        sys.path.insert(1, root)


def task_root(root: Optional[str]) -> Optional[str]:
    """``root`` is the SparkFiles root of the task this thread runs now (None: no task).
    Returns the one before it, to give back when the task ends (a task's own Context,
    ``vega.executor.allow_context``, runs its tasks in the task's thread on master local)."""
    outer, _running_task.root = getattr(_running_task, "root", None), root
    return outer


class AddedFile(FrozenRecord):
    """One file added by the driver: ``kind`` is file, directory, archive or py."""

    name: str
    kind: str
    source: str
    broadcast_id: int
    path: str  # the broadcast's file on the driver

    def __init__(self, name, kind, source, broadcast_id, path):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "broadcast_id", broadcast_id)
        object.__setattr__(self, "path", path)


class AddedFiles:
    """The added files, as a stage payload carries them (ahead of its RDD)."""

    def __init__(self, files: Tuple[AddedFile, ...] = ()):
        self.files = tuple(files)

    def __reduce__(self):
        return (_arrived, (self.files,))


_installer = threading.local()


def _arrived(files: Tuple[AddedFile, ...]) -> AddedFiles:
    install = getattr(_installer, "install", None)
    if install is not None and files:
        install(files)
    return AddedFiles(files)


@contextlib.contextmanager
def installing(install: Callable[[Tuple[AddedFile, ...]], None]) -> Iterator[None]:
    """While unpickling a stage payload, hand its added files to ``install``."""
    _installer.install = install
    try:
        yield
    finally:
        _installer.install = None


def source_name(added: AddedFile) -> str:
    """The last part of the path ``added`` was added from (its ``name``, unless an archive
    was given another to unpack as).

    >>> source_name(AddedFile("env", "archive", "hdfs://nn:8020/envs/env.tar.gz", 3, "/b/3"))
    'env.tar.gz'
    """
    return posixpath.basename(added.source.rstrip("/"))


def read_for_shipping(source: str, kind: str) -> bytes:
    """The bytes that represent ``source``: a directory as a zip of its tree (its regular
    files: a FIFO, socket, device or broken link in it is left out).  ``InputError`` for a
    file that is none (reading a FIFO waited for ever, /dev/zero without end)."""
    if kind != "directory":
        if not os.path.isfile(source):
            raise InputError(source, "it is not a regular file (a FIFO, socket or device): "
                                     "ship a file or a directory")
        with open(source, "rb") as fh:
            return fh.read()
    import zipfile  # here, not at start-up: only directories are zipped

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder, _, names in os.walk(source):
            for name in names:
                full = os.path.join(folder, name)
                if os.path.isfile(full):  # links followed
                    archive.write(full, os.path.relpath(full, source))
    return buffer.getvalue()


def materialize(added: AddedFile, data: bytes, root: str, packed: str = "") -> str:
    """Write ``added`` under ``root`` (unpacked for directories and archives) and make it
    importable: ``root`` is on ``sys.path`` (``on_module_path``), a zip added with
    ``add_py_file`` joins it.  Returns its local path.  ``packed``: an archive's file on
    this host, unpacked from there (``data`` unused): a packed environment may be
    gigabytes, which its bytes would hold in memory."""
    import importlib  # (its finders cache what a directory held: a new name is looked up)

    try:
        return _write(added, data, root, packed)
    finally:
        importlib.invalidate_caches()


def link_unpacked(name: str, root: str, environ: Mapping[str, str]) -> bool:
    """Whether the archive unpacked as ``name`` is linked in the SparkFiles ``root`` (made
    if need be) to the directory this driver unpacked it in before it started
    (``DRIVER_UNPACKED_ENV``): then nothing is unpacked again (a packed environment may be
    gigabytes); False where it unpacked no archive of that name."""
    import importlib

    directory = environ.get(DRIVER_UNPACKED_ENV, "")
    if not directory or os.path.basename(directory) != name or not os.path.isdir(directory):
        return False
    target = os.path.join(prepare_root(root), name)
    if os.path.islink(target):  # a file shipped with the job of the same name: this one wins
        os.unlink(target)
    os.symlink(directory, target)
    importlib.invalidate_caches()  # (as ``materialize``: it may be a package by its name)
    return True


def _write(added: AddedFile, data: bytes, root: str, packed: str = "") -> str:
    target = os.path.join(root, added.name)
    if os.path.dirname(target) != root.rstrip(os.sep) or added.name in ("", ".", ".."):
        raise ValueError(f"{added.name!r} is not a name in the SparkFiles directory")
    if os.path.islink(target):  # a file shipped with the job of the same name: this one wins
        os.unlink(target)
    if added.kind in ("directory", "archive"):
        import shutil  # here: every driver imports this module, few unpack an archive
        import tempfile

        from . import archives

        with tempfile.TemporaryDirectory(dir=root) as scratch:
            if not packed:
                # an archive keeps its own name (its format is in it) whatever it unpacks as
                packed = os.path.join(scratch, source_name(added) if added.kind == "archive"
                                      else "d.zip")
                with open(packed, "wb") as out:
                    out.write(data)
            # all, or nothing; a directory the driver zipped itself is not held to the ratio
            archives.unpack(packed, os.path.join(scratch, "unpacked"),
                            bounded=added.kind == "archive")
            shutil.rmtree(target, ignore_errors=True)
            os.rename(os.path.join(scratch, "unpacked"), target)
        return target
    partial = f"{target}.{os.getpid()}.tmp"
    with open_private(partial, "wb") as out:  # 0600 whatever the umask
        out.write(data)
    os.replace(partial, target)
    if added.kind == "py" and not added.name.endswith(".py") and target not in sys.path:
        sys.path.insert(1, target)  # a zip: the root holds a .py file
    return target
