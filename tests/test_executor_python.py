"""Executors run the Python a job ships (PySpark's ``--archives env.tar.gz#environment`` with
``spark.pyspark.python=./environment/bin/python`` or ``PYSPARK_PYTHON``), and a Python
that cannot run them fails the Context's start with one message saying what to do.

The shipped environment is a real second interpreter: a ``venv --copies`` (its ``bin/python``
a file, as venv-pack and conda-pack archives hold one) whose site-packages has a module no
other interpreter here has, and a ``.pth`` naming this checkout and the running
interpreter's site-packages (Vega "installed" in it).
"""

import functools
import glob
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile

import pytest

from proc_helpers import write_job

from vega_runtime import Context
from vega_runtime.errors import ExecutorsCannotStart, VegaError
from vega_runtime.deploy.executor_main import fetch_from_driver
from vega_runtime.executor_python import ExecutorPythonError, unpack_archives

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTING = "(vega.executor.python, Spark's spark.pyspark.python)"
PYTHON = f"python{sys.version_info[0]}.{sys.version_info[1]}"

JOB = """
    import sys
    from vega_runtime import Context

    def where(_):
        import only_in_shipped_env
        return sys.executable, only_in_shipped_env.NAME

    with Context() as ctx:
        print(sorted(set(ctx.parallelize(range(4), 2).map(where).collect())))
        print(sys.executable)
"""


