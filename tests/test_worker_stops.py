"""What a driver is told when the workers under its application stop on purpose (SIGTERM,
vega stop-workers) while it runs: real master, worker and vega submit on loopback."""

import os
import signal
import subprocess

import pytest

from proc_helpers import spawn_vega, wait_for
from test_master_restart_status import Cluster


def test_a_job_whose_only_worker_was_stopped_says_it_stopped_not_that_none_registered(
        tmp_path):
    """The only worker is stopped (SIGTERM) while a job runs on it: the job waits, and its
    driver says the worker registered with the master has stopped and how to get one back;
    before, it said 'no workers are registered with the master yet', sending the operator
    after a registration problem."""
    cluster = Cluster(tmp_path)
    try:
        worker = cluster.worker("only")
        wait_for(lambda: cluster.worker_states() == {"only": "alive"}, what="the worker")
        job = tmp_path / "job.py"
        job.write_text("import time\nfrom vega_runtime import Context\n"
                       "with Context(app_name='orphaned') as ctx:\n"
                       "    ctx.parallelize(range(2), 2).map(lambda x: time.sleep(60)).count()\n")
        driver = spawn_vega("submit", "--master", cluster.url, str(job), env=cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
        cluster.procs.append(driver)
        lines = iter(driver.stdout.readline, "")
        next(line for line in lines if line.startswith("stage 0 started"))
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(10) == 0
        waiting = next(line for line in lines if "waiting:" in line)
        assert waiting == (
            "vega: WARNING waiting: no worker is alive: the 1 registered with the master has "
            "stopped (vega status shows it dead): the job will start when a worker registers "
            "(vega start-workers, or vega worker vega://MASTER:PORT)\n")
    finally:
        cluster.close()


@pytest.mark.parametrize("role", ["master", "worker"])
def test_a_work_dir_deleted_under_a_running_daemon_is_made_again_and_held(tmp_path, role):
    """rm -rf of a running daemon's work dir: within seconds the daemon makes it again with
    its lock and log, so a second daemon started there is refused naming the first (before,
    it started, sharing the first's work dir, and the first logged into a deleted file)."""
    import shutil

    from proc_helpers import vega

    cluster = Cluster(tmp_path)
    try:
        first = cluster.worker("w1") if role == "worker" else cluster.master
        work_dir = tmp_path / ("w1" if role == "worker" else "master")
        wait_for(lambda: cluster.worker_states().get("w1") == "alive" if role == "worker"
                 else (work_dir / "master.log").exists(), what=f"the {role} to run")
        shutil.rmtree(work_dir)
        wait_for((work_dir / f"{role}.lock").exists, timeout=30,
                 what=f"the {role} to make its work dir again")
        args = ["worker", cluster.url] if role == "worker" else ["master"]
        second = vega(*args, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                      "--work-dir", str(work_dir), env=cluster.env, timeout=60)
        assert second.returncode == 1, second.stdout + second.stderr
        assert (f"another {role} (pid {first.pid}) uses that work dir") in second.stderr
        if role == "worker":  # one started by hand: stop-workers needs a cluster file
            assert f"stop it (kill {first.pid}, or vega stop-workers for one a cluster " \
                "file started)" in second.stderr, second.stderr
        log_file = work_dir / f"{role}.log"
        wait_for(lambda: log_file.exists() and "was deleted while the" in log_file.read_text(),
                 what=f"the {role}'s log to be written again")
    finally:
        cluster.close()


def test_two_workers_started_at_once_in_one_work_dir_name_each_other(tmp_path):
    """The second of two daemons started together finds the work dir locked before the first
    has written its pid: it waits for the pid to name it (it said "pid unknown" and "kill
    unknown"), and without one says the other is starting."""
    import fcntl
    import threading

    from vega_runtime.deploy.daemon_main import hold_work_dir
    from vega_runtime.errors import DaemonStartFailed
    from vega_runtime.processes import work_dir_lock

    tmp_path.chmod(0o700)
    lock = os.open(work_dir_lock(str(tmp_path), "worker"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken, no pid written yet
        with pytest.raises(DaemonStartFailed) as refused:
            hold_work_dir(str(tmp_path), "worker")
        assert "another worker, starting at this moment, uses that work dir; stop it (pgrep " \
            "-af 'vega worker' finds it;" in str(refused.value), refused.value
        writer = threading.Timer(0.1, os.pwrite, (lock, b"4242\n", 0))
        writer.start()
        with pytest.raises(DaemonStartFailed) as refused:
            hold_work_dir(str(tmp_path), "worker")
        writer.join()
        assert "another worker (pid 4242) uses that work dir; stop it (kill 4242, or vega " \
            "stop-workers" in str(refused.value), refused.value
    finally:
        os.close(lock)
