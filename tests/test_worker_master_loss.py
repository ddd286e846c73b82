"""Long-lived workers and a master that dies: real daemons, SIGKILL, restarts on the same port.

A worker counts its ``--death-timeout`` from its last contact with the master, not from
its own start: a worker older than the timeout survives a master restart, and one whose
master stays away for most of the timeout is still there when it returns.  Only a master
gone for longer than the timeout stops the worker.  Waits are for conditions (a ready
file, a log line, ``vega status``), each with a deadline.
"""

import os
import re
import time

import pytest

from proc_helpers import read_text, wait_for
from test_cluster_e2e import WHERE_JOB, Cluster, expected_pairs, line_value, write_job
from test_worker_packages import HELD_JOB

DEATH_TIMEOUT = 4.0
#: the master's absence in the "most of the timeout" test: restarted this long after its
#: kill, it listens about 0.3-1.3 s later (measured here), then the worker registers within
#: its backoff cap (death timeout / 8)
LONG_DEATH_TIMEOUT, AWAY = 6.0, 3.5


@pytest.fixture
def make_cluster(tmp_path):
    """``make(death_timeout)``: a master (recovery in its work dir) and one worker with
    that death timeout; stopped after the test."""
    made = []

    def make(death_timeout=DEATH_TIMEOUT):
        own = Cluster(tmp_path / f"cluster-{len(made)}", worker_timeout=3)
        made.append(own)
        own.worker = own.start_worker("worker-long", args=("--death-timeout", str(death_timeout),
                                                           "--webui-port", "0"))
        own.worker.started = time.monotonic()
        own.death_timeout = death_timeout
        wait_for(lambda: time.monotonic() - own.worker.started > death_timeout + 1,
                 death_timeout + 5, "the worker to be older than its death timeout")
        return own

    yield make
    for own in made:
        own.stop()


def registrations(worker) -> int:
    return len(re.findall(r"registered with master \S+ as", read_text(worker.log_path)))


def wait_alive_again(cluster, registered_before: int, timeout: float) -> None:
    """Wait until the worker has registered again and the (new) master shows it alive."""
    worker = cluster.worker

    def back():
        assert worker.poll() is None, ("the worker exited: "
                                       + read_text(worker.log_path)[-2000:])
        return registrations(worker) > registered_before
    wait_for(back, timeout, "the worker to register with the restarted master")
    wait_for(lambda: cluster.worker_states().get(worker.worker_id) == "alive", 15,
             "the restarted master to show the worker alive")


def run_job(cluster, tmp_path) -> None:
    result = cluster.submit(write_job(tmp_path, "where.py", WHERE_JOB))
    assert result.returncode == 0, result.stderr
    assert line_value(result.stdout.splitlines(), "RESULT") == expected_pairs()


def test_a_worker_older_than_its_death_timeout_survives_a_master_restart(make_cluster, tmp_path):
    """Worker up longer than --death-timeout; master SIGKILLed and restarted at once on its
    port: the worker re-registers (same process) and a job runs on it."""
    cluster = make_cluster()
    worker = cluster.worker
    run_job(cluster, tmp_path)  # a job before, so the worker has had executors and an app
    before = registrations(worker)
    cluster.kill_master()
    cluster.restart_master()
    wait_alive_again(cluster, before, DEATH_TIMEOUT)
    run_job(cluster, tmp_path)
    assert worker.poll() is None
    assert "stopping" not in read_text(worker.log_path)


def test_a_master_away_for_most_of_the_death_timeout_finds_the_worker_still_there(make_cluster,
                                                                                 tmp_path):
    """Master SIGKILLed, restarted 3.5 s later (listening about 4-5 s after the kill, of a
    6 s death timeout): the worker waited for it, re-registers and runs a job."""
    cluster = make_cluster(LONG_DEATH_TIMEOUT)
    worker = cluster.worker
    before = registrations(worker)
    cluster.kill_master()
    killed = time.monotonic()
    wait_for(lambda: "unreachable" in read_text(worker.log_path), AWAY,
             "the worker to notice that the master is gone")
    wait_for(lambda: time.monotonic() - killed >= AWAY, AWAY + 5, f"{AWAY} s without a master")
    cluster.restart_master()
    away = time.monotonic() - killed
    assert away < LONG_DEATH_TIMEOUT - 0.5, \
        f"the master took until {away:.1f}s after its kill to listen; the test proves nothing"
    wait_alive_again(cluster, before, LONG_DEATH_TIMEOUT)
    run_job(cluster, tmp_path)
    assert worker.poll() is None


def test_a_master_away_longer_than_the_death_timeout_stops_the_worker(make_cluster, tmp_path):
    """Master SIGKILLed for good while an application runs: the worker stops about
    --death-timeout after the loss (not before), saying why, with exit code 1, and takes the
    application's executor with it."""
    cluster = make_cluster()
    worker = cluster.worker
    held = cluster.spawn_driver(write_job(tmp_path, "held.py", HELD_JOB), str(tmp_path / "never"))
    wait_for(lambda: held.poll() is not None or "FIRST 45\n" in held.lines, 60,
             "the held application's first job")
    assert cluster.executors(worker.work_dir + os.sep)
    cluster.kill_master()
    killed = time.monotonic()
    wait_for(lambda: worker.poll() is not None, DEATH_TIMEOUT + 10, "the worker to stop")
    assert time.monotonic() - killed >= DEATH_TIMEOUT - 0.5
    assert worker.returncode == 1
    assert re.search(r"unreachable for \d+s.*stopping", read_text(worker.log_path))
    wait_for(lambda: not cluster.executors(worker.work_dir + os.sep), 5,
             "the worker's executors to stop with it")


SLEEPS_JOB = """
    import time
    from vega_runtime import Context

    with Context(app_name="sleeps") as ctx:
        print("START", flush=True)
        ctx.parallelize(range(2), 2).map(lambda x: time.sleep(60) or x).collect()
"""


def test_a_job_fails_at_once_when_the_cluster_is_stopped_under_it(tmp_path):
    """The worker, then the master, are stopped (SIGTERM, as vega stop-cluster does) while a
    job runs: the master tells the driver it is stopping, and the driver, left with no
    executor, fails the job at once naming that cause (exit 3). Before, it waited
    vega.master.reconnect_timeout (60 s) for the master and then said only that it could
    not reach it."""
    import signal

    cluster = Cluster(tmp_path / "cluster")
    try:
        worker = cluster.start_worker("w")
        driver = cluster.spawn_driver(write_job(tmp_path, "sleeps.py", SLEEPS_JOB))
        wait_for(lambda: "START\n" in driver.lines and cluster.executors()
                 or driver.poll() is not None, 60, "the job to run")
        for daemon in (worker, cluster.master):
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(30) == 0
        assert driver.wait(30) == 3, "".join(driver.err)
        failed = [line for line in driver.err if line.startswith("vega: job failed:")]
        assert failed == [f"vega: job failed: the master at {cluster.url} was stopped while "
                          "this job ran (vega stop-master, stop-cluster or a SIGTERM), and "
                          "this application has no executor left to run its tasks; start the "
                          "cluster again (vega start-cluster, or vega start-master and "
                          "start-workers) and submit the job again\n"], "".join(driver.err)
    finally:
        cluster.stop()
