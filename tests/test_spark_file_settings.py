"""Spark's settings of the files a job ships, ``spark.submit.pyFiles`` and ``spark.files``:
PySpark's SparkContext adds each (``addPyFile``, and the JVM's ``addFile``) and spark-submit
takes them from ``--conf`` and its properties file where ``--py-files``/``--files`` are not
given.  Vega ignored both, with a warning, on every master.  Real ``vega submit`` runs and
drivers of their own, on every master kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from proc_helpers import REPO, clean_env, master_and_worker, vega, write_job

#: the job: a module of a .py file (driver and tasks), one of a zip (tasks) and a file
#: tasks read with SparkFiles.get; ``CONTEXT`` is how it makes its context
JOB = """
from vega_runtime import SparkFiles
{context}
import lib  # on the driver's path too


def task(x):
    import lib, zipped
    with open(SparkFiles.get("data.txt")) as fh:
        return lib.double(x), zipped.NAME, fh.read().strip()


print("RESULT", ctx.parallelize([1, 2], 2).map(task).collect())
ctx.stop()
"""
EXPECTED = "RESULT [(2, 'zipped', 'hello'), (4, 'zipped', 'hello')]"
IGNORED = "Vega has no use for these Spark settings"


@pytest.fixture
def job_dir(tmp_path):
    """A directory with the job's dependencies in deps/ (not beside the job, whose own
    directory is on the driver's path): lib.py, libs.zip (zipped.py), data.txt, other.py."""
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "lib.py").write_text("def double(x):\n    return 2 * x\n")
    (deps / "other.py").write_text("NAME = 'other'\n")
    (deps / "data.txt").write_text("hello\n")
    with zipfile.ZipFile(deps / "libs.zip", "w") as archive:
        archive.writestr("zipped.py", "NAME = 'zipped'\n")
    return tmp_path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def _env(base=None) -> dict:
    """``base`` (else ``clean_env()``) running this checkout's Vega from a job's directory."""
    return {**(base or clean_env()), "PYTHONPATH": REPO}


def _submit(job_dir, *args, env=None):
    job = write_job(job_dir, "job.py", JOB.format(context="from vega_runtime import Context\n"
                                                          "ctx = Context()"))
    return vega("submit", *args, job, cwd=str(job_dir), env=_env(env))


SUBMIT_CONF = ("--conf", "spark.submit.pyFiles=deps/lib.py,deps/libs.zip",
               "--conf", "spark.files=deps/data.txt")


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_submit_conf_spark_py_files_and_files_are_shipped(job_dir, master):
    """vega submit --conf spark.submit.pyFiles=... --conf spark.files=...: the modules import
    on the driver and in tasks, the file is SparkFiles', and no warning calls them ignored."""
    result = _submit(job_dir, "--master", master, *SUBMIT_CONF)
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()
    assert IGNORED not in result.stderr


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_submit_conf_spark_py_files_and_files_on_a_cluster(job_dir, cluster, deploy_mode):
    """The same on a vega:// master, its driver here or (cluster deploy mode) on the
    master's host, where the files travel in the job package."""
    result = _submit(job_dir, "--master", cluster["url"], "--deploy-mode", deploy_mode,
                     *SUBMIT_CONF, env=cluster["env"])
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()
    assert IGNORED not in result.stderr


def test_a_settings_files_spark_py_files_and_files_are_shipped(job_dir):
    """The same from a --config file, file: URIs (spark-submit's own spark.files) as paths."""
    settings = job_dir / "site.yaml"
    settings.write_text(f"spark.submit.pyFiles: {job_dir}/deps/lib.py,deps/libs.zip\n"
                        f"spark:\n  files: file://{job_dir}/deps/data.txt\n")
    result = _submit(job_dir, "--master", "local[2]", "--config", str(settings))
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()
    assert IGNORED not in result.stderr


def test_py_files_and_files_flags_win_over_the_spark_settings(job_dir):
    """As spark-submit's: --py-files and --files replace spark.submit.pyFiles and spark.files
    (not added to them), and --conf wins over the --config file (PySpark 4.3's spark-submit
    with this job: lib not found, zipped found; data.txt not shipped, other.py shipped)."""
    settings = job_dir / "site.yaml"
    settings.write_text("spark.submit.pyFiles: deps/other.py\n")
    job = write_job(job_dir, "job.py", """
        from vega_runtime import Context, SparkFiles
        import os, importlib.util
        ctx = Context()
        print("FOUND", [importlib.util.find_spec(name) is not None
                        for name in ("lib", "zipped")],
              [os.path.exists(SparkFiles.get(name)) for name in ("data.txt", "other.py")])
        ctx.stop()
        """)
    flags = vega("submit", "--master", "local", "--py-files", "deps/libs.zip",
                 "--files", "deps/other.py", "--config", str(settings), "--conf",
                 "spark.submit.pyFiles=deps/lib.py", "--conf", "spark.files=deps/data.txt", job,
                 cwd=str(job_dir), env=_env())
    assert flags.returncode == 0, flags.stderr
    assert "FOUND [False, True] [False, True]" in flags.stdout.splitlines()
    conf = vega("submit", "--master", "local", "--config", str(settings), "--conf",
                "spark.submit.pyFiles=deps/lib.py", job, cwd=str(job_dir), env=_env())
    assert conf.returncode == 0, conf.stderr
    assert "FOUND [True, False] [False, False]" in conf.stdout.splitlines()


