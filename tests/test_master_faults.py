"""The master under faults of its own: an unwritable recovery directory, a corrupt
state file, a worker asking for a package the master lacks, a driver killed outright.  Real daemons, each a
process of its own (the ``Cluster`` of test_cluster_e2e)."""

import os
import re
import shutil
import signal
import time

import pytest

from vega_runtime.net.connection import Connection
from vega_runtime.net.messages import FetchPackage, PackageQuery, PackageStatus

from proc_helpers import read_text, wait_for
from test_cluster_e2e import WHERE_JOB, Cluster, expected_pairs, line_value, write_job


def _replace_dir_with_file(path: str) -> bool:
    """Put a file where the directory ``path`` is, while the master may be writing in it: the
    directory is renamed aside (atomic; removing it file by file races with the master's
    writes), and the file created only if the master has not made the directory again."""
    if os.path.isdir(path):
        aside = f"{path}.aside-{time.monotonic_ns()}"
        os.rename(path, aside)
        shutil.rmtree(aside, ignore_errors=True)  # a write may still land in it
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False  # the master made the directory again: once more
    with os.fdopen(fd, "w") as fh:
        fh.write("a file where the recovery directory was")
    return True


def test_an_unwritable_recovery_dir_does_not_stop_worker_failure_detection(tmp_path):
    """Recovery writes fail (its directory's path is a file: this stops root too): both
    silent workers are still marked lost, one after the other, a job runs on the third,
    and the state is written again once the directory can be written."""
    own = Cluster(tmp_path / "c", worker_timeout=3)
    stopped = []
    try:
        first, second = own.start_worker("worker-a"), own.start_worker("worker-b")
        third = own.start_worker("worker-c")
        recovery = os.path.join(own.master_dir, "recovery")
        wait_for(lambda: _replace_dir_with_file(recovery), 10,
                 "the recovery directory to be replaced by a file")
        for victim in (first, second):  # the second proves the heartbeat checker survived
            victim.send_signal(signal.SIGSTOP)
            stopped.append(victim)
            wait_for(lambda: own.worker_states().get(victim.worker_id) == "lost", 3 + 1 + 5,
                     f"the master to mark {victim.worker_id} lost")
        assert own.worker_states()[third.worker_id] == "alive"
        master_log = read_text(own.master_log)
        assert "ERROR" in master_log and "cannot write the recovery state" in master_log

        result = own.submit(write_job(tmp_path, "where.py", WHERE_JOB))
        assert result.returncode == 0, result.stderr
        assert line_value(result.stdout.splitlines(), "RESULT") == expected_pairs()

        os.remove(recovery)  # writable again: the next tick writes the state
        state = os.path.join(recovery, "state.json")
        wait_for(lambda: os.path.exists(state), 5, "the recovery state to be written again")
    finally:
        for proc in stopped:
            proc.send_signal(signal.SIGCONT)
        own.stop()


@pytest.mark.parametrize("content", [
    b"\x00\x01 not json",
    # parses, but is not what a master writes: before, the master exited at its start
    # ("TypeError: cannot convert dictionary update sequence element #0 to a sequence")
    b'{"apps": ["app-1"], "workers": {}, "drivers": []}'])
def test_a_corrupt_state_file_at_start_is_kept_aside_and_the_master_serves(tmp_path, content):
    """Garbage in state.json: the master starts, keeps the file as state.json.corrupt-*,
    says so at ERROR, and registers workers."""
    recovery = tmp_path / "c" / "master" / "recovery"
    recovery.mkdir(parents=True)
    (recovery / "state.json").write_bytes(content)
    own = Cluster(tmp_path / "c")
    try:
        worker = own.start_worker("worker-a")
        assert own.worker_states() == {worker.worker_id: "alive"}
        kept = [n for n in os.listdir(recovery) if n.startswith("state.json.corrupt-")]
        assert len(kept) == 1 and (recovery / kept[0]).read_bytes() == content
        assert "ERROR" in read_text(own.master_log) and kept[0] in read_text(own.master_log)
    finally:
        own.stop()


def test_a_package_the_master_lacks_is_a_clean_not_found(tmp_path):
    """FetchPackage of an unknown sha256: PackageStatus(present=False), and the same
    connection goes on serving."""
    own = Cluster(tmp_path / "c")
    try:
        conn = Connection.connect("127.0.0.1", own.port, own.secret)
        try:
            conn.send(FetchPackage("0" * 64))
            assert conn.recv() == PackageStatus("0" * 64, False)
            conn.send(PackageQuery("1" * 64))
            assert conn.recv() == PackageStatus("1" * 64, False)
        finally:
            conn.close()
        assert own.master.poll() is None
    finally:
        own.stop()


def test_a_worker_launching_for_a_package_the_master_lacks_keeps_its_session(tmp_path):
    """An application names a package the master never received: the worker's fetch
    gets a clean 'not found', it reports the executor exited, and it stays registered
    (one registration in its log, alive in the status)."""
    from vega_runtime import __version__
    from vega_runtime.net.messages import (ExecutorRemoved, RegisterApplication,
                                           RegisteredApplication)
    from vega_runtime.versions import python_version

    own = Cluster(tmp_path / "c")
    try:
        worker = own.start_worker("worker-a")
        driver = Connection.connect("127.0.0.1", own.port, own.secret)
        try:
            driver.send(RegisterApplication("no-package", "127.0.0.1", 1, 1, 0, 1 << 20,
                                            python_version(), __version__, "0" * 64))
            assert isinstance(driver.recv(), RegisteredApplication)
            driver.sock.settimeout(30)
            message = driver.recv()
            while not isinstance(message, ExecutorRemoved):
                message = driver.recv()
            assert "could not be fetched" in message.reason
        finally:
            driver.close()
        assert own.worker_states() == {worker.worker_id: "alive"}
        assert read_text(worker.log_path).count("registered with master") == 1
    finally:
        own.stop()


