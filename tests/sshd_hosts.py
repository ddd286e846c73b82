"""Real OpenSSH servers for tests, on loopback or in a network namespace.

Nothing here is a mock: ``start_sshd`` runs ``/usr/sbin/sshd`` with a config and keys of
its own (written to a temporary directory); ``ssh_run`` and ``fabric_connection`` are
real clients.  Hosts made of network namespaces, each running such an sshd, are
``netns_hosts.NetworkHosts``.

Usage from a test module (``tests/`` is on ``sys.path``)::

    from sshd_hosts import requires_sshd, ssh_run, start_sshd

    @requires_sshd
    def test_something(tmp_path):
        host = start_sshd(tmp_path / "sshd")
        code, out = ssh_run(host, "hostname")

Needs root and openssh-server/-client (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

import pytest

from proc_helpers import descendants, pid_alive

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
SSH = shutil.which("ssh") or "/usr/bin/ssh"

PathLike = Union[str, os.PathLike]


def _have_sshd() -> bool:
    return (os.access(SSHD, os.X_OK) and bool(shutil.which("ssh-keygen"))
            and bool(shutil.which("ssh")))


#: Skip markers.  sshd needs root here (PermitRootLogin, /run/sshd, privilege separation).
requires_sshd = pytest.mark.skipif(
    os.geteuid() != 0 or not _have_sshd(),
    reason="needs root and openssh-server/openssh-client (/usr/sbin/sshd, ssh, ssh-keygen)")


# --------------------------------------------------------------------------- processes
# (pid_alive and descendants, which read /proc, come from proc_helpers.)

def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_tree(pid: int, timeout: float = 10.0) -> List[int]:
    """Freeze ``pid`` and all its descendants (SIGSTOP, so none can fork meanwhile), then
    SIGKILL them all and wait until they are gone (or zombies).  Returns the pids killed."""
    frozen: List[int] = []
    if pid_alive(pid):
        _kill(pid, signal.SIGSTOP)
        frozen.append(pid)
    while True:
        new = [p for root in list(frozen) for p in descendants(root) if p not in frozen]
        if not new:
            break
        for p in new:
            _kill(p, signal.SIGSTOP)
            frozen.append(p)
    for p in frozen:
        _kill(p, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in frozen):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes still alive after SIGKILL: "
                               f"{[p for p in frozen if pid_alive(p)]}")
        time.sleep(0.02)
    return frozen


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(args, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def in_netns(netns: Optional[str], args: Sequence[str]) -> List[str]:
    """``args`` prefixed with ``ip netns exec NETNS`` (unchanged when netns is None)."""
    return (["ip", "netns", "exec", netns] if netns else []) + [str(a) for a in args]


# --------------------------------------------------------------------------- sshd

@dataclass
class SshHost:
    """One running sshd and everything needed to log in to it as ``user`` with ``key_path``.

    ``netns`` is the namespace sshd runs in (None: the current one); ``client_netns`` is
    the namespace a client must run in to reach ``host:port`` (None: the current one).
    """
    host: str
    port: int
    user: str
    key_path: str                 # client private key (ed25519, no passphrase); .pub beside it
    known_hosts_path: str         # a known_hosts file holding this server's host key (in a
    #                               NetworkHosts: every host's, the same file for all)
    process: subprocess.Popen     # the sshd listener (pid == sshd's pid, also under netns)
    netns: Optional[str] = None
    client_netns: Optional[str] = None
    tmp_dir: str = ""
    config_path: str = ""
    log_path: str = ""            # sshd's LogLevel VERBOSE log (-E)
    host_key_path: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}"

    def ssh_options(self, *, connect_timeout: float = 5, strict: bool = False) -> List[str]:
        """``ssh``/``scp`` options: this key only, no agent, no config files, batch mode;
        host key checking off (``strict=True``: check against ``known_hosts_path``)."""
        if strict:
            hostkey = ["-o", "StrictHostKeyChecking=yes",
                       "-o", f"UserKnownHostsFile={self.known_hosts_path}"]
        else:
            hostkey = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        return ["-F", "/dev/null", "-i", self.key_path, "-p", str(self.port),
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
                "-o", "PasswordAuthentication=no", "-o", f"ConnectTimeout={int(connect_timeout)}",
                "-o", "LogLevel=ERROR", *hostkey]

    def ssh_command(self, command: str, *, connect_timeout: float = 5,
                    key_path: Optional[str] = None) -> List[str]:
        """argv running ``command`` on this host with the ssh CLI (in ``client_netns``)."""
        opts = self.ssh_options(connect_timeout=connect_timeout)
        if key_path is not None:
            opts[opts.index("-i") + 1] = str(key_path)
        return in_netns(self.client_netns, [SSH, *opts, self.address, command])

    def connect_kwargs(self, key_path: Optional[str] = None, timeout: float = 5) -> dict:
        """``connect_kwargs`` for ``fabric.Connection``: this key only, no agent/other keys.
        (Fabric never loads known_hosts and auto-adds unknown keys: no host key checking.)"""
        return {"key_filename": [str(key_path or self.key_path)], "look_for_keys": False,
                "allow_agent": False, "banner_timeout": timeout, "auth_timeout": timeout}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Kill sshd and every session child it has (idempotent)."""
        if self.process.poll() is None:
            kill_tree(self.process.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILLed above
            pass

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    _sh(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def make_client_key(path: PathLike, comment: str = "vega-tests") -> str:
    """Create an ed25519 key pair (no passphrase) at ``path`` / ``path.pub`` unless it
    exists; returns the private key's absolute path."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _keygen(path, comment)
    return str(path)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` in the current namespace right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


_POLL_SCRIPT = r"""
import socket, sys, time
host, port, pid, deadline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end = time.monotonic() + deadline
while True:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            d = f.read()
        if d[d.rindex(b")") + 2:].split()[0] == b"Z":
            sys.exit(3)
    except OSError:
        sys.exit(3)
    if time.monotonic() > end:
        sys.exit(2)
    time.sleep(0.02)
"""


def _wait_listening(host: str, port: int, proc: subprocess.Popen, netns: Optional[str],
                    timeout: float) -> bool:
    """Poll TCP connects to host:port (inside ``netns``) until they succeed (True), sshd
    exits (False) or ``timeout`` passes (TimeoutError)."""
    if netns is None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return True
            except OSError:
                pass
            if proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"sshd not accepting on {host}:{port} after {timeout}s")
            time.sleep(0.02)
    # One poller process inside the namespace (we cannot connect into it from here).
    res = subprocess.run(in_netns(netns, [sys.executable, "-c", _POLL_SCRIPT, host, str(port),
                                          str(proc.pid), str(timeout)]),
                         capture_output=True, text=True, timeout=timeout + 10)
    if res.returncode == 0:
        return True
    if res.returncode == 3 or proc.poll() is not None:
        return False
    raise TimeoutError(f"sshd not accepting on {host}:{port} in {netns} after {timeout}s "
                       f"(poller rc={res.returncode}: {res.stderr.strip()})")


def start_sshd(tmp_dir: PathLike, host: str = "127.0.0.1", port: int = 0,
               netns: Optional[str] = None, *, client_key: Optional[PathLike] = None,
               client_netns: Optional[str] = "same", user: str = "root",
               timeout: float = 15.0) -> SshHost:
    """Start a real sshd listening on ``host:port`` and return its ``SshHost``.

    ``tmp_dir`` receives the host key, client key pair (``client_key``, ``.pub``), the
    ``authorized_keys``, ``sshd_config``, pid file, ``sshd.log`` and ``known_hosts``.
    ``port=0``: a free port on ``host`` (no netns) or 22 (in ``netns``).  ``client_key``:
    an existing private key to authorize instead of generating one (``.pub`` beside it).
    ``client_netns``: namespace clients connect from (default: ``netns``).
    Raises if sshd exits or does not accept connections within ``timeout`` seconds.
    """
    tmp = Path(tmp_dir).absolute()
    tmp.mkdir(parents=True, exist_ok=True)
    if client_netns == "same":
        client_netns = netns
    host_key = tmp / "ssh_host_ed25519_key"
    _keygen(host_key, f"vega-test-host-{host}")
    key_path = Path(client_key).absolute() if client_key else tmp / "client_key"
    _keygen(key_path, "vega-tests")
    authorized = tmp / "authorized_keys"
    authorized.write_text(Path(str(key_path) + ".pub").read_text())
    os.chmod(authorized, 0o600)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory

    auto_port = port == 0
    attempts = 3 if (auto_port and netns is None) else 1
    for attempt in range(attempts):
        if auto_port:
            port = free_port(host) if netns is None else 22
        config = tmp / "sshd_config"
        log_path = tmp / "sshd.log"
        config.write_text("\n".join([
            f"Port {port}",
            f"ListenAddress {host}",
            f"HostKey {host_key}",
            f"PidFile {tmp / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "",
        ]))
        stderr_path = tmp / "sshd.stderr"
        with open(stderr_path, "ab") as err:
            proc = subprocess.Popen(
                in_netns(netns, [SSHD, "-D", "-e", "-f", str(config), "-E", str(log_path)]),
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        try:
            ok = _wait_listening(host, port, proc, netns, timeout)
        except BaseException:
            kill_tree(proc.pid)
            proc.wait()
            raise
        if ok:
            known = tmp / "known_hosts"
            pub = Path(str(host_key) + ".pub").read_text().split()
            name = host if port == 22 else f"[{host}]:{port}"
            known.write_text(f"{name} {pub[0]} {pub[1]}\n")
            return SshHost(host=host, port=port, user=user, key_path=str(key_path),
                           known_hosts_path=str(known), process=proc, netns=netns,
                           client_netns=client_netns, tmp_dir=str(tmp), config_path=str(config),
                           log_path=str(log_path), host_key_path=str(host_key))
        proc.wait()
        why = log_path.read_text(errors="replace") if log_path.exists() else ""
        why += stderr_path.read_text(errors="replace")
        if attempt + 1 < attempts and "Address already in use" in why:
            continue  # lost the race for the free port: pick another
        raise RuntimeError(f"sshd exited with {proc.returncode} before accepting "
                           f"connections on {host}:{port}:\n{why}")
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- clients

class SshResult(tuple):
    """``(exit_code, stdout)``; ``.stderr`` holds stderr (or the connection error)."""

    def __new__(cls, exit_code: int, stdout: str, stderr: str = ""):
        self = super().__new__(cls, (exit_code, stdout))
        self.stderr = stderr
        return self

    @property
    def exit_code(self) -> int:
        return self[0]

    @property
    def stdout(self) -> str:
        return self[1]


def fabric_connection(ssh_host: SshHost, *, connect_timeout: float = 5,
                      key_path: Optional[PathLike] = None):
    """A ``fabric.Connection`` to ``ssh_host`` (only for hosts reachable from this
    process, i.e. ``client_netns is None``).  No ssh config files, this key only."""
    import fabric
    import paramiko

    if ssh_host.client_netns is not None:
        raise ValueError(f"{ssh_host.host} is only reachable from namespace "
                         f"{ssh_host.client_netns}; use ssh_run() / ssh_command()")
    config = fabric.Config(ssh_config=paramiko.SSHConfig())
    return fabric.Connection(ssh_host.host, user=ssh_host.user, port=ssh_host.port,
                             config=config, connect_timeout=int(connect_timeout),
                             connect_kwargs=ssh_host.connect_kwargs(key_path, connect_timeout))


def ssh_run(ssh_host: SshHost, command: str, *, timeout: float = 60.0,
            connect_timeout: float = 5, via: str = "auto",
            key_path: Optional[PathLike] = None) -> SshResult:
    """Run ``command`` on ``ssh_host``; returns ``(exit_code, stdout)`` (an ``SshResult``,
    with ``.stderr``).  A failure to connect or authenticate gives exit code 255 (as the
    ssh CLI does) with the reason in ``.stderr``; exceeding ``timeout`` raises TimeoutError.

    ``via``: ``"fabric"`` (fabric.Connection, in this process), ``"ssh"`` (the ssh CLI in a
    subprocess, run under ``ip netns exec <client_netns>`` if set) or ``"auto"`` (fabric
    when the host is reachable from here, else ssh).  ``key_path`` overrides the key.
    """
    if via == "auto":
        via = "ssh" if ssh_host.client_netns else "fabric"
    if via == "ssh":
        argv = ssh_host.ssh_command(command, connect_timeout=connect_timeout,
                                    key_path=str(key_path) if key_path else None)
        try:
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"ssh {ssh_host.address}:{ssh_host.port} {command!r} "
                               f"took over {timeout}s") from e
        return SshResult(res.returncode, res.stdout, res.stderr)
    if via != "fabric":
        raise ValueError(f"via must be 'auto', 'fabric' or 'ssh', not {via!r}")

    import invoke
    conn = fabric_connection(ssh_host, connect_timeout=connect_timeout, key_path=key_path)
    try:
        try:
            conn.open()
        except Exception as e:  # auth refused, connection refused/timed out, ...
            return SshResult(255, "", f"{type(e).__name__}: {e}")
        try:
            result = conn.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
        except invoke.exceptions.CommandTimedOut as e:
            raise TimeoutError(f"{ssh_host.address}:{ssh_host.port} {command!r} "
                               f"took over {timeout}s") from e
        return SshResult(result.exited, result.stdout, result.stderr)
    finally:
        conn.close()


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def sshd_host(tmp_path):
    """A real sshd on 127.0.0.1:<free port> (current namespace), stopped afterwards."""
    if os.geteuid() != 0 or not _have_sshd():
        pytest.skip("needs root and openssh-server/openssh-client")
    host = start_sshd(tmp_path / "sshd")
    yield host
    host.stop()
