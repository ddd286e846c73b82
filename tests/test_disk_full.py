"""A full disk under the shuffle: real executors writing map output to a small tmpfs.

The failed attempts must say which disk is full and leave no partial file behind (a
partial file of one attempt filled the disk for every later task and application), so
that the same Context runs the next job once the records fit.  Mounting a tmpfs needs
root: skipped otherwise.
"""

import itertools
import os
import re
import subprocess

import pytest

from vega_runtime import Context
from vega_runtime.errors import TaskFailed

from proc_helpers import partial_files, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted after the test."""
    path = tmp_path / "disk"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path)], check=True)
    yield str(path)
    subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("master", ["local[2,2]", "local-cluster[2,1]"])
def test_a_full_disk_fails_map_tasks_naming_it_and_leaves_no_partial_file(small_disk, master):
    ctx = Context(master=master, app_name="disk-full",
                  conf={"vega.local.dir": small_disk, "vega.task.max_attempts": 2})
    try:
        big = ctx.parallelize(range(40000), 4).map(lambda x: (x % 500, "x" * 100 + str(x)))
        with pytest.raises(TaskFailed) as failed:
            big.group_by_key(4).count()
        message = str(failed.value)
        assert "OSError: [Errno 28] no space left on the disk of " in message
        assert f"{small_disk}" in message and "/shuffle (" in message
        assert "for shuffle output: free space there" in message
        # an attempt still running when the job failed ends soon after, and cleans up too
        wait_for(lambda: not partial_files(small_disk), 30, "no partial map output left")
        # the disk is usable again: the next job (same context, same executors) runs exactly
        small = ctx.parallelize(range(1000), 4).map(lambda x: (x % 7, x))
        assert sorted(small.reduce_by_key(lambda a, b: a + b).collect()) == [
            (k, sum(range(k, 1000, 7))) for k in range(7)]
    finally:
        ctx.stop()


@pytest.mark.parametrize("master", ["local[2,2]", "local-cluster[2,1]"])
def test_a_save_that_fills_its_disk_fails_naming_it_and_leaves_no_output(small_disk, master):
    """save_as_text_file onto a disk too small: one error naming the disk and what to do (it
    was a bare "[Errno 28] No space left on device"), no output directory (nothing partial
    to take for complete), and the failed attempts' partial parts gone, so the same path
    takes the next save once the records fit."""
    ctx = Context(master=master, app_name="save-disk-full", conf={"vega.task.max_attempts": 2})
    out = os.path.join(small_disk, "out")
    try:
        records = ctx.parallelize(range(400000), 4).map(lambda x: "x" * 20 + str(x))
        with pytest.raises(TaskFailed) as failed:
            records.save_as_text_file(out)
        message = str(failed.value).splitlines()[0]
        assert re.search(r"failed 2 times; last error on \S+ \(exec-\d\): OSError: \[Errno 28\] "
                         rf"no space left on the disk of {re.escape(out)} \([\d.]+ MiB free of "
                         r"2\.0 MiB\) for part files: free space there, or save to another "
                         r"disk$", message), message
        # a barrier stage of two tasks runs once both slots are free: every attempt ended
        assert ctx.parallelize([1, 2], 2).barrier().map_partitions(iter).collect() == [1, 2]
        assert os.listdir(small_disk) == []
        ctx.parallelize(["fits"], 2).save_as_text_file(out)
        assert ctx.text_file(out).collect() == ["fits"]
    finally:
        ctx.stop()


def test_a_save_that_fills_the_hdfs_disk_is_one_error_naming_the_file(small_disk, capfd):
    """The same on HDFS (the WebHDFS server's files on the small disk): each failed attempt
    printed the hdfs package's "ERROR hdfs.util: Exception in child." and its traceback,
    then failed with a bare "HdfsError: [Errno 28] No space left on device" naming no file;
    now one error names the part file's URL, and nothing is left on HDFS."""
    from vega_testing.webhdfs import WebHDFSServer

    with WebHDFSServer(small_disk) as server, \
            Context(master="local[2,2]", app_name="hdfs-disk-full",
                    conf={"vega.task.max_attempts": 2}) as ctx:
        out = "hdfs://" + server.namenode_url.split("://", 1)[1] + "/out"
        records = ctx.parallelize(range(400000), 2).map(lambda x: "x" * 20 + str(x))
        with pytest.raises(TaskFailed) as failed:
            records.save_as_text_file(out)
        message = str(failed.value).splitlines()[0]
        assert re.search(r"failed 2 times; last error on \S+ \(exec-\d\): HdfsError: HDFS "
                         rf"{re.escape(server.namenode_url)}/out/_temporary/\.part-0000[01]\."
                         r"attempt-[01]: \[Errno 28\] No space left on device$", message), message
        assert ctx.parallelize([1, 2], 2).barrier().map_partitions(iter).collect() == [1, 2]
        assert os.listdir(small_disk) == []
        ctx.parallelize(["fits"], 2).save_as_text_file(out)
        assert ctx.text_file(out).collect() == ["fits"]
    assert "Exception in child" not in capfd.readouterr().err


def test_a_full_event_log_disk_is_said_once_and_the_job_runs_on(small_disk, vega_cli, tmp_path):
    """vega submit with its event log on a full disk: one warning, the exact output, exit 0
    (the job used to die with a bare 'OSError: [Errno 28] No space left on device' raised
    by the event log's write at the first job), and the summary line at the end, its
    figures counted as the application ran, saying where the log stops and why (there was
    no summary line: the cut log would have summed up less than ran)."""
    with open(os.path.join(small_disk, "filler"), "wb") as fh:
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    job = tmp_path / "job.py"
    job.write_text("from vega_runtime import Context\n"
                   "with Context(app_name='full-log') as ctx:\n"
                   "    print(ctx.parallelize(range(1000), 4).map(lambda x: (x % 7, x))"
                   ".reduce_by_key(lambda a, b: a + b).sort_by_key().collect())\n")
    done = vega_cli("submit", "--master", "local[2]", "--conf",
                    f"vega.eventlog.dir={small_disk}", str(job))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{[(k, sum(range(k, 1000, 7))) for k in range(7)]}\n"
    warnings = [line for line in done.stderr.splitlines() if "cannot be written" in line]
    assert len(warnings) == 1 and "cannot be written (No space left on device)" in warnings[0]
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"app-\S+ finished in \d+\.\d\ds: 2 jobs, 4 stages, 16 tasks \(task "
                        r"time p50 \d+\.\d{3}s, max \d+\.\d{3}s\), shuffle \d+\.\d KiB written / "
                        r"\d+\.\d KiB read, 0 failed task attempts; event log "
                        rf"{re.escape(small_disk)}/app-\S+\.jsonl cut short at "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                        r"\(No space left on device\): later events are not in it", last), last



