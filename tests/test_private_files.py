"""Work directories are 0700 and everything in them 0600 (issue 12, item 6).

Real jobs (a shuffle, a DISK_ONLY cache, a broadcast, task output, an event log) run on
``local-cluster[2,1]`` and on a separately started master and worker, all started with
the permissive umask 022; afterwards no file or directory in any work directory, the
driver's application directory or the event log directory is readable, writable or
searchable by group or others.
"""

import errno
import json
import os
import signal
import stat

import pytest

from vega_runtime.errors import DirectoryOfAnotherAccount
from vega_runtime.private_files import make_private_dir, new_private_dir, open_private, remove_tree

from proc_helpers import clean_env, read_text, vega_processes, write_job
from test_cluster_e2e import Cluster, vega

#: What the job walks (its own app dir, so local-cluster's daemons' work dirs inside it,
#: and the event log directory) before its Context stops and deletes them.
JOB = """
    import json, os, stat, sys
    from operator import add
    from vega_runtime import Context, StorageLevel

    def modes(root):
        found = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [""] + dirnames + filenames:
                path = os.path.join(dirpath, name)
                found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
        return found

    with Context(app_name="private") as ctx:
        table = ctx.broadcast({k: k * 10 for k in range(3)})
        pairs = ctx.parallelize([(i % 3, i) for i in range(300)], 3).reduce_by_key(add)
        pairs.persist(StorageLevel.DISK_ONLY)
        print("SUM", sum(pairs.map(lambda kv: table.value[kv[0]] + kv[1]).collect()), flush=True)
        ctx.parallelize(range(4), 2).foreach(lambda x: print("task output", x))
        print("APP_DIR", json.dumps(modes(ctx.app_dir)))
        print("EVENTS", json.dumps(modes(os.environ["VEGA_EVENTLOG_DIR"])))
"""


def open_to_others(tree: dict) -> list:
    """The paths of ``{path: mode}`` that group or others may read, write or search."""
    return sorted(f"{path} {oct(mode)}" for path, mode in tree.items() if mode & 0o077)


def modes(root: str) -> dict:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + dirnames + filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def line_json(stdout: str, tag: str):
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line in {stdout!r}")


def has(tree: dict, *suffixes) -> bool:
    return all(any(p.endswith(s) for p in tree) for s in suffixes)


