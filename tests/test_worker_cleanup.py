"""Worker work dirs of finished applications, and job packages no application uses, are
deleted after a TTL."""

import os
import time

import pytest

from vega_runtime.config import Config
from vega_runtime.deploy.worker import Worker


@pytest.fixture
def worker(tmp_path):
    """A worker (not connected to any master) whose work dir is ``tmp_path``, TTL 100 s."""
    conf = Config.load(environ={}, cli={
        "vega.worker.host": "127.0.0.1", "vega.worker.port": 0, "vega.worker.cores": 1,
        "vega.worker.memory": "1g", "vega.worker.work_dir": str(tmp_path),
        "vega.worker.cleanup.app_data_ttl": 100})
    made = Worker(conf, "127.0.0.1", 1, None, "", use_forkserver=False)
    yield made
    made.shuffle.stop()


def test_finished_application_dirs_are_cleaned_after_the_ttl(worker, tmp_path):
    """Old app dirs go; recent ones, running apps' and other files stay."""
    for name in ("app-old", "app-recent", "app-running", "packages"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "exec-1.log").write_text("x")
    old = time.time() - 1000
    for name in ("app-old", "app-running", "packages"):
        for path in (tmp_path / name / "exec-1.log", tmp_path / name):
            os.utime(path, (old, old))
    assert worker.clean_work_dirs(time.time(), keep={"app-running"}) == ["app-old"]
    assert sorted(os.listdir(tmp_path)) == ["app-recent", "app-running", "packages"]


def test_what_was_written_while_the_clock_was_ahead_ages_from_when_it_is_seen(worker,
                                                                              tmp_path):
    """An application's executor log and a job package last changed a year from now
    (written while the clock was ahead, then set back): kept until the clock caught up
    with them. The cleaner takes them as changed when it first sees them: they go a TTL
    (100 s) later."""
    year = 365 * 24 * 3600.0
    (tmp_path / "app-ahead").mkdir()
    (tmp_path / "app-ahead" / "exec-1.log").write_text("x")
    package = tmp_path / "packages" / ("a" * 64)
    package.mkdir(parents=True)
    ahead = time.time() + year
    for path in (tmp_path / "app-ahead" / "exec-1.log", tmp_path / "app-ahead", package):
        os.utime(path, (ahead, ahead))
    now = time.time()
    assert worker.clean_work_dirs(now, keep=set()) == []
    assert os.path.getmtime(tmp_path / "app-ahead" / "exec-1.log") <= now + 1
    assert worker.clean_work_dirs(now + 101, keep=set()) == ["app-ahead", f"packages/{'a' * 64}"]
    assert os.listdir(tmp_path / "packages") == []


def test_job_packages_no_running_application_uses_are_cleaned_after_the_ttl(worker, tmp_path):
    """A package unused past the TTL goes, unless an application running here uses it."""
    unused, running, recent = ("a" * 64, "b" * 64, "c" * 64)
    for sha in (unused, running, recent):
        (tmp_path / "packages" / sha).mkdir(parents=True)
        (tmp_path / "packages" / sha / "job.py").write_text("x")
    old = time.time() - 1000
    for sha in (unused, running):
        os.utime(tmp_path / "packages" / sha, (old, old))
    worker.packages_of.update({"app-running": running, "app-done": unused})
    assert worker.clean_work_dirs(time.time(), keep={"app-running"}) == [f"packages/{unused}"]
    assert sorted(os.listdir(tmp_path / "packages")) == [running, recent]
    assert worker.packages_of == {"app-running": running}


def test_parts_of_packages_a_killed_worker_was_fetching_are_cleaned_after_the_ttl(worker,
                                                                                 tmp_path):
    """A package's zip half fetched and its directory half unpacked, by a worker killed
    then (up to a whole package each): gone once unwritten past the TTL; a fetch going on
    now keeps its part."""
    packages = tmp_path / "packages"
    packages.mkdir()
    sha = "d" * 64
    stale_zip, stale_dir = packages / f"{sha}.41.7.zip.tmp", packages / f"{sha}.tmp-41-7"
    fresh_zip = packages / f"{sha}.42.7.zip.tmp"
    for path in (stale_zip, fresh_zip):
        path.write_bytes(b"PK")
    stale_dir.mkdir()
    (stale_dir / "job").write_text("x")
    old = time.time() - 1000
    for path in (stale_zip, stale_dir):
        os.utime(path, (old, old))
    worker.clean_work_dirs(time.time(), keep=set())
    assert os.listdir(packages) == [fresh_zip.name]


SHUFFLING_JOB = """
import os, sys, time
from operator import add
from vega_runtime import Context
with Context(app_name='shuffled') as ctx:
    pairs = ctx.parallelize(range(100), 2).map(lambda x: (x % 3, x))
    print('SUMS', sorted(pairs.reduce_by_key(add).collect()), flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.05)
"""


