"""What `vega status` says after the master is SIGKILLed and started again on its port and
work dir (recovery on), with real daemons and drivers on loopback."""

import json
import os
import re
import signal
import subprocess

import pytest

from vega_runtime.net.connection import create_secret_file

from proc_helpers import clean_env, spawn_vega, stop_processes, vega, wait_for


class Cluster:
    """A foreground master with recovery on (restartable on its port) and workers."""

    def __init__(self, tmp_path, master_args=()):
        self.tmp = tmp_path
        self.master_args = list(master_args)
        secret = str(tmp_path / "secret")
        create_secret_file(secret)
        (tmp_path / "tmp").mkdir()  # drivers killed on purpose leave their scratch here
        self.env = clean_env(VEGA_SECRET_FILE=secret, TMPDIR=str(tmp_path / "tmp"))
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
                           "--ready-file", str(ready), *self.master_args, log="master.log")
        wait_for(ready.exists, what="the master to listen")
        return proc

    def restart_master(self, sig=signal.SIGKILL):
        """SIGKILL (or ``sig``) the master and start it again on its port with its recovery
        state."""
        os.killpg(self.master.pid, sig)
        self.master.wait(10)
        self.master = self._start_master()

    def worker(self, label, cores=1, args=()):
        return self._spawn("worker", self.url, "--host", "127.0.0.1", "--cores", str(cores),
                           "--memory", "1g", "--labels", label,
                           "--work-dir", str(self.tmp / label), *args, log=f"{label}.log")

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


#: why the second application waits while the first holds the worker's memory
MEMORY_TAKEN = ("none has 1024 MiB free; waiting for memory to free up (give applications a "
                "smaller --executor-memory, or vega.cores.max (--total-executor-cores), so "
                "that several share the cluster)")


