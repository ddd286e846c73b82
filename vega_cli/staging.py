"""Where a job's files go before it runs: --py-files and --files staged for a local master,
and the job package (``vega_runtime.packaging``) for a cluster's executors.  Shared by
``vega submit`` and ``vega shell``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, List, Mapping, Tuple

from vega_runtime.logs import name_sources
from vega_runtime.private_files import hold_owner_lock, remove_abandoned
from vega_runtime.processes import HeldSignals

from .errors import UsageError, print_notice


@contextlib.contextmanager
def staging_directory(prefix: str) -> Iterator[str]:
    """A new directory in $TMPDIR for a command's staged files, deleted on the way out.
    Neither making it nor deleting it is cut short by a Ctrl-C or kill (``HeldSignals``):
    one that lands in ``mkdtemp`` once the directory exists is taken inside the block, so
    the directory still goes (it stayed, empty, when a SIGHUP landed there).  Those of
    commands killed outright (SIGKILL) go when the next one starts."""
    held = HeldSignals().hold()
    try:
        path = tempfile.mkdtemp(prefix=prefix)
    except BaseException:
        held.release()
        raise
    lock = None
    try:
        try:
            lock = hold_owner_lock(path)
            remove_abandoned(os.path.dirname(path), prefix)
        finally:
            held.release()
        yield path
    finally:
        with HeldSignals():
            shutil.rmtree(path, ignore_errors=True)
            if lock is not None:
                os.close(lock)


def file_problem(path: str, directory_ok: bool = False) -> str:
    """What keeps ``path`` from being read as a file (a job, one of --py-files, --files or
    --archives), in words that follow its name; "" when it is a regular file it can read (or,
    ``directory_ok``, a directory).  A pipe (``vega submit <(...)``), a device or a broken
    link was said not to exist, and a FIFO among --py-files failed as an internal error.

    >>> file_problem("/dev/null")
    'is a character device, not a regular file'
    >>> file_problem("/nonexistent/job.py")
    'does not exist'
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"is a broken symbolic link (to {os.readlink(path)!r})"
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return "" if directory_ok else "is a directory, not a file"
    if not stat.S_ISREG(mode):
        kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a character device" if stat.S_ISCHR(mode) else "a block device")
        return f"is {kind}, not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return ""


def split_list(csv: str) -> List[str]:
    return [p.strip() for p in csv.split(",") if p.strip()]


def files_to_ship(py_files: str, files: str,
                  conf: Mapping[str, Any]) -> Tuple[str, str, Dict[str, str]]:
    """The Python files and files to ship with the job: ``--py-files`` and ``--files``, each
    else its setting in the resolved ``conf`` (``vega.py_files``, ``vega.files``: Spark's
    ``spark.submit.pyFiles`` and ``spark.files`` from ``--conf`` or a settings file), as
    spark-submit takes a flag over its property (``file:`` URIs as paths), the settings'
    checked as the flags' are; and the settings that tell the job's Context to add none of
    the local ones itself (shipped with the job, they are on its driver's path and in its
    package), but the URLs (``hdfs://``), of a flag as of a setting, which it adds as
    ``add_file`` takes them (spark-submit takes URLs in its flags too).

    >>> files_to_ship("a.py", "", {"vega.py_files": "b.py", "vega.files": "hdfs://nn/c.csv"})
    ('a.py', '', {'vega.py_files': '', 'vega.files': 'hdfs://nn/c.csv'})
    >>> files_to_ship("a.py,hdfs://nn/b.zip", "", {"vega.py_files": "", "vega.files": ""})
    ('a.py', '', {'vega.py_files': 'hdfs://nn/b.zip'})
    """
    from vega_runtime.config import COMMAND_LINE

    chosen: List[str] = []
    left: Dict[str, str] = {}
    for flag, key, spark, check in ((py_files, "vega.py_files", "spark.submit.pyFiles",
                                     check_py_files),
                                    (files, "vega.files", "spark.files", check_files)):
        # a URL (hdfs://) stays the Context's to add, as add_file and add_py_file take it
        local, urls = local_and_urls(flag or conf[key])
        if not flag:  # (the flags' are checked as they are named, by the caller)
            origin = conf.origin(key) if hasattr(conf, "origin") else "settings"
            check(",".join(local), f"{spark} ({key}) from "
                                   f"{'--conf' if origin == COMMAND_LINE else origin}")
        chosen.append(",".join(local))
        if conf[key] or urls:
            left[key] = ",".join(urls)
    return chosen[0], chosen[1], left