@pytest.fixture
def master_on_small_disk(small_disk, tmp_path):
    """A real ``vega master`` whose work dir is on the small disk; yields its URL, the
    environment naming its secret, its work dir and the path of its output."""
    import json

    from proc_helpers import clean_env, kill_group, spawn_vega

    secret = tmp_path / "secret"
    secret.write_text(os.urandom(32).hex())
    os.chmod(secret, 0o600)
    env = clean_env(VEGA_SECRET_FILE=str(secret))
    ready, work_dir = tmp_path / "ready", os.path.join(small_disk, "master")
    out = str(tmp_path / "master.out")
    log = open(out, "wb")
    master = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                        "--work-dir", work_dir, "--event-log-dir", str(tmp_path / "events"),
                        "--ready-file", str(ready), env=env, stdin=subprocess.DEVNULL,
                        stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or master.poll() is not None, 60, "the master to start")
        url = f"vega://127.0.0.1:{json.loads(ready.read_text())['port']}"
        yield url, env, work_dir, out
    finally:
        kill_group(master)
        log.close()


def fill(disk, leave=0):
    """Fill ``disk`` with a file, then give back ``leave`` bytes of it."""
    filler = os.path.join(disk, "filler")
    with open(filler, "wb") as fh:
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    os.truncate(filler, max(0, os.path.getsize(filler) - leave))


def test_a_package_too_big_for_the_masters_disk_is_refused_saying_why(master_on_small_disk,
                                                                      tmp_path):
    """A cluster-mode submit whose job package does not fit on the master's disk: vega submit
    exits 1 naming the directory and 'No space left on device', the master logs it once and
    leaves no partial package behind (it used to keep the part written, filling the disk,
    and drop the connection silently: 'vega: error: connection to ... closed'), and it
    serves on (vega status)."""
    from proc_helpers import vega

    url, env, work_dir, out = master_on_small_disk
    (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))  # incompressible, > 2 MiB
    job = tmp_path / "job.py"
    job.write_text("print('never run')\n")
    done = vega("submit", "--master", url, "--deploy-mode", "cluster", "--files",
                str(tmp_path / "big.bin"), str(job), env=env)
    assert done.returncode == 1, done.stderr
    packages = os.path.join(work_dir, "packages")
    assert ("vega: error: the master refused the application: it could not store the job "
            "package ") in done.stderr
    assert f"in {packages}: No space left on device; free space there" in done.stderr
    assert os.listdir(packages) == []
    assert vega("status", "--master", url, "--json", env=env).returncode == 0
    with open(out) as fh:
        assert sum("refused the upload of 127.0.0.1:" in line for line in fh) == 1


