"""The Python a job's driver runs: the one ``vega submit`` and ``vega shell`` run in, or one
the application names (PySpark's ``spark.pyspark.driver.python``, ``PYSPARK_DRIVER_PYTHON``).

As spark-submit's Python runner, the first of these names it: ``vega.driver.python``
(``spark.pyspark.driver.python``), ``vega.executor.python`` (``spark.pyspark.python``, "for
both driver and executors"), then in the submitter's environment ``PYSPARK_DRIVER_PYTHON``
and ``PYSPARK_PYTHON``.  Where Vega differs, and why:

- In client deploy mode a path relative to the archives (``spark.pyspark.python=
  ./environment/bin/python``, ``PYSPARK_PYTHON=...``: the executors' Python in an archive,
  ``executor_python.in_archive``) is the executors' alone: no archive is unpacked before a
  client-mode driver starts, and Spark's own driver fails on it (PySpark's docs add
  ``PYSPARK_DRIVER_PYTHON=python`` to the idiom for that reason).  Vega passes it over for
  the next source.  ``vega.driver.python`` itself is a path on this host (relative: to the
  working directory) or a name on ``PATH``.
- A cluster-mode driver (run by the master) reads the settings only, as Spark's "do not set
  it in cluster modes" says of the variables: the submitter's environment is not its.  A
  path relative to the archives resolves in its working directory, where the archives it is
  in are unpacked before it starts, as YARN unpacks them in its application master's.  Its
  submitter refuses one in an archive not shipped before the upload (``check_for_cluster``).
- ``ipython`` and ``jupyter`` (``PYSPARK_DRIVER_PYTHON=jupyter``) are front ends of the
  pyspark shell, not a Python that runs a script: ``vega submit`` runs the job in its own
  Python, saying so; ``vega shell`` decides what they mean for it (``shell_front_end``).

A Python other than the running one is checked (``executor_python.check``: it runs and
imports this version of Vega's CLI; one message otherwise, a usage error), then this process
becomes it (``execve``: the same process, which its starter, a master, supervises as before),
running the same command line again; ``DRIVER_PYTHON_ENV`` tells that run it is there.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, Mapping, Optional, Tuple

from vega_runtime import executor_python
from vega_runtime.executor_python import ExecutorPythonError, in_archive
from vega_runtime.files import DRIVER_UNPACKED_ENV

from .errors import UsageError, print_notice

#: in the environment of the command that became the driver's Python: that Python's path,
#: which it does not become again (and its warnings of the settings were given already)
DRIVER_PYTHON_ENV = "VEGA_BECAME_DRIVER_PYTHON"
#: names of front ends (``PYSPARK_DRIVER_PYTHON=ipython``), which run no job script
FRONT_ENDS = ("ipython", "jupyter")
#: where the driver's Python may be named, in the order spark-submit reads them
SETTINGS = (("vega.driver.python", "vega.driver.python, Spark's spark.pyspark.driver.python"),
            ("vega.executor.python", "vega.executor.python, Spark's spark.pyspark.python"))
VARIABLES = (("PYSPARK_DRIVER_PYTHON", "PYSPARK_DRIVER_PYTHON in this environment"),
             ("PYSPARK_PYTHON", "PYSPARK_PYTHON in this environment"))


class DriverPythonError(ExecutorPythonError):
    """The driver's Python cannot run it (``ExecutorPythonError``'s facts)."""

    WHOSE = "the driver's"


DRIVER = executor_python.Role(
    DriverPythonError, DriverPythonError, "vega_cli.main", "Vega's command line", False,
    "give a path that exists on the driver's host, or a name on its PATH",
    "name an interpreter built for this system",
    "install Vega into that environment (pip install vega and its dependencies), or name "
    "a Python that has it",
    "this command's", "that environment")


def configured(conf: Mapping[str, object], environ: Mapping[str, str],
               by_master: bool) -> Tuple[str, str]:
    """The driver's Python as named, and where ("", "" for this command's own): see the
    module's docstring.

    >>> conf = {"vega.driver.python": "", "vega.executor.python": "./environment/bin/python"}
    >>> configured(conf, {"PYSPARK_DRIVER_PYTHON": "python3"}, by_master=False)
    ('python3', 'PYSPARK_DRIVER_PYTHON in this environment')
    >>> configured(conf, {"PYSPARK_DRIVER_PYTHON": "python3"}, by_master=True)
    ('./environment/bin/python', "vega.executor.python, Spark's spark.pyspark.python")
    """
    if DRIVER_PYTHON_ENV in environ:  # the command that became it chose it (and warned)
        return "", ""
    named = [(conf.get(key), source) for key, source in SETTINGS]
    if not by_master:
        named += [(environ.get(name), source) for name, source in VARIABLES]
    for given, source in named:
        given = str(given or "").strip()
        if not given or (not by_master and source != SETTINGS[0][1] and in_archive(given)):
            continue
        if is_front_end(given):
            print_notice(
                f"vega: warning: {given} ({source}) is a front end of the pyspark shell, not a "
                "Python: the job's driver runs in vega's own Python", style="yellow")
            continue
        return given, source
    return "", ""


def is_front_end(given: str) -> bool:
    """Whether ``given`` names IPython or Jupyter rather than a Python.

    >>> [is_front_end(name) for name in ("ipython3", "/opt/bin/jupyter", "python3")]
    [True, True, False]
    """
    return os.path.basename(given).startswith(FRONT_ENDS)


def shell_front_end(environ: Mapping[str, str]) -> Optional[str]:
    """What ``vega shell`` makes of pyspark's front-end variables: the IPython
    ``PYSPARK_DRIVER_PYTHON`` names (``ipython``: the session is IPython's, as it is on a
    terminal where IPython is installed), or None (a Python, or none: ``configured``);
    ``UsageError`` for Jupyter (a notebook server is no shell: a notebook makes its own
    Context) and for ``PYSPARK_DRIVER_PYTHON_OPTS``, arguments for a program Vega does not
    start."""
    given = environ.get("PYSPARK_DRIVER_PYTHON", "").strip()
    options = environ.get("PYSPARK_DRIVER_PYTHON_OPTS", "").strip()
    if os.path.basename(given).startswith("jupyter"):
        raise UsageError(
            f"vega shell does not start Jupyter (PYSPARK_DRIVER_PYTHON={given}"
            f"{f', PYSPARK_DRIVER_PYTHON_OPTS={options}' if options else ''})",
            "Start it yourself (jupyter notebook) and make the Context in a cell: from "
            "vega_runtime import Context; sc = Context(master=...) (docs/api.md, \"In a "
            "notebook\").")
    if options:
        raise UsageError(f"vega shell takes no PYSPARK_DRIVER_PYTHON_OPTS ({options}): it "
                         "starts no other program to give them to",
                         "Unset it; vega shell's own options are in vega shell --help.")
    return given if is_front_end(given) else None


def become(given: str, source: str, root: str, archives: Iterable[str],
           environ: Mapping[str, str], by_master: bool) -> None:
    """Become the driver's Python ``given`` (by ``source``) running this command line again,
    unless it is the running one (or this process became it already); ``root``: where a
    path relative to the archives is (the working directory), in which ``archives``
    (``PATH#NAME``) the path is in are unpacked first, for a driver the master runs;
    ``environ``: the command's environment as it started.  ``UsageError`` for one that
    cannot run the driver."""
    import sys

    if not given or DRIVER_PYTHON_ENV in os.environ:
        return
    path = _unpacked(given, source, root, archives) if by_master and in_archive(given) else \
        executor_python.resolve(given, root)
    if executor_python.is_running_interpreter(path):
        return
    env = {**environ, DRIVER_PYTHON_ENV: path}
    if by_master and in_archive(given):  # its Context's SparkFiles root links to it
        env[DRIVER_UNPACKED_ENV] = os.path.join(os.path.abspath(root), in_archive(given))
    if by_master:  # the master's module path would come before the environment's own
        env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        executor_python.check(given, source, path, env, role=DRIVER)
    except DriverPythonError as exc:
        raise UsageError(str(exc)) from None
    from vega_runtime.forkserver import safe_path_module

    sys.stdout.flush()
    sys.stderr.flush()
    # (-P, which python_module uses, is not in every Python this could be)
    argv = [path, *safe_path_module("vega_cli.main")[1:], *sys.argv[1:]]
    try:
        os.execve(path, argv, env)
    except OSError as exc:
        raise UsageError(str(DriverPythonError(given, source, path, f"cannot be started ({exc})",
                                               DRIVER.system_hint))) from None


def _unpacked(given: str, source: str, root: str, archives: Iterable[str]) -> str:
    """Where ``given``, in one of ``archives`` (``PATH#NAME``), is once that archive is
    unpacked in ``root``."""
    name = in_archive(given)
    executor_python.unpack_archives([[name, _archive_named(given, source, archives)]], root,
                                    fetch=_not_fetched)
    return executor_python.resolve(given, root)


def _archive_named(given: str, source: str, archives: Iterable[str]) -> str:
    """The path of the one of ``archives`` (``PATH#NAME``) that unpacks as the directory
    ``given`` is in; ``UsageError`` if none does."""
    name = in_archive(given)
    for item in archives:
        path, _, unpack_as = item.partition("#")
        if (unpack_as or os.path.basename(path)) == name:
            return path
    raise UsageError(str(DriverPythonError(
        given, source, "", f"is in an archive unpacked as {name!r}, which the application does "
        "not ship", f"ship it with --archives ENV.tar.gz#{name} (spark.archives; a local file: "
        "the driver starts before it could fetch a URL)")))


def check_for_cluster(conf: Mapping[str, object], environ: Mapping[str, str],
                      archives: Iterable[str]) -> None:
    """Cluster deploy mode, in the submitter, before anything is sent: ``UsageError`` for a
    driver's Python in an archive the application does not ship in its package
    (``archives``: ``PATH#NAME``), which its driver would say after the upload; a warning
    for ``PYSPARK_DRIVER_PYTHON`` where no setting names the driver's Python: it does not
    reach the driver."""
    given, source = configured(conf, {}, by_master=True)
    if in_archive(given):
        _archive_named(given, source, list(archives))
    variable = environ.get("PYSPARK_DRIVER_PYTHON", "").strip()
    if variable and not given and not is_front_end(variable):
        print_notice(
            f"vega: warning: PYSPARK_DRIVER_PYTHON ({variable}) does not reach a cluster-mode "
            "driver, which runs on the master's host: name its Python with --conf "
            "spark.pyspark.driver.python=... (a path there, or ./environment/bin/python in "
            "--archives ENV.tar.gz#environment)", style="yellow")


def _not_fetched(path: str, local_path: str) -> None:
    raise FileNotFoundError(path)  # (a cluster-mode driver's archives are its package's)


def quiet_repeated_warnings() -> Optional[logging.Filter]:
    """In the command that became the driver's Python: a filter (returned, to remove once
    the job runs) on the settings' warnings, which the command it was gave already."""
    if DRIVER_PYTHON_ENV not in os.environ:
        return None
    from vega_runtime.spark_settings import IGNORED_WARNING

    class Repeated(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not str(record.msg).startswith(IGNORED_WARNING)

    repeated = Repeated()
    logging.getLogger("vega_runtime.config").addFilter(repeated)
    return repeated


def settled(repeated: Optional[logging.Filter]) -> None:
    """Once the command runs the job: its own warnings are heard again; the job's processes
    do not inherit ``DRIVER_PYTHON_ENV``."""
    os.environ.pop(DRIVER_PYTHON_ENV, None)
    if repeated is not None:
        logging.getLogger("vega_runtime.config").removeFilter(repeated)