@pytest.fixture
def umask_022():
    """Everything this test starts, the daemons included, begins with a permissive umask."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


#: what must be in the driver's app dir after JOB on each master (so the test is not vacuous)
EXPECTED = {
    # the daemons' logs, executors' logs and shuffle files, stored output, the broadcast
    # (a local cluster's master keeps no recovery state: vega.master.recovery)
    "local-cluster[2,1]": ("master.log", "worker-1.log", "exec-1.log", ".data", ".index",
                           "master.token", "output.log", "broadcast_0"),
    "local[2]": (".data", ".index", "broadcast_0"),
}


@pytest.mark.parametrize("master", sorted(EXPECTED))
def test_local_app_dir_work_dirs_and_event_logs_are_private(tmp_path, umask_022, master):
    """local-cluster[2,1] and local[2]: the driver's app dir (local-cluster's daemons' work
    dirs inside) and the event log directory hold nothing for group or others."""
    events = tmp_path / "events" / "new"  # made by the driver, parents too
    job = write_job(tmp_path, "private.py", JOB)
    result = vega("submit", "--master", master, job,
                  env=clean_env(VEGA_EVENTLOG_DIR=str(events)), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SUM 44880" in result.stdout
    app_dir, event_dir = line_json(result.stdout, "APP_DIR"), line_json(result.stdout, "EVENTS")
    assert has(app_dir, *EXPECTED[master]), sorted(app_dir)
    assert not has(app_dir, "state.json"), sorted(app_dir)  # nor does a local-cluster master
    assert any("blocks/" in p and "rdd_" in p for p in app_dir), sorted(app_dir)  # DISK_ONLY
    assert has(event_dir, ".jsonl"), event_dir
    assert open_to_others(app_dir) == []
    assert open_to_others(event_dir) == []
    assert stat.S_IMODE(os.stat(events.parent).st_mode) == 0o700


def test_standalone_master_and_worker_work_dirs_are_private(tmp_path, umask_022):
    """A master and a worker started by hand, a client-mode and a cluster-mode job: their
    work dirs (packages, logs, recovery state, app dirs) and the event logs are 0700/0600;
    a work dir that existed as 0755 is made 0700."""
    cluster = Cluster(tmp_path / "standalone")
    try:
        worker_dir = os.path.join(cluster.root, "worker-a")
        os.makedirs(worker_dir, mode=0o755)
        os.chmod(worker_dir, 0o755)  # as an older Vega left it
        cluster.start_worker("worker-a")
        events = tmp_path / "events"
        env = clean_env(VEGA_SECRET_FILE=cluster.secret_file, VEGA_EVENTLOG_DIR=str(events))
        job = write_job(tmp_path, "private.py", JOB)
        client = vega("submit", "--master", cluster.url, job, env=env, timeout=120)
        assert client.returncode == 0, client.stderr[-3000:]
        assert "SUM 44880" in client.stdout
        detached = vega("submit", "--master", cluster.url, "--deploy-mode", "cluster", job,
                        env=env, timeout=120)
        assert detached.returncode == 0, detached.stderr[-3000:]
        assert "SUM 44880" in detached.stdout

        master, worker = modes(cluster.master_dir), modes(worker_dir)
        assert has(master, "master.log", "master.token", "state.json", "output.log", ".zip"), \
            sorted(master)
        assert any(p.startswith("apps/driver-") for p in master), sorted(master)
        # shuffle files go when their application ends (the local-cluster case above sees
        # theirs, made by the same executor code, while its application runs)
        assert has(worker, "worker.log", "exec-1.log"), sorted(worker)
        assert not has(worker, ".data") and not has(worker, ".index"), sorted(worker)
        assert any(p.startswith("packages/") for p in worker), sorted(worker)
        assert open_to_others(master) == []
        assert open_to_others(worker) == []
        assert open_to_others(modes(str(events))) == []
        client_app_dir = line_json(client.stdout, "APP_DIR")
        assert open_to_others(client_app_dir) == []
    finally:
        cluster.stop()
    assert "Traceback" not in read_text(cluster.master_log)


def test_private_helpers_create_0600_files_and_tighten_a_0755_directory(tmp_path, umask_022):
    """open_private ignores a permissive umask; make_private_dir makes an existing dir 0700."""
    path = tmp_path / "log"
    with open_private(str(path), "ab") as fh:
        fh.write(b"x")
    with open_private(str(path), "a", encoding="utf-8") as fh:
        fh.write("y")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text() == "xy"
    shared = tmp_path / "work"
    shared.mkdir(mode=0o755)
    make_private_dir(str(shared))
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o700
    fresh = tmp_path / "a" / "b"
    make_private_dir(str(fresh))
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o700
    assert os.umask(0o022) == 0o022  # and they leave this process's umask alone


def test_new_private_dir_is_mkdtemps_directory_made_0700(tmp_path, umask_022, monkeypatch):
    """A new 0700 directory PREFIX + 8 characters: in the parent given, else in the first
    usable of $TMPDIR, $TEMP, $TMP, /tmp... (an unusable $TMPDIR is passed over, as
    ``tempfile.gettempdir`` does); a parent that does not exist is an error."""
    first = new_private_dir("vega-x-", str(tmp_path))
    second = new_private_dir("vega-x-", str(tmp_path))
    assert first != second
    for path in (first, second):
        assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path)[:7] == "vega-x-"
        assert len(os.path.basename(path)) == 15 and stat.S_IMODE(os.stat(path).st_mode) == 0o700
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # else this process's, which tempfile keeps
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    monkeypatch.setenv("TEMP", str(tmp_path))
    assert os.path.dirname(new_private_dir("vega-y-")) == str(tmp_path)
    with pytest.raises(FileNotFoundError):
        new_private_dir("vega-z-", str(tmp_path / "missing"))


def test_remove_tree_deletes_everything_below_and_follows_no_link(tmp_path):
    """remove_tree deletes nested directories and files, and a symbolic link in the tree
    (not what it points to); a path that is gone already is no error."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "data").write_bytes(b"x")
    (tree / "top").write_bytes(b"y")
    os.symlink(outside, tree / "a" / "link")
    remove_tree(str(tree))
    assert not os.path.lexists(tree)
    assert (outside / "keep.txt").read_text() == "kept"
    remove_tree(str(tree))