def test_an_application_whose_output_fills_the_masters_disk_runs_on(master_on_small_disk,
                                                                    small_disk, tmp_path):
    """The master's disk fills up with what a running application relays (its task output
    and events): the job finishes with its exact output and exit 0, and the master says
    once per stream that it cannot keep it. Before, the write's OSError ended the driver's
    session: the master finished the application, and the job failed with 'the master did
    not take this application back'."""
    import json

    from proc_helpers import kill_group, spawn_vega, vega

    url, env, work_dir, out = master_on_small_disk
    worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                        "--port", "0", "--webui-port", "0", "--work-dir", str(tmp_path / "w"),
                        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def alive_workers():
            done = vega("status", "--master", url, "--json", env=env)
            return done.returncode == 0 and len(json.loads(done.stdout)["workers"])

        wait_for(alive_workers, 60, "the worker to register")
        fill(small_disk, leave=16 << 10)  # room for the job's package, not for its output
        job = tmp_path / "job.py"
        job.write_text("from vega_runtime import Context\n"
                       "def chatty(x):\n"
                       "    print('line', x, 'x' * 200)\n"
                       "    return x\n"
                       "with Context(app_name='chatty') as ctx:\n"
                       "    for _ in range(3):\n"
                       "        print('SUM', ctx.parallelize(range(400), 4).map(chatty).sum())\n")
        done = vega("submit", "--master", url, str(job), env=env)
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stdout.splitlines() if line.startswith("SUM")] == \
            ["SUM 79800"] * 3
        with open(out) as fh:
            warnings = [line for line in fh if "cannot keep the " in line]
        assert len(warnings) == 2, warnings
        assert all("No space left on device" in line for line in warnings)
    finally:
        kill_group(worker)


