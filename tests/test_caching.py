"""Cached partitions: computed once, evicted to disk, recomputed or replicated after a loss."""

import os
import signal

import pytest
from netns_hosts import requires_netns_sshd

from vega_runtime import StorageLevel


def counting(ctx, n=40, partitions=4):
    """An RDD whose computations are counted by an accumulator."""
    computed = ctx.accumulator(0)

    def touch(x):
        computed.add(1)
        return x

    return ctx.parallelize(range(n), partitions).map(touch), computed


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_cached_rdd_state_is_reported_by_the_driver(fresh_ctx, master):
    """cached_rdds() lists level, partitions cached, bytes in memory and the holders."""
    ctx = fresh_ctx(master)
    rdd, _ = counting(ctx)
    rdd.set_name("numbers").cache()
    assert rdd.count() == 40
    (info,) = ctx.cached_rdds()
    assert (info["name"], info["storage_level"], info["partitions"], info["cached_partitions"]) == \
        ("numbers", "MEMORY_ONLY", 4, 4)
    assert info["memory_bytes"] > 0 and info["disk_bytes"] == 0 and info["executors"]
    rdd.unpersist()
    assert ctx.cached_rdds() == []


def test_blocks_evicted_to_disk_are_read_back_without_recomputation(fresh_ctx):
    """MEMORY_AND_DISK with a tiny memory budget: blocks move to disk, nothing is recomputed."""
    ctx = fresh_ctx("local", conf={"vega.storage.memory": "2k"})
    rdd, computed = counting(ctx, n=4000, partitions=4)
    rdd.persist(StorageLevel.MEMORY_AND_DISK)
    assert rdd.sum() == sum(range(4000))
    assert rdd.sum() == sum(range(4000))
    assert computed.value == 4000
    (info,) = ctx.cached_rdds()
    assert info["disk_bytes"] > 0


def test_memory_only_blocks_evicted_are_recomputed(fresh_ctx):
    """MEMORY_ONLY blocks that do not fit are dropped and recomputed: right answer, more work."""
    ctx = fresh_ctx("local", conf={"vega.storage.memory": "2k"})
    rdd, computed = counting(ctx, n=4000, partitions=4)
    rdd.cache()
    assert rdd.count() == 4000 and rdd.count() == 4000
    assert computed.value > 4000


def _kill_executor_holding(ctx, rdd):
    """SIGKILL one local[2] executor process that holds cached blocks of ``rdd``."""
    holder = ctx.cached_rdds()[0]["executors"][0]
    pid = ctx.backend.processes[holder].pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return holder


def test_cached_partitions_of_a_lost_executor_are_recomputed(fresh_ctx):
    """After its executor dies, only that executor's cached partitions are computed again."""
    ctx = fresh_ctx("local[2]")
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.cache()
    assert rdd.collect() == list(range(40))
    before = computed.value
    _kill_executor_holding(ctx, rdd)
    assert rdd.collect() == list(range(40))
    recomputed = computed.value - before
    assert 0 < recomputed < 40


def test_replicated_blocks_survive_the_loss_of_one_executor(fresh_ctx):
    """MEMORY_ONLY_2 keeps a copy on a second executor: losing one recomputes nothing."""
    ctx = fresh_ctx("local[2]")
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.persist(StorageLevel.MEMORY_ONLY_2)
    assert rdd.collect() == list(range(40))
    assert ctx.cached_rdds()[0]["executors"] == ["exec-1", "exec-2"]
    before = computed.value
    _kill_executor_holding(ctx, rdd)
    assert rdd.collect() == list(range(40))
    assert computed.value == before