def test_spark_jars_is_still_ignored_with_its_warning(job_dir):
    """spark.jars (the JVM's) is still left out, the warning naming it."""
    (job_dir / "x.jar").write_bytes(b"")
    job = write_job(job_dir, "job.py", "print('RAN')\n")
    result = vega("submit", "--master", "local", "--conf", "spark.jars=x.jar", job,
                  cwd=str(job_dir), env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "RAN\n"
    assert (f"{IGNORED} and ignores them: spark.jars (--conf)") in result.stderr


def _driver(job_dir, source: str, env=None) -> subprocess.CompletedProcess:
    """Run ``source`` as a driver of its own (python job.py) from ``job_dir``."""
    job = write_job(job_dir, "driver.py", source)
    return subprocess.run([sys.executable, job], cwd=str(job_dir), capture_output=True,
                          text=True, timeout=120, env=_env(env))


CONTEXT_CONF = {"spark.submit.pyFiles": "deps/lib.py,deps/libs.zip",
                "spark.files": "deps/data.txt"}


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]", "vega"])
def test_a_contexts_conf_spark_py_files_and_files_are_added(job_dir, cluster, master):
    """Context(conf={"spark.submit.pyFiles": ..., "spark.files": ...}) adds each, as
    PySpark's SparkContext does, on every master kind."""
    url = cluster["url"] if master == "vega" else master
    result = _driver(job_dir, JOB.format(
        context=f"from vega_runtime import Context\n"
                f"ctx = Context(master={url!r}, conf={json.dumps(CONTEXT_CONF)})"),
        env=cluster["env"] if master == "vega" else None)
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()
    assert IGNORED not in result.stderr


def test_a_sparkconf_under_pyspark_compat_adds_them(job_dir):
    """PySpark's idiom under vega submit --pyspark-compat: a SparkConf with them, given to
    the SparkContext."""
    job = write_job(job_dir, "job.py", JOB.format(context=(
        "from pyspark import SparkConf, SparkContext\n"
        "ctx = SparkContext(conf=SparkConf().set('spark.submit.pyFiles', "
        "'deps/lib.py,deps/libs.zip').set('spark.files', 'deps/data.txt'))")))
    result = vega("submit", "--pyspark-compat", "--master", "local[2]", job, cwd=str(job_dir),
                  env=_env())
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()
    assert IGNORED not in result.stderr


def test_files_vega_submit_shipped_are_not_added_again(job_dir):
    """A second context of SparkConf() (which has vega submit's spark.submit.pyFiles and
    spark.files once a context has started) adds no file the job was shipped with: listFiles
    names each once, as PySpark's (it said [], where spark-submit's lists them)."""
    job = write_job(job_dir, "job.py", """
        from pyspark import SparkConf, SparkContext
        SparkContext().stop()
        sc = SparkContext(conf=SparkConf())
        print("ADDED", sc.listFiles)
        import lib, zipped
        print("IMPORTED", lib.double(3), zipped.NAME)
        sc.stop()
        """)
    result = vega("submit", "--pyspark-compat", "--master", "local", "--py-files",
                  "deps/lib.py,deps/libs.zip", "--files", "deps/data.txt", job, cwd=str(job_dir),
                  env=_env())
    assert result.returncode == 0, result.stderr
    deps = job_dir / "deps"
    assert result.stdout.splitlines()[-2:] == [
        f"ADDED ['file://{deps}/data.txt', 'file://{deps}/lib.py', 'file://{deps}/libs.zip']",
        "IMPORTED 6 zipped"]


