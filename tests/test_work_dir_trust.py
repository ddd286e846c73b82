"""The directories a daemon trusts, against another account of the host (``nobody``): the
work dir's parents (OpenSSH's StrictModes), the work dir swapped for a symbolic link while
the daemon runs, a recovery state another account wrote, the HTTP token in the daemon's log.
Real ``vega master`` and ``vega worker`` processes; the other account's part is played by
``setpriv`` (a process of uid 65534) or its files made with ``os.chown``.  Root only."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from proc_helpers import (clean_env, kill_group, read_text, spawn_vega, vega, vega_processes,
                          wait_for)
from test_http_api import request
from vega_runtime.net.connection import create_secret_file

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="makes files of another account")


@pytest.fixture
def shared_tmp():
    """A directory of root's (0755) right in /tmp, so that ``nobody`` can reach what is in
    it (pytest's own directories are 0700); removed afterwards."""
    root = tempfile.mkdtemp(prefix="vega-trust-", dir="/tmp")
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _daemon_args(role: str, work_dir: str, secret: str):
    first = ["master"] if role == "master" else ["worker", "vega://127.0.0.1:9"]
    return [*first, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
            "--work-dir", work_dir, "--secret-file", secret]


@pytest.mark.parametrize("role", ["master", "worker"])
@pytest.mark.parametrize("parent", ["nobody's", "world-writable"])
def test_a_work_dir_below_a_directory_others_can_change_is_refused(tmp_path, role, parent):
    """``/tmp/work`` made by another user (or open to everyone without the sticky bit), the
    daemon's work dir ``/tmp/work/ROLE`` below it: whoever can write to it could rename the
    work dir away while the daemon runs and put a symbolic link to any directory in its
    place.  The daemon refuses to start, naming the directory, its owner and mode and what
    to do, and makes nothing there; before, it started and wrote its files in it."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    shared = tmp_path / "work"
    shared.mkdir()
    if parent == "nobody's":
        os.chown(shared, NOBODY, NOBODY)
        mode, problem = 0o755, "it is neither this account's nor root's: its owner"
        fix = f"chown root {shared}"
    else:
        os.chmod(shared, 0o777)
        mode, problem = 0o777, "group or others may write to it (no sticky bit): they"
        fix = f"chmod go-w {shared}"
    work = shared / role
    try:
        done = vega(*_daemon_args(role, str(work), secret), timeout=60)
    finally:  # one that started anyway (the bug) does not outlive the test
        for pid in vega_processes(str(work)):
            os.kill(pid, 9)
    assert done.returncode == 1, done.stderr
    owner = "nobody (uid 65534)" if parent == "nobody's" else "root (uid 0)"
    assert (f"{shared} (owner {owner}, mode {mode:04o}) is above {work} and {problem} could "
            f"rename {work} away and put a symbolic link in its place") in done.stderr, done.stderr
    assert f"place. Use a directory only this account (and root) can write to, as every one " \
        f"above it (--work-dir; a driver's: TMPDIR or vega.local.dir), or fix this one: {fix}" \
        in done.stderr.replace("\n", " ")
    assert os.listdir(shared) == []


def test_a_drivers_scratch_directory_below_one_others_can_change_is_refused(tmp_path):
    """A driver's TMPDIR open to everyone without the sticky bit: its application directory
    there (broadcasts, shuffle files and spills, which executors unpickle) could be renamed
    away and replaced by another user's while it runs.  The job fails at once saying so
    and what to do, and leaves nothing there; before, it ran."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    job = tmp_path / "job.py"
    job.write_text("from vega_runtime import Context\nwith Context() as ctx:\n"
                   "    print('SUM', ctx.parallelize(range(10), 2).sum())\n")
    done = vega("submit", "--master", "local[2]", str(job), env=clean_env(TMPDIR=str(shared)),
                timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert f"vega: job failed: {shared} (owner root (uid 0), mode 0777) is above {shared}/vega-app-" \
        in said, said
    assert "group or others may write to it (no sticky bit)" in said
    assert f"or fix this one: chmod go-w {shared}" in said
    assert "SUM" not in done.stdout and os.listdir(shared) == []


def test_a_work_dir_below_tmp_and_a_users_own_directories_is_used(tmp_path):
    """The layouts that stay usable: /tmp (world-writable, sticky), root's directories
    (/home, /var/lib) and the account's own; the work dir itself is this account's."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o1777)  # as /tmp
    ready = tmp_path / "ready"
    proc = spawn_vega(*_daemon_args("master", str(home / "master"), secret), "--ready-file",
                      str(ready), env=clean_env(), stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master")
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        kill_group(proc)
        os.chmod(tmp_path, 0o700)


def _as_nobody(script: str) -> None:
    """Run the shell ``script`` as uid/gid 65534 (another user of the host)."""
    subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    "sh", "-ec", script], check=True, timeout=30)


@pytest.mark.parametrize("who", ["nobody", "root"])
def test_a_work_dir_swapped_for_a_link_while_the_master_runs_is_not_followed(shared_tmp, who):
    """The master runs in ``DIR/work/master``; then its work dir is renamed away and a
    symbolic link to another directory (root's, 0755) put in its place: by ``nobody``,
    after ``DIR/work`` became theirs (chown by mistake), or by root.  Within its 2 s check
    the master says so at ERROR and leaves the link alone: the link's target keeps its mode
    and gets no file.  Before, the master made the target 0700 and wrote its lock and log
    into it (pointed at /tmp, it would have made /tmp 1700)."""
    work = os.path.join(shared_tmp, "work")
    os.mkdir(work, 0o755)
    target = os.path.join(shared_tmp, "target")
    os.mkdir(target, 0o755)
    secret = os.path.join(shared_tmp, "secret")
    create_secret_file(secret)
    ready, out = os.path.join(shared_tmp, "ready"), os.path.join(shared_tmp, "master.out")
    master = os.path.join(work, "master")
    with open(out, "wb") as log:
        proc = spawn_vega(*_daemon_args("master", master, secret), "--ready-file", ready,
                          env=clean_env(), stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: os.path.exists(ready) or proc.poll() is not None, 60, "the master")
        assert proc.poll() is None, read_text(out)
        swap = f"mv {master} {master}.old && ln -s {target} {master}"
        if who == "nobody":
            os.chown(work, NOBODY, NOBODY)
            _as_nobody(swap)
        else:
            subprocess.run(["sh", "-ec", swap], check=True)
        wait_for(lambda: "was deleted or replaced while the master runs, and cannot be held "
                         "again" in read_text(out), 30, "the master to notice")
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o755
        assert os.listdir(target) == []
        assert proc.poll() is None  # it goes on serving
    finally:
        kill_group(proc)
    expected = f"{work} (owner nobody (uid 65534), mode 0755) is above {master}" \
        if who == "nobody" else f"[Errno 40] a symbolic link is in its place: not followed: " \
        f"'{master}'"
    assert expected in read_text(out), read_text(out)[-3000:]
    assert os.listdir(target) == []


def test_a_recovery_state_another_account_wrote_is_not_used(tmp_path):
    """The master's work dir was open to everyone (made by hand, or by an older Vega) and
    ``nobody`` wrote ``recovery/state.json`` into it: it names an application (it could as
    well name supervised drivers, which the master would start again as root).  The master
    makes its work dir 0700, sets that state aside (``recovery.foreign-TIME``) saying whose
    it is, and starts without it; before, it showed the planted application."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    work = tmp_path / "master"
    (work / "recovery").mkdir(parents=True)
    os.chmod(work, 0o777)
    state = work / "recovery" / "state.json"
    state.write_text(json.dumps({"apps": {"app-20260101000000-0001": {
        "name": "planted", "state": "finished", "submitted": time.time() - 60,
        "ended": time.time() - 30}}, "workers": {}, "drivers": []}))
    for path in (work / "recovery", state):
        os.chown(path, NOBODY, NOBODY)
    ready, out = tmp_path / "ready", tmp_path / "master.out"
    with open(out, "wb") as log:
        proc = spawn_vega(*_daemon_args("master", str(work), secret), "--ready-file",
                          str(ready), env=clean_env(), stdout=log, stderr=log,
                          start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master")
        assert proc.poll() is None, read_text(str(out))
        url = f"vega://127.0.0.1:{json.loads(ready.read_text())['port']}"
        status = vega("status", "--master", url, "--json", env=clean_env(VEGA_SECRET_FILE=secret))
        assert status.returncode == 0, status.stderr
        assert "planted" not in status.stdout
    finally:
        kill_group(proc)
    recovery = work / "recovery"
    assert (f"{recovery} (in the master's work dir) belongs to nobody (uid 65534), not to "
            "this account: another user could have put it there while the work dir was open to "
            f"others; not used, set aside as {recovery}.foreign-") in read_text(str(out))
    assert [name.split(".foreign-")[0] for name in os.listdir(work)
            if ".foreign-" in name] == ["recovery"]
    assert stat.S_IMODE(os.stat(work).st_mode) == 0o700


#: a real ``vega master`` whose vega loggers log at DEBUG (as an operator debugging it would
#: set them), and otherwise the command line's
DEBUG_MASTER = ("import logging, sys; from vega_cli.main import main; "
                "logging.getLogger('vega_runtime').setLevel(logging.DEBUG); "
                "sys.argv[0] = 'vega'; main()")


def test_the_token_is_never_in_the_masters_debug_log(tmp_path):
    """At DEBUG the master logs each HTTP request line: the ``token=`` of a UI link, or a
    ``%74oken=`` (which the master decodes as the same field, and accepts), is left out.
    Before, the request line was logged as it came, token and all."""
    work, ready, out = tmp_path / "master", tmp_path / "ready", tmp_path / "master.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", DEBUG_MASTER, "master", "--no-secret", "--host", "127.0.0.1",
             "--port", "0", "--webui-port", "0", "--work-dir", str(work), "--ready-file",
             str(ready)], env=clean_env(), stdout=log, stderr=log, start_new_session=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master")
        assert proc.poll() is None, read_text(str(out))
        master = (json.loads(ready.read_text())["webui_port"], str(work / "ca.pem"))
        token = (work / "master.token").read_text().strip()
        for target in (f"/api/v1/status?token={token}", f"/api/v1/status?%74oken={token}",
                       f"/api/v1/status?a=1&t%6fken={token}"):
            code, _, _ = request(master, target)
            assert code == 200, target
        lines = wait_for(lambda: read_text(str(work / "master.log")).count(
            '"GET /api/v1/status?') == 3 and read_text(str(work / "master.log")), 30,
            "the request lines")
    finally:
        kill_group(proc)
    assert token not in lines and token not in read_text(str(out))
    assert '"GET /api/v1/status?%74oken=... HTTP/1.1" 200' in lines, lines[-2000:]


@pytest.mark.parametrize("role", ["master", "worker"])
def test_job_packages_another_account_put_in_a_work_dir_are_not_used(tmp_path, role):
    """The work dir was open to everyone and ``nobody`` put a job package there (extracted,
    as the master's cluster-mode drivers and the workers' executors run it when a job of
    that package comes, without checking it again).  The daemon sets the packages of
    another account aside, saying so at WARNING, so that the real package is fetched or
    uploaded again; before, it kept them in place."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    work = tmp_path / role
    sha = "ab" * 32
    planted = work / "packages" / sha
    planted.mkdir(parents=True)
    (planted / "job.py").write_text("print('PLANTED')\n")
    (work / "packages" / f"{sha}.zip").write_bytes(b"PK")
    for path in (planted, planted / "job.py", work / "packages" / f"{sha}.zip"):
        os.chown(path, NOBODY, NOBODY)
    os.chmod(work, 0o777)
    out = tmp_path / "daemon.out"
    with open(out, "wb") as log:
        proc = spawn_vega(*_daemon_args(role, str(work), secret), env=clean_env(), stdout=log,
                          stderr=log, start_new_session=True)
    try:
        wait_for(lambda: read_text(str(out)).count("not used, set aside as") == 2
                 or proc.poll() is not None, 60, f"the {role} to set the packages aside")
        assert proc.poll() is None, read_text(str(out))
    finally:
        kill_group(proc)
    said = read_text(str(out))
    assert (f"{planted} (job packages) belongs to nobody (uid 65534), not to this account: "
            "another user could have put it there while the work dir was open to others; not "
            f"used, set aside as {planted}.foreign-") in said.replace("cached job", "job"), said
    assert not planted.exists() and not (work / "packages" / f"{sha}.zip").exists()
    assert sorted(name.split(".foreign-")[0] for name in os.listdir(work / "packages")) == \
        [sha, f"{sha}.zip"]


def test_with_strict_modes_off_a_daemon_starts_below_a_world_writable_volume(tmp_path):
    """``VEGA_STRICT_MODES=false`` (k8s/'s pods: their emptyDir volume is 0777, and no other
    account exists in a pod): the master starts in a work dir below such a directory."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    volume = tmp_path / "emptydir"
    volume.mkdir()
    volume.chmod(0o777)
    ready = tmp_path / "ready"
    proc = spawn_vega(*_daemon_args("master", str(volume / "master"), secret), "--ready-file",
                      str(ready), env=clean_env(VEGA_STRICT_MODES="false"),
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master")
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        kill_group(proc)
    assert stat.S_IMODE(os.stat(volume / "master").st_mode) == 0o700


def test_a_link_another_account_put_in_a_workers_work_dir_is_not_followed(tmp_path):
    """The worker's work dir was open to everyone and ``nobody`` put a link named like an
    application's directory there (``app-...`` -> a directory of root's).  A worker
    starting deletes the directories an earlier run's applications left in theirs: it sets
    the link aside, saying so, and deletes nothing where it points; before, it deleted
    the directories in the link's target."""
    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    victim = tmp_path / "victim"
    (victim / "keep").mkdir(parents=True)
    (victim / "keep" / "file").write_text("KEEP\n")
    work = tmp_path / "worker"
    work.mkdir()
    link = work / "app-20260101000000-0001"
    os.symlink(victim, link)
    os.lchown(link, NOBODY, NOBODY)
    os.chmod(work, 0o777)
    out = tmp_path / "worker.out"
    with open(out, "wb") as log:
        proc = spawn_vega(*_daemon_args("worker", str(work), secret), env=clean_env(),
                          stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: "not used, set aside as" in read_text(str(out))
                 or not (victim / "keep").exists() or proc.poll() is not None, 60,
                 "the worker to start")
        assert proc.poll() is None, read_text(str(out))
    finally:
        kill_group(proc)
    assert (victim / "keep" / "file").read_text() == "KEEP\n"
    assert (f"{link} (in the worker's work dir) belongs to nobody (uid 65534), not to this "
            f"account: another user could have put it there") in read_text(str(out))
