"""What `vega status` says after the master is SIGKILLed and started again on its port and
work dir (recovery on), with real daemons and drivers on loopback."""

import json
import os
import signal
import subprocess

import pytest

from vega_runtime.net.connection import create_secret_file

from proc_helpers import clean_env, spawn_vega, stop_processes, vega, wait_for


class Cluster:
    """A foreground master with recovery on (restartable on its port) and workers."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        secret = str(tmp_path / "secret")
        create_secret_file(secret)
        self.env = clean_env(VEGA_SECRET_FILE=secret)
        self.procs = []
        self.port = 0
        self.master = self._start_master()
        self.port = json.loads((tmp_path / "master.ready").read_text())["port"]
        self.url = f"vega://127.0.0.1:{self.port}"

    def _spawn(self, *args, log):
        proc = spawn_vega(*args, env=self.env, stdout=open(self.tmp / log, "ab"),
                          stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def _start_master(self):
        ready = self.tmp / "master.ready"
        if ready.exists():
            ready.unlink()
        proc = self._spawn("master", "--host", "127.0.0.1", "--port", str(self.port),
                           "--webui-port", "0", "--work-dir", str(self.tmp / "master"),
                           "--ready-file", str(ready), log="master.log")
        wait_for(ready.exists, what="the master to listen")
        return proc

    def restart_master(self):
        """SIGKILL the master and start it again on its port with its recovery state."""
        os.killpg(self.master.pid, signal.SIGKILL)
        self.master.wait(10)
        self.master = self._start_master()

    def worker(self, label, cores=1):
        return self._spawn("worker", self.url, "--host", "127.0.0.1", "--cores", str(cores),
                           "--memory", "1g", "--labels", label,
                           "--work-dir", str(self.tmp / label), log=f"{label}.log")

    def status(self):
        result = vega("status", "--master", self.url, "--json", env=self.env)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def worker_states(self):
        status = self.status() or {"workers": []}
        return {w["labels"][0]: w["state"] for w in status["workers"] if w["labels"]}

    def close(self):
        stop_processes(self.procs, str(self.tmp))


@pytest.fixture
def cluster(tmp_path):
    made = Cluster(tmp_path)
    yield made
    made.close()


def test_a_worker_stopped_before_a_master_restart_is_still_shown_dead(cluster):
    """A worker stopped on purpose (SIGTERM) is dead; after a master restart it is still
    dead, not lost (it will not come back: a restarted worker has a new id), while a
    running worker registers again."""
    cluster.worker("stays")
    stopped = cluster.worker("stopped")
    wait_for(lambda: cluster.worker_states() == {"stays": "alive", "stopped": "alive"},
             what="both workers to register")
    os.killpg(stopped.pid, signal.SIGTERM)
    assert stopped.wait(10) == 0
    wait_for(lambda: cluster.worker_states().get("stopped") == "dead",
             what="the stopped worker to be shown dead")
    cluster.restart_master()
    wait_for(lambda: cluster.worker_states().get("stays") == "alive",
             what="the running worker to register again")
    assert cluster.worker_states() == {"stays": "alive", "stopped": "dead"}


def test_after_a_master_restart_a_waiting_application_still_waits_saying_why(cluster,
                                                                           tmp_path):
    """A first application holds all the memory of the only worker (1 GiB, 2 cores), a
    second one waits. The master is restarted while the first's driver is stopped, so the
    second's driver and the worker (reporting the first's executor) come back first: the
    second still waits, saying that memory is what it waits for and who holds it. Before,
    it was shown 'running' with no executors, and, as the reported executor counted no
    memory until its driver came back, was even given a second 1 GiB executor on the
    1 GiB worker. Once the first's driver is back it holds its executor; both finish."""
    cluster.worker("only", cores=2)
    wait_for(lambda: cluster.worker_states() == {"only": "alive"}, what="the worker")
    go = tmp_path / "go"
    job = tmp_path / "job.py"
    job.write_text("import os, sys, time\nfrom vega_runtime import Context\n"
                   "go = sys.argv[1]\n"
                   "def held(x, go=go):\n"
                   "    while not os.path.exists(go):\n"
                   "        time.sleep(0.05)\n"
                   "    return x\n"
                   "with Context(app_name=sys.argv[2]) as ctx:\n"
                   "    print('SUM', ctx.parallelize(range(10), 1).map(held).sum())\n")

    def submit(name):
        driver = spawn_vega("submit", "--master", cluster.url, str(job), str(go), name,
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
        cluster.procs.append(driver)
        return driver

    def apps():
        return {a["name"]: a for a in (cluster.status() or {"applications": []})["applications"]}

    drivers = [submit("first")]
    wait_for(lambda: apps().get("first", {}).get("executors") == 1, what="the first to run")
    drivers.append(submit("second"))
    wait_for(lambda: apps().get("second", {}).get("state") == "waiting",
             what="the second application to wait")
    first_id = apps()["first"]["id"]
    why = ("none has 1024 MiB free; waiting for memory to free up (give applications a "
           "smaller --executor-memory, or vega.cores.max (--total-executor-cores), so that "
           "several share the cluster)")
    assert apps()["second"]["waiting_reason"] == f"all memory is taken by {first_id} (first): {why}"
    os.killpg(drivers[0].pid, signal.SIGSTOP)
    cluster.restart_master()

    def second_waits(holder):
        now = apps()
        return (now.get("second", {}).get("state") == "waiting"
                and now["second"]["waiting_reason"] == f"all memory is taken by {holder}: {why}")

    wait_for(lambda: second_waits(first_id) and cluster.worker_states() == {"only": "alive"},
             what="the worker back with the first's executor, the second waiting for it")
    [worker] = cluster.status()["workers"]
    assert (worker["memory_used_bytes"], worker["executors"]) == (1 << 30, [f"{first_id}/exec-1"])
    os.killpg(drivers[0].pid, signal.SIGCONT)
    wait_for(lambda: apps().get("first", {}).get("executors") == 1
             and second_waits(f"{first_id} (first)"), what="the first's driver back")
    go.touch()
    outputs = [d.communicate(timeout=60)[0] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], outputs
    assert all("SUM 45\n" in out for out in outputs), outputs