def local_and_urls(csv: str) -> Tuple[List[str], List[str]]:
    """The comma-separated items of ``csv``: the local paths (``file:`` URIs as paths), and
    the URLs of other file systems (``hdfs://nn:9870/lib.zip#NAME``), as given.

    >>> local_and_urls("a.py, file:///b.zip,hdfs://nn/c.tgz#env")
    (['a.py', '/b.zip'], ['hdfs://nn/c.tgz#env'])
    """
    from vega_runtime.io.files import is_url, local_path

    items = split_list(csv)
    return ([local_path(item) for item in items if not is_url(item)],
            [item for item in items if is_url(item)])


def check_urls(options: Mapping[str, List[str]], conf: Mapping[str, Any],
               fetch: bool) -> None:
    """Refuse a URL given to ``--py-files``, ``--files`` or ``--archives`` (``options``: the
    option's name -> its URLs) of a file system Vega cannot read (``s3a://``), and, with
    ``fetch`` (the driver runs here: client deploy mode), one that names no file this host
    can fetch, before the job starts: in its driver's Context the failure named no option
    (``vega: job failed: HDFS hdfs://nn/x.zip: File /x.zip not found.``)."""
    from vega_runtime.errors import UnsupportedFileSystem, VegaError
    from vega_runtime.io.globs import path_text
    from vega_runtime.io.hdfs import HdfsSettings, list_files

    settings = HdfsSettings(conf["vega.hdfs.user"], conf["vega.hdfs.timeout"],
                            conf["vega.hdfs.datanodes"], conf["vega.hdfs.namenode"])
    for option, urls in options.items():
        for item in urls:
            url = item.partition("#")[0]
            try:
                path_text(url)
            except UnsupportedFileSystem as exc:
                raise UsageError(f"{option}: {exc}") from None
            try:
                found = list_files(url, settings) if fetch else [(url, 0, 0)]
            except VegaError as exc:
                reason = getattr(exc, "reason", None) or str(exc)
                raise UsageError(f"{option}: {url!r} cannot be fetched: {reason}",
                                 "The driver fetches it from here (client deploy mode): check "
                                 "the URL (hdfs://NAMENODE:WEBHDFS_PORT/PATH) and that this "
                                 "host reaches the namenode.") from None
            if [listed[0] for listed in found] != [url]:
                raise UsageError(f"{option}: {url!r} is a directory, not a file")


def with_urls(local: str, for_context: Mapping[str, str], key: str) -> str:
    """``local`` (``files_to_ship``'s paths) and the URLs it left to the Context under
    ``key``: all of them, for the Spark properties of the job (``file_properties``)."""
    return ",".join(filter(None, [local, for_context.get(key, "")]))


def file_properties(py_files: str, files: str, archives: str) -> List[Tuple[str, str]]:
    """The Spark properties spark-submit makes of ``--py-files``, ``--files`` and
    ``--archives`` for a client-mode driver: ``spark.submit.pyFiles`` (absolute paths),
    ``spark.files`` (file: URIs of the files, then of the Python files, which it ships
    too) and ``spark.archives`` (URIs, a ``#NAME`` kept); none for a flag not given.

    >>> file_properties("/job/lib.zip", "/data/a.csv", "/data/env.tgz#env")
    ... # doctest: +NORMALIZE_WHITESPACE
    [('spark.submit.pyFiles', '/job/lib.zip'),
     ('spark.files', 'file:///data/a.csv,file:///job/lib.zip'),
     ('spark.archives', 'file:///data/env.tgz#env')]
    >>> file_properties("hdfs://nn/lib.zip", "", "hdfs://nn/env.tgz#env")[1:]
    [('spark.files', 'hdfs://nn/lib.zip'), ('spark.archives', 'hdfs://nn/env.tgz#env')]
    """
    from vega_runtime.io.files import is_url

    def uri(item: str) -> str:
        if is_url(item):
            return item
        path, mark, name = item.partition("#")
        return "file://" + os.path.abspath(path) + mark + name

    python = [item if is_url(item) else os.path.abspath(item) for item in split_list(py_files)]
    shipped = [uri(item) for item in split_list(files)] + [uri(item) for item in python]
    given = [("spark.submit.pyFiles", ",".join(python)), ("spark.files", ",".join(shipped)),
             ("spark.archives", ",".join(uri(item) for item in split_list(archives)))]
    return [(key, value) for key, value in given if value]


#: the --py-files items that go on sys.path themselves, zip archives: PySpark's
#: PACKAGE_EXTENSIONS (.zip, .egg, .jar: a Spark package's jar holds its Python modules)
#: and wheels (packaging.ARCHIVES, whose module imports zipfile)
ZIP_SUFFIXES = (".zip", ".egg", ".whl", ".jar")