def _shuffled_and_waiting(cluster, tmp_path):
    """A driver on ``cluster`` whose job has shuffled and waits for the file ``go``: the
    driver, ``go``, the application's directory on worker ``w`` and the files in it
    (map output, spills, job files) but its executors' logs."""
    import subprocess

    from proc_helpers import spawn_vega, wait_for

    wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the worker")
    go, job = tmp_path / "go", tmp_path / "job.py"
    job.write_text(SHUFFLING_JOB)
    driver = spawn_vega("submit", "--master", cluster.url, str(job), str(go), env=cluster.env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
    cluster.procs.append(driver)
    lines = iter(driver.stdout.readline, "")
    assert next(line for line in lines if line.startswith("SUMS")) == \
        "SUMS [(0, 1683), (1, 1617), (2, 1650)]\n"
    [app_dir] = (tmp_path / "w").glob("app-*")
    scratch = sorted(str(p) for p in app_dir.rglob("*") if p.is_file() and p.parent != app_dir)
    assert any("/shuffle/" in path for path in scratch), scratch
    return driver, go, app_dir, scratch


def test_a_restarted_worker_deletes_the_shuffle_output_its_earlier_run_left(tmp_path):
    """A worker SIGKILLed while an application that shuffled still runs, started again in its
    work dir: before it registers it deletes that application's shuffle output (nobody can
    read it: the executors and shuffle service that held it are gone; before, it stayed
    until --work-dir-ttl, 1 h); the executors' logs stay."""
    import signal

    from proc_helpers import wait_for
    from test_master_restart_status import Cluster

    cluster = Cluster(tmp_path)
    try:
        first = cluster.worker("w")
        driver, go, app_dir, earlier = _shuffled_and_waiting(cluster, tmp_path)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        wait_for(lambda: cluster.worker_states().get("w") != "alive", what="the worker lost")
        cluster.worker("w")
        wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the new worker")
        assert [path for path in earlier if os.path.exists(path)] == []
        assert (app_dir / "exec-1.log").exists()
        go.touch()
        assert driver.wait(30) == 0
    finally:
        cluster.close()


def test_a_stopped_worker_leaves_no_shuffle_output_behind(tmp_path):
    """A worker stopped (SIGTERM, as vega stop-workers and stop-cluster stop it) while an
    application that shuffled still runs deletes that application's shuffle output once
    its executors are gone: nobody can read it any more.  Before, it stayed on the disk of
    a stopped cluster, found while stopping a master and its workers under running
    applications, until that worker was started again in the same work dir; the executors'
    logs stay."""
    import signal

    from test_master_restart_status import Cluster

    cluster = Cluster(tmp_path)
    try:
        worker = cluster.worker("w")
        driver, go, app_dir, scratch = _shuffled_and_waiting(cluster, tmp_path)
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(30) == 0
        assert [path for path in scratch if os.path.exists(path)] == []
        assert (app_dir / "exec-1.log").exists()
        go.touch()
        assert driver.wait(30) == 0
    finally:
        cluster.close()


def test_the_shuffle_output_of_an_application_that_ended_while_the_master_was_down_goes(
        tmp_path):
    """An application that shuffled and ended while its master was down (SIGKILLed, then
    started again on its recovery state): nobody told its worker, so its shuffle output
    stayed until --work-dir-ttl (1 h).  The worker says, as it registers again, which
    applications' data it holds with no executor running; once the master knows such an
    application ended (here when recovery ends, 15 worker timeouts after the restart,
    without its driver coming back), it tells the worker, which deletes the data as for an
    application that ends while the master is up; the executors' logs stay."""
    import signal

    from proc_helpers import wait_for
    from test_master_restart_status import Cluster

    settings = tmp_path / "cluster.yaml"
    settings.write_text("vega.worker.timeout: 1.5\nvega.worker.heartbeat_interval: 0.3\n")
    cluster = Cluster(tmp_path, master_args=["--config", str(settings)])
    try:
        cluster.worker("w", args=["--config", str(settings)])
        driver, go, app_dir, scratch = _shuffled_and_waiting(cluster, tmp_path)
        os.killpg(cluster.master.pid, signal.SIGKILL)
        cluster.master.wait(10)
        go.touch()  # the driver ends, and its executors, while the master is down
        assert driver.wait(30) == 0
        wait_for(lambda: "executor exec-1 of " in (tmp_path / "w" / "worker.log").read_text(),
                 timeout=30, what="the executor to exit")
        assert all(os.path.exists(path) for path in scratch)
        cluster.master = cluster._start_master()
        wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the worker back")
        wait_for(lambda: [p for p in scratch if os.path.exists(p)] == [], timeout=40,
                 what="the ended application's shuffle output to be deleted")
        assert (app_dir / "exec-1.log").exists()
    finally:
        cluster.close()