def _packed_venv(directory, name: str, with_vega: bool, copies: bool = True) -> str:
    """A venv (copies, else venv-pack's layout: bin/python a link to this Python; no pip) in
    ``directory/name``, packed as ``directory/name.tar.gz``."""
    env = directory / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)] +
                   (["--copies"] if copies else []), check=True)
    site = env / "lib" / PYTHON / "site-packages"
    (site / "only_in_shipped_env.py").write_text(f"NAME = {name!r}\n")
    if with_vega:
        (site / "vega.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    packed = directory / f"{name}.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(env, ".")
    return str(packed)


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """env.tar.gz (Vega importable in it) and bare.tar.gz (a venv without it)."""
    directory = tmp_path_factory.mktemp("envs")
    return _packed_venv(directory, "env", True), _packed_venv(directory, "bare", False)


def _tasks_python(stdout: str):
    """What JOB printed: the tasks' (interpreter, name of the module only the shipped
    environment has), and the driver's interpreter."""
    lines = stdout.splitlines()
    return eval(lines[0]), lines[1]


def test_submit_archives_and_pyspark_python_run_tasks_in_the_shipped_python(vega_cli, envs, tmp_path):
    """vega submit --archives env.tar.gz#environment with PYSPARK_PYTHON=./environment/bin/python
    (the submitter's environment) on local-cluster[1,1]: its executor (a worker's, started
    as the worker's Python) runs that interpreter and imports what only it has. It was
    ignored: ModuleNotFoundError: No module named 'only_in_shipped_env'."""
    job = write_job(tmp_path, "job.py", JOB)
    result = vega_cli("submit", "--master", "local-cluster[1,1]", "--archives",
                      f"{envs[0]}#environment", job,
                      env={"PYSPARK_PYTHON": "./environment/bin/python"})
    assert result.returncode == 0, result.stderr
    tasks, driver = _tasks_python(result.stdout)
    assert driver == sys.executable
    assert [(path.split("/files/")[1], name) for path, name in tasks] == \
        [("exec-1/environment/bin/python", "env")]


def test_spark_pyspark_python_on_local_n(envs):
    """spark.pyspark.python and spark.archives on local[2]: each executor (a fork of the
    driver) became the shipped interpreter; pythonExec names it, as PySpark's."""
    conf = {"spark.pyspark.python": "./environment/bin/python",
            "spark.archives": f"{envs[0]}#environment"}
    with Context(master="local[2]", conf=conf) as ctx:
        tasks = ctx.parallelize(range(2), 2).map(lambda _: (
            sys.executable, __import__("only_in_shipped_env").NAME)).collect()
        assert ctx.pythonExec == "./environment/bin/python"
    assert sorted((path.split("/files/")[1], name) for path, name in tasks) == \
        [(f"{e}/environment/bin/python", "env") for e in ("exec-1", "exec-2")]


def test_a_venv_pack_archive_runs_tasks_in_its_environment(tmp_path):
    """A venv whose bin/python links to the Python it was made with, packed with its links
    (venv-pack's archives, PySpark's first example): executors run it on local[2]. The
    archive was refused, its interpreter being a link out of it."""
    packed = _packed_venv(tmp_path, "linked", True, copies=False)
    conf = {"spark.pyspark.python": "./environment/bin/python",
            "spark.archives": f"{packed}#environment"}
    with Context(master="local[2]", conf=conf) as ctx:
        tasks = ctx.parallelize(range(2), 2).map(lambda _: (
            sys.executable, __import__("only_in_shipped_env").NAME)).collect()
    assert sorted((path.split("/files/")[1], name) for path, name in tasks) == \
        [(f"{e}/environment/bin/python", "linked") for e in ("exec-1", "exec-2")]


def _start_error(conf) -> str:
    with pytest.raises(ExecutorPythonError) as caught:
        Context(master="local[2]", conf=conf).stop()
    return str(caught.value)


def test_a_python_missing_from_the_archive_is_refused(envs):
    """A path the shipped archive does not hold fails the Context's start, naming it."""
    message = _start_error({"spark.pyspark.python": "./environment/bin/pythonX",
                            "spark.archives": f"{envs[0]}#environment"})
    assert message == (f"the executors' Python ./environment/bin/pythonX {SETTING} does not "
                       "exist: name the interpreter by its path in the archive unpacked as "
                       "'environment' (./environment/bin/python for a venv-pack or conda-pack "
                       "archive)")


def test_a_venv_pack_archive_made_with_a_python_this_host_lacks_is_refused(tmp_path):
    """bin/python links to the Python the venv was made with, missing here: said so, with
    what to do (it read "does not exist: name the interpreter by its path in the archive")."""
    packed = tmp_path / "elsewhere.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        for name, target in (("pyvenv.cfg", None), ("bin/python", "/opt/gone/bin/python3")):
            info = tarfile.TarInfo(name)
            if target:
                info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info, io.BytesIO(b"") if target is None else None)
    message = _start_error({"spark.pyspark.python": "./environment/bin/python",
                            "spark.archives": f"{packed}#environment"})
    assert message == (f"the executors' Python ./environment/bin/python {SETTING} is a broken "
                       "link (to /opt/gone/bin/python3): a packed virtual environment "
                       "(venv-pack's) runs the Python it was made with, which every host needs "
                       "at that path: install that Python there, or pack an environment "
                       "holding its own (python -m venv --copies, conda-pack)")


def test_a_python_in_an_archive_not_shipped_is_refused():
    """./environment/bin/python without an archive unpacked as environment."""
    message = _start_error({"spark.pyspark.python": "./environment/bin/python"})
    assert message == (f"the executors' Python ./environment/bin/python {SETTING} is in an "
                       "archive unpacked as 'environment', which the application does not "
                       "ship: ship it with --archives ENV.tar.gz#environment (spark.archives; "
                       "add_archive once the Context runs is too late for the executors' "
                       "Python)")


def test_a_python_without_vega_is_refused(envs, tmp_path):
    """An environment Vega is not installed in (its module path: the application's
    spark.executorEnv.PYTHONPATH, not the driver's) cannot run executors: said once, at
    the Context's start, not as executors dying as they start."""
    message = _start_error({"spark.pyspark.python": "./environment/bin/python",
                            "spark.archives": f"{envs[1]}#environment",
                            "spark.executorEnv.PYTHONPATH": str(tmp_path)})
    assert message == (f"the executors' Python ./environment/bin/python {SETTING} cannot "
                       "import Vega's executor (ModuleNotFoundError: No module named "
                       "'vega_runtime'): install Vega and its dependencies into the "
                       "environment you ship (pip install them there before packing it), or "
                       "name where they are with spark.executorEnv.PYTHONPATH")


