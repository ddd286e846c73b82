"""What ``vega submit`` refuses, or fails with one message, before a job's work starts: an
event-log directory it cannot write, a local master of more executors than a machine runs, a
corrupt --archives file (test_cli_submit_errors.py has the other errors)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from proc_helpers import REPO, write_job

COUNT_JOB = """
    from vega_runtime import Context
    with Context() as ctx:
        print(ctx.parallelize(range(10), 2).sum())
"""


def _without_root_powers(*args: str, cwd: str) -> subprocess.CompletedProcess:
    """``vega ARGS`` as root without the capabilities that write anywhere (setpriv), as
    another account would run it."""
    env = {k: v for k, v in os.environ.items() if k != "VEGA_MASTER"}
    return subprocess.run(
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
         "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
         "vega_cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**env, "PYTHONPATH": REPO})


@pytest.mark.parametrize("obstacle", ["a file in the way", "mode 0500"])
def test_an_event_log_directory_that_cannot_be_written_is_one_message(vega_cli, tmp_path,
                                                                       obstacle):
    """vega.eventlog.dir unwritable (a file where a directory must be; a directory of mode
    0500, as another account meets it) printed 'the job raised PermissionError: [Errno 13]
    ...' and a traceback into the job's Context() line; now the message alone, the job's
    line named, exit 1."""
    job = write_job(tmp_path, "job.py", COUNT_JOB)
    if obstacle == "a file in the way":
        (tmp_path / "file").write_text("")
        directory, reason = tmp_path / "file" / "events", ""
        result = vega_cli("submit", "--master", "local", "--conf",
                          f"vega.eventlog.dir={directory}", job, cwd=str(tmp_path),
                          env={"PYTHONPATH": REPO})
    else:
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            pytest.skip("root's write permission is taken away with setpriv")
        directory, reason = tmp_path / "events", "Permission denied"
        directory.mkdir(mode=0o500)
        tmp_path.chmod(0o755)
        result = _without_root_powers("submit", "--master", "local", "--conf",
                                      f"vega.eventlog.dir={directory}", job, cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    message = f"cannot write an event log in {directory} ({reason}): point vega.eventlog.dir " \
        "at a writable directory, or set it to '' to keep none"
    if obstacle == "a file in the way":
        message = f"cannot write an event log in {directory}: a file is in the way, " \
            f"{tmp_path}/file, where a directory above it must be: move the file away (the " \
            "directory is made), point vega.eventlog.dir at another directory, or set it to " \
            "'' to keep none"
    assert result.stderr.splitlines() == [
        f"vega: job failed: {message}", f'(raised by the driver at "{job}", line 2, in <module>)']


@pytest.mark.parametrize("how", ["--master", "VEGA_MASTER", "Context"])
def test_a_local_master_of_a_million_executors_is_refused_before_anything_starts(
        vega_cli, tmp_path, how):
    """vega submit --master 'local[1000000]' (or Context('local[1000000]')) forked executor
    processes, slower and slower, until the account could fork no more; now one usage error
    before the job runs (exit 2), or the Context's error at its line."""
    job = write_job(tmp_path, "job.py", COUNT_JOB.replace(
        "Context()", "Context('local[1000000]')" if how == "Context" else "Context()"))
    env = {"PYTHONPATH": REPO, **({"VEGA_MASTER": "local[1000000]"} if how == "VEGA_MASTER"
                                  else {})}
    result = vega_cli("submit", *(["--master", "local[1000000]"] if how == "--master" else []),
                      job, cwd=str(tmp_path), env=env)
    cores = os.cpu_count()
    message = ("master 'local[1000000]' asks for 1000000 executor processes, and a local "
               "master runs at most 256 (a process per task slot, not a thread as in Spark): "
               f"use local[*] (this machine's {cores} cores) or a number up to 256")
    if how == "Context":
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr.splitlines() == [
            f"vega: job failed: {message}",
            f'(raised by the driver at "{job}", line 2, in <module>)']
    else:
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        source = "VEGA_MASTER: " if how == "VEGA_MASTER" else ""
        assert result.stderr.splitlines() == [f"vega: error: {source}{message}"]
    assert sorted(os.listdir(tmp_path)) == ["job.py"]


def _corrupt_archives(tmp_path):
    """A truncated .zip and .tar.gz, and a text file named .zip."""
    import tarfile
    import zipfile

    (tmp_path / "data.txt").write_text("x\n" * 5000)
    with zipfile.ZipFile(tmp_path / "whole.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(tmp_path / "data.txt", "data.txt")
    with tarfile.open(tmp_path / "whole.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "data.txt", "data.txt")
    for name in ("whole.zip", "whole.tar.gz"):
        whole = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "notes.zip").write_text("not an archive\n")


@pytest.mark.parametrize("archive, problem", [
    ("cut-whole.zip", "cannot be read as a zip file (File is not a zip file)"),
    ("cut-whole.tar.gz", "cannot be read as a gzip-compressed tar file (Compressed file "
                         "ended before the end-of-stream marker was reached)"),
    ("notes.zip", "cannot be read as a zip file (File is not a zip file)"),
])
@pytest.mark.parametrize("mode", ["client", "cluster"])
def test_a_corrupt_archive_is_refused_at_submit_naming_it(vega_cli, tmp_path, archive,
                                                          problem, mode):
    """A truncated --archives file, or a text file named .zip, was found as the Context
    unpacked it ('vega: job failed: archive ... is not unpacked', after the upload and on
    the master in cluster deploy mode); now a usage error before anything starts (the
    cluster-mode master here is one nobody runs: nothing is sent)."""
    _corrupt_archives(tmp_path)
    job = write_job(tmp_path, "job.py", COUNT_JOB)
    master = "local" if mode == "client" else "vega://127.0.0.1:1"
    result = vega_cli("submit", "--master", master, "--deploy-mode", mode, "--archives",
                      f"whole.zip,{archive}", job, cwd=str(tmp_path), env={"PYTHONPATH": REPO},
                      timeout=30)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"vega: error: --archives: {archive!r} {problem}",
        "Check that it is whole and of the kind its name says."]
    shell = vega_cli("shell", "--master", "local", "--archives", archive, cwd=str(tmp_path),
                     env={"PYTHONPATH": REPO}, input="", timeout=30)
    assert (shell.returncode, shell.stderr.splitlines()) == (2, result.stderr.splitlines())