def test_remove_tree_where_no_thread_can_start_removes_everything_itself(tmp_path, monkeypatch):
    """Python 3.12 starts no thread in an atexit callback (RuntimeError), where a Context the
    program never stopped is stopped: its directory, large enough for helper threads, is
    still removed whole, by the calling thread. (The end-to-end case is
    test_cli_submit.py's Context stopped at exit, run on Python 3.12 by hand: its
    traceback and a vega-app-* directory left were the symptom.)"""
    import threading

    def refused(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    tree = tmp_path / "tree"
    for i in range(40):  # more than PARALLEL_REMOVAL entries
        (tree / f"d{i}").mkdir(parents=True)
        (tree / f"d{i}" / "f").write_bytes(b"x")
    monkeypatch.setattr(threading.Thread, "start", refused)
    remove_tree(str(tree))
    assert not os.path.lexists(tree)


def test_a_secret_every_user_can_read_is_used_with_a_warning(tmp_path, caplog):
    """As ssh warns of an unprotected key: the secret is still read; a group-readable one
    (Kubernetes mounts it 0440) is not warned about."""
    from vega_runtime.net.connection import load_secret

    secret = tmp_path / "secret"
    secret.write_text("cafe\n")
    for mode, warned in ((0o644, True), (0o440, False), (0o600, False)):
        os.chmod(secret, mode)
        caplog.clear()
        with caplog.at_level("WARNING", logger="vega_runtime.net.connection"):
            assert load_secret(str(secret)) == b"cafe"
        expected = [f"the cluster secret {secret} is open to every user of this host (mode "
                    f"{mode:04o}): whoever reads it can join the cluster and run code on it; "
                    f"chmod 600 {secret}"] if warned else []
        assert [r.getMessage() for r in caplog.records] == expected


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="making another account's directory "
                                                        "needs root")


@needs_root
@pytest.mark.parametrize("command", ["master", "start-master", "worker"])
def test_a_work_dir_of_another_account_is_refused_and_nothing_is_written_through_it(
        tmp_path, command):
    """Another user of the host made the work dir first (world-writable, say under /tmp)
    and planted symbolic links where the daemon's log and pid file go: the daemon refuses
    the directory, naming its owner, writes nothing (the link's target is untouched) and
    exits 1."""
    victim = tmp_path / "victim"
    victim.write_text("ORIGINAL\n")
    work = tmp_path / "work"
    work.mkdir()
    os.chmod(work, 0o777)
    for name in ("master.log", "worker.log", "master.pid", "master.out"):
        os.symlink(victim, work / name)
    os.lchown(work, 65534, 65534)
    secret = tmp_path / "secret"
    secret.write_text("s" * 64)
    secret.chmod(0o600)
    args = {"master": ["master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0"],
            "start-master": ["start-master", "--host", "127.0.0.1", "--port", "0",
                             "--webui-port", "0"],
            "worker": ["worker", "vega://127.0.0.1:9", "--host", "127.0.0.1", "--port", "0",
                       "--webui-port", "0"]}[command]
    try:
        done = vega(*args, "--work-dir", str(work), "--secret-file", str(secret), timeout=60)
    finally:  # a daemon that started anyway (the bug) does not outlive the test
        for pid in vega_processes(str(work)):
            os.kill(pid, signal.SIGKILL)
    assert done.returncode == 1, done.stderr
    assert f"{work} belongs to uid 65534" in done.stderr or \
        f"{work} belongs to nobody (uid 65534)" in done.stderr, done.stderr
    assert "not to this account, root (uid 0)" in done.stderr
    assert "--work-dir" in done.stderr  # what to do
    assert victim.read_text() == "ORIGINAL\n"
    assert sorted(os.listdir(work)) == ["master.log", "master.out", "master.pid", "worker.log"]
    assert stat.S_IMODE(os.stat(work).st_mode) == 0o777  # and it was not changed either