def test_a_block_kept_three_times_survives_two_executors_killed(fresh_ctx):
    """DISK_ONLY_3 keeps three copies (before: two, as *_2 levels): two holders killed,
    nothing is recomputed."""
    ctx = fresh_ctx("local[3]")
    rdd, computed = counting(ctx, n=30, partitions=1)
    rdd.persist(StorageLevel.DISK_ONLY_3)
    assert rdd.collect() == list(range(30))
    assert ctx.cached_rdds()[0]["executors"] == ["exec-1", "exec-2", "exec-3"]
    before = computed.value  # (30, unless the machine's load had a first attempt rerun)
    for holder in ("exec-1", "exec-2"):
        pid = ctx.backend.processes[holder].pid
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert rdd.collect() == list(range(30))
    assert computed.value == before


def test_a_cluster_executors_cache_size_is_reported_as_half_its_memory():
    """A cluster's executor keeps cached partitions in half its --executor-memory
    (docs/storage.md): the status tracker and Spark's REST API report that size, not
    vega.storage.memory, which only local executors use (before: 512 MiB for an executor of
    256 MiB caching in 128 MiB); local[N]'s executors report vega.storage.memory."""
    from http_helpers import api_get
    from proc_helpers import wait_for
    from vega_runtime import Context

    with Context(master="local-cluster[1,1]", conf={"vega.executor.memory": "256m"}) as ctx:
        assert ctx.parallelize(range(10), 1).cache().count() == 10
        totals = [i.totalOnHeapStorageMemory for i in ctx.status_tracker().get_executor_infos()]
        cluster = ctx.backend.owned_cluster
        site, path = (cluster.webui_port, cluster.ca_file), \
            f"/api/v1/applications/{ctx.application_id}/executors"
        wait_for(lambda: api_get(site, path, cluster.token)[1], 30, "the executor at the master")
        executors = api_get(site, path, cluster.token)[1]
    assert totals == [0, 128 << 20]  # the driver first, caching nothing
    assert [(e["maxMemory"], e["memoryMetrics"]["totalOnHeapStorageMemory"])
            for e in executors] == [(128 << 20, 128 << 20)]
    with Context(master="local[2]", conf={"vega.storage.memory": "100m"}) as ctx:
        assert ctx.parallelize(range(10), 2).cache().count() == 10
        totals = [i.totalOnHeapStorageMemory for i in ctx.status_tracker().get_executor_infos()]
    assert totals == [0, 100 << 20, 100 << 20]


def _failing_first_attempt(records):
    """Fail each task's first attempt: its retry runs on another executor (the failed one
    is excluded), away from the cached partition the first attempt read."""
    from vega_runtime import TaskContext

    if TaskContext.get().attempt_number() == 0:
        raise ValueError("first attempt fails on purpose")
    return records


@pytest.mark.parametrize("master", ["local[2,4]", "local-cluster[2,1]"])
def test_a_task_away_from_its_cached_partition_reads_it_from_the_executor_holding_it(
        fresh_ctx, master):
    """A retry on the executor without the cached partition fetches it from the one that
    holds it (Spark's BlockManager remote read), recomputing nothing (before: each retry
    recomputed its partition from lineage: 80 computations, not 40)."""
    ctx = fresh_ctx(master)
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.cache()
    assert rdd.count() == 40 and computed.value == 40
    assert len(ctx.cached_rdds()[0]["executors"]) == 2
    assert rdd.map_partitions(_failing_first_attempt).collect() == list(range(40))
    assert computed.value == 40


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_task_run_elsewhere_reads_the_cached_partition_from_its_busy_holder(
        fresh_ctx, tmp_path, master):
    """vega.locality.wait 0: of two partitions cached on one executor, one task runs on the
    other executor and fetches its partition while the holder runs the other task (each
    task waits for the other to have started); nothing is recomputed (before: 60)."""
    ctx = fresh_ctx(master, conf={"vega.locality.wait": 0})
    rdd, computed = counting(ctx, n=40, partitions=2)
    rdd.cache()
    assert rdd.coalesce(1).count() == 40  # one task caches both partitions: one holder
    assert len(ctx.cached_rdds()[0]["executors"]) == 1
    flags = str(tmp_path)

    def meet(index, records):
        import time

        open(os.path.join(flags, str(index)), "w").close()
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(flags, str(1 - index))):
            assert time.monotonic() < deadline, "the other task never started"
            time.sleep(0.01)
        return records

    assert sorted(rdd.map_partitions_with_index(meet).collect()) == list(range(40))
    assert computed.value == 40


