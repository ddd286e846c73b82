"""Running commands on cluster hosts: over SSH (fabric), or locally for this machine.

Every command is built from ``shlex.quote``d pieces, so no host, path or user
name from a cluster file can inject shell syntax.  Probes and stops run
``python -m vega_cli.remote_ops`` on the host, which answers in JSON, one round
trip each.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import json
import logging
import os
import posixpath
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

from vega_runtime.net.connection import detect_dead_peer
from vega_runtime.net.endpoints import host_port

from .errors import HostKeyError, RemoteError
from .host_keys import KnownHosts, explain_bad_host_key

log = logging.getLogger(__name__)
# paramiko logs a failed handshake with its traceback from its transport thread; without
# a handler of ours Python's last-resort handler printed that on stderr, beside the row
# that already says what happened (vega --debug's handlers still get it)
logging.getLogger("paramiko").addHandler(logging.NullHandler())

@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def quote(parts: Sequence[str]) -> str:
    """A shell command line from arguments; a leading ``~/`` stays unquoted so it expands."""
    quoted = []
    for part in parts:
        if part.startswith("~/"):
            quoted.append("~/" + shlex.quote(part[2:]))
        else:
            quoted.append(shlex.quote(part))
    return " ".join(quoted)


def is_this_machine(host: str) -> bool:
    """True when ``host`` names this machine: loopback, its host name, or a name or address
    that resolves to an address of one of its interfaces (a master named by the private
    address of a second network card is local, whatever the host name resolves to).
    A name that does not resolve is not this machine.

    >>> is_this_machine("127.0.0.1"), is_this_machine("no-such-host.invalid")
    (True, False)
    """
    if host == "localhost" or host == socket.gethostname():
        return True
    try:
        resolved = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # unresolvable, or not a valid host name at all
        return False
    return any(_is_local_address(family, sockaddr) for family, _, _, _, sockaddr in resolved)


def _is_local_address(family: int, sockaddr: tuple) -> bool:
    """True if ``sockaddr`` is an address of this machine: binding a socket to an address
    no interface holds fails with EADDRNOTAVAIL (unless the ``ip_nonlocal_bind`` sysctl
    lets any address bind, as some floating-address setups do)."""
    if ipaddress.ip_address(sockaddr[0].split("%")[0]).is_loopback:
        return True
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((sockaddr[0], 0, *sockaddr[2:]))
    except OSError as exc:
        if exc.errno != errno.EADDRNOTAVAIL:
            log.debug("cannot bind to %s to tell if it is local: %s", sockaddr[0], exc)
        return False
    return True


class Host:
    """One machine of the cluster, reached over SSH."""

    def __init__(self, name: str, user: Optional[str], port: int, key: Optional[str],
                 connect_timeout: float, known_hosts: Optional[KnownHosts] = None):
        self.name, self.user, self.port, self.key = name, user, port, key
        self.connect_timeout = connect_timeout
        self.known_hosts = known_hosts or KnownHosts()  # strict: unknown hosts are refused
        self._conn = None

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{host_port(self.name, self.port)}"

    @property
    def known_hosts_name(self) -> str:
        """The host as known_hosts names it: ``host``, or ``[host]:port`` off port 22."""
        return self.name if self.port == 22 else f"[{self.name}]:{self.port}"

    def _connection(self):
        if self._conn is None:
            from fabric import Connection

            # the cluster file's key, and only it; without one, as ssh does: the keys of the
            # user's ssh-agent (where a passphrase-protected key is), then ~/.ssh/id_*
            kwargs = {"key_filename": [self.key]} if self.key else {}
            kwargs.update(allow_agent=not self.key, look_for_keys=not self.key,
                          banner_timeout=15, auth_timeout=15)
            conn = Connection(self.name, user=self.user, port=self.port,
                              connect_timeout=self.connect_timeout, connect_kwargs=kwargs)
            # kept only once host keys are checked: fabric's own policy accepts any key, so
            # a connection whose configure() failed must never be used by a later step
            self.known_hosts.configure(conn.client)
            self._conn = conn
        return self._conn

    @property
    def dead_after(self) -> float:
        """Seconds without an answer after which a connected host counts as gone."""
        return 3 * self.connect_timeout

    def _connected(self):
        """The connection, opened; a host that stops answering once connected (gone down,
        off the network) is given up after ``dead_after`` seconds, not after the command's
        whole timeout (``detect_dead_peer``)."""
        conn = self._connection()
        if not conn.is_connected:
            conn.open()
            transport = conn.client.get_transport()
            try:  # a key the file lists but also marks @revoked got through paramiko's check
                self.known_hosts.check_not_revoked(self.known_hosts_name,
                                                   transport.get_remote_server_key())
            except HostKeyError:
                self.close()
                self._conn = None
                raise
            detect_dead_peer(transport.sock, self.dead_after)
        return conn

    def run(self, command: str, timeout: float = 120, stdin: Optional[str] = None) -> Result:
        """Run ``command``; ``stdin`` (if given) is its standard input, then end of file."""
        in_stream = io.StringIO(stdin) if stdin is not None else False
        try:
            conn = self._connected()
            result = conn.run(command, hide=True, warn=True, timeout=timeout,
                              in_stream=in_stream)
        except Exception as exc:  # paramiko/socket errors: unreachable, auth, timeouts
            raise RemoteError(_explain(self, exc), answered=isinstance(exc, HostKeyError) or
                              type(exc).__name__ in ("BadHostKeyException",
                                                     "PasswordRequiredException")) from None
        transport = conn.client.get_transport()
        if result.exited == -1 and not (transport and transport.is_active()):
            raise RemoteError(f"{self}: lost the SSH connection: no answer from the host for "
                              f"{self.dead_after:g}s (did it go down or off the network?); "
                              "check it, then run this command again")
        return Result(result.exited, result.stdout, result.stderr)

    def check(self, command: str, what: str, timeout: float = 120,
              stdin: Optional[str] = None) -> Result:
        """Run ``command`` and raise RemoteError naming ``what`` and its stderr if it fails."""
        result = self.run(command, timeout, stdin)
        if not result.ok:
            raise RemoteError(f"{self}: {what} failed (exit {result.code}): "
                              f"{(result.stderr or result.stdout).strip()[-300:] or 'no output'}")
        return result

    def write_private_file(self, remote: str, content: str) -> None:
        """Write ``content`` (a secret) to ``remote``, born with mode 0600: under umask 077,
        into a temporary name beside it (``mktemp``, mode 0600), then renamed into place;
        the secret travels on stdin, never on a command line.  Parent directories made
        here are 0700.  Raises RemoteError with the command's stderr if any step fails (a
        step failing before ``cat`` still reads stdin to its end: a command that exits with
        its input unread makes sending it fail, and its error would be lost)."""
        directory, name = posixpath.split(remote)
        directory = directory or "."
        script = ('umask 077 && mkdir -p -- "$1" && tmp=$(mktemp "$1/.$2.XXXXXX") || '
                  '{ cat > /dev/null; exit 1; }; '
                  '{ cat > "$tmp" && mv -f -- "$tmp" "$1/$2"; } || { rm -f -- "$tmp"; exit 1; }')
        self.check(quote(["sh", "-c", script, "sh", directory, name]),
                   f"writing {remote} (mode 0600)", stdin=content)

    def put(self, local: str, remote: str) -> None:
        try:
            self._connected().put(local, remote)
        except Exception as exc:
            raise RemoteError(f"{self}: cannot upload {local} to {remote}: {exc}") from None

    def remote_op(self, interpreter: str, operation: str, *args: str,
                  timeout: float = 120) -> dict:
        """Run ``python -m vega_cli.remote_ops OPERATION ARGS`` on the host and parse the
        JSON it prints; raises RemoteError if it fails (Vega missing there, say)."""
        result = self.run(quote([interpreter, "-m", "vega_cli.remote_ops", operation, *args]),
                          timeout)
        if not result.ok:
            from vega_runtime._version import __version__

            if "No module named 'vega_cli" in result.stderr:
                raise RemoteError(f"{self}: Vega {__version__} is needed with {interpreter}, "
                                  "found not installed (or too old to have "
                                  "vega_cli.remote_ops); install it there or run with "
                                  "--bootstrap", answered=True)
            if result.code in (126, 127):  # the shell found no such program, or cannot run it
                raise RemoteError(f"{self}: cannot run {interpreter} there (exit {result.code}: "
                                  f"{result.stderr.strip()[-200:]}); set workers[].python (or "
                                  f"defaults.python; master.python for the master) in the "
                                  f"cluster file to that host's Python with Vega "
                                  f"{__version__}, or run with --bootstrap", answered=True)
            raise RemoteError(f"{self}: {interpreter} failed (exit {result.code}): "
                              f"{result.stderr.strip()[-300:] or result.stdout.strip()[-300:]}",
                              answered=True)
        try:
            return json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(f"{self}: {operation} printed {result.stdout.strip()[-100:]!r}, "
                              "not JSON") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class LocalHost(Host):
    """This machine: commands run directly, files are copied."""

    def __init__(self, name: str):
        super().__init__(name, None, 0, None, 0)

    def __str__(self) -> str:
        return f"{self.name} (local)"

    def run(self, command: str, timeout: float = 120, stdin: Optional[str] = None) -> Result:
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                              timeout=timeout, input=stdin,
                              stdin=subprocess.DEVNULL if stdin is None else None)
        return Result(done.returncode, done.stdout, done.stderr)

    def put(self, local: str, remote: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(os.path.expanduser(remote))), exist_ok=True)
        shutil.copyfile(local, os.path.expanduser(remote))


def _explain(host: Host, exc: Exception) -> str:
    kind = type(exc).__name__
    text = str(exc) or kind
    if isinstance(exc, HostKeyError):
        return f"{host}: {text}"
    if isinstance(exc, socket.gaierror):  # a typo in the cluster file, or no DNS for it
        return (f"{host}: the host name {host.name} does not resolve ({exc.strerror or text}); "
                "check the host's name in the cluster file (workers[].host, master.host) and "
                "that this machine's DNS or /etc/hosts knows it")
    if kind == "BadHostKeyException":  # a changed key, found against the loaded file
        return f"{host}: {explain_bad_host_key(exc, host.known_hosts, host.port)}"
    if kind == "PasswordRequiredException":  # the key file named is passphrase-protected
        return (f"{host}: the SSH key {host.key} is protected by a passphrase, which Vega "
                f"cannot ask for; load it into your ssh-agent (ssh-add {host.key}) and take "
                "its key: line (ssh.key, workers[].key) out of the cluster file, so that Vega "
                "uses the agent's keys as ssh does, or name a key without a passphrase")
    if "Authentication" in kind or "authentication" in text.lower():
        return (f"{host}: SSH authentication failed ({text}); check the user and key in the "
                "cluster file and that the key is in the host's authorized_keys")
    if ("Error reading SSH protocol banner" in text  # something else answers on that port
            or "Indecipherable protocol version" in text):
        return (f"{host}: no SSH greeting on port {host.port} ({text}): not an SSH server "
                "there, or sshd dropped the connection (too many at once, MaxStartups); check "
                "the SSH port in the cluster file (ssh.port, workers[].ssh_port, master.ssh_port)")
    if text == "No existing session":  # connected, but no SSH handshake in connect_timeout
        return (f"{host}: the SSH handshake did not finish within {host.connect_timeout:g}s "
                "(the port accepts connections but sshd does not answer: hung or "
                "overloaded?); check sshd on that host, or raise ssh.connect_timeout")
    if kind == "CommandTimedOut":  # connected, the host answers, the command does not end
        command = getattr(getattr(exc, "result", None), "command", "the command")
        return (f"{host}: {command!r} did not finish within {getattr(exc, 'timeout', '?')}s; "
                "check that host (overloaded? a hung disk?)")
    if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in text.lower():
        return f"{host}: SSH connection timed out; is the host up and the SSH port right?"
    causes = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError: by address
    if isinstance(causes, dict) and causes:  # its text, "[Errno None] Unable to connect to
        return _explain_unconnected(host, list(causes.values()))  # port 22 on ...", says no why
    if isinstance(exc, (ConnectionRefusedError, OSError)) or "Unable to connect" in text:
        return f"{host}: cannot connect over SSH ({text}); is sshd running on that port?"
    return f"{host}: {kind}: {text}"


def _explain_unconnected(host: Host, causes: List[Exception]) -> str:
    """Why no address of ``host`` took the SSH connection (the socket errors, one per
    address), and what to check."""
    codes = {getattr(cause, "errno", None) for cause in causes}
    why = "; ".join(sorted({getattr(cause, "strerror", None) or str(cause) or
                            type(cause).__name__ for cause in causes}))
    if codes & {errno.EHOSTUNREACH, errno.ENETUNREACH}:
        return (f"{host}: cannot connect over SSH: {host.name} cannot be reached ({why}); is "
                "the host up, and its address in the cluster file right (workers[].host, "
                "master.host)?")
    if errno.ECONNREFUSED in codes:
        return (f"{host}: cannot connect over SSH: nothing listens on port {host.port} there "
                f"({why}); is sshd running, and is the SSH port in the cluster file right "
                "(ssh.port, workers[].ssh_port, master.ssh_port)?")
    return f"{host}: cannot connect over SSH ({why}); is sshd running on that port?"


def daemon_command(interpreter: str, role: str, args: List[str], run_dir: str) -> str:
    """The command line that starts a detached daemon recording its pid in ``run_dir``,
    which is made 0700 as everything in a work dir is (the login's umask made it 0755)."""
    return ("umask 077 && " + quote(["mkdir", "-p", run_dir]) + " && " +
            quote([interpreter, "-m", "vega_cli.main", role, *args, "--daemonize",
                   "--pidfile", f"{run_dir}/{role}.pid", "--log-file", f"{run_dir}/{role}.out"]))


def local_python() -> str:
    return sys.executable
