"""A real Slurm cluster for tests: munged, slurmctld and one slurmd per network namespace.

Nothing here is a mock: ``SlurmCluster(n, tmp_dir)`` runs Debian's ``munged``,
``slurmctld`` and ``slurmd`` (packages ``slurm-wlm`` and ``munge``) with one slurm.conf and
a munge key of its own, both written to ``tmp_dir``::

    namespace s18-ctl  bridge s18-br0  10.118.0.1/24   slurmctld (port 6817), clients (sbatch ...)
    namespace s18-n1   eth0            10.118.0.11/24  slurmd -N s18n1 (port 6818)
    namespace s18-n2   eth0            10.118.0.12/24  slurmd -N s18n2
    ...

slurmctld runs as this machine's host name (it checks that ``SlurmctldHost`` names
it) at the control address.  One munged serves them all through a socket file in a
short directory of /tmp (with the slurmds' spools: Unix socket paths are at most 108
bytes, more than a deep ``tmp_dir`` leaves; deleted on close) (a path socket works across network namespaces; slurm.conf names it with
``AuthInfo=socket=``).  The nodes
share this machine's file system, as a cluster's nodes share a home directory.  Node
names do not resolve: slurm.conf gives each one a ``NodeAddr``.  Every slurmd has its own
spool, pid and log file (``%n`` in slurm.conf).  The root namespace is not touched; the
names (prefix ``s18``) and subnet (10.118.0.0/24) are this module's alone.

Slurm clients must run with ``SLURM_CONF`` set and inside ``s18-ctl``: ``run`` and
``command`` do both.  Needs root, iproute2 and the two packages (``.ci/run`` installs
them); ``requires_slurm`` skips otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from proc_helpers import pid_alive, wait_for
from sshd_hosts import in_netns, kill_tree

SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "srun", "scontrol", "squeue",
                  "scancel")
CONTROL_NS = "s18-ctl"
NODE_NS_PREFIX = "s18-n"
BRIDGE = "s18-br0"
SUBNET = "10.118.0."
CONTROL_IP = SUBNET + "1"


def _binary(name: str) -> Optional[str]:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                       if os.access(p, os.X_OK)), None)


def missing_binaries() -> List[str]:
    return [name for name in SLURM_BINARIES if not _binary(name)]


requires_slurm = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_binaries()) or not shutil.which("ip"),
    reason=f"needs root, iproute2 and Debian's slurm-wlm and munge packages (missing: "
           f"{', '.join(missing_binaries()) or 'none'}); .ci/run installs them")


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(args, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def _kill_namespace(ns: str) -> None:
    res = _sh("ip", "netns", "pids", ns, check=False)
    for pid in (int(p) for p in res.stdout.split() if p.isdigit()):
        if pid != os.getpid() and pid_alive(pid):
            kill_tree(pid)
    _sh("ip", "netns", "del", ns, check=False)


def cleanup_leftovers() -> None:
    """Delete this module's namespaces (and what runs in them) left by a crashed run."""
    for ns in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if ns == CONTROL_NS or ns.startswith(NODE_NS_PREFIX):
            _kill_namespace(ns)


