"""Dynamic allocation and speculation with real daemons (local-cluster): executors come
while tasks wait and go when idle, released executors' map outputs stay readable, and a
straggler's copy wins with exact results and accumulators."""

import json
import logging
import subprocess
import threading
import time
import urllib.request
from operator import add

import pytest

from vega_runtime import Context, TaskContext
from vega_runtime.net.status_request import fetch_master_status
from vega_runtime.net.tls import http_client_context
from vega_runtime.scheduler.listener import JobListener

from proc_helpers import kill_group, read_text, spawn_vega, wait_for
from sshd_hosts import free_port

pytestmark = pytest.mark.timeout(180)


class StageRecorder(JobListener):
    """The stages each job submitted."""

    def __init__(self):
        self.submitted = []

    def on_stage_submitted(self, stage_id, attempt, name, num_tasks):
        self.submitted.append((stage_id, name.split(" at ")[0], num_tasks))


def app_status(ctx):
    """This application's row of the master's JSON status (``vega status --json``)."""
    document = fetch_master_status(*ctx.backend.master_address, ctx.backend.secret or b"")
    return next(a for a in document["applications"] if a["id"] == ctx.backend.app_id)


def events(ctx, name=None):
    with open(ctx.event_log.path, encoding="utf-8") as fh:
        found = [json.loads(line) for line in fh]
    return [e for e in found if name is None or e["event"] == name]


def dynamic_conf(tmp_path, **more):
    return {"vega.dynamic_allocation.enabled": True,
            "vega.dynamic_allocation.scheduler_backlog_timeout": 0.2,
            "vega.dynamic_allocation.executor_idle_timeout": 1.0,
            "vega.eventlog.dir": str(tmp_path / "events"),
            "vega.executor.memory": "128m",  # room for every core of a 1 GiB worker
            **{f"vega.dynamic_allocation.{k}": v for k, v in more.items()}}


def test_idle_executors_are_released_between_actions_and_shuffle_output_stays_readable(tmp_path):
    """All executors leave while the driver sleeps; the second action reads the first's
    shuffle output (its map stage is not run again) and gets the exact result."""
    recorder = StageRecorder()
    with Context("local-cluster[2,2]", "dyn-release", conf=dynamic_conf(tmp_path),
                 listeners=[recorder]) as ctx:
        assert app_status(ctx)["requested_executors"] == 0  # nothing asked for before work
        pairs = ctx.parallelize(range(2000), 4).map(lambda x: (x % 7, x)).reduce_by_key(add, 3)
        expected = sorted({k: sum(x for x in range(2000) if x % 7 == k) for k in range(7)}.items())
        assert sorted(pairs.collect()) == expected
        used = app_status(ctx)["executors"]
        assert used >= 1
        wait_for(lambda: app_status(ctx)["executors"] == 0, 30,
                 "every executor released by dynamic allocation")
        assert wait_for(lambda: not ctx.backend.pool, 10, "the driver to see them go")
        # in the event log while the driver sleeps, not only once the next job starts
        wait_for(lambda: len(events(ctx, "ExecutorRemoved")) >= used, 10,
                 "the releases in the event log before the next job")
        stages_before = len(recorder.submitted)
        doubled = pairs.map_values(lambda v: v * 2)
        assert sorted(doubled.collect()) == [(k, 2 * v) for k, v in expected]
        second_job = recorder.submitted[stages_before:]
        assert [name for _, name, _ in second_job] == ["collect"], second_job  # no map stage
        assert app_status(ctx)["executors"] >= 1  # asked for again
        removed = events(ctx, "ExecutorRemoved")
        assert len(removed) >= used
        assert all(not e["lost"] and e["reason"].startswith("released by dynamic allocation: "
                                                           "idle for") for e in removed)
        second_start = events(ctx, "JobStart")[1]["time"]
        assert all(e["time"] < second_start for e in removed)  # when they went, not when heard
        assert not [e for e in events(ctx, "TaskEnd") if not e["success"]]


def test_executors_rise_under_backlog_up_to_max(tmp_path, caplog):
    """Twelve waiting tasks on six cores: requests ramp up by 1, then 2, then to the max of 4;
    the master never runs more than that for the application."""
    caplog.set_level(logging.INFO, logger="vega_runtime.scheduler.cluster_backend")
    conf = dynamic_conf(tmp_path, max_executors=4, executor_idle_timeout=60.0)
    with Context("local-cluster[2,3]", "dyn-rise", conf=conf) as ctx:
        seen, done = [], threading.Event()

        def watch():
            while not done.wait(0.2):
                seen.append(app_status(ctx)["executors"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            total = ctx.parallelize(range(12), 12).map(lambda x: time.sleep(1.0) or x * x).sum()
        finally:
            done.set()
            watcher.join()
        assert total == sum(x * x for x in range(12))
        requests = [int(r.getMessage().split()[-2]) for r in caplog.records
                    if r.getMessage().startswith("dynamic allocation: requesting")]
        assert requests[:3] == [1, 3, 4] and max(requests) == 4, requests
        assert max(seen) == 4 and app_status(ctx)["executors"] == 4
        wait_for(lambda: len(ctx.backend.pool) == 4, 60, "the four executors to register")


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_straggler_is_speculated_and_the_result_and_accumulators_are_exact(tmp_path, master):
    """Partition 3's first attempt hangs; its copy on the other executor wins, the original
    is killed, and the accumulator counts every record once."""
    conf = {"vega.speculation": True, "vega.speculation.min_runtime": 0.5,
            "vega.eventlog.dir": str(tmp_path / "events")}
    with Context(master, "speculation", conf=conf) as ctx:
        seen = ctx.accumulator(0)

        def maybe_hang(records):
            tc = TaskContext.get()
            if tc.partition_id() == 3 and tc.attempt_number() == 0:
                time.sleep(120)  # the straggler: killed when its copy wins
            for record in records:
                seen.add(1)
                yield record * 10

        started = time.monotonic()
        result = ctx.parallelize(range(40), 4).map_partitions(maybe_hang).collect()
        print(f"speculated job took {time.monotonic() - started:.2f}s")
        assert result == [x * 10 for x in range(40)]
        assert seen.value == 40
        starts = events(ctx, "TaskStart")
        speculative = [e for e in starts if e["speculative"]]
        assert [(e["partition"], e["attempt"]) for e in speculative] == [(3, 1)]
        original = next(e for e in starts if e["partition"] == 3 and e["attempt"] == 0)
        assert speculative[0]["executor"] != original["executor"]
        assert [(e["partition"], e["attempt"], e["speculative"]) for e in
                events(ctx, "TaskEnd") if e["partition"] == 3] == [(3, 1, True)]
        killed = events(ctx, "TaskKilled")
        assert [(e["partition"], e["attempt"], e["reason"]) for e in killed] == \
            [(3, 0, "another attempt finished first")]
        assert [e["partition"] for e in events(ctx, "SpeculativeTaskSubmitted")] == [3]
        # the next job runs (on local[2] the killed attempt's process was replaced)
        assert ctx.parallelize(range(10), 4).map_partitions(maybe_hang).count() == 10


def metric(host, port, name, ca_file):
    """A worker's counter from its /metrics (HTTPS, verified against the cluster CA)."""
    with urllib.request.urlopen(f"https://{host}:{port}/metrics", timeout=10,
                                context=http_client_context(ca_file)) as reply:
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))


