"""TLS 1.3 for every connection: a cluster CA derived from the secret, a leaf per process.

The user names one thing, the secret file (``--secret-file``).  From the secret
every process derives the same certificate authority::

    CA key  = Ed25519(HKDF-SHA256(secret, salt="vega tls", info="vega cluster CA v1"))
    CA cert = self-signed, every field fixed (name, serial, validity) -> byte-identical

and at its first connection issues itself a leaf certificate for a fresh
Ed25519 key, signed by that CA.  Servers and clients both present their leaf
and verify the peer's against the CA (mutual TLS, ``CERT_REQUIRED``, TLS 1.3
only, no host name check: a peer's identity is "holds the cluster secret").
Nothing is written next to the secret, nothing expires on its own, and
rotating the secret rotates the CA.  Without a secret the CA is derived from
the empty string: the channel is encrypted but anyone can make such a
certificate, which is why such daemons only listen on loopback.  See
docs/security.md.

The HTTP ports (the master's web UI, JSON API and ``/metrics``, workers' and drivers'
``/metrics``) serve HTTPS with a leaf of the same CA: an ECDSA P-256 key (browsers offer
no Ed25519) naming the host names and addresses the port answers to, no client
certificate asked (HTTP clients prove themselves with the API token).  HTTP clients verify it against the
CA certificate, which a master also writes to ``CA_FILE`` in its work dir.

``VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS=1`` turns TLS off in every process that
has it, to measure its cost; never a default, and every process of the cluster
must agree.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
import time
from typing import Any, Iterable, List, Optional, Tuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import certificates

log = logging.getLogger(__name__)

PLAINTEXT_ENV = "VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS"
#: the cluster CA's certificate in a master's work dir (public: for HTTP clients to trust)
CA_FILE = "ca.pem"
_CA_INFO = b"vega cluster CA v1"
#: every certificate's validity: from 2000 (no host's clock is earlier) for ever, the
#: leaves' too, so a process's leaf, issued once when it starts, is valid wherever and
#: whenever it is checked: valid from its issuing host's time, it was refused by hosts whose
#: clocks were behind, and, for as long as the process ran, by every host once its own clock,
#: ahead when it started, had been set right
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
_FOREVER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)


def plaintext_for_benchmarks() -> bool:
    """True when TLS is switched off to measure its cost (never a default)."""
    return os.environ.get(PLAINTEXT_ENV) == "1"


def _hkdf_sha256(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """32 bytes of HKDF-SHA256 (RFC 5869: one block of expand)."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def derive_ca_key(secret: bytes) -> Ed25519PrivateKey:
    """The cluster CA's private key: the same for every holder of ``secret``."""
    return Ed25519PrivateKey.from_private_bytes(_hkdf_sha256(secret, b"vega tls", _CA_INFO))


def ca_fingerprint(secret: bytes) -> str:
    """A short name for the CA of ``secret`` (in its certificate's subject and in logs)."""
    public = derive_ca_key(secret).public_key().public_bytes_raw()
    return hashlib.sha256(public).hexdigest()[:16]


def _ca_name(secret: bytes) -> tuple:
    return ("Vega", f"Vega cluster CA {ca_fingerprint(secret)}")


@functools.lru_cache(maxsize=8)
def ca_certificate_pem(secret: bytes) -> bytes:
    """The cluster CA's certificate (PEM); deterministic (Ed25519 signatures are, and every
    field is fixed), so every holder of the secret builds the same bytes; built once per
    process (~2.5 ms: a local cluster's master writes it as it starts, and inherits it)."""
    key = derive_ca_key(secret)
    public = key.public_key().public_bytes_raw()
    serial = int.from_bytes(hashlib.sha256(b"serial" + public).digest()[:16], "big") >> 1
    name = _ca_name(secret)
    der = certificates.certificate(signer=key, issuer=name, subject=name, public=public,
                                   serial=serial, not_before=_EPOCH, not_after=_FOREVER,
                                   ca=True)
    return certificates.pem("CERTIFICATE", der)


