"""A silent network partition (iptables DROP) between two hosts made of network namespaces.

Namespace ``vega-pm`` holds a bridge (10.77.0.1), the master, one worker and the driver;
namespace ``vega-pw`` (10.77.0.2) holds the second worker.  Only addresses inside these
namespaces are used.  Needs root, iproute2 and iptables (``.ci/run`` installs them).
"""

import json
import os
import shutil
import subprocess

import pytest

from proc_helpers import REPO, kill_group, vega_argv, wait_for

MAIN, OTHER = "vega-pm", "vega-pw"
MAIN_IP, OTHER_IP = "10.77.0.1", "10.77.0.2"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, ip and iptables")


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def in_ns(ns, *args):
    return ["ip", "netns", "exec", ns, *args]


@pytest.fixture(scope="module")
def hosts():
    """Two network namespaces joined by a bridge; removed afterwards."""
    for ns in (MAIN, OTHER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    sh("ip", "netns", "add", MAIN)
    sh("ip", "netns", "add", OTHER)
    try:
        sh(*in_ns(MAIN, "ip", "link", "set", "lo", "up"))
        sh(*in_ns(OTHER, "ip", "link", "set", "lo", "up"))
        sh(*in_ns(MAIN, "ip", "link", "add", "vbr0", "type", "bridge"))
        sh(*in_ns(MAIN, "ip", "addr", "add", f"{MAIN_IP}/24", "dev", "vbr0"))
        sh(*in_ns(MAIN, "ip", "link", "set", "vbr0", "up"))
        sh(*in_ns(MAIN, "ip", "link", "add", "vpw-br", "type", "veth", "peer", "name", "vpw-eth",
                  "netns", OTHER))
        sh(*in_ns(MAIN, "ip", "link", "set", "vpw-br", "master", "vbr0"))
        sh(*in_ns(MAIN, "ip", "link", "set", "vpw-br", "up"))
        sh(*in_ns(OTHER, "ip", "addr", "add", f"{OTHER_IP}/24", "dev", "vpw-eth"))
        sh(*in_ns(OTHER, "ip", "link", "set", "vpw-eth", "up"))
        yield
    finally:
        for ns in (MAIN, OTHER):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start(ns, args, env, log):
    return subprocess.Popen(in_ns(ns, *vega_argv(*args)), cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_a_partitioned_worker_is_lost_the_job_finishes_and_it_rejoins(hosts, tmp_path):
    """DROP everything to and from one worker mid-job: the job finishes on the other worker
    with the exact result; once the rule is removed the worker registers again."""
    secret = tmp_path / "secret"
    secret.write_text(os.urandom(16).hex())
    os.chmod(secret, 0o600)
    env = {**os.environ, "VEGA_SECRET_FILE": str(secret)}
    env.pop("VEGA_MASTER", None)
    logs = open(tmp_path / "daemons.log", "ab")
    ready = tmp_path / "ready"
    procs = [start(MAIN, ["master", "--host", MAIN_IP, "--port", "0", "--webui-port", "0",
                          "--work-dir", str(tmp_path / "master"), "--worker-timeout", "3",
                          "--ready-file", str(ready)], env, logs)]
    try:
        wait_for(ready.exists, what="the master")
        url = f"vega://{MAIN_IP}:{json.loads(ready.read_text())['port']}"
        procs.append(start(MAIN, ["worker", url, "--cores", "1", "--memory", "1g",
                                  "--work-dir", str(tmp_path / "w-main")], env, logs))
        procs.append(start(OTHER, ["worker", url, "--cores", "1", "--memory", "1g",
                                   "--work-dir", str(tmp_path / "w-other")], env, logs))

        def status():
            out = subprocess.run(in_ns(MAIN, *vega_argv("status", "--master", url, "--json")),
                                 cwd=REPO, env=env, capture_output=True, text=True)
            return json.loads(out.stdout) if out.returncode == 0 else None

        def workers_alive():
            current = status()
            return current and sorted(w["host"] for w in current["workers"] if w["state"] == "alive")

        wait_for(lambda: workers_alive() == [MAIN_IP, OTHER_IP], what="both workers")
        job = tmp_path / "job.py"
        job.write_text(
            "import time\nfrom operator import add\nfrom vega_runtime import Context\n"
            "def slow(i, it):\n"
            "    print('running', i, flush=True)\n"
            "    for x in it:\n"
            "        time.sleep(0.02)\n"
            "        yield (x % 5, x)\n"
            "with Context(app_name='partitioned') as ctx:\n"
            "    pairs = ctx.parallelize(range(600), 6).map_partitions_with_index(slow)\n"
            "    print('RESULT', sorted(pairs.reduce_by_key(add).collect()), flush=True)\n")
        driver = subprocess.Popen(in_ns(MAIN, *vega_argv("submit", "--master", url, str(job))),
                                  cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        seen = []
        for line in driver.stdout:
            seen.append(line)
            if line.startswith(f"[{OTHER_IP} ") and "running" in line:
                break
        for chain in ("INPUT", "OUTPUT"):
            sh(*in_ns(OTHER, "iptables", "-A", chain, "-j", "DROP"))
        rest, _ = driver.communicate(timeout=120)
        output = "".join(seen) + rest
        assert driver.returncode == 0, output
        expected = sorted({k: sum(i for i in range(600) if i % 5 == k) for k in range(5)}.items())
        assert f"RESULT {expected}" in output
        assert any(w["host"] == OTHER_IP and w["state"] == "lost" for w in status()["workers"])
        for chain in ("INPUT", "OUTPUT"):
            sh(*in_ns(OTHER, "iptables", "-D", chain, "-j", "DROP"))
        wait_for(lambda: workers_alive() == [MAIN_IP, OTHER_IP], timeout=30,
                 what="the partitioned worker to rejoin")
    finally:
        for proc in reversed(procs):
            kill_group(proc)
        logs.close()
