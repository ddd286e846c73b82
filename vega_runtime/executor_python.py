"""The Python an application's executors run: one it ships (PySpark's ``PYSPARK_PYTHON``).

PySpark's way to give executors libraries the workers lack is to ship a packed
environment (``venv-pack``, ``conda-pack``) with ``--archives env.tar.gz#environment`` and
name its interpreter, ``spark.pyspark.python=./environment/bin/python``.  Vega's setting is
``vega.executor.python`` (``spark.pyspark.python``), else ``spark.executorEnv.PYSPARK_PYTHON``
(``vega.executor.env.PYSPARK_PYTHON``), else ``PYSPARK_PYTHON`` in the driver's environment,
as PySpark reads them.  A path with a ``/`` that is not absolute is relative to the
directory archives unpack in (the SparkFiles root: Spark's executors' working directory);
a bare name is looked up on ``PATH``.

An executor is started as the worker's interpreter (a fork of its fork server, or of a
``local[N]`` driver), which then, before it connects to anyone, unpacks the archive the
interpreter is in, and replaces itself (``execve``: the same process, so its worker
supervises it as before) with ``INTERPRETER -m`` the executor's module.  The driver hands
it that archive before the Context adds it for the tasks: a copy in the application's
broadcast directory (``stage_archive``), read from there on the driver's host and fetched
from the driver elsewhere; the executor then skips unpacking it again for the tasks.

Checked once, by the driver as its Context starts (``check``), where it can see the
interpreter as the executors will (in the archive it unpacked, or on its own host for the
local masters): it exists and runs, is of the driver's Python minor version (cloudpickle's
functions do not load across versions) and imports Vega.  A bad one fails the Context's
start with one message (``ExecutorPythonError``) naming it and what to do, instead of
executors that die as they start, over and over.  Any other (an absolute path or a name on
``vega://`` workers) each executor checks before it becomes it, saying why it cannot on its
log's last line, which the job's error quotes once the master gives up on the executors.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type

from ._version import __version__
from .errors import VegaError
from .versions import executor_hash_seed, python_version

#: in an executor's environment: {"python": the interpreter as given, "source": where it was
#: (for messages), "archives": [[NAME, PATH]] to unpack before it starts, "pythonpath": its
#: module path or None, "checked": whether the driver checked it}; the process it is set in
#: becomes that interpreter (``become``)
EXECUTOR_PYTHON_ENV = "VEGA_SHIPPED_PYTHON"
#: in the executor it became: the names of the archives unpacked before it started, which
#: its tasks' stages do not unpack again (comma-separated)
UNPACKED_ARCHIVES_ENV = "VEGA_UNPACKED_ARCHIVES"
#: seconds the check of an interpreter may take (it imports Vega's executor)
CHECK_TIMEOUT = 60.0
#: what the check runs (``%s``: the module the interpreter must import): its version, then
#: Vega's, or why it cannot import it; not from the working directory (``-c`` puts it first on
#: the module path), as executors
CHECK_CODE = ("import sys; del sys.path[0]; "
              "print('%%d.%%d' %% sys.version_info[:2], flush=True); "
              "import %s, vega_runtime._version as v; "
              "print(v.__version__)")
#: what ``become`` returns when the interpreter asked for is the one running already
RUN_AS_IS = -1
#: the directory name an archive's copy for the executors' Python has in the broadcast one
STAGED_PREFIX = "executor-python."


class ExecutorPythonError(VegaError):
    """The executors' Python (``given`` by ``source``, found at ``path``) cannot run them:
    ``problem``; ``hint`` says what to do."""

    def __init__(self, given: str, source: str, path: str, problem: str, hint: str):
        super().__init__(given, source, path, problem, hint)
        self.given, self.source, self.path = given, source, path
        self.problem, self.hint = problem, hint

    #: whose Python it is, in its message
    WHOSE = "the executors'"

    def __str__(self) -> str:  # where a name was found on PATH (a path says where it is)
        where = f", found at {self.path}" if self.path and "/" not in self.given else ""
        return (f"{self.WHOSE} Python {self.given} ({self.source}{where}) {self.problem}: "
                f"{self.hint}")


class InterpreterNotRunnable(ExecutorPythonError):
    """The executors' Python cannot be run here at all (built for another system, say)."""