def _daemonize_worker_into(tmp_path, shared):
    """``vega worker --daemonize`` with its pid file and log in ``shared``: its result (a
    worker that started anyway does not outlive the test)."""
    secret = tmp_path / "secret"
    secret.write_text("s" * 64)
    secret.chmod(0o600)
    work = tmp_path / "work"
    try:
        return vega("worker", "vega://127.0.0.1:9", "--host", "127.0.0.1", "--port", "0",
                    "--webui-port", "0", "--work-dir", str(work), "--secret-file", str(secret),
                    "--daemonize", "--pidfile", str(shared / "worker.pid"),
                    "--log-file", str(shared / "worker.out"), timeout=60)
    finally:
        for pid in vega_processes(str(work)):
            os.kill(pid, signal.SIGKILL)


@needs_root
@pytest.mark.parametrize("planted", ["worker.pid.tmp", "worker.out"])
def test_daemonize_writes_no_pid_or_log_file_another_account_made_first(tmp_path, planted):
    """Another user of the host made the pid file's temporary name or the log file first, in
    a directory others write to: the worker refuses it, naming its owner, writes nothing
    to it and does not start. Before, it wrote its pid into that user's file and renamed it
    into place (the pid file then belonged to them: they could name any process for
    stop-workers to kill), or appended its log to their file, which they could read."""
    shared = tmp_path / "shared"
    shared.mkdir()
    theirs = shared / planted
    theirs.write_text("THEIRS\n")
    theirs.chmod(0o666)
    os.chown(theirs, 65534, 65534)
    done = _daemonize_worker_into(tmp_path, shared)
    assert done.returncode == 1, done.stderr
    owner = "nobody (uid 65534)" if f"{theirs}: it belongs to nobody" in done.stderr \
        else "uid 65534"
    assert (f"cannot start the daemon in the background: cannot write {theirs}: it belongs "
            f"to {owner}, not to this account, root (uid 0)" in done.stderr), done.stderr
    assert theirs.read_text() == "THEIRS\n" and os.stat(theirs).st_uid == 65534
    assert not (shared / "worker.pid").exists()


def test_private_files_are_not_written_through_a_symbolic_link(tmp_path):
    """In a directory others may write to (an event log directory shared on purpose), a
    link planted where a private file goes is refused, not followed."""
    victim = tmp_path / "victim"
    victim.write_text("ORIGINAL\n")
    os.symlink(victim, tmp_path / "app-1.jsonl")
    for mode in ("a", "ab", "w", "wb"):
        with pytest.raises(OSError) as raised:
            open_private(str(tmp_path / "app-1.jsonl"), mode)
        assert raised.value.errno == errno.ELOOP
    assert victim.read_text() == "ORIGINAL\n"


def test_a_fifo_planted_where_a_private_file_goes_is_refused_at_once(tmp_path):
    """A FIFO in place of an event log part or a pid file would block the open for writing
    until someone reads it (a driver or daemon that never starts): it is refused at once."""
    os.mkfifo(tmp_path / "app-1.jsonl.2")
    for mode in ("a", "ab", "w", "wb"):
        with pytest.raises(OSError, match="not a regular file"):
            open_private(str(tmp_path / "app-1.jsonl.2"), mode)


def test_make_private_dir_refuses_only_existing_directories_of_other_accounts(tmp_path):
    """Its own directories it makes private; a directory it has just made is its own even
    where the file system says otherwise (root on an NFS export squashed to nobody)."""
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    assert make_private_dir(str(mine)) == str(mine)
    if os.getuid() == 0:
        theirs, owner = str(tmp_path / "theirs"), 65534
        os.mkdir(theirs, 0o700)
        os.chown(theirs, owner, owner)
    else:
        theirs, owner = "/", 0
    with pytest.raises(DirectoryOfAnotherAccount) as raised:
        make_private_dir(theirs)
    assert raised.value.path == theirs and f"uid {owner})" in raised.value.owner


