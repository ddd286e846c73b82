"""Chaos on a real local cluster: processes killed with SIGKILL mid-job.

Each test asserts the exact result and that no process of the cluster is left
afterwards.  Synchronisation is by scheduler events (a listener), never by sleeping.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from operator import add

import pytest

from vega_runtime import Context
from vega_runtime.scheduler.listener import JobListener

PAIRS = 400
EXPECTED = sorted({k: sum(i for i in range(PAIRS) if i % 7 == k) for k in range(7)}.items())


class Events(JobListener):
    """Turns scheduler callbacks into threading events tests can wait on."""

    def __init__(self):
        self.stage_started = {}
        self.stage_done = {}
        self.on_stage_done = None

    def _event(self, table, stage_id):
        return table.setdefault(stage_id, threading.Event())

    def on_stage_submitted(self, stage_id, attempt, name, num_tasks):
        self._event(self.stage_started, stage_id).set()

    def on_stage_completed(self, stage_id, failure):
        if failure is None and self.on_stage_done is not None:
            self.on_stage_done(stage_id)
        self._event(self.stage_done, stage_id).set()

    def wait_started(self, stage_id, timeout=30):
        assert self._event(self.stage_started, stage_id).wait(timeout), f"stage {stage_id} never started"


def cluster_processes(ctx):
    """pids of every process of this context's local cluster (daemons and executors)."""
    root = ctx.app_dir
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmdline = fh.read().decode(errors="replace")
            except OSError:
                continue
            if root in cmdline:
                pids.append(int(entry))
    return pids


def executor_pids(ctx):
    return {pid: _arg(pid, "--executor-id") for pid in cluster_processes(ctx)
            if "executor_main" in _cmdline(pid)}


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _arg(pid, flag):
    parts = _cmdline(pid).split("\0")
    return parts[parts.index(flag) + 1] if flag in parts else None


