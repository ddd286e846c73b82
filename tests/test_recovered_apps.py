"""Applications a restarted master knows only from its recovery state, before their drivers
are back: ``vega logs --follow`` waits for them, and one whose driver died while the master
was down ends within seconds.  Real daemons and client-mode drivers on loopback."""

import os
import signal
import subprocess
import threading

import pytest

from proc_helpers import spawn_vega, vega, wait_for
from test_master_restart_status import Cluster

#: a job whose one task prints HELD, then waits for the file argv[1]
HELD_JOB = ("import os, sys, time\nfrom vega_runtime import Context\n"
            "def held(x, go=sys.argv[1]):\n"
            "    if x == 0:\n"
            "        print('HELD', flush=True)\n"
            "    while not os.path.exists(go):\n"
            "        time.sleep(0.05)\n"
            "    return x\n"
            "with Context(app_name='held') as ctx:\n"
            "    print('SUM', ctx.parallelize(range(10), 1).map(held).sum(), flush=True)\n")
#: the line the task prints, as stored
HELD = "[127.0.0.1 exec-1 0.0] HELD\n"


@pytest.fixture
def held(tmp_path):
    """A cluster of one worker and a driver whose job holds its one core until ``go``;
    yields ``(cluster, driver, app_id, go)`` once the task has printed HELD and the master
    has stored it."""
    cluster = Cluster(tmp_path)
    try:
        cluster.worker("w")
        wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the worker")
        go, job = tmp_path / "go", tmp_path / "job.py"
        job.write_text(HELD_JOB)
        driver = spawn_vega("submit", "--master", cluster.url, str(job), str(go),
                            env=cluster.env, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "driver.err", "w"), text=True,
                            start_new_session=True)
        cluster.procs.append(driver)
        [app_id] = wait_for(lambda: [a["id"] for a in apps(cluster) if a["executors"] == 1],
                            60, "the job to run")
        wait_for(lambda: "HELD" in vega("logs", "--master", cluster.url, app_id,
                                        env=cluster.env).stdout, 60, "HELD stored")
        yield cluster, driver, app_id, go
    finally:
        cluster.close()


def apps(cluster):
    return (cluster.status() or {"applications": []})["applications"]


def state_of(cluster, app_id):
    return {a["id"]: a["state"] for a in apps(cluster)}.get(app_id)


def test_logs_follow_waits_for_a_recovered_application_whose_driver_is_not_back(held):
    """The master restarts while the driver is stopped (SIGSTOP): ``vega logs --follow``
    prints what is stored and waits; the driver comes back, its job ends, and the follower
    ends, exit 0.  Before, it ended at once saying ``finished``
    while the application ran on."""
    cluster, driver, app_id, go = held
    os.killpg(driver.pid, signal.SIGSTOP)
    try:
        cluster.restart_master()
        assert state_of(cluster, app_id) == "recovering"
        follower = spawn_vega("logs", "--follow", "--master", cluster.url, app_id,
                              env=cluster.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
        cluster.procs.append(follower)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
        reader.start()
        wait_for(lambda: HELD in lines, 30, "the follower to print the stored output")
    finally:
        os.killpg(driver.pid, signal.SIGCONT)
    wait_for(lambda: state_of(cluster, app_id) == "running", 30, "the driver back")
    assert follower.poll() is None, (lines, follower.stderr.read())
    go.touch()
    assert follower.wait(60) == 0, follower.stderr.read()
    reader.join(10)
    assert lines == [HELD], lines
    assert driver.communicate(timeout=60)[0] == HELD + "SUM 45\n"


def test_a_recovered_application_whose_driver_died_meanwhile_ends_within_seconds(held):
    """The master is SIGKILLed, then the driver; the restarted master probes the recovered
    application's driver port, finds it refused, and ends the application within seconds
    (before: after 15 worker timeouts, 225 s); ``vega logs --follow`` of it then ends."""
    cluster, driver, app_id, go = held
    os.killpg(cluster.master.pid, signal.SIGKILL)
    cluster.master.wait(10)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(10)
    cluster.master = cluster._start_master()
    wait_for(lambda: state_of(cluster, app_id) == "finished", 15, "the application to end")
    follow = vega("logs", "--follow", "--master", cluster.url, app_id, env=cluster.env,
                  timeout=30)
    assert follow.returncode == 0 and follow.stdout == HELD, follow