@pytest.mark.parametrize("planted", ["worker.pid.tmp", "worker.out"])
def test_daemonize_writes_its_pid_and_log_files_through_no_planted_link(tmp_path, planted):
    """--pidfile and --log-file may name a directory others write to (/tmp, without the
    kernel's protected_symlinks): a symbolic link planted at the pid file's temporary name
    or at the log file is not followed (the pid file used to truncate its target), and the
    worker does not start."""
    victim = tmp_path / "victim"
    victim.write_text("ORIGINAL\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.symlink(victim, shared / planted)
    done = _daemonize_worker_into(tmp_path, shared)
    assert done.returncode == 1, done.stderr
    assert (f"cannot start the daemon in the background: cannot write {shared / planted}: "
            "Too many levels of symbolic links (a symbolic link there is not followed)"
            in done.stderr)
    assert victim.read_text() == "ORIGINAL\n"


def test_directories_of_drivers_killed_outright_go_when_the_next_one_starts(tmp_path):
    """A driver SIGKILLed mid-application (the OOM killer) leaves its application directory
    (spills, shuffle files); the next Context with the same parent removes it, and only it:
    not a running driver's, not a directory without an owner lock."""
    import subprocess
    import sys

    from vega_runtime import Context
    from vega_runtime.private_files import OWNER_LOCK

    from proc_helpers import wait_for

    driver = ("import sys, time\nfrom vega_runtime import Context\n"
              f"ctx = Context('local[2]', conf={{'vega.local.dir': {str(tmp_path)!r}}})\n"
              "ctx.parallelize(range(8), 2).map(lambda x: (x % 2, x)).group_by_key().count()\n"
              "print(ctx.app_dir, flush=True)\ntime.sleep(120)\n")
    killed, running = (subprocess.Popen([sys.executable, "-c", driver], env=clean_env(),
                                        stdout=subprocess.PIPE, text=True) for _ in range(2))
    try:
        killed_dir, running_dir = (p.stdout.readline().strip() for p in (killed, running))
        unlocked = tmp_path / "vega-app-of-another-version"
        unlocked.mkdir()
        killed.send_signal(signal.SIGKILL)
        killed.wait(30)

        def lock_free() -> bool:  # its executors die with it (die_with_parent), a moment later
            import fcntl
            fd = os.open(os.path.join(killed_dir, OWNER_LOCK), os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                return False
            finally:
                os.close(fd)
        wait_for(lock_free, 30, "the killed driver's executors to end")
        assert os.path.isdir(os.path.join(killed_dir, "shuffle"))
        with Context("local", conf={"vega.local.dir": str(tmp_path)}) as ctx:
            assert sorted(os.listdir(tmp_path)) == sorted(
                os.path.basename(p) for p in (running_dir, ctx.app_dir, str(unlocked)))
    finally:
        for proc in (killed, running):
            proc.kill()
            proc.wait(30)
    assert os.path.isdir(running_dir)  # (its process ended here: the next Context's to remove)


def test_staging_directories_of_commands_killed_outright_go_with_the_next(tmp_path, monkeypatch):
    """vega submit's staging directory, its command SIGKILLed, goes when the next starts."""
    import subprocess
    import sys
    import tempfile

    from vega_cli.staging import staging_directory

    command = ("import time\nfrom vega_cli.staging import staging_directory\n"
               "with staging_directory('vega-submit-') as path:\n"
               "    print(path, flush=True)\n    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", command], stdout=subprocess.PIPE, text=True,
                            env=clean_env(TMPDIR=str(tmp_path)))
    left = proc.stdout.readline().strip()
    proc.kill()
    proc.wait(30)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with staging_directory("vega-submit-") as path:
        assert os.listdir(tmp_path) == [os.path.basename(path)] and left != path
    assert os.listdir(tmp_path) == []


CHECKPOINT_JOB = """
    import os, stat, sys
    from vega_runtime import Context

    with Context(app_name="checkpointed") as ctx:
        ctx.set_checkpoint_dir(sys.argv[1])
        rdd = ctx.parallelize(range(100), 2).map(lambda x: x * 2)
        rdd.checkpoint()
        print("SUM", sum(rdd.collect()), sum(rdd.collect()), rdd.is_checkpointed)
        print("DIR", ctx.get_checkpoint_dir())
"""


def test_a_checkpoint_directory_is_private_whatever_the_umask(tmp_path):
    """Under umask 000 the per-application checkpoint directory is still 0700: its parts
    are unpickled when read back, so another account able to replace one could run code as
    the job's.  So are the ``rdd-N`` directories and parts in it (before, 0777 and 0666).
    (The directory named, made with its parents, keeps the user's umask.)"""
    job = write_job(tmp_path, "checkpointed.py", CHECKPOINT_JOB)
    root = tmp_path / "checkpoints" / "jobs"
    old = os.umask(0)
    try:
        result = vega("submit", "--master", "local[2]", job, str(root), timeout=120)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SUM 9900 9900 True" in result.stdout
    app_dir = result.stdout.split("DIR file:", 1)[1].split()[0]  # (as PySpark's, a URI)
    assert os.path.dirname(app_dir) == str(root)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o777  # the user's, as asked
    assert stat.S_IMODE(os.stat(app_dir).st_mode) == 0o700
    assert has(modes(app_dir), "rdd-1/part-00000", "rdd-1/part-00001"), modes(app_dir)
    assert open_to_others(modes(app_dir)) == []


def test_a_next_driver_removes_no_directory_of_another_account_nor_through_a_link(tmp_path):
    """In a shared temporary directory (1777) another account may name things
    ``vega-app-...`` with an owner lock nobody holds: a directory of its own (whose entries
    it can swap for links to the victim's files while they are removed), or a link to a
    directory of the victim's.  A starting Context removes only its own account's real
    directories, so neither is touched."""
    from vega_runtime import Context
    from vega_runtime.private_files import OWNER_LOCK

    nobody = 65534
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    planted = shared / "vega-app-planted"
    planted.mkdir()
    for path in (planted / OWNER_LOCK, planted / "theirs"):
        path.write_text("x")
        os.chown(path, nobody, nobody)
    os.chown(planted, nobody, nobody)
    os.chmod(planted, 0o777)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / OWNER_LOCK).write_text("")
    (victim / "precious").write_text("mine\n")
    link = shared / "vega-app-link"
    os.symlink(victim, link)
    os.lchown(link, nobody, nobody)
    with Context("local", conf={"vega.local.dir": str(shared)}) as ctx:
        ctx.parallelize(range(4), 2).count()
    assert (victim / "precious").read_text() == "mine\n" and os.path.islink(link)
    assert sorted(os.listdir(planted)) == sorted([OWNER_LOCK, "theirs"])


