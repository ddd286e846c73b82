"""Hosts made of network namespaces for tests, each with a real sshd on port 22.

``NetworkHosts(n, tmp_dir)`` builds N "hosts" out of network namespaces joined by a
bridge, each running ``sshd_hosts.start_sshd`` on port 22.  Layout::

    namespace vega-ctl   bridge vega-br0  10.88.0.1/24   (where clients such as start-cluster run)
    namespace vega-h1    eth0             10.88.0.11/24  sshd on 10.88.0.11:22
    namespace vega-h2    eth0             10.88.0.12/24  sshd on 10.88.0.12:22
    ...

``NetworkHosts(n, tmp_dir, ipv6=True)``: the same with IPv6 addresses only (the bridge
fd88::1/64, host i fd88::(10 + i)), for clusters on IPv6 networks.

Every address is inside namespaces made here; the root namespace is not touched.  A host
reaches 10.88.0.1 and every other host; the test process itself (root namespace) reaches
none of them, so clients must run in ``vega-ctl`` (``NetworkHosts.run_in_control`` /
``in_control``; ``ssh_run`` does that by itself).

Usage from a test module (``tests/`` is on ``sys.path``)::

    from netns_hosts import NetworkHosts, requires_netns_sshd
    from sshd_hosts import ssh_run

    @requires_netns_sshd
    def test_something(tmp_path):
        with NetworkHosts(3, tmp_path) as net:
            code, out = ssh_run(net.hosts[0], "hostname -I")
            proc = net.run_in_control([sys.executable, "-m", "vega_cli.main", ...])

Needs root, iproute2, iptables and openssh-server/-client (``.ci/run`` installs them).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from proc_helpers import pid_alive
from sshd_hosts import (PathLike, SshHost, SshResult, _have_sshd, _kill, _sh, in_netns,
                        make_client_key, ssh_run, start_sshd)

CONTROL_NS = "vega-ctl"
HOST_NS_PREFIX = "vega-h"          # vega-h1 .. vega-hN
BRIDGE = "vega-br0"
SUBNET_PREFIX = "10.88.0."
CONTROL_IP = SUBNET_PREFIX + "1"
SUBNET6_PREFIX = "fd88::"          # NetworkHosts(ipv6=True): fd88::1, fd88::11, ...
CONTROL_IP6 = SUBNET6_PREFIX + "1"
HOST_IP_BASE = 10                  # host i (1-based) is 10.88.0.(10 + i)
_HOST_NS_RE = re.compile(r"^vega-h\d+$")
_LOCK_PATH = "/run/lock/vega-network-hosts.lock"



def _have_netns() -> bool:
    return bool(shutil.which("ip")) and bool(shutil.which("iptables"))


requires_netns_sshd = pytest.mark.skipif(
    os.geteuid() != 0 or not _have_sshd() or not _have_netns(),
    reason="needs root, openssh-server/-client, iproute2 and iptables")


# --------------------------------------------------------------------------- namespaces

def list_netns() -> List[str]:
    """Names of the network namespaces in /run/netns."""
    out = _sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _ours(name: str) -> bool:
    return name == CONTROL_NS or bool(_HOST_NS_RE.match(name))


def _kill_netns_processes(ns: str, timeout: float = 10.0) -> None:
    """SIGKILL every process whose network namespace is ``ns`` (ours only: never the
    test process, which lives in the root namespace)."""
    deadline = time.monotonic() + timeout
    while True:
        res = _sh("ip", "netns", "pids", ns, check=False)
        pids = [int(p) for p in res.stdout.split() if p.isdigit() and int(p) != os.getpid()]
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            return
        for p in pids:
            _kill(p, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes in {ns} survive SIGKILL: {pids}")
        time.sleep(0.02)


def delete_netns(ns: str) -> None:
    """Kill what runs in ``ns`` and delete it (no error if it does not exist)."""
    if ns not in list_netns():
        return
    _kill_netns_processes(ns)
    _sh("ip", "netns", "del", ns, check=False)


def cleanup_leftovers() -> List[str]:
    """Delete namespaces (and their processes) left by a crashed run: ``vega-ctl`` and
    ``vega-h<N>``.  Returns the names deleted."""
    gone = [ns for ns in list_netns() if _ours(ns)]
    for ns in gone:
        delete_netns(ns)
    return gone


class NetworkHosts:
    """N hosts made of network namespaces, each with a real sshd on port 22 (a context
    manager; see the module docstring for the layout).

    Attributes after ``__enter__``: ``hosts`` (list of ``SshHost``, ``hosts[i].host`` is
    the IP, ``client_netns == "vega-ctl"``), ``namespaces`` (host namespace names),
    ``key_path`` (the one client key every host authorizes), ``known_hosts_path`` (all
    host keys, for strict checking), ``control_ns`` / ``control_ip``.
    Only one may be active at a time on a machine (the names are fixed; a lock file
    serializes processes).  Cleanup kills every process in the namespaces and deletes
    them, also when the body raises; stale ones from a crashed run are removed at start.
    """

    control_ns = CONTROL_NS
    bridge = BRIDGE
    _active_here = False

    def __init__(self, n: int, tmp_dir: PathLike, *, lock_timeout: float = 120.0,
                 sshd_timeout: float = 15.0, ipv6: bool = False):
        if not 1 <= n <= 200:
            raise ValueError("n must be between 1 and 200")
        self.n = n
        self.tmp_dir = Path(tmp_dir).absolute()
        self.lock_timeout = lock_timeout
        self.sshd_timeout = sshd_timeout
        self.namespaces = [f"{HOST_NS_PREFIX}{i}" for i in range(1, n + 1)]
        #: ``ipv6``: the hosts and the bridge have IPv6 addresses only (fd88::1, fd88::11 ...)
        self.ipv6 = ipv6
        prefix, self.control_ip, self._prefix_len = (SUBNET6_PREFIX, CONTROL_IP6, 64) if ipv6 \
            else (SUBNET_PREFIX, CONTROL_IP, 24)
        self.ips = [f"{prefix}{HOST_IP_BASE + i}" for i in range(1, n + 1)]
        self.hosts: List[SshHost] = []
        self.key_path = ""
        self.known_hosts_path = ""
        self.setup_seconds = 0.0
        self._dropped: set = set()
        self._procs: List[subprocess.Popen] = []
        self._lock_fd: Optional[int] = None
        self._entered = False

    # -- lifecycle

    def __enter__(self) -> "NetworkHosts":
        if NetworkHosts._active_here:
            raise RuntimeError("a NetworkHosts is already active in this process")
        started = time.monotonic()
        self._lock()
        NetworkHosts._active_here = True
        self._entered = True
        try:
            cleanup_leftovers()
            self._build()
        except BaseException:
            self.close()
            raise
        self.setup_seconds = time.monotonic() - started
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lock(self) -> None:
        os.makedirs(os.path.dirname(_LOCK_PATH), exist_ok=True)
        fd = os.open(_LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fd = fd
                return
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() > deadline:
                os.close(fd)
                raise TimeoutError(f"another NetworkHosts holds {_LOCK_PATH}")
            time.sleep(0.1)

    def _build(self) -> None:
        ctl = self.control_ns
        _sh("ip", "netns", "add", ctl)
        _sh("ip", "-n", ctl, "link", "set", "lo", "up")
        _sh("ip", "-n", ctl, "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "-n", ctl, *self._addr_add(self.control_ip), "dev", self.bridge)
        _sh("ip", "-n", ctl, "link", "set", self.bridge, "up")
        for i, (ns, ip) in enumerate(zip(self.namespaces, self.ips), start=1):
            port_if = f"vh{i}-br"
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", ctl, "link", "add", port_if, "type", "veth",
                "peer", "name", "eth0", "netns", ns)
            _sh("ip", "-n", ctl, "link", "set", port_if, "master", self.bridge)
            _sh("ip", "-n", ctl, "link", "set", port_if, "up")
            _sh("ip", "-n", ns, *self._addr_add(ip), "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")
        self.key_path = make_client_key(self.tmp_dir / "client_key")
        for i, (ns, ip) in enumerate(zip(self.namespaces, self.ips), start=1):
            self.hosts.append(start_sshd(self.tmp_dir / f"h{i}", host=ip, port=22, netns=ns,
                                         client_key=self.key_path, client_netns=ctl,
                                         timeout=self.sshd_timeout))
        known = self.tmp_dir / "known_hosts"
        known.write_text("".join(Path(h.known_hosts_path).read_text() for h in self.hosts))
        self.known_hosts_path = str(known)
        for h in self.hosts:  # any host's file then verifies every host (a cluster file
            h.known_hosts_path = self.known_hosts_path  # names one for all of them)

    def _addr_add(self, ip: str) -> List[str]:
        """``ip`` arguments giving an interface the address ``ip``: an IPv6 one without
        duplicate address detection, which would keep it unusable for a second or two."""
        return ["addr", "add", f"{ip}/{self._prefix_len}", *(["nodad"] if self.ipv6 else [])]

    def close(self) -> None:
        """Stop every sshd, kill everything in the namespaces, delete them (idempotent)."""
        if not self._entered:
            return
        errors = []
        for h in self.hosts:
            try:
                h.stop()
            except Exception as e:  # keep cleaning up
                errors.append(e)
        for ns in [*self.namespaces, self.control_ns]:
            try:
                delete_netns(ns)
            except Exception as e:
                errors.append(e)
        for p in self._procs:
            try:
                p.wait(timeout=10)
            except Exception as e:
                errors.append(e)
        self._procs.clear()
        self._dropped.clear()
        self._entered = False
        NetworkHosts._active_here = False
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        if errors:
            raise RuntimeError(f"NetworkHosts cleanup: {errors}")

    # -- running things

    def in_control(self, args: Sequence[str]) -> List[str]:
        """``args`` prefixed to run in the control namespace (for subprocess.run etc.)."""
        return in_netns(self.control_ns, args)

    def in_host(self, host_index: int, args: Sequence[str]) -> List[str]:
        """``args`` prefixed to run directly in host ``host_index``'s namespace (0-based)."""
        return in_netns(self.namespaces[host_index], args)

    def run_in_control(self, args: Sequence[str], **popen_kwargs) -> subprocess.Popen:
        """Start ``args`` in the control namespace; returns the Popen (pid == the command's
        pid).  Killed at cleanup if still running."""
        proc = subprocess.Popen(self.in_control(args), **popen_kwargs)
        self._procs.append(proc)
        return proc

    def ssh(self, host_index: int, command: str, **kwargs) -> SshResult:
        """``ssh_run(self.hosts[host_index], command, **kwargs)``."""
        return ssh_run(self.hosts[host_index], command, **kwargs)

    # -- partitions

    def _iptables(self, host_index: int, *rule: str, check: bool = True):
        return _sh(*self.in_host(host_index, ["iptables", "-w", *rule]), check=check)

    def drop(self, host_index: int) -> None:
        """Silently drop every packet in and out of host ``host_index`` (0-based) except on
        its loopback: it becomes unreachable (connects time out) and cannot reach others."""
        if host_index in self._dropped:
            return
        self._iptables(host_index, "-I", "INPUT", "!", "-i", "lo", "-j", "DROP")
        self._iptables(host_index, "-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP")
        self._dropped.add(host_index)

    def undrop(self, host_index: int) -> None:
        """Undo ``drop(host_index)`` (no-op if not dropped)."""
        for chain, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
            while self._iptables(host_index, "-D", chain, "!", flag, "lo", "-j", "DROP",
                                 check=False).returncode == 0:
                pass
        self._dropped.discard(host_index)

    def dropped(self) -> List[int]:
        return sorted(self._dropped)


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def network_hosts(tmp_path):
    """Factory: ``network_hosts(n)`` -> an entered ``NetworkHosts(n, ...)``, closed after
    the test.  At most one per test (the namespace names are fixed)."""
    if os.geteuid() != 0 or not _have_sshd() or not _have_netns():
        pytest.skip("needs root, openssh-server/-client, iproute2 and iptables")
    made: List[NetworkHosts] = []

    def make(n: int) -> NetworkHosts:
        net = NetworkHosts(n, tmp_path / f"net{len(made)}").__enter__()
        made.append(net)
        return net

    yield make
    for net in made:
        net.close()
