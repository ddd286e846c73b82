"""SSH host keys: every host Vega deploys to must be known, as ``ssh`` checks them.

A host's key is looked up in one known_hosts file (the cluster file's
``ssh.known_hosts``, else ``~/.ssh/known_hosts``; hashed entries work).  A host that is
not there is refused with the key's SHA256 fingerprint and the command that records it,
unless ``--accept-new-host-keys`` was given: then the key is appended to that file (ssh's
``StrictHostKeyChecking=accept-new``).  A key that differs from the recorded one is always
refused: the host was reinstalled, or someone sits between us and it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from typing import List, Optional

from .errors import HostKeyChanged, HostKeyError, HostKeyRevoked, UnknownHostKey

log = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


def fingerprint(key) -> str:
    """A paramiko key's fingerprint as ``ssh-keygen -l`` prints it: ``SHA256:<base64>``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _describe(key) -> str:
    """``ED25519 SHA256:...`` (the type as ssh-keygen names it, then the fingerprint)."""
    kind = key.get_name()
    kind = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA"}.get(
        kind, "ECDSA" if kind.startswith("ecdsa") else kind)
    return f"{kind} {fingerprint(key)}"


def _host_and_port(name: str):
    """paramiko's known_hosts name (``host`` or ``[host]:port``) -> (host, port)."""
    if name.startswith("[") and "]:" in name:
        host, _, port = name[1:].partition("]:")
        return host, int(port)
    return name, 22


class KnownHosts:
    """One known_hosts file shared by all connections of a command (thread-safe).

    >>> KnownHosts("/nonexistent/known_hosts").path
    '/nonexistent/known_hosts'
    """

    def __init__(self, path: Optional[str] = None, accept_new: bool = False):
        self.path = os.path.abspath(os.path.expanduser(path or DEFAULT_KNOWN_HOSTS))
        self.accept_new = accept_new
        self.accepted: List[str] = []  # "host: ED25519 SHA256:..." recorded by this command
        self._lock = threading.Lock()

    def _read(self):
        """The file's host keys (a paramiko ``HostKeys``) and its ``@revoked`` keys, as ssh
        reads it: ``@cert-authority`` lines are skipped (Vega checks host keys, not
        certificates); raises HostKeyError naming a line that cannot be read."""
        from paramiko import HostKeys
        from paramiko.hostkeys import HostKeyEntry

        keys, revoked = HostKeys(), []
        if not os.path.isfile(self.path):
            return keys, revoked
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                marker, line = "", line.strip()
                if line.startswith("@"):
                    marker, _, line = line.partition(" ")
                    line = line.strip()
                if not line or line.startswith("#") or marker == "@cert-authority":
                    continue
                try:
                    entry = HostKeyEntry.from_line(line, number)
                except Exception as exc:  # bad base64, an unknown key type...
                    raise HostKeyError(f"cannot read known_hosts file {self.path}: line "
                                       f"{number}: {exc}; fix or remove that line") from None
                if entry is None or marker not in ("", "@revoked"):
                    continue
                if marker:
                    revoked.append(entry.key)
                    continue
                for name in entry.hostnames:
                    keys.add(name, entry.key.get_name(), entry.key)
        return keys, revoked

    def check_not_revoked(self, name: str, key) -> None:
        """Raise HostKeyRevoked if ``key`` (what host ``name`` offers) is marked @revoked."""
        with self._lock:
            if key in self._read()[1]:
                raise HostKeyRevoked(name, key, self.path)

    def configure(self, client) -> None:
        """Make a paramiko ``SSHClient`` check host keys against this file (a key marked
        @revoked is for ``check_not_revoked``, once connected)."""
        with self._lock:
            keys, _ = self._read()
            for name in keys.keys():
                for kind, key in keys[name].items():
                    client.get_host_keys().add(name, kind, key)
        from paramiko import MissingHostKeyPolicy

        known_hosts = self

        class Policy(MissingHostKeyPolicy):
            def missing_host_key(self, client, hostname, key):
                known_hosts.missing(hostname, key)
                client.get_host_keys().add(hostname, key.get_name(), key)

        client.set_missing_host_key_policy(Policy())

    def missing(self, name: str, key) -> None:
        """Called by paramiko for a host not in the file as it was when the client opened."""
        with self._lock:
            keys, revoked = self._read()
            if key in revoked:  # never recorded, also with --accept-new-host-keys
                raise HostKeyRevoked(name, key, self.path)
            recorded = keys.lookup(name)  # another connection may have just added it
            if recorded is not None:
                expected = recorded.get(key.get_name()) or list(recorded.values())[0]
                if expected == key:
                    return
                raise HostKeyChanged(name, key, expected, self.path)
            if not self.accept_new:
                raise UnknownHostKey(name, key, self.path)
            directory = os.path.dirname(self.path)
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            with open(self.path, "a+b") as out:
                out.seek(0, os.SEEK_END)
                if out.tell():
                    out.seek(out.tell() - 1)
                    if out.read(1) != b"\n":  # a last line without its newline
                        out.write(b"\n")
                out.write(f"{name} {key.get_name()} {key.get_base64()}\n".encode("ascii"))
            self.accepted.append(f"{name} ({_describe(key)})")
            log.info("recorded the new SSH host key of %s (%s) in %s", name, _describe(key),
                     self.path)


def explain_bad_host_key(exc, known_hosts: Optional[KnownHosts], port: int) -> HostKeyChanged:
    """paramiko's ``BadHostKeyException`` (a changed key found when the client opened) as
    our ``HostKeyChanged``."""
    name = exc.hostname if port == 22 else f"[{exc.hostname}]:{port}"
    path = known_hosts.path if known_hosts else DEFAULT_KNOWN_HOSTS
    return HostKeyChanged(name, exc.key, exc.expected_key, path)