HOLDING_JOB = """
import os, sys, time
from vega_runtime import Context

with Context(app_name=sys.argv[1]) as ctx:
    print("READY", ctx.parallelize(range(10), 1).sum(), flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def _one_core_held_and_awaited(own, tmp_path):
    """A worker of one core on ``own``, the application "first" holding it (its job waits
    for the ``release`` file) and "second" waiting for it: (first, second, release)."""
    own.start_worker("worker-a")
    job = write_job(tmp_path, "hold.py", HOLDING_JOB)
    release = str(tmp_path / "release")
    first = own.spawn_driver(job, "first", release)
    wait_for(lambda: "READY 45\n" in first.lines, 60, "the first application's job")
    second = own.spawn_driver(job, "second", release)
    wait_for(lambda: any("waiting" in line.lower() for line in second.err), 30,
             "the second application to wait for the core")
    return first, second, release


def _states(own):
    return {a["name"]: a["state"] for a in own.status()["applications"]}


def _runs_once_the_core_is_free(second, release):
    wait_for(lambda: "READY 45\n" in second.lines, 20, "the second application's job")
    open(release, "w").close()
    assert second.wait(30) == 0, "".join(second.err)


def test_a_sigkilled_drivers_application_ends_at_once_and_its_core_goes_to_the_next(tmp_path):
    """A driver killed outright ends its connection without unregistering, as a driver cut
    off by the network does; the master probes its port, finds it refused and ends the
    application there and then (not after the 2 worker timeouts, 30 s here, that a driver
    which may come back gets), and the application waiting for the one core starts."""
    own = Cluster(tmp_path / "c", worker_timeout=15)
    try:
        first, second, release = _one_core_held_and_awaited(own, tmp_path)
        os.killpg(first.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: _states(own)["first"] == "finished", 20, "the first application to end")
        assert time.monotonic() - killed < 10
        assert "driver is gone (its port refuses connections)" in read_text(own.master_log)
        _runs_once_the_core_is_free(second, release)
    finally:
        own.stop()


def test_a_stopped_drivers_application_ends_after_the_driver_timeout(tmp_path):
    """A driver that stops answering without its connections closing (SIGSTOP; a host cut
    off past the peer timeout looks the same to the master until then) kept its application
    running, and the core it held, for as long as it was stopped (still running 240 s after
    a SIGSTOP): the master had no news it could miss.  Drivers send their master a
    heartbeat, and the master ends the application of one it has not heard from for
    vega.master.driver_timeout (2 s here; 600 s by default, as long as Spark's executors
    wait for a silent driver); the application waiting for the core starts."""
    settings = tmp_path / "master.yaml"
    settings.write_text("vega.master.driver_timeout: 2\n")
    own = Cluster(tmp_path / "c", worker_timeout=15, master_args=["--config", str(settings)])
    try:
        first, second, release = _one_core_held_and_awaited(own, tmp_path)
        os.kill(first.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        wait_for(lambda: _states(own)["first"] == "finished", 30, "the first application to end")
        # timed from the last heartbeat the master heard: one interval (0.2 s, a tenth of the
        # timeout) before the stop, more on two busy cores (the driver's sender thread late)
        assert 1 <= time.monotonic() - stopped < 10
        silence = re.search(r"application \S+ finished: its driver sent nothing for ([\d.]+)s",
                            read_text(own.master_log))
        assert silence and float(silence.group(1)) >= 2, read_text(own.master_log)
        _runs_once_the_core_is_free(second, release)
        os.kill(first.pid, signal.SIGCONT)  # it ends (its job released), cleaning up
        first.wait(30)
    finally:
        own.stop()


def test_a_driver_resumed_after_its_application_ended_says_why_its_job_failed(tmp_path):
    """A driver stopped mid-job past vega.master.driver_timeout, then resumed (SIGCONT):
    its application has ended, and the master will not take it back; its job fails
    saying so, with the master's reason (before: 'cannot reach the master ...: connection
    lost ..., and the master did not take this application back. Check that it runs',
    exit 3, though the master ran and had answered)."""
    settings = tmp_path / "master.yaml"
    settings.write_text("vega.master.driver_timeout: 2\n")
    own = Cluster(tmp_path / "c", worker_timeout=15, master_args=["--config", str(settings)])
    try:
        own.start_worker("worker-a")
        job = write_job(tmp_path, "slow.py", SLOW_TASK_JOB)
        driver = own.spawn_driver(job)
        wait_for(lambda: any("stage 0 started" in line for line in driver.err), 60,
                 "the job's stage")
        os.kill(driver.pid, signal.SIGSTOP)
        wait_for(lambda: [a["state"] for a in own.status()["applications"]] == ["finished"],
                 30, "the application to end")
        os.kill(driver.pid, signal.SIGCONT)
        assert driver.wait(60) == 1, "".join(driver.err)
        err = "".join(driver.err)
        assert "the master refused the application: it did not take application app-" in err
        assert "has finished: its driver sent the master nothing for " in err
        assert "(vega.master.driver_timeout is 2s: raise it for a driver paused longer)" in err
        assert "RESULT" not in "".join(driver.lines)
    finally:
        own.stop()


SLOW_TASK_JOB = """
import time
from vega_runtime import Context

with Context(app_name="slow") as ctx:
    print("RESULT", ctx.parallelize([0], 1).map(lambda x: time.sleep(8) or x).collect())
"""
