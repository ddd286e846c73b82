"""TLS 1.3 on every connection (issue 12): a real master refuses plaintext clients and
certificates of another CA, keeps serving everyone else, and ``openssl s_client`` sees
TLS 1.3 with a certificate of the cluster's CA on its port.

The CA is derived from the secret (vega_runtime/net/tls.py); the tests build the
certificates a client would present with the same functions, or with another CA's key.
"""

import datetime
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509

from vega_runtime.net.connection import AuthenticationFailed, Connection, client_handshake
from vega_runtime.net.framing import encode_frame, recv_frame
from vega_runtime.net.messages import RequestStatus, StatusReply
from vega_runtime.net.server import Server
from vega_runtime.net.tls import (ca_certificate_pem, derive_ca_key, issue_http_leaf, issue_leaf,
                                  make_context)

from proc_helpers import read_text, wait_for
from test_protocol_fuzz import MasterProcess


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    """A real ``vega master`` on loopback with a secret (and so with TLS)."""
    running = MasterProcess(tmp_path_factory.mktemp("tls-master"))
    try:
        yield running
    finally:
        running.stop()


def read_until(stream, marker: bytes, timeout: float) -> bytes:
    """What ``stream`` gives until ``marker`` appears, it ends, or ``timeout`` passes."""
    got, deadline = b"", time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(stream.fileno(), 65536) if ready else b""
        if not chunk:
            break
        got += chunk
    return got


def ca_pem(secret: bytes) -> bytes:
    return ca_certificate_pem(secret)


def dropped_lines(master) -> list:
    return re.findall(r"master: dropped 127\.0\.0\.1:\d+: (.*)", read_text(master.log))


def wait_logged(master, text: str) -> None:
    wait_for(lambda: any(text in line for line in dropped_lines(master)), 10,
             f"the master to log a dropped peer with {text!r}")


def test_ca_is_the_same_in_every_process_for_a_secret_and_differs_across_secrets():
    """Every holder of a secret derives byte-identical CA certificates; another secret,
    another CA."""
    code = ("import sys; from vega_runtime.net.tls import ca_certificate_pem; "
            "sys.stdout.write(ca_certificate_pem(b'secret-a').decode())")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                   check=True).stdout
    assert other_process == ca_pem(b"secret-a")
    assert ca_pem(b"secret-b") != ca_pem(b"secret-a")
    assert derive_ca_key(b"").public_key() != derive_ca_key(b"secret-a").public_key()


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux's memfd_create")
def test_a_contexts_leaf_key_is_loaded_without_a_file_or_directory_on_disk(tmp_path, monkeypatch):
    """The ssl module loads a key only from a path: an anonymous in-memory file's
    (/proc/self/fd), so the leaf key touches no disk and no scratch directory is made."""
    import tempfile

    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(a or k) or
                        real_mkdtemp(*a, **k))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    secret = b"x" * 32
    chain, key = issue_leaf(secret)
    server = make_context(True, ca_certificate_pem(secret), chain, key)
    client = make_context(False, ca_certificate_pem(secret), chain, key)
    assert made == [] and os.listdir(tmp_path) == []
    ours, theirs = socket.socketpair()
    with server.wrap_socket(ours, server_side=True, do_handshake_on_connect=False) as a, \
            client.wrap_socket(theirs, do_handshake_on_connect=False) as b:
        shaking = threading.Thread(target=a.do_handshake)
        shaking.start()
        b.do_handshake()
        shaking.join(10)
        assert b.version() == "TLSv1.3"
        assert a.getpeercert() and b.getpeercert()  # each side presented the loaded leaf


def test_certificates_are_a_ca_and_a_leaf_it_signed_as_x509_reads_them():
    """The DER written by net/certificates.py is what x509 expects: a CA limited to signing
    leaves, and a leaf for both TLS ends signed by it, valid now."""
    ca = x509.load_pem_x509_certificate(ca_pem(b"k"))
    chain, key = issue_leaf(b"k")
    leaf = x509.load_pem_x509_certificate(chain)
    ca.verify_directly_issued_by(ca)
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value == \
        x509.BasicConstraints(ca=True, path_length=0)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u.dotted_string for u in usages} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
    assert leaf.issuer == ca.subject
    now = datetime.datetime.now(datetime.timezone.utc)
    assert leaf.not_valid_before_utc < now < leaf.not_valid_after_utc
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(key, None).public_key() == leaf.public_key()


def test_a_plaintext_client_is_refused_with_a_clear_log_line_and_others_are_served(master):
    """A client speaking the frame protocol without TLS is closed at once and logged."""
    with socket.create_connection(("127.0.0.1", master.port), timeout=5) as sock:
        try:
            sock.sendall(encode_frame({"type": "Authenticate", "mac": b"x" * 32,
                                       "nonce": b"n" * 32}))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
        except OSError:
            pass  # already closed by the master (a reset): what matters is that it is closed
    wait_logged(master, "not a TLS 1.3 client (a plaintext Vega client or another protocol)")
    assert master.status()["workers"] == []