def _other_minor_python():
    """An interpreter of another Python minor version than this one, if there is one."""
    for minor in (13, 12, 10, 9, 8):
        if minor != sys.version_info[1]:
            found = next(iter(sorted(glob.glob(os.path.expanduser(
                f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))), None) or \
                shutil.which(f"python3.{minor}", path="/usr/bin:/usr/local/bin")
            if found:
                return found, f"3.{minor}"
    return None, None


def test_a_python_of_another_minor_version_is_refused():
    """cloudpickle's functions do not load across Python versions: refused, naming both."""
    python, version = _other_minor_python()
    if python is None:
        pytest.skip("no Python of another minor version here")
    driver = "%d.%d" % sys.version_info[:2]
    assert _start_error({"vega.executor.python": python}) == (
        f"the executors' Python {python} {SETTING} runs Python {version}, the driver Python "
        f"{driver}: build the shipped environment with Python {driver} (functions pickled by "
        "one Python version do not load in another)")


def test_a_vega_cluster_runs_the_shipped_python_and_outlives_a_bad_one(envs, multi_host_cluster,
                                                                      tmp_path):
    """On a vega:// master (workers on 127.0.0.2 and .3) executors run the shipped
    interpreter (the archive it is in is streamed by the driver to an executor before it
    registers, as to one on another host, and only a file of its broadcast directory is);
    an absolute path no worker has (the driver cannot check it for them) fails
    that application once the master gives up on its executors, each saying why at the
    end of its log, and the cluster runs the next application."""
    url, secret = multi_host_cluster
    shipped = {"vega.secret.file": secret, "spark.pyspark.python": "./environment/bin/python",
               "spark.archives": f"{envs[0]}#environment"}
    with Context(master=url, conf=shipped) as ctx:
        tasks = ctx.parallelize(range(2), 2).map(lambda _: (
            sys.executable, __import__("only_in_shipped_env").NAME)).collect()
        # what an executor on another host than the driver's fetches before it registers
        staged = os.path.join(ctx.app_dir, "broadcast", "executor-python.environment",
                              "env.tar.gz")
        fetch = functools.partial(fetch_from_driver, f"127.0.0.1:{ctx.backend.server.port}",
                                  secret)
        root = tmp_path / "elsewhere"
        assert unpack_archives([["environment", staged]], str(root), fetch,
                               on_this_host=lambda path: False) == ["environment"]
        with pytest.raises(VegaError) as refused:
            fetch_from_driver(f"127.0.0.1:{ctx.backend.server.port}", secret, envs[0],
                              str(tmp_path / "not-sent"))
    assert {(path.endswith("/environment/bin/python"), name) for path, name in tasks} == \
        {(True, "env")}
    assert (root / "environment" / "lib" / PYTHON / "site-packages" /
            "only_in_shipped_env.py").read_text() == "NAME = 'env'\n"
    assert sorted(os.listdir(root)) == ["environment"]  # the fetched archive went
    assert str(refused.value) == (f"the driver 127.0.0.1:{ctx.backend.server.port} did not "
                                  f"send env.tar.gz: {envs[0]!r} is not a file of this "
                                  "driver's")
    bad = {"vega.secret.file": secret, "vega.executor.python": "/nonexistent/bin/python"}
    with Context(master=url, conf=bad) as ctx:
        with pytest.raises(ExecutorsCannotStart) as caught:
            ctx.parallelize(range(2), 2).count()
    assert str(caught.value) == (
        "the application's executors cannot start: exited with code 1 (its log ends: this "
        "executor cannot start: the executors' Python /nonexistent/bin/python "
        f"{SETTING} does not exist: give a path that exists on every worker, or ship an "
        "environment with --archives ENV.tar.gz#environment and name "
        "./environment/bin/python). The master ended the application after repeated failed "
        "launches")
    with Context(master=url, conf={"vega.secret.file": secret}) as ctx:
        assert ctx.parallelize(range(2), 2).count() == 2
