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