def test_a_client_with_a_certificate_of_another_ca_is_refused_and_others_are_served(master):
    """A client that skips checking the server and presents a certificate signed by another
    cluster's CA is refused by the server's verification, which logs why."""
    chain, key = issue_leaf(b"another secret")
    context = make_context(False, ca_pem(b"another secret"), chain, key)
    context.verify_mode = ssl.CERT_NONE  # an intruder does not care whom it talks to
    raw = socket.create_connection(("127.0.0.1", master.port), timeout=5)
    with context.wrap_socket(raw) as sock:  # TLS 1.3: the client's side completes first
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            recv_frame(sock, "master", 4096)
    wait_logged(master, "its certificate is not signed by this cluster's CA")
    assert master.status()["workers"] == []


def test_a_client_with_another_secret_is_told_the_certificate_does_not_match(master):
    """Connection.connect with another secret fails fast, naming the secret; the master logs it."""
    with pytest.raises(AuthenticationFailed, match="another secret|another cluster secret"):
        Connection.connect("127.0.0.1", master.port, b"not the cluster's secret", timeout=5)
    wait_logged(master, "another cluster's secret")
    conn = Connection.connect("127.0.0.1", master.port, master.secret, timeout=5)
    assert conn.sock.version() == "TLSv1.3"
    conn.close()


