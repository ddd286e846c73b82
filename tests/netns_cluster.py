"""A ``vega://`` cluster spread over network namespaces, for flaky-network tests.

``NetnsCluster(tmp_dir)`` builds five namespaces joined by a bridge (subnet 10.124.0.0/24,
used by no other test) and starts real daemons in them::

    namespace vega-fb   bridge vfb0  10.124.0.1   (nothing runs here)
    namespace vega-fm   10.124.0.2   the master (vega master --worker-timeout ...)
    namespace vega-f1   10.124.0.11  worker 1
    namespace vega-f2   10.124.0.12  worker 2
    namespace vega-fd   10.124.0.20  the driver (vega submit) and the CLI

``cut(ns, peer_ip, ...)`` adds iptables rules in ``ns`` (DROP: silent, half-open
connections; REJECT: TCP resets) against one peer, in one direction or both; ``heal``
removes every rule.  Leaving the context kills every process in the namespaces and
deletes them, also when the body raised; leftovers of a crashed run are removed at the
start.  Needs root, iproute2 and iptables (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from netns_hosts import delete_netns, list_netns
from proc_helpers import REPO, kill_group, vega_argv, wait_for

BRIDGE_NS, MASTER_NS, DRIVER_NS = "vega-fb", "vega-fm", "vega-fd"
WORKER_NS = ("vega-f1", "vega-f2")
PREFIX = "10.124.0."
MASTER_IP, DRIVER_IP = PREFIX + "2", PREFIX + "20"
WORKER_IPS = (PREFIX + "11", PREFIX + "12")
ADDRESSES = {MASTER_NS: MASTER_IP, DRIVER_NS: DRIVER_IP, **dict(zip(WORKER_NS, WORKER_IPS))}

requires_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="needs root, iproute2 and iptables (.ci/run installs them)")


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_ns(ns: str, args: Sequence[str]) -> List[str]:
    return ["ip", "netns", "exec", ns, *args]


class NetnsCluster:
    """A master and two workers, each in a namespace of its own, and a driver namespace
    (see the module docstring).  ``url`` is the master's; ``env`` holds the secret."""

    def __init__(self, tmp_dir, worker_timeout: float = 3.0, worker_args: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None):
        self.tmp = Path(tmp_dir)
        self.extra_env = dict(env or {})
        self.worker_timeout = worker_timeout
        self.worker_args = list(worker_args)
        self.procs: List[subprocess.Popen] = []
        self.url = ""
        self.env: Dict[str, str] = {}
        self._log = None

    # -- lifecycle

    def __enter__(self) -> "NetnsCluster":
        try:
            self._cleanup_namespaces()
            self._build()
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _namespaces(self) -> List[str]:
        return [BRIDGE_NS, MASTER_NS, *WORKER_NS, DRIVER_NS]

    def _cleanup_namespaces(self) -> None:
        present = list_netns()
        for ns in self._namespaces():
            if ns in present:
                delete_netns(ns)

    def _build(self) -> None:
        _sh("ip", "netns", "add", BRIDGE_NS)
        _sh("ip", "-n", BRIDGE_NS, "link", "add", "vfb0", "type", "bridge")
        _sh("ip", "-n", BRIDGE_NS, "addr", "add", PREFIX + "1/24", "dev", "vfb0")
        _sh("ip", "-n", BRIDGE_NS, "link", "set", "vfb0", "up")
        for i, (ns, ip) in enumerate(ADDRESSES.items()):
            port = f"vfp{i}"
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", BRIDGE_NS, "link", "add", port, "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            _sh("ip", "-n", BRIDGE_NS, "link", "set", port, "master", "vfb0")
            _sh("ip", "-n", BRIDGE_NS, "link", "set", port, "up")
            _sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def _start(self) -> None:
        secret = self.tmp / "secret"
        secret.write_text(os.urandom(16).hex())
        os.chmod(secret, 0o600)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("VEGA_MASTER", "VEGA_SUBMIT_CONF", "COLUMNS")}
        self.env["VEGA_SECRET_FILE"] = str(secret)
        self.env.update(self.extra_env)
        self._log = open(self.tmp / "daemons.log", "ab")
        ready = self.tmp / "master.ready"
        self.procs.append(self.spawn(MASTER_NS, [
            "master", "--host", MASTER_IP, "--port", "0", "--webui-port", "0",
            "--work-dir", str(self.tmp / "master"), "--worker-timeout",
            str(self.worker_timeout), "--ready-file", str(ready)], stdout=self._log))
        wait_for(ready.exists, what="the master")
        self.url = f"vega://{MASTER_IP}:{json.loads(ready.read_text())['port']}"
        for i, ns in enumerate(WORKER_NS, start=1):
            self.procs.append(self.spawn(ns, [
                "worker", self.url, "--cores", "1", "--memory", "1g",
                "--work-dir", str(self.tmp / f"w{i}"), *self.worker_args], stdout=self._log))
        wait_for(lambda: self.workers_alive() == sorted(WORKER_IPS), timeout=60,
                 what="both workers")

    def close(self) -> None:
        self.heal()
        for proc in reversed(self.procs):
            kill_group(proc)
        self.procs.clear()
        self._cleanup_namespaces()
        if self._log:
            self._log.close()
            self._log = None

    # -- processes

    def spawn(self, ns: str, args: Sequence[str], **popen) -> subprocess.Popen:
        """``vega ARGS`` in namespace ``ns`` (its own session, killed at close)."""
        popen.setdefault("stderr", subprocess.STDOUT)
        proc = subprocess.Popen(in_ns(ns, vega_argv(*args)), cwd=REPO, env=self.env,
                                start_new_session=True, **popen)
        self.procs.append(proc)
        return proc

    def vega(self, ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(in_ns(ns, vega_argv(*args)), cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def status(self) -> Optional[dict]:
        out = self.vega(MASTER_NS, "status", "--master", self.url, "--json")
        return json.loads(out.stdout) if out.returncode == 0 else None

    def workers_alive(self) -> Optional[List[str]]:
        current = self.status()
        return current and sorted(w["host"] for w in current["workers"]
                                  if w["state"] == "alive")

    # -- faults

    def cut(self, ns: str, peer_ip: str, target: str = "DROP", direction: str = "both") -> None:
        """Drop (or reject) packets between namespace ``ns`` and ``peer_ip``: ``direction``
        ``in`` (from the peer), ``out`` (to it) or ``both``."""
        how = ["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"] \
            if target == "REJECT" else ["-j", "DROP"]
        if direction in ("in", "both"):
            self.iptables(ns, "-I", "INPUT", "-s", peer_ip, *how)
        if direction in ("out", "both"):
            self.iptables(ns, "-I", "OUTPUT", "-d", peer_ip, *how)

    def heal(self, ns: Optional[str] = None) -> None:
        present = list_netns()
        for name in [ns] if ns else list(ADDRESSES):
            if name in present:
                for chain in ("INPUT", "OUTPUT"):
                    self.iptables(name, "-F", chain, check=False)

    def iptables(self, ns: str, *rule: str, check: bool = True):
        """Run ``iptables RULE`` in ``ns`` (removed by ``heal`` and at close)."""
        return _sh(*in_ns(ns, ["iptables", "-w", *rule]), check=check)

    def connections(self, ns: str, peer_ip: str) -> List[str]:
        """The established TCP connections in ``ns`` with ``peer_ip`` (``ss`` lines)."""
        out = _sh(*in_ns(ns, ["ss", "-Htn", "state", "established", "dst", peer_ip])).stdout
        return [line for line in out.splitlines() if line.strip()]