class TwoApplications:
    """On one worker (2 cores, 1 GiB), a first application whose one executor holds all the
    memory and a second one waiting; both run a one-task job that waits for ``go``, then
    print ``SUM 45``.  The master is restarted while the first's driver is stopped
    (SIGSTOP), so the second's driver and the worker, reporting the first's executor, come
    back to it first."""

    def __init__(self, cluster, tmp_path):
        self.cluster = cluster
        cluster.worker("only", cores=2)
        wait_for(lambda: cluster.worker_states() == {"only": "alive"}, what="the worker")
        self.go = tmp_path / "go"
        self.job = tmp_path / "job.py"
        self.job.write_text("import os, sys, time\nfrom vega_runtime import Context\n"
                            "go = sys.argv[1]\n"
                            "def held(x, go=go):\n"
                            "    while not os.path.exists(go):\n"
                            "        time.sleep(0.05)\n"
                            "    return x\n"
                            "with Context(app_name=sys.argv[2]) as ctx:\n"
                            "    print('SUM', ctx.parallelize(range(10), 1).map(held).sum())\n")
        self.first = self._submit("first")
        wait_for(lambda: self.apps().get("first", {}).get("executors") == 1,
                 what="the first to run")
        self.second = self._submit("second")
        wait_for(lambda: self.apps().get("second", {}).get("state") == "waiting",
                 what="the second application to wait")
        self.first_id = self.apps()["first"]["id"]
        assert self.apps()["second"]["waiting_reason"] == \
            f"all memory is taken by {self.first_id} (first): {MEMORY_TAKEN}"
        os.killpg(self.first.pid, signal.SIGSTOP)
        cluster.restart_master()
        wait_for(lambda: self.second_waits(self.first_id)
                 and cluster.worker_states() == {"only": "alive"},
                 what="the worker back with the first's executor, the second waiting for it")

    def _submit(self, name):
        driver = spawn_vega("submit", "--master", self.cluster.url, str(self.job), str(self.go),
                            name, env=self.cluster.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.cluster.procs.append(driver)
        return driver

    def apps(self):
        status = self.cluster.status() or {"applications": []}
        return {a["name"]: a for a in status["applications"]}

    def second_waits(self, holder):
        now = self.apps()
        return (now.get("second", {}).get("state") == "waiting"
                and now["second"]["waiting_reason"] == f"all memory is taken by {holder}: "
                                                       f"{MEMORY_TAKEN}")


def test_after_a_master_restart_a_waiting_application_still_waits_saying_why(cluster,
                                                                           tmp_path):
    """The second application, back before the first, still waits, saying that memory is
    what it waits for and who holds it (before, it was shown 'running' with no executors,
    and, as the reported executor counted no memory until its driver came back, it was even
    given a second 1 GiB executor on the 1 GiB worker). Once the first's driver is back it
    holds its executor; both finish."""
    two = TwoApplications(cluster, tmp_path)
    [worker] = cluster.status()["workers"]
    assert (worker["memory_used_bytes"], worker["executors"]) == \
        (1 << 30, [f"{two.first_id}/exec-1"])
    os.killpg(two.first.pid, signal.SIGCONT)
    wait_for(lambda: two.apps().get("first", {}).get("executors") == 1
             and two.second_waits(f"{two.first_id} (first)"), what="the first's driver back")
    two.go.touch()
    outputs = [d.communicate(timeout=60)[0] for d in (two.first, two.second)]
    assert [two.first.returncode, two.second.returncode] == [0, 0], outputs
    assert all("SUM 45\n" in out for out in outputs), outputs


def test_after_a_master_restart_memory_freed_by_a_driver_that_never_came_back_is_granted(
        cluster, tmp_path):
    """The first's driver is killed before it comes back: its executor exits, and the
    memory it held goes to the waiting second application at once (before, the master
    scheduled nothing on that exit, as the executor's application was not back, and the
    second waited for an unrelated event)."""
    two = TwoApplications(cluster, tmp_path)
    os.killpg(two.first.pid, signal.SIGKILL)
    wait_for(lambda: two.apps().get("second", {}).get("executors") == 1,
             what="the second application to get the freed memory")
    two.go.touch()
    assert "SUM 45\n" in two.second.communicate(timeout=60)[0]
    assert two.second.returncode == 0


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_master_restart_starts_its_supervised_drivers_again(cluster, tmp_path, stop):
    """SIGKILL the master (a crash), or SIGTERM it (vega stop-master), while two
    cluster-mode drivers run (one with --supervise): both die with it; the restarted master
    starts the supervised one again from its saved request, under its id, and it finishes;
    the other is shown failed (killed, when the master was stopped). Before, after a crash
    both stayed 'unknown' for ever and the supervised job never ran again; after a stop,
    either could be shown running or killed, whichever was saved last."""
    cluster.worker("w1")
    runs = tmp_path / "runs"
    runs.mkdir()
    job = tmp_path / "once.py"
    job.write_text("import os, sys, time\n"
                   f"runs = os.path.join({str(runs)!r}, sys.argv[1])\n"
                   "os.makedirs(runs, exist_ok=True)\n"
                   "open(os.path.join(runs, str(os.getpid())), 'w').close()\n"
                   "if len(os.listdir(runs)) == 1:\n"
                   "    time.sleep(120)\n"
                   "print('second run of', sys.argv[1], flush=True)\n")
    driver_ids, packages = {}, {}
    for name, flags in (("kept", ["--supervise"]), ("plain", [])):
        own = tmp_path / name / "once.py"  # a package of its own
        own.parent.mkdir()
        own.write_text(job.read_text() + f"# {name}\n")
        submitted = vega("submit", "--master", cluster.url, "--deploy-mode", "cluster",
                         "--detach", *flags, str(own), name, env=cluster.env)
        assert submitted.returncode == 0, submitted.stderr
        driver_ids[name] = [w for w in submitted.stderr.split() if w.startswith("driver-")][0]
        packages[name] = re.search(r"\(sha256 ([0-9a-f]{12})\)", submitted.stderr).group(1)
    wait_for(lambda: all((runs / n).is_dir() and len(os.listdir(runs / n)) == 1
                         for n in driver_ids), what="both drivers to start")
    cluster.restart_master(getattr(signal, stop))

    def drivers():
        return {d["id"]: d["state"] for d in (cluster.status() or {"drivers": []})["drivers"]}

    wait_for(lambda: drivers().get(driver_ids["kept"]) == "finished", timeout=60,
             what="the supervised driver to run again and finish")
    assert drivers() == {driver_ids["kept"]: "finished",
                         driver_ids["plain"]: "failed" if stop == "SIGKILL" else "killed"}
    assert len(os.listdir(runs / "kept")) == 2 and len(os.listdir(runs / "plain")) == 1
    logs = vega("logs", "--master", cluster.url, driver_ids["kept"], env=cluster.env)
    assert "second run of kept" in logs.stdout, logs.stdout + logs.stderr
    # both ended: their packages, and the master's unpacked copies, are gone (the one that
    # died with the master stayed for ever)
    stored = tmp_path / "master" / "packages"
    wait_for(lambda: not [n for n in os.listdir(stored) if n[:12] in packages.values()], 10,
             "the drivers' packages to be deleted")


def test_a_running_job_does_not_say_it_waits_while_its_workers_come_back(cluster, tmp_path):
    """The master restarts under a running job, and the application is back before its
    worker (held with SIGSTOP): the master says the application waits for workers, but its
    job runs on on its executors, so its driver says nothing of waiting (only its log, at
    INFO). Before, the submitter's terminal showed 'waiting: ... the job will start when
    one registers' while the job ran."""
    worker = cluster.worker("w1", cores=1)
    wait_for(lambda: cluster.worker_states() == {"w1": "alive"}, what="the worker")
    go = tmp_path / "go"
    job = tmp_path / "job.py"
    job.write_text("import os, sys, time\nfrom vega_runtime import Context\n"
                   "def held(x, go=sys.argv[1]):\n"
                   "    while not os.path.exists(go):\n"
                   "        time.sleep(0.05)\n"
                   "    return x\n"
                   "with Context(app_name='held') as ctx:\n"
                   "    print('SUM', ctx.parallelize(range(10), 1).map(held).sum(), flush=True)\n")
    driver = spawn_vega("submit", "--master", cluster.url, str(job), str(go), env=cluster.env,
                        stdout=subprocess.PIPE, stderr=open(tmp_path / "driver.err", "w"),
                        text=True, start_new_session=True)
    cluster.procs.append(driver)

    def app():
        apps = (cluster.status() or {"applications": []})["applications"]
        return apps[0] if apps else {}

    wait_for(lambda: app().get("executors") == 1, what="the job to run")
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        cluster.restart_master()
        wait_for(lambda: app().get("state") == "waiting", what="the application back, waiting")
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    go.touch()
    assert driver.communicate(timeout=60)[0] == "SUM 45\n"
    assert driver.returncode == 0
    err = (tmp_path / "driver.err").read_text()
    assert "reconnected to the master" in err and "waiting" not in err, err


def test_the_application_of_a_driver_that_died_with_the_master_ends_at_its_restart(cluster,
                                                                                 tmp_path):
    """A cluster-mode driver dies with its master (SIGKILL): the restarted master starts it
    again (--supervise) under a new application, and ends the old one at once, as it knows
    that driver is gone, and ``vega status DRIVER_ID`` still lists both.  Before, the old one
    stayed ``recovering`` for 15 worker timeouts (225 s by default), shown next to the new
    one as if its driver might come back."""
    cluster.worker("w")
    wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the worker")
    job = tmp_path / "job.py"
    job.write_text("import time\nfrom vega_runtime import Context\n"
                   "with Context(app_name='kept') as ctx:\n"
                   "    print('COUNT', ctx.parallelize(range(10), 2).count(), flush=True)\n"
                   "    time.sleep(600)\n")
    submit = cluster._spawn("submit", "--master", cluster.url, "--deploy-mode", "cluster",
                            "--supervise", str(job), log="submit.log")

    def apps():
        status = cluster.status() or {"applications": []}
        return {a["id"]: a["state"] for a in status["applications"]}

    [first] = wait_for(lambda: [a for a, s in apps().items() if s == "running"], 60,
                       "the driver's application")
    cluster.restart_master()
    states = wait_for(lambda: len(apps()) == 2 and "running" in apps().values() and apps(),
                      60, "the driver started again")
    assert states[first] == "finished", states
    [driver] = cluster.status()["drivers"]
    assert {a["id"]: a["driver_id"] for a in cluster.status()["applications"]} == \
        {app_id: driver["id"] for app_id in states}
    submit.kill()