def test_a_frozen_holder_is_passed_over_and_its_partitions_recomputed(fresh_ctx):
    """local[2], the executor holding both cached partitions SIGSTOPped: the task on the
    other executor waits vega.shuffle.io.connection_timeout for the holder's answer, then
    computes its partition; the holder, silent past vega.executor.timeout, is killed and
    its task runs elsewhere: the job finishes with the exact result."""
    ctx = fresh_ctx("local[2,4]", conf={"vega.locality.wait": 0,
                                      "vega.shuffle.io.connection_timeout": 0.5,
                                      "vega.executor.heartbeat_interval": 0.2,
                                      "vega.executor.timeout": 2})
    rdd, computed = counting(ctx, n=40, partitions=2)
    rdd.cache()
    assert rdd.coalesce(1).count() == 40  # one task caches both partitions: one holder
    (holder,) = ctx.cached_rdds()[0]["executors"]
    os.kill(ctx.backend.processes[holder].pid, signal.SIGSTOP)
    assert rdd.map(lambda x: x + 1).collect() == list(range(1, 41))
    assert computed.value == 80


@pytest.mark.timeout(60)
def test_a_cached_block_the_holder_cannot_read_is_recomputed(fresh_ctx):
    """DISK_ONLY block whose file is gone from its holder: the task away from it asks, gets
    nothing at once, and recomputes that partition only; the job does not fail.  (When the
    holder's reply never came, the task waited out the relay's 120 s and the job still
    passed: the timeout makes that a failure.)"""
    ctx = fresh_ctx("local[2,4]")
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.persist(StorageLevel.DISK_ONLY)
    assert rdd.count() == 40
    blocks = os.path.join(ctx.app_dir, "blocks")
    lost = os.path.join(blocks, "exec-1", f"rdd_{rdd.id()}_0")
    os.unlink(lost if os.path.exists(lost) else os.path.join(blocks, "exec-2", f"rdd_{rdd.id()}_0"))
    assert rdd.map_partitions(_failing_first_attempt).collect() == list(range(40))
    # partition 0's first attempt (on its holder) and its retry both recompute it
    assert computed.value == 40 + 10


def test_cached_partitions_of_a_killed_cluster_executor_are_recomputed_by_tasks_away(fresh_ctx):
    """local-cluster[2,1]: the executor holding every cached partition SIGKILLed; the tasks
    on the other executors find no holder to fetch from and compute them, and the job
    finishes with the exact result."""
    from proc_helpers import executor_processes

    ctx = fresh_ctx("local-cluster[2,1]")
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.cache()
    assert rdd.coalesce(1).count() == 40  # one task caches every partition: one holder
    (holder,) = ctx.cached_rdds()[0]["executors"]
    victim = next(pid for pid, argv in executor_processes(ctx.app_dir).items() if holder in argv)
    os.kill(victim, signal.SIGKILL)
    assert rdd.map(lambda x: x + 1).collect() == list(range(1, 41))
    assert computed.value == 80


@pytest.mark.timeout(60)
@pytest.mark.parametrize("master", ["local[2,4]", "local-cluster[2,1]"])
def test_a_cached_block_that_does_not_pickle_is_recomputed_by_the_task_away_from_it(
        fresh_ctx, master):
    """Records holding a lock cached in memory: the holder answers that it cannot send them,
    and each task away from them computes them at once (before: the request went unanswered
    until vega.shuffle.io.connection_timeout, here 600 s, past this test's timeout)."""
    ctx = fresh_ctx(master, conf={"vega.shuffle.io.connection_timeout": 600})
    computed = ctx.accumulator(0)

    def locked(x):
        import threading

        computed.add(1)
        return x, threading.Lock()

    rdd = ctx.parallelize(range(4), 2).map(locked).cache()
    assert rdd.map(lambda kv: kv[0]).collect() == [0, 1, 2, 3]
    assert rdd.map_partitions(_failing_first_attempt).map(lambda kv: kv[0]).collect() == \
        [0, 1, 2, 3]
    assert computed.value == 8