def test_shell_conf_spark_py_files_and_files_are_shipped(job_dir):
    """vega shell takes them from --conf as vega submit does."""
    from proc_helpers import vega_argv

    session = ("import lib\nfrom vega_runtime import SparkFiles\n"
               "print('SHELL', sc.parallelize([1], 1).map(lambda x: __import__('lib').double(x))"
               ".collect(), open(SparkFiles.get('data.txt')).read().strip())\n")
    result = subprocess.run(vega_argv("shell", "--plain", "--master", "local[2]", *SUBMIT_CONF),
                            input=session, cwd=str(job_dir), env=_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "SHELL [2] hello" in result.stdout + result.stderr
    assert IGNORED not in result.stderr


def test_a_spark_files_url_is_added_by_the_context(job_dir):
    """spark.files with an HDFS URL beside a local path: vega submit ships the local file and
    the job's Context adds the URL's (as add_file takes it), where vega submit refused it as
    a --files path that does not exist."""
    from vega_runtime import HdfsIO
    from vega_testing.webhdfs import WebHDFSServer

    (job_dir / "hdfs").mkdir()
    with WebHDFSServer(str(job_dir / "hdfs")) as server:
        HdfsIO(server.namenode_url, user="alice").write_to_hdfs(b"weights", "/m/model.bin")
        url = "hdfs://" + server.namenode_url.split("://", 1)[1] + "/m/model.bin"
        job = write_job(job_dir, "job.py", """
            from vega_runtime import Context, SparkFiles
            ctx = Context()
            print("READ", ctx.parallelize(["model.bin", "data.txt"], 2).map(
                lambda name: open(SparkFiles.get(name), "rb").read().strip()).collect())
            ctx.stop()
            """)
        result = vega("submit", "--master", "local[2]", "--conf", "vega.hdfs.user=alice",
                      "--conf", f"spark.files={url},deps/data.txt", job, cwd=str(job_dir),
                      env=_env())
    assert result.returncode == 0, result.stderr
    assert "READ [b'weights', b'hello']" in result.stdout.splitlines()


def test_a_missing_file_of_the_settings_is_refused_naming_the_setting(job_dir):
    """A local file of spark.files that does not exist: a usage error naming the setting
    and where it was given (not --files, which the user did not give)."""
    job = write_job(job_dir, "job.py", "print('RAN')\n")
    result = vega("submit", "--master", "local", "--conf", "spark.files=deps/nope.txt", job,
                  cwd=str(job_dir), env=_env())
    assert result.returncode == 2
    assert result.stderr.strip() == ("vega: error: spark.files (vega.files) from --conf: "
                                     "'deps/nope.txt' does not exist")


@pytest.mark.parametrize("given", ["--conf", "--config"])
def test_spark_archives_of_the_settings_travel_in_cluster_deploy_mode(job_dir, cluster, given):
    """spark.archives from --conf or a --config file, in cluster deploy mode: packed as
    --archives' are, where the driver on the master's host failed ('cannot read env.tgz: no
    such file or directory', or, from a --config file, had no archive at all)."""
    import tarfile

    with tarfile.open(job_dir / "env.tgz", "w:gz") as archive:
        archive.add(job_dir / "deps" / "data.txt", "version.txt")
    settings = job_dir / "site.yaml"
    settings.write_text("spark.archives: env.tgz#env\n")
    how = ("--conf", "spark.archives=env.tgz#env") if given == "--conf" else \
        ("--config", str(settings))
    job = write_job(job_dir, "job.py", """
        import os
        from vega_runtime import Context, SparkFiles
        ctx = Context()
        print("READ", ctx.parallelize([0], 1).map(lambda _: open(os.path.join(
            SparkFiles.get("env"), "version.txt")).read().strip()).collect())
        ctx.stop()
        """)
    result = vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster", *how, job,
                  cwd=str(job_dir), env=_env(cluster["env"]))
    assert result.returncode == 0, result.stderr
    assert "READ ['hello']" in result.stdout.splitlines()


def test_spark_archives_mixing_local_paths_and_urls_all_arrive_in_cluster_deploy_mode(
        job_dir, cluster):
    """spark.archives with a local archive and an HDFS URL, in cluster deploy mode: the local
    one travels in the package and the driver's Context adds the URL; the master's --archives
    for the driver replaced the URL (tasks: 'No such file or directory: .../remote/v.txt')."""
    import io
    import tarfile

    from vega_runtime import HdfsIO
    from vega_testing.webhdfs import WebHDFSServer

    def tgz(text: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            member = tarfile.TarInfo("v.txt")
            member.size = len(text)
            archive.addfile(member, io.BytesIO(text.encode()))
        return buffer.getvalue()

    (job_dir / "env.tgz").write_bytes(tgz("local"))
    (job_dir / "hdfs").mkdir()
    job = write_job(job_dir, "job.py", """
        import os
        from vega_runtime import Context, SparkFiles
        ctx = Context()
        def read(name):
            with open(os.path.join(SparkFiles.get(name), "v.txt")) as fh:
                return fh.read()
        print("READ", ctx.parallelize(["env", "remote", "plain.tgz"], 3).map(read).collect())
        ctx.stop()
        """)
    with WebHDFSServer(str(job_dir / "hdfs")) as server:
        for path, text in (("/a/remote.tgz", "remote"), ("/a/plain.tgz", "plain")):
            HdfsIO(server.namenode_url, user="alice").write_to_hdfs(tgz(text), path)
        url = "hdfs://" + server.namenode_url.split("://", 1)[1]
        result = vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster",
                      "--conf", "vega.hdfs.user=alice", "--conf",
                      f"spark.archives={url}/a/remote.tgz#remote,env.tgz#env,{url}/a/plain.tgz",
                      job, cwd=str(job_dir), env=_env(cluster["env"]))
    assert result.returncode == 0, result.stderr
    assert "READ ['local', 'remote', 'plain']" in result.stdout.splitlines()