def test_the_masters_ready_file_is_not_written_through_a_planted_link(tmp_path):
    """``vega master --ready-file`` in a directory others write to, where another account
    put a link at the name the file was staged under (``READY.tmp``) to a file of the
    master's account: the file is left as it was, and the ready file is written."""
    import subprocess

    from proc_helpers import kill_group, spawn_vega, wait_for

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    victim = tmp_path / "victim"
    victim.write_text("ORIGINAL\n")
    ready = shared / "ready"
    os.symlink(victim, str(ready) + ".tmp")
    os.lchown(str(ready) + ".tmp", 65534, 65534)
    with open(tmp_path / "master.out", "wb") as out:
        proc = spawn_vega("master", "--no-secret", "--host", "127.0.0.1", "--port", "0",
                          "--webui-port", "0", "--work-dir", str(tmp_path / "master"),
                          "--ready-file", str(ready), env=clean_env(), stdin=subprocess.DEVNULL,
                          stdout=out, stderr=out, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the ready file")
        assert proc.poll() is None, read_text(str(tmp_path / "master.out"))
        assert victim.read_text() == "ORIGINAL\n"
        assert set(json.loads(ready.read_text())) == {"port", "webui_port", "host"}
        assert stat.S_IMODE(os.lstat(ready).st_mode) == 0o600
    finally:
        kill_group(proc)
