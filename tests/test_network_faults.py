"""A flaky network under a real ``vega://`` cluster: iptables cuts between namespaces.

The master, two workers and the driver each run in a network namespace of their own
(``netns_cluster.NetnsCluster``, subnet 10.124.0.0/24); a test cuts links between them
with iptables DROP (silent: connections stay half-open) while a job runs, and checks
that the job finishes with the exact result, or fails in bounded time with one message
saying what happened.  Every process gets ``VEGA_NET_PEER_TIMEOUT=2``: a connection
whose peer acknowledges nothing for 2 s ends (TCP keepalive and TCP_USER_TIMEOUT).
Needs root, iproute2 and iptables (``.ci/run`` installs them).
"""

import subprocess
import time

import pytest

from netns_cluster import (DRIVER_NS, MASTER_IP, WORKER_IPS, NetnsCluster, requires_netns)
from proc_helpers import write_job

pytestmark = requires_netns

PEER_TIMEOUT = 2
JOB = """
import sys, time
from operator import add
from vega_runtime import Context

def slow(i, it):
    print('running', i, flush=True)
    for x in it:
        time.sleep(0.01)
        yield (x % 5, x)

with Context(app_name='flaky') as ctx:
    for job in range(int(sys.argv[1])):
        pairs = ctx.parallelize(range(600), 6).map_partitions_with_index(slow)
        print('RESULT', job, sorted(pairs.reduce_by_key(add).collect()), flush=True)
"""
EXPECTED = sorted({k: sum(i for i in range(600) if i % 5 == k) for k in range(5)}.items())
#: short timeouts, so that every fault is noticed within seconds
FAST = ("vega.executor.timeout=3", "vega.executor.heartbeat_interval=0.5",
        "vega.master.reconnect_timeout=3")


@pytest.fixture
def cluster(tmp_path):
    with NetnsCluster(tmp_path, env={"VEGA_NET_PEER_TIMEOUT": str(PEER_TIMEOUT)}) as net:
        yield net


def submit(cluster, tmp_path, jobs: int, *settings: str) -> subprocess.Popen:
    job = write_job(tmp_path, "flaky.py", JOB)
    confs = [part for setting in settings for part in ("--conf", setting)]
    return cluster.spawn(DRIVER_NS, ["submit", "--master", cluster.url, *confs, job, str(jobs)],
                         stdout=subprocess.PIPE, text=True)


def read_until(proc: subprocess.Popen, seen: list, predicate) -> None:
    """Read ``proc``'s output lines into ``seen`` until one satisfies ``predicate``."""
    for line in proc.stdout:
        seen.append(line)
        if predicate(line):
            return
    raise AssertionError("the driver ended first:\n" + "".join(seen))


def test_a_driver_cut_off_from_the_master_mid_job_finishes_it_and_resumes(cluster, tmp_path):
    """DROP between the driver and the master (executors still reach the driver) for
    longer than the peer and reconnect timeouts: the running job finishes on its
    executors, the driver resumes its application once the cut heals and the next job
    runs, both with the exact result."""
    driver = submit(cluster, tmp_path, 2, *FAST)
    seen: list = []
    read_until(driver, seen, lambda line: "running" in line)
    cluster.cut(DRIVER_NS, MASTER_IP)
    read_until(driver, seen, lambda line: line.startswith("RESULT 0"))
    time.sleep(PEER_TIMEOUT + 4)  # past the peer timeout and the reconnect timeout
    cluster.heal()
    rest, _ = driver.communicate(timeout=120)
    output = "".join(seen) + rest
    assert driver.returncode == 0, output
    assert f"RESULT 0 {EXPECTED}" in output and f"RESULT 1 {EXPECTED}" in output
    assert "vega: WARNING reconnected to the master; application app-" in output, output


def test_a_driver_cut_off_from_everything_fails_saying_the_master_is_unreachable(
        cluster, tmp_path):
    """DROP everything in and out of the driver's host mid-job, for good: its executors
    are taken for hung, none can be started, and the driver fails within seconds with
    MasterUnreachable (exit 3).  Before, its connection to the master stayed half-open,
    so it waited out vega.scheduler.executor_wait_timeout and then advised starting
    workers (which were running)."""
    driver = submit(cluster, tmp_path, 1, *FAST, "vega.scheduler.executor_wait_timeout=40")
    seen: list = []
    read_until(driver, seen, lambda line: "running" in line)
    for peer in (MASTER_IP, *WORKER_IPS):
        cluster.cut(DRIVER_NS, peer)
    cut = time.monotonic()
    rest, _ = driver.communicate(timeout=120)
    took = time.monotonic() - cut
    output = "".join(seen) + rest
    assert driver.returncode == 3, output
    assert "job failed: cannot reach the master at " + cluster.url in output, output
    assert "not back within vega.master.reconnect_timeout (3s)" in output, output
    assert "start workers" not in output, output
    assert took < 30, f"the driver took {took:.1f}s to fail:\n{output}"
