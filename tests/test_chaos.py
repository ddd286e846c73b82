"""Chaos on a real local cluster: processes killed with SIGKILL mid-job.

Each test asserts the exact result and that no process of the cluster is left
afterwards.  Synchronisation is by scheduler events (a listener), never by sleeping.
"""

import logging
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
from vega_runtime.net.status_request import fetch_master_status
from vega_runtime.scheduler.listener import JobListener

from proc_helpers import (arg_value, cmdline, executor_processes, processes_matching, spawn_vega,
                          start_job_in_thread, vega_argv, wait_for, worker_of)

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


def executor_pids(ctx):
    """{pid: executor id} of this context's executor processes."""
    return {pid: arg_value(argv, "--executor-id")
            for pid, argv in executor_processes(ctx.app_dir).items()}


@pytest.fixture
def chaos(tmp_path):
    """A local-cluster[2,1] with an event listener; checks nothing is left after stop."""
    events = Events()
    ctx = Context(master="local-cluster[2,1]", app_name="chaos", listeners=[events],
                  conf={"vega.locality.wait": 0.5})
    yield ctx, events, tmp_path
    ctx.stop()
    wait_for(lambda: not processes_matching(ctx.app_dir), 15, "every cluster process to exit")


def slow_pairs(ctx, log_dir, delay=0.005):
    """A map stage slow enough to interrupt; each map task attempt leaves a marker file."""
    def record(index, records):
        with open(os.path.join(log_dir, f"map-{index}-{time.monotonic_ns()}"), "w"):
            pass
        for x in records:
            time.sleep(delay)
            yield (x % 7, x)

    return ctx.parallelize(range(PAIRS), 4).map_partitions_with_index(record)


def start_slow_job(ctx, events, log_dir):
    """Run a shuffle of ``slow_pairs`` in a thread; return (thread, result) once its map stage
    has started.  ``result["value"]`` holds the sorted answer when the thread has finished."""
    result = {}
    job = threading.Thread(target=lambda: result.update(
        value=sorted(slow_pairs(ctx, log_dir, delay=0.02).reduce_by_key(add).collect())))
    job.start()
    events.wait_started(0)
    return job, result


def map_runs(log_dir):
    return sorted(int(name.split("-")[1]) for name in os.listdir(log_dir) if name.startswith("map-"))


def test_killing_a_worker_during_the_map_stage(chaos):
    """SIGKILL a worker while map tasks run: its tasks rerun on the other worker."""
    ctx, events, tmp = chaos
    job, result = start_slow_job(ctx, events, str(tmp))
    victim = next(iter(executor_pids(ctx)))
    os.kill(worker_of(victim), signal.SIGKILL)
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
        worker = worker_of(pid)
        work_dir = arg_value(cmdline(worker), "--work-dir")
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
    job, result = start_slow_job(ctx, events, str(tmp))
    os.kill(next(iter(executor_pids(ctx))), signal.SIGKILL)
    job.join(120)
    assert result.get("value") == EXPECTED


def test_losing_every_worker_waits_for_a_new_one(chaos):
    """With every worker killed the job waits; a worker started later finishes it."""
    ctx, events, tmp = chaos
    workers = {worker_of(pid) for pid in executor_pids(ctx)}
    job, result = start_slow_job(ctx, events, str(tmp))
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not executor_pids(ctx), 15, "the executors to die with their workers")
    cluster = ctx.backend.owned_cluster
    env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file,
           "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
    newcomer = spawn_vega("worker", f"vega://127.0.0.1:{cluster.master_port}", "--host",
                          "127.0.0.1", "--cores", "2",
                          "--work-dir", os.path.join(ctx.app_dir, "late"), env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        job.join(120)
        assert result.get("value") == EXPECTED
    finally:
        os.killpg(newcomer.pid, signal.SIGTERM)
        newcomer.wait(10)


def kill_master(ctx):
    """SIGKILL the master of a local-cluster Context; returns a function that starts it
    again on its port (with its recovery directory) and waits until it listens."""
    cluster = ctx.backend.owned_cluster
    master = cluster.processes[0]
    argv = cmdline(master.pid)  # its title: python -m MODULE master --host ... (vega's flags)
    os.killpg(master.pid, signal.SIGKILL)
    master.wait()
    ready = argv[argv.index("--ready-file") + 1]
    os.unlink(ready)

    def restart():
        env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file}
        with open(os.path.join(ctx.app_dir, "master-restarted.log"), "ab") as log:
            cluster.processes[0] = subprocess.Popen(
                vega_argv("master", *argv[argv.index("master") + 1:]), env=env, stdout=log,
                stderr=log, start_new_session=True)
        wait_for(lambda: os.path.exists(ready), 30, "the master to restart")

    return restart


def test_restarting_the_master_mid_job(chaos):
    """SIGKILL the master while tasks run and start it again: the job finishes, the
    driver and workers reconnect, and the new master knows the application."""
    ctx, events, tmp = chaos
    job, result = start_slow_job(ctx, events, str(tmp))
    kill_master(ctx)()
    job.join(120)
    assert result.get("value") == EXPECTED
    assert sorted(slow_pairs(ctx, str(tmp), delay=0).reduce_by_key(add).collect()) == EXPECTED
    status = fetch_master_status(*ctx.backend.master_address, ctx.backend.secret or b"")
    assert [a["id"] for a in status["applications"]] == [ctx.backend.app_id]
    assert sum(w["state"] == "alive" for w in status["workers"]) == 2


def test_jobs_go_on_while_the_master_stays_away_past_the_reconnect_timeout(tmp_path, caplog):
    """As Spark's drivers do, a driver whose master is gone for longer than
    vega.master.reconnect_timeout keeps running jobs on its executors (its workers keep
    them for --death-timeout), keeps trying the master, and resumes its application when
    the master is back."""
    go = tmp_path / "go"
    ctx = Context(master="local-cluster[2,1]", app_name="masterless",
                  conf={"vega.master.reconnect_timeout": 0.5})

    def doubled_when_told(x):
        while not go.exists():
            time.sleep(0.05)
        return 2 * x

    try:
        job, outcome = start_job_in_thread(
            ctx, "masterless", "outlives its master",
            lambda: ctx.parallelize(range(20), 4).map(doubled_when_told).sum())
        restart = kill_master(ctx)
        wait_for(lambda: ctx.backend.master_lost is not None, 30,
                 "the driver to stop waiting for its master")
        go.touch()
        job.join(60)
        assert outcome == [380]
        assert ctx.parallelize(range(10), 2).sum() == 45
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [
            "the master did not come back within 0.5s (vega.master.reconnect_timeout): jobs go "
            "on on this application's executors, none can be added or replaced until it is "
            "back, and the driver keeps trying to reach it"]
        restart()
        wait_for(lambda: ctx.backend.master_lost is None, 30, "the application to be resumed")
        status = fetch_master_status(*ctx.backend.master_address, ctx.backend.secret or b"")
        assert [a["id"] for a in status["applications"]] == [ctx.backend.app_id]
        assert ctx.parallelize(range(10), 2).sum() == 45
    finally:
        ctx.stop()
    wait_for(lambda: not processes_matching(ctx.app_dir), 15, "every cluster process to exit")
