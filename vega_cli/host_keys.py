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

from .errors import HostKeyChanged, HostKeyError, UnknownHostKey

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

    def configure(self, client) -> None:
        """Make a paramiko ``SSHClient`` check host keys against this file."""
        with self._lock:
            if os.path.isfile(self.path):
                try:
                    client.load_system_host_keys(self.path)
                except Exception as exc:  # a line paramiko cannot parse (bad base64, ...)
                    raise HostKeyError(f"cannot read known_hosts file {self.path}: {exc}; "
                                       "fix or remove that line") from None
        from paramiko import MissingHostKeyPolicy

        known_hosts = self

        class Policy(MissingHostKeyPolicy):
            def missing_host_key(self, client, hostname, key):
                known_hosts.missing(hostname, key)
                client.get_host_keys().add(hostname, key.get_name(), key)

        client.set_missing_host_key_policy(Policy())

    def _recorded(self, name: str):
        from paramiko import HostKeys

        if not os.path.isfile(self.path):
            return None
        try:
            return HostKeys(self.path).lookup(name)
        except Exception as exc:
            raise HostKeyError(f"cannot read known_hosts file {self.path}: {exc}; "
                               "fix or remove that line") from None

    def missing(self, name: str, key) -> None:
        """Called by paramiko for a host not in the file as it was when the client opened."""
        with self._lock:
            recorded = self._recorded(name)  # another connection may have just added it
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
