"""``vega submit --py-files/--files/--archives hdfs://...``: spark-submit takes URLs in these
flags (the driver fetches them), and ``spark.archives``, ``spark.files`` and
``spark.submit.pyFiles`` already took them here, but the flags refused them ("--archives:
'hdfs://nn/x.zip' does not exist").  Real ``vega submit`` runs against the checkout's
WebHDFS server, the driver here (client deploy mode) or on a cluster's master (cluster deploy
mode); a URL that names no file this host fetches is a usage error naming the flag, where
the driver's Context failed naming no flag."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from proc_helpers import REPO, clean_env, master_and_worker, vega, write_job

JOB = """
import os
from vega_runtime import Context, SparkFiles
ctx = Context()

def task(x):
    import zipped
    with open(SparkFiles.get("data.txt")) as fh, \\
            open(os.path.join(SparkFiles.get("env"), "v.txt")) as version:
        return x, zipped.NAME, fh.read().strip(), version.read()

print("RESULT", ctx.parallelize([1, 2], 2).map(task).collect())
ctx.stop()
"""
EXPECTED = "RESULT [(1, 'zipped', 'hello', 'remote'), (2, 'zipped', 'hello', 'remote')]"


def _tgz(text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("v.txt")
        member.size = len(text)
        archive.addfile(member, io.BytesIO(text.encode()))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    """The checkout's WebHDFS server holding /d/libs.zip (zipped.py), /d/data.txt and
    /d/env.tgz (v.txt); yields its ``hdfs://host:port`` URL."""
    from vega_runtime import HdfsIO
    from vega_testing.webhdfs import WebHDFSServer

    with WebHDFSServer(str(tmp_path_factory.mktemp("hdfs"))) as server:
        store = HdfsIO(server.namenode_url, user="alice")
        libs = io.BytesIO()
        with zipfile.ZipFile(libs, "w") as archive:
            archive.writestr("zipped.py", "NAME = 'zipped'\n")
        store.write_to_hdfs(libs.getvalue(), "/d/libs.zip")
        store.write_to_hdfs(b"hello\n", "/d/data.txt")
        store.write_to_hdfs(_tgz("remote"), "/d/env.tgz")
        yield "hdfs://" + server.namenode_url.split("://", 1)[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def _submit(tmp_path, *args, env=None):
    job = write_job(tmp_path, "job.py", JOB)
    return vega("submit", "--conf", "vega.hdfs.user=alice", *args, job, cwd=str(tmp_path),
                env={**(env or clean_env()), "PYTHONPATH": REPO})


@pytest.mark.parametrize("deploy_mode", ["local", "client", "cluster"])
def test_py_files_files_and_archives_take_hdfs_urls(tmp_path, hdfs, cluster, deploy_mode):
    """--py-files, --files and --archives (with #NAME) of hdfs:// URLs: the module imports in
    tasks, the file is SparkFiles', the archive unpacked under its NAME; on local[2] and on a
    cluster in both deploy modes (in cluster mode the driver on the master's host fetches
    them)."""
    where = (("--master", "local[2]") if deploy_mode == "local" else
             ("--master", cluster["url"], "--deploy-mode", deploy_mode))
    result = _submit(tmp_path, *where, "--py-files", f"{hdfs}/d/libs.zip",
                     "--files", f"{hdfs}/d/data.txt", "--archives", f"{hdfs}/d/env.tgz#env",
                     env=None if deploy_mode == "local" else cluster["env"])
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()


def test_urls_mix_with_local_paths_in_each_flag(tmp_path, hdfs):
    """A local path and a URL in one flag: both arrive (the local ones shipped by vega
    submit, the URLs added by the Context)."""
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "other.txt").write_text("local\n")
    (tmp_path / "deps" / "local.tgz").write_bytes(_tgz("local"))
    job = write_job(tmp_path, "mixed.py", """
        import os
        from vega_runtime import Context, SparkFiles
        ctx = Context()
        def read(name):
            path = SparkFiles.get(name)
            return open(os.path.join(path, "v.txt") if os.path.isdir(path) else path).read()
        print("READ", ctx.parallelize(["data.txt", "other.txt", "env", "local"], 2)
              .map(read).collect())
        ctx.stop()
        """)
    result = vega("submit", "--master", "local[2]", "--conf", "vega.hdfs.user=alice",
                  "--files", f"{hdfs}/d/data.txt,deps/other.txt",
                  "--archives", f"deps/local.tgz#local,{hdfs}/d/env.tgz#env", job,
                  cwd=str(tmp_path), env={**clean_env(), "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stderr
    assert "READ ['hello\\n', 'local\\n', 'remote', 'local']" in result.stdout.splitlines()


@pytest.mark.parametrize("flag", ["--py-files", "--files", "--archives"])
def test_a_url_that_cannot_be_fetched_is_a_usage_error_naming_the_flag(tmp_path, hdfs, flag):
    """A missing file, a directory, a namenode that does not answer, a file system Vega
    cannot read: exit 2 before the job runs, one message naming the flag and the URL (the
    driver's Context failed with 'vega: job failed: HDFS ...: File /d/nope not found.')."""
    for url, problem in ((f"{hdfs}/d/nope.zip", "cannot be fetched: no such file or directory"),
                         (f"{hdfs}/d", "is a directory, not a file"),
                         ("hdfs://127.0.0.1:1/x.zip", "cannot be fetched: the namenode is "
                                                      "unreachable")):
        result = _submit(tmp_path, "--master", "local", flag, url + "#x")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"vega: error: {flag}: {url!r} {problem}"), \
            result.stderr
        assert "RESULT" not in result.stdout
    result = _submit(tmp_path, "--master", "local", flag, "s3a://bucket/x.zip")
    assert result.returncode == 2
    assert result.stderr.startswith(f"vega: error: {flag}: s3a://bucket/x.zip: Vega reads and "
                                    "writes local paths, file: URLs and HDFS"), result.stderr


def test_vega_shell_takes_them_too(tmp_path, hdfs):
    """vega shell --py-files/--files/--archives URLs: its session's Context adds them; one it
    cannot fetch is the same usage error."""
    import subprocess

    from proc_helpers import vega_argv

    statements = ("import os\nfrom vega_runtime import SparkFiles\nimport zipped\n"
                  "print('READ', zipped.NAME, open(SparkFiles.get('data.txt')).read().strip(),"
                  " open(os.path.join(SparkFiles.get('env'), 'v.txt')).read())\n")
    argv = vega_argv("shell", "--master", "local", "--conf", "vega.hdfs.user=alice",
                     "--py-files", f"{hdfs}/d/libs.zip", "--files", f"{hdfs}/d/data.txt",
                     "--archives", f"{hdfs}/d/env.tgz#env")
    env = {**clean_env(), "PYTHONPATH": REPO}
    result = subprocess.run(argv, input=statements, capture_output=True, text=True,
                            timeout=120, cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert "READ zipped hello remote" in result.stdout.splitlines()
    argv[argv.index("--files") + 1] = f"{hdfs}/d/nope.txt"
    result = subprocess.run(argv, input=statements, capture_output=True, text=True,
                            timeout=120, cwd=str(tmp_path), env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"vega: error: --files: '{hdfs}/d/nope.txt' cannot be "
                                    "fetched: no such file or directory"), result.stderr
