"""A ``.jar`` given to ``vega submit --py-files`` goes on the driver's and every executor's
``sys.path``, as ``add_py_file`` and PySpark's ``PACKAGE_EXTENSIONS`` (.zip, .egg, .jar) put
it: a jar is a zip, and Spark packages ship their Python modules in one (graphframes)."""

import zipfile

import pytest

from proc_helpers import master_and_worker, vega, write_job

JOB = """
    import jarmod
    from vega_runtime import Context

    with Context() as ctx:
        print(jarmod.tag(0), ctx.parallelize([1, 2], 2).map(lambda x: __import__("jarmod").tag(x)).collect())
"""


def make_jar(path):
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.writestr("org/example/Lib.class", b"\xca\xfe\xba\xbe")
        jar.writestr("jarmod.py", "def tag(x):\n    return f'jar{x}'\n")
    return str(path)


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[1,1]"])
def test_a_jar_given_to_py_files_imports_in_the_driver_and_tasks(tmp_path, master):
    """It was refused: "--py-files: 'lib.jar' is no Python module or package (.py, .zip,
    .egg, .whl or a directory)", saying to ship it with --files, where add_py_file takes it."""
    jar = make_jar(tmp_path / "lib.jar")
    job = write_job(tmp_path, "uses_jar.py", JOB)
    result = vega("submit", "--master", master, "--py-files", jar, job)
    assert (result.returncode, result.stdout) == (0, "jar0 ['jar1', 'jar2']\n"), result.stderr


def test_a_jar_given_to_py_files_imports_in_cluster_deploy_mode(tmp_path):
    """The job package carries it and the driver on the master puts it on sys.path."""
    jar = make_jar(tmp_path / "lib.jar")
    job = write_job(tmp_path, "uses_jar.py", JOB)
    with master_and_worker(tmp_path / "home") as cluster:
        result = vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster",
                      "--py-files", jar, job, env=cluster["env"])
    assert (result.returncode, result.stdout) == (0, "jar0 ['jar1', 'jar2']\n"), result.stderr


def test_a_jar_that_is_no_zip_is_refused_naming_it(tmp_path):
    (tmp_path / "lib.jar").write_bytes(b"not a zip\n")
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega("submit", "--master", "local", "--py-files", str(tmp_path / "lib.jar"), job)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"vega: error: --py-files: {str(tmp_path / 'lib.jar')!r} is not a zip archive Python "
        "can import from (File is not a zip file)",
        "Rebuild it (python -m zipfile -c lib.jar PACKAGE_DIR), or give the package's "
        "directory."]
