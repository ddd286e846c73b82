"""A restarted master probes the driver port of each application it recovered: one whose
driver's host drops every packet ends within a bounded number of unanswered probes, one
whose driver is stopped (SIGSTOP) on a host that is up keeps its application.  Real
daemons in network namespaces (``netns_cluster``), iptables DROP."""

import json
import os
import signal
import subprocess
import time

from netns_cluster import DRIVER_NS, MASTER_IP, MASTER_NS, NetnsCluster, requires_netns
from proc_helpers import wait_for
from test_recovered_apps import HELD_JOB

WORKER_TIMEOUT = 5  # recovery gives up on a driver after 15 of them: 75 s


def apps(cluster):
    return {a["id"]: a for a in (cluster.status() or {"applications": []})["applications"]}


def restart_master(cluster, tmp_path):
    """SIGKILL the master and start it again on its port with its work dir (its state)."""
    port = cluster.url.rsplit(":", 1)[1]
    master = cluster.procs[0]
    os.killpg(master.pid, signal.SIGKILL)
    master.wait(10)
    ready = tmp_path / "master2.ready"
    cluster.spawn(MASTER_NS, [
        "master", "--host", MASTER_IP, "--port", port, "--webui-port", "0",
        "--work-dir", str(tmp_path / "master"), "--worker-timeout", str(WORKER_TIMEOUT),
        "--ready-file", str(ready)], stdout=cluster._log)
    wait_for(ready.exists, what="the master again")
    assert json.loads(ready.read_text())["port"] == int(port)


@requires_netns
def test_a_recovered_application_whose_driver_host_drops_packets_ends_after_bounded_probes(
        tmp_path):
    """Two client-mode drivers, each holding one worker's core; the master is SIGKILLed,
    the first driver's host then drops every packet and the second driver is SIGSTOPped.
    The restarted master ends the first application after 3 unanswered probes of its
    driver's port (5 s each), where it waited for the end of the recovery (15 worker
    timeouts, 75 s here); the second stays ``recovering`` (its stopped process's port
    still accepts) and runs again once the driver is continued."""
    with NetnsCluster(tmp_path, worker_timeout=WORKER_TIMEOUT) as cluster:
        job, go = tmp_path / "job.py", tmp_path / "go"
        job.write_text(HELD_JOB)
        drivers = {}
        for ns in (DRIVER_NS, MASTER_NS):
            driver = cluster.spawn(ns, ["submit", "--master", cluster.url,
                                        "--total-executor-cores", "1", str(job), str(go)],
                                   stdout=subprocess.PIPE, text=True)
            [app_id] = wait_for(lambda: [i for i, a in apps(cluster).items()
                                         if a["executors"] and i not in drivers], 60,
                                "a job to run")
            drivers[app_id] = driver
        cut_app, stopped_app = drivers
        stopped = drivers[stopped_app]
        os.killpg(stopped.pid, signal.SIGSTOP)
        try:
            cluster.iptables(DRIVER_NS, "-I", "INPUT", "!", "-i", "lo", "-j", "DROP")
            cluster.iptables(DRIVER_NS, "-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP")
            restart_master(cluster, tmp_path)
            restarted = time.monotonic()
            wait_for(lambda: apps(cluster)[cut_app]["state"] == "finished", 45,
                     "the application of the driver whose host drops packets to end")
            ended = time.monotonic() - restarted
            print(f"ended {ended:.1f}s after the restart")
            assert 14 < ended < 30, ended  # 3 probes of 5 s each, a tick (1 s) apart
            assert apps(cluster)[stopped_app]["state"] == "recovering"
        finally:
            os.killpg(stopped.pid, signal.SIGCONT)
        wait_for(lambda: apps(cluster)[stopped_app]["state"] == "running", 30,
                 "the continued driver back")
        go.touch()
        out = stopped.communicate(timeout=60)[0]
        assert "\nSUM 45\n" in out and stopped.returncode == 0, out