@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="the openssl command line tool is not installed")
def test_openssl_s_client_sees_tls13_and_the_cluster_ca_on_the_master_port(master, tmp_path):
    """`openssl s_client -tls1_3` with a certificate of the cluster's CA: TLS 1.3, verified
    both ways; without a certificate the master refuses the client."""
    chain, key = issue_leaf(master.secret)
    files = {"ca.pem": ca_pem(master.secret), "leaf.pem": chain, "key.pem": key}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{master.port}", "-tls1_3",
            "-brief", "-CAfile", str(tmp_path / "ca.pem"), "-verify_return_error"]
    client = subprocess.Popen(argv + ["-cert", str(tmp_path / "leaf.pem"),
                                      "-key", str(tmp_path / "key.pem")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:  # until the master's Challenge arrives: the Vega handshake begins inside TLS
        output = read_until(client.stdout, b"Challenge", 20).decode(errors="replace")
    finally:
        client.kill()
        client.wait()
    assert "Protocol version: TLSv1.3" in output, output
    assert "Verification: OK" in output, output
    assert "Challenge" in output, output
    subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    wait_logged(master, "it sent no client certificate")
    assert master.status()["workers"] == []


def test_the_masters_certificates_are_valid_at_any_hosts_time_since_2000(master, tmp_path):
    """A process's leaves, issued once when it starts, were valid from its host's time then
    minus a day: a host whose clock was more than a day behind refused them, and so did
    every host, for as long as the process ran, once its own clock, days ahead when it
    started (a machine booted before NTP had set it), was set right; the advice to set the
    clocks right did not help until it was restarted.  ``openssl s_client -attime`` checks
    the master's RPC and HTTPS certificates as a host whose clock is 30 days behind."""
    import json

    chain, key = issue_leaf(master.secret)
    files = {"ca.pem": ca_pem(master.secret), "leaf.pem": chain, "key.pem": key}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with open(os.path.join(master.root, "master.ready")) as fh:
        webui_port = json.load(fh)["webui_port"]
    month_ago = int(time.time()) - 30 * 24 * 3600
    for port, client_cert in ((master.port, ["-cert", str(tmp_path / "leaf.pem"),
                                             "-key", str(tmp_path / "key.pem")]),
                              (webui_port, [])):
        checked = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-brief",
             "-CAfile", str(tmp_path / "ca.pem"), "-verify_return_error",
             "-attime", str(month_ago), *client_cert],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        output = (checked.stdout + checked.stderr).decode(errors="replace")
        assert "Verification: OK" in output and "not yet valid" not in output, (port, output)
    for name, leaf in (("leaf", chain), ("http", issue_http_leaf(master.secret, ["h"])[0])):
        (tmp_path / f"{name}-only.pem").write_bytes(leaf)
        checked = subprocess.run(["openssl", "verify", "-attime", str(month_ago), "-CAfile",
                                  str(tmp_path / "ca.pem"), str(tmp_path / f"{name}-only.pem")],
                                 capture_output=True, text=True, timeout=20)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def _status_handler(conn):
    while True:
        if isinstance(conn.recv(), RequestStatus):
            conn.send(StatusReply("{}"))


def test_a_silent_plaintext_client_is_dropped_at_the_handshake_deadline_naming_tls():
    """A client that waits for a plaintext Challenge (an older Vega) never starts TLS; the one
    handshake deadline covers the TLS handshake and the drop says so."""
    server = Server("127.0.0.1", 0, b"s", _status_handler, "test", handshake_timeout=0.5).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent:
            outcome = {}
            reader = threading.Thread(target=lambda: outcome.update(got=silent.recv(10)))
            reader.start()
            reader.join(5)
            assert outcome.get("got") == b""
        assert server.rejections.counts()["handshake_timeout"] == 1
        conn = Connection.connect("127.0.0.1", server.port, b"s")
        conn.send(RequestStatus())
        assert isinstance(conn.recv(), StatusReply)
        conn.close()
    finally:
        server.stop()


def test_large_frames_cross_tls_intact():
    """Frames larger than a TLS record (16 KiB) and than the 1 MiB read chunk arrive whole."""
    payload = os.urandom(3 << 20).hex()

    def echo(conn):
        while True:
            conn.send(conn.recv())

    server = Server("127.0.0.1", 0, b"s", echo, "test").start()
    try:
        conn = Connection.connect("127.0.0.1", server.port, b"s")
        for size in (1, 20_000, len(payload)):
            conn.send(StatusReply(payload[:size]))
            assert conn.recv() == StatusReply(payload[:size])
        conn.close()
    finally:
        server.stop()


def test_frames_sent_and_received_at_once_on_tls_connections_stay_intact():
    """A thread sending while another receives on the same TLS connection (as every daemon
    does) corrupts nothing, on both ends of several connections.  Every thread is joined
    (and its failure recorded) before any connection is closed."""
    frames, connections = 300, 3
    payloads = [os.urandom(1 + (i * 7919) % 100_000).hex() for i in range(32)]
    errors, served = [], []

    def duplex(conn, side):
        def pump():
            try:
                for i in range(frames):
                    conn.send(StatusReply(payloads[i % 32]))
            except Exception as exc:  # recorded: the test fails on it
                errors.append((side, "send", repr(exc)))

        sender = threading.Thread(target=pump, name=f"pump-{side}")
        sender.start()
        try:
            for i in range(frames):
                if conn.recv().status_json != payloads[i % 32]:
                    errors.append((side, i))
        except Exception as exc:
            errors.append((side, "recv", repr(exc)))
        finally:
            sender.join(60)
            if sender.is_alive():
                errors.append((side, "the sender is still sending after 60 s"))
            if side == "server":
                served.append(side)

    server = Server("127.0.0.1", 0, b"s", lambda conn: duplex(conn, "server"), "test").start()
    conns = []
    try:
        conns = [Connection.connect("127.0.0.1", server.port, b"s") for _ in range(connections)]
        clients = [threading.Thread(target=duplex, args=(conn, "client")) for conn in conns]
        for client in clients:
            client.start()
        for client in clients:
            client.join(60)
        assert not any(client.is_alive() for client in clients)
        # the server's ends are done too (their senders joined) before anything is closed
        wait_for(lambda: len(served) == connections, 60, "the server's ends to finish")
        assert errors == []
    finally:
        for conn in conns:
            conn.close()
        server.stop()


def leaf_valid_from(secret: bytes, not_before: datetime.datetime) -> tuple:
    """A leaf of the cluster CA of ``secret`` valid from ``not_before`` (what a host whose
    clock is that far ahead issues itself): PEM ``(chain, key)``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vega_runtime.net import certificates
    from vega_runtime.net.tls import _ca_name

    seed = os.urandom(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    der = certificates.certificate(
        signer=derive_ca_key(secret), issuer=_ca_name(secret), subject=("Vega", "skewed"),
        public=public, serial=7, not_before=not_before.replace(microsecond=0),
        not_after=datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc), ca=False)
    return (certificates.pem("CERTIFICATE", der),
            certificates.pem("PRIVATE KEY", certificates.private_key_der(seed)))


def in_three_days() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)


def test_a_client_whose_clock_is_days_ahead_is_told_and_logged_to_check_the_clocks(master):
    """A host of the cluster whose clock is three days ahead issues itself a leaf the master
    finds not yet valid: the master's log says so and points at the clocks (not at the
    secret, which is right), and so does the client's error."""
    chain, key = leaf_valid_from(master.secret, in_three_days())
    context = make_context(False, ca_pem(master.secret), chain, key)
    raw = socket.create_connection(("127.0.0.1", master.port), timeout=5)
    with pytest.raises(AuthenticationFailed) as raised:
        with context.wrap_socket(raw) as sock:
            client_handshake(sock, master.secret, "master")
    assert "or it finds our certificate not yet valid: are the two hosts' clocks more than " \
           "a day apart" in str(raised.value)
    wait_logged(master, "its certificate is not valid at this host's time (certificate is "
                        "not yet valid): are the two hosts' clocks more than a day apart")


def test_a_server_whose_clock_is_days_ahead_is_named_in_the_clients_error(tmp_path):
    """The other way round: Connection.connect to a server whose leaf is not yet valid says
    to check the clocks, not the secret."""
    secret = os.urandom(32)
    chain, key = leaf_valid_from(secret, in_three_days())
    context = make_context(True, ca_pem(secret), chain, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass  # the client refuses our certificate: what the test is about
        finally:
            conn.close()

    server = threading.Thread(target=serve_one, daemon=True)
    server.start()
    try:
        with pytest.raises(AuthenticationFailed) as raised:
            Connection.connect("127.0.0.1", port, secret, timeout=5)
    finally:
        server.join(10)
        listener.close()
    assert ("the server's certificate is not valid at this host's time (certificate is not "
            "yet valid): are the two hosts' clocks more than a day apart") in str(raised.value)