def test_released_executors_map_outputs_are_served_by_their_workers(bare_master, tmp_path):
    """Separately started workers on two loopback addresses: every executor is released
    after the map stage, and the next action's reducers fetch the map outputs of the other
    host from its worker's shuffle service (the map stage does not run again)."""
    workers, ports = [], {}
    try:
        for host in ("127.0.0.2", "127.0.0.3"):
            ports[host] = free_port(host)
            log = open(tmp_path / f"worker-{host}.out", "wb")
            workers.append((spawn_vega("worker", bare_master.url, "--no-secret", "--host", host, "--cores", "2",
                                       "--memory", "1g", "--webui-port", str(ports[host]),
                                       "--work-dir", str(tmp_path / host), env=bare_master.env,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True), log))
        for host in ports:
            wait_for(lambda: "registered with master" in read_text(
                str(tmp_path / f"worker-{host}.out")), 60, f"the worker on {host} to register")
        recorder = StageRecorder()
        conf = {**dynamic_conf(tmp_path), "vega.dynamic_allocation.initial_executors": 2}
        with Context(bare_master.url, "dyn-service", conf=conf, listeners=[recorder]) as ctx:
            wait_for(lambda: len(ctx.backend.pool) == 2, 60, "two executors")
            assert {s.host for s in ctx.backend.pool} == {"127.0.0.2", "127.0.0.3"}
            pairs = ctx.parallelize(range(3000), 4).map(lambda x: (x % 11, x)).group_by_key(4)
            expected = sorted((k, sorted(x for x in range(3000) if x % 11 == k)) for k in range(11))
            assert sorted((k, sorted(v)) for k, v in pairs.collect()) == expected
            wait_for(lambda: app_status(ctx)["executors"] == 0, 30, "every executor released")
            served_before = sum(metric(h, p, "vega_shuffle_blocks_served_total", bare_master.ca_file)
                                for h, p in ports.items())
            stages_before = len(recorder.submitted)
            assert sorted((k, sorted(v)) for k, v in pairs.collect()) == expected
            # the result stage alone (named as its job): the map outputs are reused
            assert [name for _, name, _ in recorder.submitted[stages_before:]] == ["collect"]
            served = sum(metric(h, p, "vega_shuffle_blocks_served_total", bare_master.ca_file)
                         for h, p in ports.items()) - served_before
            assert served > 0
            assert metric("127.0.0.2", ports["127.0.0.2"], "vega_shuffle_blocks_missing_total",
                          bare_master.ca_file) \
                + metric("127.0.0.3", ports["127.0.0.3"], "vega_shuffle_blocks_missing_total",
                         bare_master.ca_file) == 0
    finally:
        for proc, log in workers:
            kill_group(proc)
            log.close()


def test_an_executor_holding_cached_blocks_is_kept_while_idle_ones_go(tmp_path):
    """With cached_executor_idle_timeout left at never, the executor caching a partition
    stays after the others are released, and the cache is read from it."""
    conf = dynamic_conf(tmp_path, initial_executors=2)
    with Context("local-cluster[2,1]", "dyn-cached", conf=conf) as ctx:
        wait_for(lambda: len(ctx.backend.pool) == 2, 60, "two executors")
        cached = ctx.parallelize(range(100), 1).map(lambda x: x + 1).cache()
        assert cached.count() == 100
        [usage] = ctx.cached_rdds()
        holder = usage["executors"]
        assert len(holder) == 1
        wait_for(lambda: app_status(ctx)["executors"] == 1, 30, "the idle executor released")
        # the master may count it gone a moment before the driver hears so
        wait_for(lambda: sorted(ctx.backend.pool.executor_ids()) == holder, 10,
                 "the driver to see the released executor go")
        time.sleep(3.0)  # three idle timeouts: staying can only be seen over time
        assert sorted(ctx.backend.pool.executor_ids()) == holder and app_status(ctx)["executors"] == 1
        assert cached.sum() == sum(range(1, 101))
        assert ctx.cached_rdds()[0]["executors"] == holder