def is_zip_name(item: str) -> bool:
    """Whether the --py-files item ``item`` is a zip archive by its name: a suffix of
    ZIP_SUFFIXES in any case (``LIB.ZIP``), as PySpark's ``addPyFile`` tells."""
    return item.lower().endswith(ZIP_SUFFIXES)


def check_py_files(py_files: str, option: str = "--py-files") -> None:
    """Refuse a ``--py-files`` item Python cannot import from (``data.csv``): put on
    ``sys.path`` it would be found by nothing (spark-submit ships such an item as ``--files``
    would: ship it with ``--files``).  ``option`` names where they
    were given."""
    for item in split_list(py_files):
        problem = file_problem(item, directory_ok=True)
        if problem:
            raise UsageError(f"{option}: {item!r} {problem}")
        if item.lower().endswith(".py") and not item.endswith(".py"):  # MOD.PY
            from vega_runtime.packaging import py_case_problem

            raise UsageError(f"{option}: {item!r}: {py_case_problem(item)}")
        if not item.endswith(".py") and not is_zip_name(item) and not os.path.isdir(item):
            name = os.path.basename(os.path.normpath(item))
            raise UsageError(f"{option}: {item!r} is no Python module or package (.py, .zip, "
                             f".egg, .whl, .jar or a directory)",
                             f"Ship a data file with --files {item}: tasks and the driver find "
                             f"it with SparkFiles.get({name!r}).")
        if os.path.isfile(item) and not item.endswith(".py"):
            from vega_runtime.packaging import zip_problem  # (zipfile: only when it is needed)

            problem = zip_problem(item)
            if problem:
                raise UsageError(f"{option}: {item!r} is not a zip archive Python can "
                                 f"import from ({problem})",
                                 f"Rebuild it (python -m zipfile -c {os.path.basename(item)} "
                                 "PACKAGE_DIR), or give the package's directory.")


def check_distinct_names(py_files: str, files: str) -> None:
    """Refuse two different paths of one base name in ``--py-files`` or in ``--files``: they
    would land on one name (a module, ``SparkFiles.get(name)``, the job package's member), the
    last silently winning; Spark's addFile refuses them too.  The same path twice is fine."""
    for option, csv, found_by in (("--py-files", py_files, "Python imports a module by its "
                                   "name alone"),
                                  ("--files", files, "SparkFiles.get finds a file by its name "
                                   "alone")):
        seen = {}
        for item in split_list(csv):
            name = os.path.basename(os.path.normpath(item))
            first = seen.setdefault(name, item)
            if os.path.realpath(first) != os.path.realpath(item):
                raise UsageError(f"{option}: {first!r} and {item!r} are both named {name!r}",
                                 f"{found_by}: rename one of them, or give one.")


def archive_list(archives: str, files: str = "") -> List[str]:
    """``--archives``' items as ``PATH#NAME``, PATH absolute, NAME the file's name unless one
    was given after ``#`` (the directory ``SparkFiles.get(NAME)`` unpacks it in, as Spark's
    --archives); a missing file, another kind, a NAME given twice or also the name of one of
    ``files`` (``--files``, which ``SparkFiles.get`` finds in the same directory) is a usage
    error."""
    if not split_list(archives):
        return []  # (without loading the archives' module: tarfile, zipfile, hashlib)
    from vega_runtime.archives import unpack_name_problem
    from vega_runtime.files import ARCHIVE_SUFFIXES

    items, names = [], set()
    for item in split_list(archives):
        path, _, name = item.partition("#")
        name = name or os.path.basename(path)
        problem = file_problem(path)
        if problem:
            raise UsageError(f"--archives: {path!r} {problem}")
        if not path.endswith(ARCHIVE_SUFFIXES):
            raise UsageError(f"--archives: {path!r} is not a .zip, .tar, .tar.gz or .tgz archive")
        problem = unpack_name_problem(name)
        if name in names or problem:
            raise UsageError(f"--archives: {item!r}: two archives named {name!r}" if name in names
                             else f"--archives: {item!r}: {problem}")
        names.add(name)
        items.append(f"{os.path.abspath(path)}#{name}")
    shipped = {os.path.basename(os.path.normpath(item)): item for item in split_list(files)}
    for item in items:
        name = item.rpartition("#")[2]
        if name in shipped:
            raise UsageError(f"--archives: {name!r} is also the name of --files "
                             f"{shipped[name]!r}",
                             "SparkFiles.get finds both in one directory, the archive "
                             "hiding the file: give the archive another NAME after #.")
    return items