def test_replicated_blocks_survive_an_executor_killed_on_a_cluster(fresh_ctx):
    """MEMORY_ONLY_2 on local-cluster[2,1]: SIGKILL one executor, nothing is recomputed (the
    other holds every partition, read locally or fetched by a replacement executor)."""
    from proc_helpers import executor_processes

    ctx = fresh_ctx("local-cluster[2,1]")
    rdd, computed = counting(ctx, n=40, partitions=4)
    rdd.persist(StorageLevel.MEMORY_ONLY_2)
    assert rdd.collect() == list(range(40))
    assert ctx.cached_rdds()[0]["executors"] == ["exec-1", "exec-2"]
    victim = next(pid for pid, argv in executor_processes(ctx.app_dir).items()
                  if "exec-1" in argv)
    os.kill(victim, signal.SIGKILL)
    assert rdd.collect() == list(range(40))
    assert rdd.map(lambda x: x * 2).sum() == 2 * sum(range(40))
    assert computed.value == 40


CROSS_HOST_JOB = """\
import time
from vega_runtime import Context, TaskContext

def fail_first(records):
    if TaskContext.get().attempt_number() == 0:
        raise ValueError("first attempt fails on purpose")
    return records

with Context() as ctx:
    deadline = time.monotonic() + 60
    while len(ctx.status_tracker().get_executor_infos()) < 3:  # the driver and 2 executors
        assert time.monotonic() < deadline, "the executors never registered"
        time.sleep(0.05)
    computed = ctx.accumulator(0)

    def touch(x):
        computed.add(1)
        return x

    rdd = ctx.parallelize(range(40), 4).map(touch).cache()
    assert rdd.count() == 40
    holders = ctx.cached_rdds()[0]["executors"]
    same = rdd.map_partitions(fail_first).collect() == list(range(40))
    print("RESULT", same, computed.value, len(holders))
"""


@requires_netns_sshd
@pytest.mark.parametrize("firewalled", [False, True], ids=["direct", "firewalled"])
def test_a_task_on_another_host_reads_the_cached_partition_from_its_holder(tmp_path,
                                                                           firewalled):
    """Two hosts (network namespaces), one executor each: every retry runs on the other host
    and fetches its cached partition from the holder's block server, listening on its
    worker's address: nothing is recomputed (before: 80 computations).  With the first
    host refusing the second's connections to its ephemeral ports (a firewall: the block
    servers' among them), the second host's tasks ask through the driver instead."""
    import subprocess
    import sys

    from netns_hosts import NetworkHosts
    from proc_helpers import REPO, vega_processes
    from test_start_cluster import write_cluster
    from test_start_cluster_netns import vega_in_control

    job = tmp_path / "cached.py"
    job.write_text(CROSS_HOST_JOB)
    python = tmp_path / "python"  # the workers run this checkout's code, as the driver does
    python.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    with NetworkHosts(2, tmp_path / "net") as net:
        first = net.hosts[0]
        workers = [f"host: {h.host}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work\n"
                   f"python: {python}" for h in net.hosts]
        config, _ = write_cluster(tmp_path, first, workers, master_host=first.host, port=7077)
        try:
            started = vega_in_control(net, "start-cluster", "--config", config)
            assert started.returncode == 0, started.stdout + started.stderr
            if firewalled:  # (the master's port, 7077, stays open; only new connections from
                # the second host are refused: --syn lets the replies to the first host's own
                # connections in, which otherwise waited out a 10 s connect timeout)
                subprocess.run(net.in_host(0, [
                    "iptables", "-w", "-I", "INPUT", "-p", "tcp", "--syn", "-s", net.hosts[1].host,
                    "--dport", "32768:65535", "-j", "REJECT", "--reject-with", "tcp-reset"]),
                    check=True)
            env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
            ran = vega_in_control(net, "submit", "--master", f"vega://{first.host}:7077",
                                  str(job), env=env)
            assert "RESULT True 40 2" in ran.stdout, ran.stdout + ran.stderr
        finally:
            vega_in_control(net, "stop-cluster", "--config", config)
        assert vega_processes(str(tmp_path / "work")) == []


