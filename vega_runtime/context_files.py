"""Files for tasks: the Context's ``add_file``, ``add_py_file`` and ``add_archive``.

A mixin of ``Context``.  An added file is broadcast as bytes and listed in the
runner's ``added_files``, which every stage payload carries (see ``files``);
the driver keeps its own copy in its SparkFiles root.
"""

from __future__ import annotations

import logging
import os
import posixpath
from typing import Dict, List

from . import files
from .errors import InputError
from .io.files import file_uri, input_errors, is_url, local_path, open_input
from .io.globs import path_text
from .io.hdfs import is_hdfs, split_url

log = logging.getLogger(__name__)


class FileShipping:
    """Needs ``self.app_dir``, ``self._runner`` and ``self.broadcast``."""

    _added_broadcasts: tuple = ()
    #: the executors' Python as the application names it ("": the workers' own)
    _executor_python = ""
    #: the archives unpacked before the Context started (the executors' Python's)
    _unpacked_early: frozenset = frozenset()

    def add_file(self, path: str, recursive: bool = False) -> None:
        """Ship a file (or, with ``recursive=True``, a directory) to every executor; tasks
        find it with ``SparkFiles.get(name)``.  ``path`` is a local path, a ``file:`` URL or
        an HDFS URL (of a file).

        >>> import os, tempfile
        >>> from vega_runtime import SparkFiles
        >>> path = os.path.join(tempfile.mkdtemp(), "lookup.csv")
        >>> with open(path, "w") as fh:
        ...     _ = fh.write("a,1")
        >>> ctx.add_file(path)
        >>> ctx.parallelize([0]).map(lambda _: open(SparkFiles.get("lookup.csv")).read()).collect()
        ['a,1']
        >>> os.remove(path); os.rmdir(os.path.dirname(path))
        """
        path = path_text(path)
        if not path.strip():  # it would name the working directory; Spark refuses it
            raise ValueError("the path to add is empty: give a file (or, with recursive=True, "
                             "a directory)")
        kind = "file"
        if os.path.isdir(local_path(path)):
            if not recursive:
                raise ValueError(f"{path} is a directory: pass recursive=True to add it")
            kind = "directory"
        self._add(path, kind)

    def add_py_file(self, path: str) -> None:
        """Ship a file to every executor, as ``add_file`` does, for tasks to import from: a
        ``.py`` file is importable by its name (the SparkFiles directory is on ``sys.path``,
        the driver's and every executor's), and a zip archive (``.zip``, ``.egg``, ``.jar``
        as PySpark's ``PACKAGE_EXTENSIONS``, and ``.whl`` as ``vega submit --py-files``
        takes it; in any case: ``LIB.ZIP``) goes on ``sys.path`` itself.  Any other file
        is shipped as PySpark's ``addPyFile`` ships it (``SparkFiles.get(name)``)."""
        from .packaging import is_zip_name, py_case_problem, zip_problem

        path = path_text(path)
        if py_case_problem(path):
            raise ValueError(f"{path}: {py_case_problem(path)}")
        if os.path.isdir(local_path(path)):  # PySpark's addFile (without recursive) refuses it
            name = os.path.basename(os.path.normpath(local_path(path)))
            raise ValueError(f"{path} is a directory: add_py_file ships a file; ship a package "
                             f"as a zip of it (python -m zipfile -c {name}.zip {name}), or with "
                             f"add_file({path!r}, recursive=True), which makes it importable "
                             f"as {name!r}")
        if not is_zip_name(path):
            self._add(path, "py" if path.endswith(".py") else "file")
            return
        if os.path.isfile(local_path(path)):  # (a local file: not a URL)
            problem = zip_problem(local_path(path))
            if problem:
                raise ValueError(f"{path}: not a zip archive Python can import from "
                                 f"({problem})")
        self._add(path, "py")

    def add_archive(self, path: str) -> None:
        """Ship an archive (.zip, .tar, .tar.gz, .tgz) unpacked into a directory of its name,
        or of the name after a ``#`` (``env.tar.gz#env``: ``SparkFiles.get("env")``), as
        Spark's."""
        from . import archives  # (tarfile, zipfile: not on every Context's start)

        path, hashed, unpack_as = path_text(path).partition("#")
        if not path.endswith(files.ARCHIVE_SUFFIXES):
            raise ValueError(f"{path}: add_archive takes a .zip, .tar, .tar.gz or .tgz file")
        problem = hashed and unpack_as and archives.unpack_name_problem(unpack_as)
        if problem:  # it was joined to the SparkFiles directory, '..' and '/abs' too
            raise ValueError(f"{path}#{unpack_as}: the name after '#' is where the archive "
                             f"unpacks: {problem}")
        self._add(path, "archive", unpack_as)

    @property
    def list_files(self) -> List[str]:
        """URIs of the files shipped with the job (``vega submit --files`` and
        ``--py-files``: Spark's ``spark.files``, as spark-submit gives it) and of the files
        and directories added with ``add_file``/``add_py_file``, as PySpark's ``listFiles``."""
        from .spark_settings import spark_properties

        shipped = [item.strip() for item in spark_properties().get("spark.files", "").split(",")
                   if item.strip()]
        paths = {local_path(item) for item in shipped if not is_url(item)}
        return shipped + [file_uri(f.source) for f in self._runner.added_files.files
                          if f.kind != "archive" and local_path(file_uri(f.source)) not in paths]

    @property
    def list_archives(self) -> List[str]:
        """URIs of the archives added with ``add_archive``."""
        return [file_uri(f.source) + ("" if f.name == files.source_name(f) else "#" + f.name)
                for f in self._runner.added_files.files if f.kind == "archive"]

    def _add(self, path: str, kind: str, name: str = "") -> None:
        """Ship ``path`` as ``name`` (by default the last part of its path)."""
        on_hdfs = is_hdfs(path)
        source = path if on_hdfs else os.path.abspath(local_path(path))
        if not on_hdfs and not os.path.exists(source):
            raise InputError(path, "no such file or directory")
        name = name or (posixpath.basename(split_url(source)[1].rstrip("/")) if on_hdfs else
                        os.path.basename(source.rstrip(os.sep)))
        known = {f.name: f for f in self._runner.added_files.files}
        if name in known:
            archive = "archive" in (kind, known[name].kind) and kind != known[name].kind
            if known[name].source == source and not archive:
                return  # added already (Spark's: ignored)
            if known[name].source == source:  # unpacked and not: one SparkFiles name for both
                raise ValueError(f"{path} was already added as {_with_article(known[name].kind)}"
                                 f"; as {_with_article(kind)} too it would stand at the same "
                                 f"SparkFiles.get({name!r}): add the archive as "
                                 f"{path}#OTHER_NAME to unpack it under another name")
            raise ValueError(f"a file named {name!r} was already added from "
                             f"{known[name].source}; rename one of them")
        if on_hdfs:  # a file (not a directory) from HDFS, as Spark's addFile takes it
            with input_errors(path), open_input(path, self.hdfs_settings, decompress=False) as fh:
                data = fh.read()
        else:
            data = files.read_for_shipping(source, kind)
        shipped = self.broadcast(data)
        unpacked = kind == "archive" and (name in self._unpacked_early or files.link_unpacked(
            name, self._files_root(), os.environ))
        # held for the application's life: a broadcast nothing holds is deleted (its file
        # and executors' copies) as the next job starts, and executors fetch added files late
        self._added_broadcasts = (*self._added_broadcasts, shipped)
        added = files.AddedFile(name, kind, source, shipped.id, shipped._path)
        if unpacked:  # the executors' or the driver's Python's: unpacked before this
            self._unpacked_early = self._unpacked_early - {name}
        else:
            files.materialize(added, data, self._files_root())
        self._runner.added_files = files.AddedFiles(self._runner.added_files.files + (added,))

    def _files_root(self) -> str:
        """This Context's SparkFiles root (the driver's while it runs): made, with links to
        the files shipped with the job, as the Context starts (``_start_files_root``)."""
        return os.path.join(self.app_dir, "files", "driver")

    def _start_files_root(self) -> None:
        """SparkFiles' directory on the driver, with the files ``vega.py_files`` and
        ``vega.files`` name (Spark's ``spark.submit.pyFiles``, ``spark.files``) and the
        archives ``vega.archives`` names (``vega submit --archives``) added for the tasks:
        the Python files first, so that one named by both is on ``sys.path``."""
        files.driver_root_started(files.prepare_root(self._files_root()))
        for path in _not_shipped_with_job(self.conf["vega.py_files"]):
            self.add_py_file(path)
        for path in _not_shipped_with_job(self.conf["vega.files"]):
            self.add_file(path)
        for archive in self.conf["vega.archives"].split(","):
            if archive.strip():
                self.add_archive(archive.strip())

    def _plan_executor_python(self) -> None:
        """Before the backend starts: the environment that makes the executors run the
        Python the application names (``executor_python``), its archive staged for them and
        unpacked in the driver's SparkFiles root, where it is checked as they would find it
        (``_executor_python_env``, {} for the workers' own Python); ``ExecutorPythonError``
        for one that would not run them."""
        from . import executor_python

        self._executor_python_env: Dict[str, str] = {}
        given, source = executor_python.configured(self.conf, os.environ)
        kind = self.master_spec.kind
        if not given:
            return
        if kind == "inline":
            self._warn_inline(given)
            return
        self._executor_python = given
        name = executor_python.in_archive(given)
        archives = [] if name is None else \
            [[name, self._stage_for_executors(self._archive_named(given, source, name), name)]]
        on_this_host = kind in ("local", "local-cluster")
        pythonpath = self.resource_plan.executor_env.get("PYTHONPATH") or \
            (os.pathsep.join(executor_python.user_paths()) if on_this_host else None)
        checked = name is not None or on_this_host
        if checked:  # as the executors will find it: in the archive, or on this host
            path = executor_python.resolve(given, self._files_root())
            # (in an archive, it is a cluster-mode driver's own, linked: the executors unpack it)
            if name is None and executor_python.is_running_interpreter(path):
                return
            try:
                executor_python.check(given, source, path, executor_python.executor_environment(
                    {**os.environ, **self.resource_plan.executor_env}, pythonpath))
            except executor_python.InterpreterNotRunnable:
                if on_this_host:
                    raise
                checked = False  # built for the workers' system, not this one: they check it
            log.info("executors run the Python %s (%s)", given, path)
        self._executor_python_env = {executor_python.EXECUTOR_PYTHON_ENV: executor_python.spec(
            given, source, archives, pythonpath, checked)}

    @staticmethod
    def _warn_inline(given: str) -> None:
        """Master ``local`` runs tasks in the driver: another Python has no use there."""
        from . import executor_python

        if not executor_python.is_running_interpreter(executor_python.resolve(given, ".")):
            log.warning("the executors' Python %s has no use on master 'local', whose tasks "
                        "run in the driver's Python: use local[N] to run them in it", given)

    def _stage_for_executors(self, archive: str, name: str) -> str:
        """The archive the executors' Python is in, staged for them (the path returned) and
        unpacked as ``name`` in the driver's SparkFiles root, once: ``_add`` finds it there
        (a link where the driver's Python runs from it: ``files.link_unpacked``)."""
        from . import executor_python

        staged = executor_python.stage_archive(archive, os.path.join(self.app_dir, "broadcast"),
                                               name)
        if not files.link_unpacked(name, self._files_root(), os.environ):
            files.materialize(files.AddedFile(name, "archive", staged, -1, staged), b"",
                              files.prepare_root(self._files_root()), packed=staged)
        self._unpacked_early = {name}
        return staged

    def _archive_named(self, given: str, source: str, name: str) -> str:
        """The local file of ``vega.archives`` that unpacks as ``name``, which the executors'
        Python ``given`` is in; ``ExecutorPythonError`` if there is none."""
        from . import executor_python

        for item in self.conf["vega.archives"].split(","):
            path, _, unpack_as = item.strip().partition("#")
            if path and (unpack_as or os.path.basename(path)) == name:
                if is_url(path):
                    raise executor_python.ExecutorPythonError(
                        given, source, "", f"is in {path}, which executors cannot have before they "
                        "start", "ship the archive from a local file (vega submit --archives "
                        f"ENV.tar.gz#{name})")
                return os.path.abspath(local_path(path))
        raise executor_python.ExecutorPythonError(
            given, source, "", f"is in an archive unpacked as {name!r}, which the application does "
            "not ship", f"ship it with --archives ENV.tar.gz#{name} (spark.archives; "
            "add_archive once the Context runs is too late for the executors' Python)")

    def _stop_files_root(self) -> None:
        files.driver_root_stopped(self._files_root())


def _not_shipped_with_job(paths: str) -> List[str]:
    """The items of the comma-separated ``paths`` but the local files ``vega submit`` or
    ``vega shell`` shipped with the job itself (its --py-files and --files, which a job's
    ``SparkConf()`` has as spark.submit.pyFiles and spark.files once a context has started);
    a URL (``hdfs://``) is never one of those."""
    from .spark_settings import spark_properties

    def where(item: str) -> str:
        return os.path.abspath(local_path(item))

    given = spark_properties()
    shipped = {where(item.strip()) for key in ("spark.submit.pyFiles", "spark.files")
               for item in given.get(key, "").split(",") if item.strip()}
    items = [item.strip() for item in paths.split(",") if item.strip()]
    return [item for item in items if is_url(item) or where(item) not in shipped]


def _with_article(kind: str) -> str:
    """"a file", "an archive", as the kinds of added files are told."""
    return ("an " if kind[0] in "aeiou" else "a ") + kind