def issue_leaf(secret: bytes) -> tuple:
    """A fresh key and a certificate for it signed by the CA of ``secret``: PEM
    ``(certificate chain, private key)``."""
    seed = os.urandom(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    der = certificates.certificate(
        signer=derive_ca_key(secret), issuer=_ca_name(secret),
        subject=("Vega", f"vega {socket.gethostname()} pid {os.getpid()}"), public=public,
        serial=int.from_bytes(os.urandom(16), "big") >> 1,
        not_before=_EPOCH, not_after=_FOREVER, ca=False)
    return (certificates.pem("CERTIFICATE", der),
            certificates.pem("PRIVATE KEY", certificates.private_key_der(seed)))


def make_context(server_side: bool, ca_pem: bytes, chain_pem: bytes,
                 key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.3-only context presenting ``chain_pem`` and requiring a peer certificate
    signed by ``ca_pem``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=ca_pem.decode())
    if server_side:
        context.num_tickets = 0  # nobody resumes sessions; no post-handshake messages
    _load_chain(context, chain_pem, key_pem)
    return context


def _load_chain(context: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    """Give ``context`` its certificate chain and key.  The ssl module loads them only from
    a path: on Linux an anonymous file in memory (``memfd_create``, read through
    ``/proc/self/fd``), so the leaf's key never touches a disk, nor does a scratch directory
    have to be removed (~3 ms on a file system that discards freed blocks); elsewhere a
    private directory, removed at once.  The CA key never touches disk."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("vega-tls-leaf", os.MFD_CLOEXEC)
        try:
            view = memoryview(key_pem + chain_pem)
            while view:
                view = view[os.write(fd, view):]
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="vega-tls-") as scratch:
        path = os.path.join(scratch, "leaf.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_pem + chain_pem)
        context.load_cert_chain(path)


class ClusterTls:
    """The two contexts of one process for one secret (its leaf certificate is shared)."""

    def __init__(self, secret: bytes):
        self.fingerprint = ca_fingerprint(secret)
        #: what a log line says about this process's TLS
        self.summary = (f"TLS 1.3, cluster CA {self.fingerprint}" if secret else
                        "TLS 1.3 without a secret (encrypted, not authenticated: loopback only)")
        ca_pem = ca_certificate_pem(secret)
        chain_pem, key_pem = issue_leaf(secret)
        self.server = make_context(True, ca_pem, chain_pem, key_pem)
        self.client = make_context(False, ca_pem, chain_pem, key_pem)


@functools.lru_cache(maxsize=8)
def _cluster_tls(secret: bytes) -> ClusterTls:
    return ClusterTls(secret)


def cluster_tls(secret: Optional[bytes]) -> Optional[ClusterTls]:
    """The TLS contexts for ``secret`` (``None``/``b""``: the well-known no-secret CA),
    issued once per process; None when TLS is off for a benchmark.  A pure function of
    the secret but for the leaf key, hence cached rather than passed around."""
    if plaintext_for_benchmarks():
        _warn_plaintext()
        return None
    return _cluster_tls(secret or b"")


def prepare_cluster_tls(argv: List[str]) -> None:
    """``[SECRET_FILE]``: issue this process's TLS contexts for that secret now.  A local
    cluster's fork server runs it (``ForkServer.call``) before forking the master and the
    workers, which fork the executors: they all share its contexts instead of each issuing
    a leaf when it first listens or connects (~10 ms of CPU and a scratch directory each)."""
    from .connection import load_secret

    cluster_tls(load_secret(argv[0]))


# -- HTTPS ---------------------------------------------------------------------------------
def http_scheme() -> str:
    """``https``, the scheme of every Vega HTTP port (``http`` only with TLS off for a
    benchmark)."""
    return "http" if plaintext_for_benchmarks() else "https"


def http_names(hosts: Iterable[str]) -> Tuple[Tuple[str, ...], Tuple[bytes, ...]]:
    """The subjectAltName of an HTTP port answering to ``hosts``: ``(DNS names, packed IP
    addresses)``, always with localhost, 127.0.0.1 and ::1; ``*`` and the wildcard
    addresses name nothing and are left out.

    >>> names, addresses = http_names(["Node1.example.", "10.0.0.5", "[::1]", "*", "0.0.0.0"])
    >>> names, [str(ipaddress.ip_address(packed)) for packed in addresses]
    (('localhost', 'node1.example'), ['127.0.0.1', '::1', '10.0.0.5'])
    """
    names, addresses = ["localhost"], [ipaddress.ip_address("127.0.0.1"),
                                       ipaddress.ip_address("::1")]
    for host in hosts:
        host = host.strip().strip("[]").rstrip(".").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if host and host != "*" and host.isascii() and host not in names:
                names.append(host)
            continue
        if not address.is_unspecified and address not in addresses:
            addresses.append(address)
    return tuple(names), tuple(a.packed for a in addresses)


def issue_http_leaf(secret: bytes, hosts: Iterable[str]) -> tuple:
    """A fresh ECDSA P-256 key and a certificate for it signed by the CA of ``secret``,
    naming ``hosts`` (see ``http_names``): PEM ``(certificate, private key)``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    dns_names, addresses = http_names(hosts)
    der = certificates.certificate(
        signer=derive_ca_key(secret), issuer=_ca_name(secret),
        subject=("Vega", f"vega HTTP {socket.gethostname()} pid {os.getpid()}"), public=b"",
        spki=spki, serial=int.from_bytes(os.urandom(16), "big") >> 1,
        not_before=_EPOCH, not_after=_FOREVER, ca=False,
        dns_names=dns_names, addresses=addresses)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificates.pem("CERTIFICATE", der), key_pem


def http_server_context(secret: Optional[bytes], hosts: Iterable[str]) -> Optional[ssl.SSLContext]:
    """The TLS 1.3 context of an HTTP port answering to ``hosts``: a fresh leaf of the CA
    of ``secret`` (``None``/``b""``: the well-known no-secret CA), no client certificate
    asked; None when TLS is off for a benchmark."""
    if plaintext_for_benchmarks():
        _warn_plaintext()
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["http/1.1"])
    _load_chain(context, *issue_http_leaf(secret or b"", hosts))
    return context


def http_client_context(ca_file: Optional[str] = None,
                        secret: Optional[bytes] = None) -> ssl.SSLContext:
    """A TLS 1.3 client context for Vega's HTTP ports trusting only the cluster CA: the one
    in ``ca_file`` (``CA_FILE`` of a master, or a copy), else the CA of ``secret``.  Host
    names are checked (the server's certificate names the hosts it answers to)."""
    if ca_file is not None:
        context = ssl.create_default_context(cafile=ca_file)
    else:
        context = ssl.create_default_context(cadata=ca_certificate_pem(secret or b"").decode())
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def write_ca_file(secret: Optional[bytes], directory: str) -> str:
    """Write the CA certificate of ``secret`` to ``directory``/``CA_FILE`` (atomically);
    its path."""
    path = os.path.join(directory, CA_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        out.write(ca_certificate_pem(secret or b""))
    os.replace(tmp, path)
    return path


_PLAIN_HTTP_REPLY = (b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Connection: close\r\n\r\nThis Vega port speaks HTTPS only: open the same "
                     b"address with https:// (vega status --token prints the link).\n")


class HttpsRefused(Exception):
    """A connection to an HTTPS port not served: ``reason`` (a metric label), ``message``
    (for the log line), ``level`` (of the log line)."""

    def __init__(self, reason: str, message: str, level: int = logging.WARNING):
        super().__init__(message)
        self.reason, self.message, self.level = reason, message, level


#: seconds between two looks, while a connection waits for its client, at whether the
#: server has given its place to another (``accept_https``'s and the request's ``evicted``)
EVICTION_CHECK = 0.25


def waited(operation, sock, deadline: float, evicted) -> Any:
    """``operation()`` on ``sock`` (blocking), by ``deadline``, in slices of at most
    ``EVICTION_CHECK`` seconds; raises ``TimeoutError`` once the deadline has passed or
    ``evicted()`` says the connection is to go."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or evicted():
            raise TimeoutError("evicted" if remaining > 0 else "deadline passed")
        sock.settimeout(min(remaining, EVICTION_CHECK))
        try:
            return operation()
        except TimeoutError:
            continue


def accept_https(sock: socket.socket, context: ssl.SSLContext, deadline: float,
                 evicted=lambda: False) -> ssl.SSLSocket:
    """The server side of an HTTPS connection just accepted: the TLS handshake, done by
    ``deadline`` (``time.monotonic()``), on the connection's own thread, or until
    ``evicted()``.  A client that speaks plain HTTP is answered, in plain HTTP, with a 400
    saying to use https://.  Raises ``HttpsRefused``; the socket is closed then (by the
    caller's server for ``sock``)."""
    try:
        first = waited(lambda: sock.recv(1, socket.MSG_PEEK), sock, deadline, evicted)
    except OSError:  # a timeout: opened ahead of need and never used, as browsers do
        raise HttpsRefused("request_timeout", "nothing sent before the deadline",
                           logging.DEBUG) from None
    if not first:
        raise HttpsRefused("tls", "closed before the TLS handshake", logging.DEBUG)
    if first != b"\x16":  # not a TLS handshake record
        if first.isalpha():
            _answer_plain_http(sock)
        raise HttpsRefused("tls", "not a TLS 1.3 client (plain HTTP? the address is "
                                  "https://...)")
    tls_sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    try:
        # one deadline for the whole handshake, however slowly it comes (the handshake goes
        # on where it was after each slice)
        waited(tls_sock.do_handshake, tls_sock, deadline, evicted)
    except ssl.SSLError as exc:
        tls_sock.close()
        reason = getattr(exc, "reason", None) or ""
        if reason.startswith(("TLSV1_ALERT", "SSLV3_ALERT")) and "PROTOCOL_VERSION" not in reason:
            raise HttpsRefused("tls", "it refused our certificate (a browser or client that "
                                      f"does not trust the cluster CA: give it ca.pem) [{reason}]",
                               logging.INFO) from None
        raise HttpsRefused("tls", describe_server_side(exc)) from None
    except TimeoutError:  # trickled in too slowly (a silent client never gets this far)
        tls_sock.close()
        raise HttpsRefused("request_timeout", "no complete TLS handshake before the "
                                              "deadline") from None
    except OSError as exc:  # the client went away
        tls_sock.close()
        raise HttpsRefused("tls", f"TLS handshake not completed: {exc}", logging.DEBUG) from None
    return tls_sock


def _answer_plain_http(sock: socket.socket) -> None:
    """Tell a plain-HTTP client (in plain HTTP) to use https://."""
    try:
        sock.settimeout(1.0)
        sock.recv(65536)  # its request, so that closing does not reset the connection
        sock.sendall(_PLAIN_HTTP_REPLY)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@functools.lru_cache(maxsize=1)
def _warn_plaintext() -> None:
    log.warning("TLS is OFF (%s=1): connections are plaintext; for benchmarks only",
                PLAINTEXT_ENV)


#: SSL error reasons meaning "the peer does not speak TLS at all"
_NOT_TLS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG", "UNEXPECTED_MESSAGE", "UNEXPECTED_RECORD",
            "RECORD_LENGTH_MISMATCH", "BAD_RECORD_TYPE")


#: OpenSSL's verify results for a certificate outside its validity at this host's time
_NOT_YET_VALID, _EXPIRED = 9, 10  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
#: what a certificate outside its validity most likely means between Vega processes: leaves
#: are valid from a day before their process's start, the CA from 2000, both until 9999
CLOCKS = ("are the two hosts' clocks more than a day apart (or one set before 2000)? "
          "Set them right (NTP)")


def _outside_validity(exc: ssl.SSLError) -> bool:
    return getattr(exc, "verify_code", None) in (_NOT_YET_VALID, _EXPIRED)


def describe_server_side(exc: ssl.SSLError) -> str:
    """Why a client's TLS handshake failed, for the server's log line."""
    reason = getattr(exc, "reason", None) or ""
    if _outside_validity(exc):
        return (f"its certificate is not valid at this host's time "
                f"({exc.verify_message}): {CLOCKS}")
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in reason:
        return ("its certificate is not signed by this cluster's CA (a client with another "
                f"cluster's secret?): {getattr(exc, 'verify_message', '') or reason}")
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return "it sent no client certificate (not a Vega client of this cluster)"
    if reason in ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION"):
        return "it offered a TLS version older than 1.3"
    if reason in _NOT_TLS:
        return f"not a TLS 1.3 client (a plaintext Vega client or another protocol): {reason}"
    if reason in ("SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED"):
        return ("it refused our certificate (another cluster's secret? or it finds our "
                f"certificate outside its validity: {CLOCKS}): {reason}")
    if reason.startswith(("TLSV1_ALERT", "SSLV3_ALERT", "TLSV13_ALERT")):
        return f"it refused our certificate (another cluster's secret?): {reason}"
    return f"TLS handshake failed: {reason or exc}"


def describe_client_side(exc: ssl.SSLError, has_secret: bool = True) -> str:
    """Why our TLS handshake with a server failed, for the client's error (``has_secret``:
    the client has a cluster secret)."""
    reason = getattr(exc, "reason", None) or ""
    if _outside_validity(exc):
        return (f"the server's certificate is not valid at this host's time "
                f"({exc.verify_message}): {CLOCKS}")
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in reason:
        if not has_secret:
            from .connection import default_secret_file

            return ("the server has a cluster secret and this process has none: copy the "
                    "master's secret file to this host (mode 0600) and name it with "
                    "--secret-file or VEGA_SECRET_FILE, or put it at "
                    f"{default_secret_file()}")
        return ("the server's certificate is not signed by this cluster's CA: it has another "
                "secret (check --secret-file on both sides)")
    if reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        return f"the server refused our certificate as expired at its time: {CLOCKS} [{reason}]"
    if reason == "SSLV3_ALERT_BAD_CERTIFICATE":  # OpenSSL's alert for "not yet valid" too
        return ("the server refused our certificate: it has another cluster secret (check "
                "--secret-file on both sides), or it finds our certificate not yet valid: "
                f"{CLOCKS} [{reason}]")
    if reason in ("TLSV1_ALERT_UNKNOWN_CA",
                  "TLSV1_ALERT_DECRYPT_ERROR", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
                  "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_ACCESS_DENIED"):
        return ("the server refused our certificate: it has another cluster secret "
                f"(check --secret-file on both sides) [{reason}]")
    if reason in _NOT_TLS:
        return (f"the server does not speak TLS 1.3 (an older Vega, or started with "
                f"{PLAINTEXT_ENV}=1?) [{reason}]")
    return f"TLS handshake failed: {reason or exc}"