class Role(NamedTuple):
    """Whose Python ``check`` checks, and what it asks of it (a named tuple: a dataclass
    would import ``dataclasses`` into every driver, ~4 ms of its start)."""

    error: Type[ExecutorPythonError]  #: raised (its message names whose Python it is)
    not_runnable: Type[ExecutorPythonError]  #: raised for one that cannot be run here at all
    module: str  #: what it must import
    module_name: str  #: ... in messages
    same_minor: bool  #: whether it must be of this Python's minor version
    missing_hint: str  #: what to do about a path that is not in an archive and not there
    system_hint: str  #: ... about one that does not run here
    import_hint: str  #: ... about one that cannot import ``module``
    vega_owner: str  #: who has this Vega, in the message of one with another
    environment: str  #: where Vega is to be installed, in that message


EXECUTORS = Role(
    ExecutorPythonError, InterpreterNotRunnable, "vega_runtime.deploy.executor_main",
    "Vega's executor", True,
    "give a path that exists on every worker, or ship an environment with --archives "
    "ENV.tar.gz#environment and name ./environment/bin/python",
    "ship an interpreter built for the workers' system",
    "install Vega and its dependencies into the environment you ship (pip install them there "
    "before packing it), or name where they are with spark.executorEnv.PYTHONPATH",
    "the driver", "the environment you ship")

#: where the executors' Python was named, in ``configured``'s order
SOURCES = (("vega.executor.python", "vega.executor.python, Spark's spark.pyspark.python"),
           ("vega.executor.env.PYSPARK_PYTHON", "spark.executorEnv.PYSPARK_PYTHON"))


def configured(conf: Mapping[str, object], environ: Mapping[str, str]) -> Tuple[str, str]:
    """The executors' Python as configured and where ("", "" for the workers' own):
    ``vega.executor.python`` (``spark.pyspark.python``), else
    ``spark.executorEnv.PYSPARK_PYTHON``, else the driver's ``PYSPARK_PYTHON``, the order in
    which PySpark takes them.

    >>> configured({"vega.executor.python": ""}, {"PYSPARK_PYTHON": "./env/bin/python"})
    ('./env/bin/python', "PYSPARK_PYTHON in the driver's environment")
    """
    for key, source in SOURCES:
        if str(conf.get(key) or "").strip():
            return str(conf[key]).strip(), source
    given = environ.get("PYSPARK_PYTHON", "").strip()
    return given, "PYSPARK_PYTHON in the driver's environment" if given else ""


def in_archive(given: str) -> Optional[str]:
    """The archive directory (``NAME`` of ``--archives PATH#NAME``) a relative path to an
    interpreter starts with, or None for an absolute path or a bare name.

    >>> [in_archive(p) for p in ("./environment/bin/python", "/usr/bin/python3", "python3")]
    ['environment', None, None]
    """
    if "/" not in given or os.path.isabs(given):
        return None
    parts = [part for part in given.split("/") if part not in ("", ".")]
    return parts[0] if len(parts) > 1 else None


def resolve(given: str, root: str) -> str:
    """Where ``given`` is for an executor whose archives unpack in ``root``: a path
    relative to ``root``, or a name found on ``PATH`` ("" when it is on none of it)."""
    if "/" not in given:
        import shutil  # (here: with bz2 and lzma, no Context without this setting loads it)

        return shutil.which(given) or ""
    return os.path.normpath(os.path.join(root, given))


def is_running_interpreter(path: str) -> bool:
    """Whether ``path`` is this process's interpreter (its executable, and its directory:
    a virtual environment's ``bin/python`` is the base one's link or copy)."""
    try:
        return os.path.samefile(path, sys.executable) and \
            os.path.samefile(os.path.dirname(path), os.path.dirname(sys.executable))
    except OSError:
        return False