def _parent(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def wait_until(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def chaos(tmp_path):
    """A local-cluster[2,1] with an event listener; checks nothing is left after stop."""
    events = Events()
    ctx = Context(master="local-cluster[2,1]", app_name="chaos", listeners=[events],
                  conf={"vega.locality.wait": 0.5})
    yield ctx, events, tmp_path
    ctx.stop()
    wait_until(lambda: not cluster_processes(ctx), 15, "every cluster process to exit")


def slow_pairs(ctx, log_dir, delay=0.005):
    """A map stage slow enough to interrupt; each map task attempt leaves a marker file."""
    def record(index, records):
        with open(os.path.join(log_dir, f"map-{index}-{time.monotonic_ns()}"), "w"):
            pass
        for x in records:
            time.sleep(delay)
            yield (x % 7, x)

    return ctx.parallelize(range(PAIRS), 4).map_partitions_with_index(record)


def map_runs(log_dir):
    return sorted(int(name.split("-")[1]) for name in os.listdir(log_dir) if name.startswith("map-"))


def test_killing_a_worker_during_the_map_stage(chaos):
    """SIGKILL a worker while map tasks run: its tasks rerun on the other worker."""
    ctx, events, tmp = chaos
    result = {}
    job = threading.Thread(target=lambda: result.update(
        value=sorted(slow_pairs(ctx, str(tmp), delay=0.02).reduce_by_key(add).collect())))
    job.start()
    events.wait_started(0)
    victim = next(iter(executor_pids(ctx)))
    os.kill(_parent(victim), signal.SIGKILL)
    job.join(120)
    assert result.get("value") == EXPECTED


def test_killing_a_worker_after_its_map_outputs_recomputes_only_those(chaos):
    """SIGKILL a worker between the map and reduce stages and lose its disk: its map
    partitions, and only those, run again; the answer is exact.

    On one machine a dead worker's files stay readable, so the test deletes them, as
    if the host were gone.
    """
    ctx, events, tmp = chaos
    pairs = slow_pairs(ctx, str(tmp), delay=0)
    shuffled = pairs.reduce_by_key(add)
    lost = {}

    def kill_map_side_worker(stage_id):
        if stage_id != 0 or lost:
            return
        statuses = ctx._runner.dag.map_outputs.statuses(shuffled.deps[0].shuffle_id)
        victim_executor = statuses[0].executor_id
        lost["partitions"] = sorted(s.map_id for s in statuses if s.executor_id == victim_executor)
        pid = [p for p, e in executor_pids(ctx).items() if e == victim_executor][0]
        worker = _parent(pid)
        work_dir = _arg(worker, "--work-dir")
        os.kill(worker, signal.SIGKILL)
        shutil.rmtree(work_dir)

    events.on_stage_done = kill_map_side_worker
    assert sorted(shuffled.collect()) == EXPECTED
    runs = map_runs(str(tmp))
    assert sorted(set(range(4))) == sorted(set(runs))
    reruns = sorted(runs)
    for partition in range(4):
        reruns.remove(partition)
    assert reruns == lost["partitions"]


def test_killing_an_executor_retries_its_task(chaos):
    """SIGKILL one executor mid-task: the task runs again and the job finishes."""
    ctx, events, tmp = chaos
    result = {}
    job = threading.Thread(target=lambda: result.update(
        value=sorted(slow_pairs(ctx, str(tmp), delay=0.02).reduce_by_key(add).collect())))
    job.start()
    events.wait_started(0)
    os.kill(next(iter(executor_pids(ctx))), signal.SIGKILL)
    job.join(120)
    assert result.get("value") == EXPECTED


def test_losing_every_worker_waits_for_a_new_one(chaos):
    """With every worker killed the job waits; a worker started later finishes it."""
    ctx, events, tmp = chaos
    workers = {_parent(pid) for pid in executor_pids(ctx)}
    result = {}
    job = threading.Thread(target=lambda: result.update(
        value=sorted(slow_pairs(ctx, str(tmp), delay=0.02).reduce_by_key(add).collect())))
    job.start()
    events.wait_started(0)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not executor_pids(ctx), 15, "the executors to die with their workers")
    cluster = ctx.backend.owned_cluster
    env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file,
           "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    newcomer = subprocess.Popen([sys.executable, "-m", "vega_cli.main", "worker",
                                 f"vega://127.0.0.1:{cluster.master_port}", "--host", "127.0.0.1",
                                 "--cores", "2", "--work-dir", os.path.join(ctx.app_dir, "late")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        job.join(120)
        assert result.get("value") == EXPECTED
    finally:
        os.killpg(newcomer.pid, signal.SIGTERM)
        newcomer.wait(10)


def test_restarting_the_master_mid_job(chaos):
    """SIGKILL the master while tasks run and start it again: the job finishes, the
    driver and workers reconnect, and the new master knows the application."""
    ctx, events, tmp = chaos
    result = {}
    job = threading.Thread(target=lambda: result.update(
        value=sorted(slow_pairs(ctx, str(tmp), delay=0.02).reduce_by_key(add).collect())))
    job.start()
    events.wait_started(0)
    cluster = ctx.backend.owned_cluster
    master = cluster.processes[0]
    argv = _cmdline(master.pid).rstrip("\0").split("\0")
    os.killpg(master.pid, signal.SIGKILL)
    master.wait()
    ready = argv[argv.index("--ready-file") + 1]
    os.unlink(ready)
    env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file}
    with open(os.path.join(ctx.app_dir, "master-restarted.log"), "ab") as log:
        cluster.processes[0] = subprocess.Popen(argv, env=env, stdout=log, stderr=log,
                                                start_new_session=True)
    wait_until(lambda: os.path.exists(ready), 30, "the master to restart")
    job.join(120)
    assert result.get("value") == EXPECTED
    assert sorted(slow_pairs(ctx, str(tmp), delay=0).reduce_by_key(add).collect()) == EXPECTED
    status = ctx.backend.master_status()
    assert [a["id"] for a in status["applications"]] == [ctx.backend.app_id]
    assert sum(w["state"] == "alive" for w in status["workers"]) == 2
