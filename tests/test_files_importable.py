"""Files shipped to tasks are importable, as PySpark makes them: its driver and Python
workers put ``SparkFiles.getRootDirectory()`` on ``sys.path`` (second), so a ``.py`` file
shipped with ``--files`` or ``addFile`` (or a package's directory, ``addFile(dir,
recursive=True)``) imports by its name, one added while the job runs from the next job on.
spark-submit ships ``--py-files`` as ``--files`` too: ``SparkFiles.get("dep.py")`` finds them,
and ``listFiles`` names them with the ``--files`` and the files added.
``add_py_file`` ships any file as PySpark's ``addPyFile`` does (a ``.whl`` was refused, a
data file too), a zip archive going on ``sys.path`` itself."""

import os
import re
import zipfile

import pytest

from proc_helpers import master_and_worker, vega, write_job

JOB = """
    import sys
    from vega_runtime import Context, SparkFiles

    ctx = Context()
    print("root second on sys.path:", sys.path[1] == SparkFiles.getRootDirectory())

    def shipped(_):
        import shipped_mod  # vega submit --files
        return shipped_mod.VALUE

    import shipped_mod
    print(shipped_mod.VALUE, ctx.parallelize([0, 1], 2).map(shipped).collect())

    def py_file(_):  # vega submit --py-files: shipped as --files too, as spark-submit does
        with open(SparkFiles.get("py_dep.py")) as fh:
            return fh.read().strip()

    print(py_file(0), ctx.parallelize([0, 1], 2).map(py_file).collect())
    later, package, wheel, notes = sys.argv[1:]
    ctx.add_file(later)
    ctx.add_file(package, recursive=True)
    ctx.add_py_file(wheel)
    ctx.add_py_file(notes)

    def added(_):
        import later_mod, laterpkg, wheelmod
        with open(SparkFiles.get("notes.txt")) as fh:
            return later_mod.VALUE + laterpkg.VALUE + wheelmod.VALUE + fh.read()

    print(added(0), ctx.parallelize([0, 1], 2).map(added).collect())
    print(sorted(uri.rpartition("/")[2] for uri in ctx.list_files))  # as PySpark's listFiles
    ctx.stop()
"""

EXPECTED = ("root second on sys.path: True\n"
            "shipped ['shipped', 'shipped']\n"
            "# py_dep ['# py_dep', '# py_dep']\n"
            "later-pkg-wheel-notes ['later-pkg-wheel-notes', 'later-pkg-wheel-notes']\n"
            "['later_mod.py', 'laterpkg', 'notes.txt', 'py_dep.py', 'shipped_mod.py', "
            "'wheelmod-1.0-py3-none-any.whl']\n")


@pytest.fixture
def shipped(tmp_path):
    """The job, a module for --files, and what it adds: a module, a package's directory,
    a wheel and a data file (add_py_file), none of them beside the job."""
    (tmp_path / "ship").mkdir()
    (tmp_path / "ship" / "shipped_mod.py").write_text("VALUE = 'shipped'\n")
    (tmp_path / "ship" / "py_dep.py").write_text("# py_dep\n")
    (tmp_path / "ship" / "later_mod.py").write_text("VALUE = 'later-'\n")
    (tmp_path / "ship" / "laterpkg").mkdir()
    (tmp_path / "ship" / "laterpkg" / "__init__.py").write_text("VALUE = 'pkg-'\n")
    wheel = tmp_path / "ship" / "wheelmod-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("wheelmod.py", "VALUE = 'wheel-'\n")
        archive.writestr("wheelmod-1.0.dist-info/METADATA", "Name: wheelmod\nVersion: 1.0\n")
    (tmp_path / "ship" / "notes.txt").write_text("notes")
    (tmp_path / "job").mkdir()
    job = write_job(tmp_path / "job", "imports_shipped.py", JOB)
    ship = tmp_path / "ship"
    return ["--files", str(ship / "shipped_mod.py"), "--py-files", str(ship / "py_dep.py"), job, str(ship / "later_mod.py"),
            str(ship / "laterpkg"), str(wheel), str(ship / "notes.txt")]


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_shipped_python_files_import_in_the_driver_and_tasks(shipped, master):
    """They were not on sys.path: "ModuleNotFoundError: No module named 'shipped_mod'"."""
    result = vega("submit", "--master", master, *shipped)
    assert (result.returncode, result.stdout) == (0, EXPECTED), result.stderr


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_shipped_python_files_import_on_a_cluster(tmp_path, shipped, deploy_mode):
    """A cluster-mode driver's executors run the package its submitter uploaded, as the
    master holds it: the master stores one package, and the worker runs that one (the
    driver built and uploaded a second for them)."""
    with master_and_worker(tmp_path / "home") as cluster:
        result = vega("submit", "--master", cluster["url"], "--deploy-mode", deploy_mode,
                      *shipped, env=cluster["env"])
        stored = sorted(os.listdir(tmp_path / "home" / "master" / "packages"))
        run = sorted(os.listdir(tmp_path / "home" / "worker" / "packages"))
    assert (result.returncode, result.stdout) == (0, EXPECTED), result.stderr
    uploaded = re.search(r"job package .* \(sha256 ([0-9a-f]{12})\)", result.stderr).group(1)
    sha256 = run[0]
    assert (len(run), sha256[:12]) == (1, uploaded), (run, result.stderr)
    assert [s for s in stored if s.endswith(".zip")] == [f"{sha256}.zip"], stored


def test_add_py_file_refuses_a_directory_saying_how_to_ship_it(tmp_path):
    """PySpark's addPyFile refuses a directory (addFile without recursive); the message says
    how to ship a package."""
    from vega_runtime import Context

    (tmp_path / "mypkg").mkdir()
    with Context(master="local") as ctx:
        with pytest.raises(ValueError) as info:
            ctx.add_py_file(str(tmp_path / "mypkg"))
    assert str(info.value) == (
        f"{tmp_path / 'mypkg'} is a directory: add_py_file ships a file; ship a package as a "
        f"zip of it (python -m zipfile -c mypkg.zip mypkg), or with "
        f"add_file({str(tmp_path / 'mypkg')!r}, recursive=True), which makes it importable "
        f"as 'mypkg'")


def test_a_stopped_context_leaves_nothing_of_its_files_on_sys_path(tmp_path):
    """Its SparkFiles directory, and a zip added in it, came off sys.path as it stopped (the
    zips stayed, one per Context a notebook or test process started, their files deleted)."""
    import sys

    from vega_runtime import Context, SparkFiles

    with zipfile.ZipFile(tmp_path / "stale.zip", "w") as archive:
        archive.writestr("stale_mod.py", "VALUE = 1\n")
    before = list(sys.path)
    with Context(master="local") as ctx:
        ctx.add_py_file(str(tmp_path / "stale.zip"))
        root = SparkFiles.get_root_directory()
        assert sys.path[1:3] == [os.path.join(root, "stale.zip"), root]
        assert ctx.parallelize([0]).map(lambda _: __import__("stale_mod").VALUE).collect() == [1]
    assert sys.path == before