@pytest.mark.parametrize("master", ["local", "local[1]", "local[2]"])
def test_a_replicated_level_with_too_few_executors_to_copy_to_warns_once_an_rdd(fresh_ctx,
                                                                               caplog, master):
    """As Spark's BlockManager ("replicated to only 0 peer(s) instead of 1 peers"): a block
    fewer other executors take than its level asks is said, once for each RDD (local and
    local[1] run one executor; local[2]'s second takes MEMORY_ONLY_2's copies but is one
    short of DISK_ONLY_3's two)."""
    ctx = fresh_ctx(master)
    first, _ = counting(ctx)
    second, _ = counting(ctx)
    first.persist(StorageLevel.MEMORY_ONLY_2)
    second.persist(StorageLevel.DISK_ONLY_3)
    with caplog.at_level("WARNING", logger="vega_runtime"):
        assert (first.count(), first.count(), second.count()) == (40, 40, 40)
    said = [r.getMessage() for r in caplog.records if "replicated" in r.getMessage()]
    one_executor = " (local and local[1] run one executor)"
    expected = [(second, "DISK_ONLY_3", 1, 2, "")] if master == "local[2]" else [
        (first, "MEMORY_ONLY_2", 0, 1, one_executor), (second, "DISK_ONLY_3", 0, 2, one_executor)]
    assert said == [f"RDD {rdd.id()} ({level}): partition {said[i].split()[4]} replicated to "
                    f"only {made} other executors instead of {asked}, as no more are "
                    f"reachable{why}; said once an RDD"
                    for i, (rdd, level, made, asked, why) in enumerate(expected)]


def test_an_executor_keeps_a_bounded_number_of_connections_to_block_servers():
    """An executor keeps its connection to each block server it fetched a cached partition
    from, for the next fetch; under dynamic allocation's churn the holders come and go, and
    one to a holder gone since was kept for as long as the executor ran. Past
    KEPT_BLOCK_CONNECTIONS the least recently used is closed (real block servers, TLS and
    the cluster's secret)."""
    import pickle

    from proc_helpers import wait_for

    from vega_runtime.net.connection import new_secret
    from vega_runtime.net.messages import CachedBlock
    from vega_runtime.net.server import Server
    from vega_runtime.scheduler.executor_loop import (KEPT_BLOCK_CONNECTIONS,
                                                      _CachedBlockFetcher, serve_cached_blocks)

    class Holder:  # what a block server asks of its executor
        @staticmethod
        def cached_block(request):
            return CachedBlock(request.request_id, pickle.dumps([request.partition]))

    secret = new_secret()
    servers = [Server("127.0.0.1", 0, secret, lambda c: serve_cached_blocks(Holder, c),
                      f"block-server-{i}").start() for i in range(KEPT_BLOCK_CONNECTIONS + 8)]
    try:
        fetch = _CachedBlockFetcher(None, secret)
        for i, server in enumerate(servers):
            assert fetch((7, i), ["exec"], {"exec": f"127.0.0.1:{server.port}"}, 10) == [i]
        wait_for(lambda: sum(s.established for s in servers) == KEPT_BLOCK_CONNECTIONS, 10,
                 "the oldest connections closed")
        assert [s.established for s in servers] == [0] * 8 + [1] * KEPT_BLOCK_CONNECTIONS
        assert fetch((7, 30), ["exec"], {"exec": f"127.0.0.1:{servers[0].port}"}, 10) == [30]
    finally:
        for server in servers:
            server.stop()