def interpreter_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be run at all (missing, a directory, not executable), or None."""
    if not path or not os.path.lexists(path):
        return "does not exist"
    if not os.path.exists(path):
        return f"is a broken link (to {os.readlink(path)})"
    if not os.path.isfile(path):
        return "is not a file"
    if not os.access(path, os.X_OK):
        return "is not executable"
    return None


def executor_environment(environ: Mapping[str, str], pythonpath: Optional[str]) -> Dict[str, str]:
    """The environment of an executor in the shipped interpreter: its worker's but the
    module path, which is the application's own (``spark.executorEnv.PYTHONPATH``) or
    none: the worker's would put its packages ahead of the environment's own."""
    env = {k: v for k, v in environ.items()
           if k not in (EXECUTOR_PYTHON_ENV, "PYTHONPATH", "PYTHONHOME")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # every executor of the application hashes alike (a local[N] driver's may be random)
    env["PYTHONHASHSEED"] = executor_hash_seed(environ)
    return env


def user_paths() -> List[str]:
    """This driver's module path but its Python installation's (its standard library and
    site-packages, the user's site-packages too): the job's directory, ``PYTHONPATH``'s
    entries, which a local master's executors in another interpreter keep, as forks of the
    driver have them."""
    import site

    installed = [os.path.realpath(p) + os.sep for p in
                 (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  site.USER_SITE) if p]
    kept: List[str] = []
    for entry in (p or os.getcwd() for p in sys.path):
        if entry not in kept and \
                not (os.path.realpath(entry) + os.sep).startswith(tuple(installed)):
            kept.append(entry)
    return kept


def check(given: str, source: str, path: str, env: Mapping[str, str], run: bool = True,
          role: Role = EXECUTORS) -> None:
    """``role.error`` unless ``path`` runs (with ``run``: with ``env``, as Python of the
    driver's minor version where the role asks it, that imports this version of Vega's
    ``role.module``)."""
    error = role.error
    problem = interpreter_problem(path)
    if problem == "is not executable":
        raise error(given, source, path, problem, "name the interpreter itself (bin/python), "
                    "executable by its owner in the archive")
    if problem and problem.startswith("is a broken link"):
        raise error(given, source, path, problem, (
            "a packed virtual environment (venv-pack's) runs the Python it was made with, "
            "which every host needs at that path: install that Python there, or pack an "
            "environment holding its own (python -m venv --copies, conda-pack)"))
    if problem:
        name = in_archive(given)
        hint = (f"name the interpreter by its path in the archive unpacked as {name!r} "
                f"(./{name}/bin/python for a venv-pack or conda-pack archive)" if name else
                role.missing_hint)
        raise error(given, source, path, problem, hint)
    if not run:
        return
    import subprocess

    try:
        run = subprocess.run([path, "-c", CHECK_CODE % role.module], env=dict(env),
                             capture_output=True, stdin=subprocess.DEVNULL, timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise role.not_runnable(given, source, path, f"cannot be run ({exc})",
                                role.system_hint) from None
    out = run.stdout.decode("utf-8", "replace").split()
    if not out:
        raise error(given, source, path, f"does not start ({_last_line(run.stderr)})",
                    role.system_hint)
    if role.same_minor and out[0] != python_version():
        raise error(
            given, source, path, f"runs Python {out[0]}, the driver Python {python_version()}",
            f"build the shipped environment with Python {python_version()} (functions "
            "pickled by one Python version do not load in another)")
    if run.returncode != 0 or len(out) < 2:
        raise error(given, source, path,
                    f"cannot import {role.module_name} ({_last_line(run.stderr)})",
                    role.import_hint)
    if out[1] != __version__:
        raise error(given, source, path, f"has Vega {out[1]}, {role.vega_owner} Vega "
                    f"{__version__}", f"install Vega {__version__} into {role.environment}")


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no error printed"


def stage_archive(source: str, broadcast_dir: str, name: str) -> str:
    """A copy of the archive ``source`` (unpacked as ``name``) in the application's
    ``broadcast_dir``, where executors on other hosts fetch it from (a hard link where the
    file system allows: an environment may be gigabytes).  Returns its path; its file
    keeps ``source``'s name, which says how to unpack it."""
    import shutil

    from .private_files import make_private_dirs

    directory = os.path.join(broadcast_dir, STAGED_PREFIX + name)
    make_private_dirs(directory)
    staged = os.path.join(directory, os.path.basename(source))
    try:
        os.link(source, staged)
    except OSError:
        shutil.copyfile(source, staged)
    return staged


def spec(given: str, source: str, archives: List[List[str]], pythonpath: Optional[str],
         checked: bool) -> str:
    """The value of ``EXECUTOR_PYTHON_ENV`` (see there)."""
    return json.dumps({"python": given, "source": source, "archives": archives,
                       "pythonpath": pythonpath, "checked": checked})


def pending(environ: Mapping[str, str]) -> Optional[dict]:
    """What ``EXECUTOR_PYTHON_ENV`` asks of this process, or None (it runs as it is)."""
    raw = environ.get(EXECUTOR_PYTHON_ENV)
    return json.loads(raw) if raw else None


def become(order: dict, root: str, module: str, argv: List[str],
           fetch: Callable[[str, str], None], keep_fds: tuple = ()) -> int:
    """In an executor just started as its worker's interpreter: unpack ``order``'s archives
    into its SparkFiles ``root`` (each from its path, or, where the path is not on this
    host, from the file ``fetch(path, local_path)`` writes, fetched from the driver), then
    become ``order``'s interpreter running
    ``module`` with ``argv`` (``keep_fds`` open across).  Returns ``RUN_AS_IS`` when that
    interpreter is this one, else (1) only if it cannot, having said why on stderr (its
    log)."""
    given = order["python"]
    try:
        unpacked = ",".join(unpack_archives(order["archives"], root, fetch))
        path = resolve(given, root)
        if is_running_interpreter(path):  # as it is, its stages not unpacking them again
            os.environ.pop(EXECUTOR_PYTHON_ENV, None)
            os.environ[UNPACKED_ARCHIVES_ENV] = unpacked
            return RUN_AS_IS
        env = {**executor_environment(os.environ, order.get("pythonpath")),
               UNPACKED_ARCHIVES_ENV: unpacked}
        check(given, order["source"], path, env, run=not order.get("checked"))
    except (OSError, VegaError) as exc:
        print(f"this executor cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    for fd in keep_fds:
        os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(path, [path, *python_module_flags(module), *argv], env)
    except OSError as exc:
        error = ExecutorPythonError(given, order["source"], path, f"cannot be started ({exc})",
                                    "ship an interpreter built for the workers' system")
        print(f"this executor cannot start: {error}", file=sys.stderr, flush=True)
    return 1


def unpack_archives(archives: List[List[str]], root: str, fetch: Callable[[str, str], None],
                    on_this_host: Callable[[str], bool] = os.path.exists) -> List[str]:
    """Unpack each ``[NAME, PATH]`` of ``archives`` as NAME in the SparkFiles ``root`` (made
    if need be): from PATH where it is ``on_this_host`` (the driver's copy), else from the
    file ``fetch(PATH, local_path)`` writes; their names."""
    from . import files

    files.prepare_root(root)
    for name, path in archives:
        added = files.AddedFile(name, "archive", path, -1, path)
        if on_this_host(path):
            files.materialize(added, b"", root, packed=path)
            continue
        fetched = os.path.join(root, f".{os.path.basename(path)}")  # (its name: its kind)
        try:
            fetch(path, fetched)
            files.materialize(added, b"", root, packed=fetched)
        finally:
            if os.path.exists(fetched):
                os.remove(fetched)
    return [name for name, _ in archives]


def python_module_flags(module: str) -> List[str]:
    """The flags after an interpreter of the driver's version that run ``module`` as ``-m``
    does, without the working directory first on the module path (``forkserver.python_module``)."""
    from .forkserver import python_module

    return python_module(module)[1:]


def unpacked_archives(environ: Mapping[str, str]) -> List[str]:
    """The archives this executor's interpreter was unpacked from before it started."""
    return [name for name in environ.get(UNPACKED_ARCHIVES_ENV, "").split(",") if name]