def test_kept_output_survives_a_rotation_that_cannot_reopen_and_resumes(tmp_path, caplog):
    """The master's copy of an application's output rotates on a disk with no inode left:
    the new file cannot be made, the writes after are dropped with one warning (none
    raises: a raise would end the driver's session) and keeping resumes once there is room."""
    import logging

    from vega_runtime.deploy.app_logs import KeptOutput
    from vega_runtime.deploy.log_files import RotatingOutput

    disk = tmp_path / "inodes"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=2", "tmpfs", str(disk)],
                   check=True)  # the root directory and one file
    try:
        path = str(disk / "output.log")
        with caplog.at_level(logging.WARNING, logger="vega_runtime.deploy.app_logs"):
            out = KeptOutput("the output of app-1", lambda: RotatingOutput(path, 100, 1))
            for i in range(5):
                out.write(b"%02d " % i + b"x" * 57 + b"\n")  # 61 bytes: a rotation each
            os.remove(path + ".1")  # room again
            out.write(b"kept\n")
            out.close()
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
            "cannot keep the output of app-1 on this disk"]
        with open(path, "rb") as fh:
            assert fh.read() == b"kept\n"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_driver_the_master_cannot_start_fails_instead_of_hanging_its_submitter(tmp_path):
    """Cluster deploy mode on a master whose disk has no inode left for the driver's output
    directory: the driver is marked failed (exit code 1, the reason in the master's log) and
    `vega submit` exits 1. Before, the OSError killed the thread starting the driver, which
    stayed 'submitted' for ever, and vega submit waited for it for ever."""
    import json

    from proc_helpers import clean_env, kill_group, spawn_vega, vega

    disk = tmp_path / "inodes"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=64", "tmpfs", str(disk)],
                   check=True)
    secret = tmp_path / "secret"
    secret.write_text(os.urandom(32).hex())
    os.chmod(secret, 0o600)
    env = clean_env(VEGA_SECRET_FILE=str(secret))
    ready, out = tmp_path / "ready", tmp_path / "master.out"
    log = open(out, "wb")
    master = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                        "--work-dir", str(disk / "master"), "--event-log-dir",
                        str(tmp_path / "events"), "--ready-file", str(ready), env=env,
                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or master.poll() is not None, 60, "the master to start")
        url = f"vega://127.0.0.1:{json.loads(ready.read_text())['port']}"
        job, go = tmp_path / "hello.py", tmp_path / "go"
        job.write_text("import os, sys, time\n"  # no Context: no worker needed
                       "while not os.path.exists(sys.argv[1]):\n"
                       "    time.sleep(0.02)\n"
                       "print('hello from the driver')\n")
        submit = ("submit", "--master", url, "--deploy-mode", "cluster", str(job), str(go))
        # the first driver runs on while the second is submitted: the package it runs from
        # (the second's too) is kept as long as it runs, and deleted when it ends
        first = spawn_vega(*submit, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)

        def running():
            result = vega("status", "--master", url, "--json", env=env)
            return result.returncode == 0 and [d["state"] for d in json.loads(
                result.stdout)["drivers"]] == ["running"]

        wait_for(running, 60, "the first driver to run")
        for n in itertools.count():  # the package is there, unpacked: only the driver's
            try:                     # own directory needs an inode now
                open(disk / f"filler-{n}", "w").close()
            except OSError:
                break
        second = vega(*submit, env=env, timeout=60)
        go.touch()
        out_first, err_first = first.communicate(timeout=60)
        assert (first.returncode, out_first) == (0, "hello from the driver\n"), err_first
        assert second.returncode == 1, second.stdout + second.stderr
        # the submitter is told why, not only the master's log
        assert re.search(r"vega: driver \S+ failed: it could not be started: \[Errno 28\] "
                         r"No space left on device", second.stderr), second.stderr
        drivers = json.loads(vega("status", "--master", url, "--json", env=env).stdout)["drivers"]
        assert [(d["state"], d["exit_code"]) for d in drivers] == [("finished", 0), ("failed", 1)]
        with open(out) as fh:
            assert any("failed: it could not be started: [Errno 28] No space left on device"
                       in line for line in fh)
    finally:
        kill_group(master)
        log.close()
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_daemon_started_on_a_full_disk_says_which_and_what_to_do(small_disk, tmp_path):
    """vega master and vega worker with their work dirs on a full disk exit 1 naming the
    file they could not write and what to do. Before: 'internal error: OSError: [Errno 28]
    No space left on device ... please report it'."""
    from proc_helpers import clean_env, vega
    from vega_runtime.net.connection import create_secret_file

    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    fill(small_disk)
    env = clean_env(VEGA_SECRET_FILE=secret)
    for role, args in (("master", ["master"]), ("worker", ["worker", "vega://127.0.0.1:1"])):
        work_dir = os.path.join(small_disk, role)
        result = vega(*args, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                      "--work-dir", work_dir, env=env, timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.splitlines() == [
            f"vega: error: cannot start the {role} in {work_dir}: cannot write "
            f"{work_dir}/{role}.lock (No space left on device): free space on its disk, or "
            "give it a work dir it can write (--work-dir)"], result.stderr
    # in the background its error cannot reach its output file: it says the disk is full
    work_dir = os.path.join(small_disk, "background")
    result = vega("start-master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                  "--work-dir", work_dir, env=env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines()[:2] == [
        f"vega: error: the master did not start: it could not write why to "
        f"{work_dir}/master.out: that disk is full (0 bytes free)",
        "Free space on it, or give the daemon another work dir (--work-dir)"], result.stderr


def test_a_recovery_save_on_a_full_disk_leaves_no_partial_state_file(master_on_small_disk,
                                                                      small_disk, tmp_path):
    """The master's disk is full when its state changes (a worker is lost): the save fails,
    said once, and leaves no ``recovery/state.json.tmp`` behind (the part written stayed,
    holding the space the next save needed); once space is freed the next tick writes the
    state, the worker lost."""
    import json
    import signal

    from proc_helpers import kill_group, spawn_vega

    url, env, work_dir, out = master_on_small_disk
    recovery = os.path.join(work_dir, "recovery")
    worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                        "--port", "0", "--webui-port", "0", "--work-dir", str(tmp_path / "w"),
                        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def workers_saved():
            try:
                with open(os.path.join(recovery, "state.json")) as fh:
                    return {w["state"] for w in json.load(fh)["workers"].values()}
            except (OSError, ValueError):
                return None

        wait_for(lambda: workers_saved() == {"alive"}, 60, "the worker in the saved state")
        fill(small_disk)
        os.killpg(worker.pid, signal.SIGKILL)

        def said():
            with open(out) as fh:
                return [line for line in fh if "cannot write the recovery state" in line]

        wait_for(said, 30, "the master to say it cannot save")
        assert "No space left on device" in said()[0]
        assert sorted(os.listdir(recovery)) == ["state.json"]
        os.remove(os.path.join(small_disk, "filler"))
        wait_for(lambda: workers_saved() == {"lost"}, 30, "the lost worker in the saved state")
        assert sorted(os.listdir(recovery)) == ["state.json"]
    finally:
        kill_group(worker)