SLURM_CONF = """\
ClusterName=s18
SlurmctldHost={hostname}({control_ip})
MailProg=/bin/true
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={tmp}/ctld-state
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdSpoolDir={spool}/%n
SlurmdPidFile={tmp}/slurmd-%n.pid
SlurmdLogFile={tmp}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=300
InactiveLimit=0
MessageTimeout=10
SlurmdTimeout=60
SchedulerType=sched/backfill
NodeName=DEFAULT CPUs={cpus} RealMemory={memory} State=UNKNOWN
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """``n`` Slurm nodes (``s18n1`` .. ``s18nN``) and their controller (a context manager).

    Attributes after ``__enter__``: ``nodes`` (names), ``ips``, ``namespaces`` (the
    nodes'), ``all_namespaces`` (and the controller's, a login host), ``conf``
    (slurm.conf's path), ``env`` (the environment Slurm clients need).  Cleanup kills every
    process in the namespaces (daemons, job steps) and deletes them, also when the body
    raises."""

    def __init__(self, n: int, tmp_dir, cpus: int = 2, memory_mb: int = 1000):
        self.n = n
        self.tmp = Path(tmp_dir).absolute()
        self.cpus, self.memory_mb = cpus, memory_mb
        self.nodes = [f"s18n{i}" for i in range(1, n + 1)]
        self.namespaces = [f"{NODE_NS_PREFIX}{i}" for i in range(1, n + 1)]
        self.ips = [f"{SUBNET}{10 + i}" for i in range(1, n + 1)]
        self.all_namespaces = [*self.namespaces, CONTROL_NS]  # the nodes' and the login host's
        self.conf = str(self.tmp / "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        self._daemons: List[subprocess.Popen] = []
        self._munged_pid = 0
        self.spool: Optional[Path] = None

    # -- lifecycle

    def __enter__(self) -> "SlurmCluster":
        cleanup_leftovers()
        try:
            self._network()
            self._munge()
            self._config()
            self._start_daemons()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _network(self) -> None:
        _sh("ip", "netns", "add", CONTROL_NS)
        _sh("ip", "-n", CONTROL_NS, "link", "set", "lo", "up")
        _sh("ip", "-n", CONTROL_NS, "link", "add", BRIDGE, "type", "bridge")
        _sh("ip", "-n", CONTROL_NS, "addr", "add", f"{CONTROL_IP}/24", "dev", BRIDGE)
        _sh("ip", "-n", CONTROL_NS, "link", "set", BRIDGE, "up")
        for i, (ns, ip) in enumerate(zip(self.namespaces, self.ips), start=1):
            port = f"s18v{i}"
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
            _sh("ip", "-n", CONTROL_NS, "link", "add", port, "type", "veth", "peer", "name",
                "eth0", "netns", ns)
            _sh("ip", "-n", CONTROL_NS, "link", "set", port, "master", BRIDGE)
            _sh("ip", "-n", CONTROL_NS, "link", "set", port, "up")
            _sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def _munge(self) -> None:
        munge = self.tmp / "munge"
        munge.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = munge / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(1024))
        # munged's socket and slurmstepd's (in the spool: ``<node>_<job>.<step>``) are Unix
        # socket paths of at most 108 bytes: they go in a short directory of /tmp, not in
        # tmp_dir, which is as long as the caller's TMPDIR and the test's name make it
        self.spool = Path(tempfile.mkdtemp(prefix="s18-", dir="/tmp"))
        self.munge_socket = str(self.spool / "munge.socket")
        pidfile = munge / "munged.pid"
        _sh(_binary("munged"), "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
            f"--pid-file={pidfile}", f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}")
        self._munged_pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(),
                                        15, "munged's pid file"))

    def _config(self) -> None:
        nodes = "\n".join(f"NodeName={name} NodeAddr={ip} NodeHostname={name}"
                          for name, ip in zip(self.nodes, self.ips))
        (self.tmp / "ctld-state").mkdir(exist_ok=True)
        for name in self.nodes:
            (self.spool / name).mkdir()
        # slurmd initializes a cgroup plugin even when no plugin uses cgroups, and its
        # guess fails on a tmpfs /sys/fs/cgroup: name the machine's hierarchy
        unified = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        (self.tmp / "cgroup.conf").write_text("CgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\n"
                                              if unified else "CgroupPlugin=cgroup/v1\n")
        Path(self.conf).write_text(SLURM_CONF.format(
            control_ip=CONTROL_IP, hostname=socket.gethostname(),
            munge_socket=self.munge_socket, tmp=self.tmp, spool=self.spool,
            cpus=self.cpus, memory=self.memory_mb, nodes=nodes))

    def _start(self, ns: str, argv: Sequence[str], log_name: str) -> None:
        with open(self.tmp / log_name, "ab") as out:
            self._daemons.append(subprocess.Popen(
                in_netns(ns, argv), env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=out, start_new_session=True))

    def _start_daemons(self) -> None:
        self._start(CONTROL_NS, [_binary("slurmctld"), "-D", "-i", "-f", self.conf],
                    "slurmctld.out")
        for ns, name in zip(self.namespaces, self.nodes):
            self._start(ns, [_binary("slurmd"), "-D", "-N", name, "-f", self.conf],
                        f"slurmd-{name}.out")
        wait_for(self._all_idle, 60, f"Slurm nodes {self.nodes} idle\n{self.logs()}")

    def _all_idle(self) -> bool:
        for proc in self._daemons:
            if proc.poll() is not None:
                raise AssertionError(f"a Slurm daemon exited with {proc.returncode}:\n"
                                     f"{self.logs()}")
        res = self.run(["sinfo", "-h", "-N", "-o", "%N %t"])
        states = dict(line.split() for line in res.stdout.splitlines() if line.strip())
        return all(states.get(name) == "idle" for name in self.nodes)

    def close(self) -> None:
        """Stop the daemons and munged, kill everything in the namespaces, delete them."""
        for proc in self._daemons:
            if proc.poll() is None:
                kill_tree(proc.pid)
            proc.wait(timeout=10)
        self._daemons.clear()
        for ns in [*self.namespaces, CONTROL_NS]:
            if os.path.exists(f"/run/netns/{ns}"):
                _kill_namespace(ns)
        if self._munged_pid and pid_alive(self._munged_pid):
            os.kill(self._munged_pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(self._munged_pid), 10, "munged to stop")
        self._munged_pid = 0
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)
            self.spool = None

    # -- clients

    def command(self, argv: Sequence[str]) -> List[str]:
        """``argv`` run in the controller's namespace (where Slurm clients run)."""
        return in_netns(CONTROL_NS, argv)

    def run(self, argv: Sequence[str], timeout: float = 30,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), env=kwargs.pop("env", self.env),
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    def job_state(self, job_id: str) -> str:
        """The job's state (RUNNING, COMPLETED, CANCELLED, ...) as slurmctld reports it."""
        out = self.run(["scontrol", "show", "job", "-o", job_id]).stdout
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return ""

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")) + sorted(self.tmp.glob("*.out")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name}\n{text[-3000:]}")
        return "\n".join(parts)