def check_archives(archives: str) -> None:
    """Refuse an archive of ``--archives`` (which ``archive_list`` passed) the Context would
    not unpack: corrupt, of another kind than its name says, unsafe; named as given. It was
    found as the Context unpacked it, in cluster deploy mode after the upload, on the
    master."""
    for item in split_list(archives):
        _check_archive(item.partition("#")[0])


def _check_archive(path: str) -> None:
    from vega_runtime.archives import check
    from vega_runtime.errors import BadArchive

    try:
        check(path)
    except BadArchive as exc:
        # "it cannot be read as a zip file (...)", "member '../x' has a '..' in its name"
        problem = exc.problem[3:] if exc.problem.startswith("it ") else f"is refused: {exc.problem}"
        raise UsageError(f"--archives: {path!r} {problem}",
                         exc.advice[:1].upper() + exc.advice[1:] + ".") from None
    except OSError as exc:  # (file_problem found it readable a moment ago)
        raise UsageError(f"--archives: {path!r} cannot be read: {exc.strerror or exc}") \
            from None


def check_package_size(job: str, py_files: str, files: str, archives: List[str],
                       limit: int) -> None:
    """Refuse a job package that would hold more than ``limit`` bytes (``vega.package.max_size``;
    0: no limit) before reading any of it: the sizes of what it would hold (``archives``,
    ``archive_list``'s, travel in it in cluster deploy mode).  Before, the master's fixed
    1 GiB was found only after the upload (archives: before reading them)."""
    from vega_runtime.packaging import package_members

    if not limit:
        return
    members = package_members(job, split_list(py_files), split_list(files), archives)
    sizes = {path: os.path.getsize(path) for path in members.values()}
    if sum(sizes.values()) > limit:
        largest = max(sizes, key=sizes.get)
        raise UsageError(f"the job package would hold {_size(sum(sizes.values()))} (the job, "
                         f"--py-files, --files{', --archives' if archives else ''}), more than "
                         f"vega.package.max_size ({_size(limit)})",
                         f"Put {largest} ({_size(sizes[largest])}) on storage every host reads "
                         "(HDFS) and add it in the job (sc.add_file(URL), "
                         "sc.add_archive(URL#NAME)), or raise vega.package.max_size.")


def stage_py_files(py_files: str, staging: str) -> List[str]:
    """Directories and zips go on sys.path as they are; .py files via a staging dir
    (tracebacks name the originals)."""
    paths, modules = [], os.path.join(staging, "py")
    for item in split_list(py_files):
        if not os.path.exists(item):
            raise UsageError(f"--py-files: {item!r} does not exist")
        if os.path.isdir(item) or is_zip_name(item):
            paths.append(os.path.abspath(item))
        else:
            os.makedirs(modules, exist_ok=True)
            name_sources({shutil.copy(item, modules): os.path.abspath(item)})
            if modules not in paths:
                paths.append(modules)
    return paths


def check_files(files: str, option: str = "--files") -> None:
    """Refuse a ``--files`` item that is no regular file this account reads, before anything
    is made (in cluster deploy mode a missing one failed as an internal error and a FIFO hung
    the package's build)."""
    for item in split_list(files):
        problem = file_problem(item)
        if problem:
            raise UsageError(f"{option}: {item!r} {problem}")


def stage_files(files: str, staging: str, py_files: str = "") -> str:
    """The directory of the driver's shipped files (``FILES_DIR_ENV``): copies of ``files``,
    and links to the files of ``py_files``, which spark-submit ships as --files too
    (``SparkFiles.get("lib.zip")``; one of ``files`` of the same name wins)."""
    directory = os.path.join(staging, "files")
    os.makedirs(directory, exist_ok=True)
    check_files(files)
    for item in split_list(files):
        shutil.copy(item, directory)
    for item in split_list(py_files):
        link = os.path.join(directory, os.path.basename(item))
        if os.path.isfile(item) and not os.path.lexists(link):
            os.symlink(os.path.abspath(item), link)
    return directory


def build_job_package(job: str, py_files: str, files: str, staging: str,
                      announce: bool = True, archives: List[str] = ()) -> str:
    """Zip the job for the cluster's executors and (``announce``) say how big it is;
    ``archives`` (``archive_list``'s) for a cluster-mode driver, which adds them."""
    from vega_runtime.packaging import build_package

    package = build_package(job, split_list(py_files), split_list(files),
                            os.path.join(staging, "package"), archives)
    if announce:
        print_notice(f"vega: job package {_size(package.size)} (sha256 {package.sha256[:12]})",
                     style="dim")
    return package.path


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
