"""What Vega leaves on a machine: nothing in $TMPDIR, no secret in the working directory.

The suite points every process it starts at a temporary directory of its own (see
conftest.py); these tests give ``vega`` a fresh one each and check it stays empty, and that
the cluster secret goes to the user's Vega home, created private.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from proc_helpers import REPO, clean_env, vega, wait_for, write_job
from vega_runtime.net.connection import create_secret_file, default_secret_file, resolve_secret_file

JOBS = {
    "succeeds": """
        from operator import add
        from vega_runtime import Context
        with Context() as ctx:
            words = ctx.parallelize(["a b", "b c"], 2).flat_map(str.split)
            print(sorted(words.map(lambda w: (w, 1)).reduce_by_key(add).collect()))
            ctx.parallelize(range(10), 2).map(lambda x: x).cache().count()
    """,
    "task_fails": """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize(range(4), 2).map(lambda x: 1 / 0).collect()
    """,
    "driver_raises": """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize(range(4), 2).count()
            raise RuntimeError("the job's own bug")
    """,
}


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
@pytest.mark.parametrize("job", sorted(JOBS))
def test_submit_leaves_its_temporary_directory_as_it_found_it(tmp_path, master, job):
    """vega submit (a job that succeeds, one whose task fails, one whose driver raises)
    leaves nothing in $TMPDIR: no staging, application, shuffle or local-cluster files."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    path = write_job(tmp_path, f"{job}.py", JOBS[job])
    result = vega("submit", "--master", master, path,
                  env=clean_env(TMPDIR=str(scratch), VEGA_EVENTLOG_DIR=str(tmp_path / "events")))
    assert result.returncode == (0 if job == "succeeds" else 1), result.stderr
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_killed_python_driver_leaves_its_temporary_directory_as_it_found_it(
        tmp_path, master, signum):
    """A driver run as plain ``python job.py`` (not vega submit) that gets SIGTERM or SIGHUP
    while its Context runs stops it on the way out, exiting 128+N, and leaves nothing in
    $TMPDIR (its shuffle and broadcast files, a local cluster's work dirs), as PySpark's
    driver does; the signal's default action would kill it where it stands."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    ready = tmp_path / "ready"
    path = write_job(tmp_path, "idle.py", f"""
        import time
        from operator import add
        from vega_runtime import Context
        ctx = Context({master!r})
        b = ctx.broadcast(3)
        assert ctx.parallelize(range(6), 2).map(lambda x: (x % 2, b.value)).reduce_by_key(add) \\
            .collect() == [(0, 9), (1, 9)]
        open({str(ready)!r}, "w").close()
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, path], cwd=REPO, stderr=subprocess.PIPE, text=True,
                            env=clean_env(TMPDIR=str(scratch),
                                          VEGA_EVENTLOG_DIR=str(tmp_path / "events")))
    try:
        wait_for(ready.exists, 60, "the job's first action")
        assert os.listdir(scratch)
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 128 + signum, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert os.listdir(scratch) == []


def test_start_master_keeps_the_secret_in_the_vega_home_not_the_working_directory(tmp_path):
    """start-master without --secret-file creates $VEGA_CONF_DIR/secret (0600, in a 0700
    directory made for it) and nothing in the directory it runs from."""
    checkout, home = tmp_path / "checkout", tmp_path / "home" / "vega"
    checkout.mkdir()
    env = clean_env(VEGA_CONF_DIR=str(home))
    work_dir = str(tmp_path / "master")
    started = vega("start-master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                   "--work-dir", work_dir, env=env, cwd=str(checkout))
    try:
        assert started.returncode == 0, started.stderr
        secret = home / "secret"
        assert f"created cluster secret {secret} (mode 0600)" in started.stdout
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        assert os.listdir(checkout) == []
        status = vega("status", "--json", "--master", _master_url(work_dir), env=env,
                      cwd=str(checkout))
        assert status.returncode == 0, status.stderr
    finally:
        stopped = vega("stop-master", "--work-dir", work_dir, env=env, cwd=str(checkout))
    assert "master stopped" in stopped.stdout
    # no pidfile, and no ready file saying a stopped master is ready (it stayed)
    assert not {"master.pid", "master.ready"} & set(os.listdir(work_dir))


def _master_url(work_dir: str) -> str:
    import json

    with open(os.path.join(work_dir, "master.ready")) as fh:
        return f"vega://127.0.0.1:{json.load(fh)['port']}"


def test_the_default_secret_file_follows_vega_conf_dir_else_home(monkeypatch, tmp_path):
    """~/.vega/secret by default; $VEGA_CONF_DIR/secret when that is set."""
    monkeypatch.delenv("VEGA_CONF_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_secret_file() == str(tmp_path / ".vega" / "secret")
    monkeypatch.setenv("VEGA_CONF_DIR", str(tmp_path / "etc"))
    assert default_secret_file() == str(tmp_path / "etc" / "secret")


def test_a_named_secret_file_wins_and_a_missing_default_means_none(monkeypatch, tmp_path):
    """An explicit path is used as given (absolute); without one, the default only if it exists."""
    monkeypatch.setenv("VEGA_CONF_DIR", str(tmp_path / "etc"))
    monkeypatch.chdir(tmp_path)
    assert resolve_secret_file("mine") == str(tmp_path / "mine")
    assert resolve_secret_file(None) == ""
    create_secret_file(default_secret_file())
    assert resolve_secret_file(None) == str(tmp_path / "etc" / "secret")


def test_creating_a_secret_never_replaces_one(tmp_path):
    """A second create_secret_file on the same path fails and leaves the first secret and no
    temporary file behind."""
    path = str(tmp_path / "secret")
    first = create_secret_file(path)
    with pytest.raises(FileExistsError):
        create_secret_file(path)
    with open(path, "rb") as fh:
        assert fh.read().strip() == first
    assert os.listdir(tmp_path) == ["secret"]


def test_the_repository_ignores_a_secret_kept_in_conf():
    """conf/vega-secret, kept there on purpose by some, is git-ignored."""
    with open(os.path.join(REPO, ".gitignore")) as fh:
        assert "conf/vega-secret" in fh.read().split()
