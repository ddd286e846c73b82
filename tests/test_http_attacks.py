"""The master's HTTPS port against a client on the same machine or network that means harm
or goes away: request targets that name another host, a client that hangs up in the middle
of a large answer.  Each against a real ``vega master`` (``bare_master``), over real TLS
verified against its cluster CA."""

import os
import select
import socket
import struct

from proc_helpers import errors_of_threads, processes_matching, read_text, wait_for
from test_http_api import raw_request, request
from vega_runtime.net.tls import http_client_context


def _status(reply: bytes) -> int:
    return int(reply.split(b"\r\n", 1)[0].split()[1])


def test_an_absolute_form_target_naming_another_host_is_refused(bare_master):
    """``GET https://evil.example/... HTTP/1.1``: HTTP/1.1 lets the target's authority stand
    for the Host header, so it is checked as the Host header is (403 even with the token and
    a good Host header); one naming this master is served."""
    port, token = bare_master.port, bare_master.token

    def send(target: str, host: str = "127.0.0.1") -> bytes:
        return raw_request(bare_master, f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
                                        f"Authorization: Bearer {token}\r\n"
                                        "Connection: close\r\n\r\n".encode())

    for target in ("https://evil.example/api/v1/status", f"https://evil.example:{port}/",
                   "http://evil.example/api/v1/status", "https://127.0.0.1@evil.example/",
                   f"https://evil.example/?token={token}", "https:///api/v1/status",
                   "ftp://127.0.0.1/api/v1/status", "evil.example/api/v1/status"):
        reply = send(target)
        assert _status(reply) == 403 and b"Host" in reply, (target, reply[:200])
    for target in (f"https://127.0.0.1:{port}/api/v1/status", "https://localhost/api/v1/status",
                   "https://vega.test/api/v1/status"):
        assert _status(send(target)) == 200, target
    # the Host header is still checked too
    assert _status(send(f"https://127.0.0.1:{port}/api/v1/status", "evil.example")) == 403


def test_a_client_hanging_up_mid_answer_is_no_error_and_its_token_is_not_logged(bare_master):
    """A client (a browser tab closed, a script interrupted) that asks for a large answer
    with ``?token=`` and hangs up while it is sent: the master logs no ERROR or traceback,
    and never the token, and goes on serving."""
    app = "app-20261205000000-0001"
    (bare_master.events / f"{app}.jsonl").write_bytes(os.urandom(24 << 20))  # (no compression)
    token, log = bare_master.token, bare_master.work_dir / "master.log"
    context = http_client_context(bare_master.ca_file)
    for _ in range(3):
        sock = context.wrap_socket(socket.create_connection(("127.0.0.1", bare_master.port),
                                                            timeout=20),
                                   server_hostname="127.0.0.1")
        sock.sendall(f"GET /api/v1/applications/{app}/logs?token={token} HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.0 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, in the middle of the answer

    def only_this_one_open() -> bool:  # their threads have ended, having logged what they do
        _, _, body = request(bare_master, "/metrics")
        return b'vega_open_connections{port="http",state="established"} 1.0' in body
    wait_for(only_this_one_open, 30, "the hung-up connections' threads to end")
    code, _, _ = request(bare_master, "/api/v1/status",
                         headers={"Authorization": f"Bearer {token}"})
    assert code == 200
    text = read_text(str(log))
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
    assert token not in text


def _memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (the most it has been) of ``pid``, in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def test_a_request_head_past_32_kib_is_answered_431_and_holds_no_memory(bare_master):
    """Anyone who can reach the port (no token needed) may send headers before the request
    deadline: http.server alone takes 100 lines of 64 KiB each, 6.4 MB a connection, kept
    for the deadline (10 s) on each of 64 connections (from as many loopback addresses):
    the master's memory went from 60 MB to 450 MB, and to 3 GB (kept) after four such
    waves.  A request line and headers past 32 KiB are answered 431 at once, and the master
    serves its token's holder meanwhile."""
    (pid,) = (p for p, argv in processes_matching(str(bare_master.work_dir)).items()
              if "master" in argv)
    before = _memory_kib(pid, "VmRSS")
    context = http_client_context(bare_master.ca_file)
    line = b"X-Padding: " + b"a" * 65000 + b"\r\n"

    def send_headers(lines: int, source: str = "127.0.0.1") -> bytes:
        """``lines`` headers of 64 KB, then what the master answers (b"" if it reset the
        connection: it reads no more than 256 KiB past the limit before it closes)."""
        plain = socket.create_connection(("127.0.0.1", bare_master.port), timeout=20,
                                         source_address=(source, 0))
        reply = b""
        with context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
            try:
                sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                             line * lines)
                while chunk := sock.recv(65536):
                    reply += chunk
            except OSError:
                pass
        return reply

    sources = [f"127.0.0.{2 + i}" for i in range(48)]
    errors = errors_of_threads(lambda: send_headers(98, sources.pop()), 48)  # (100: the most)
    assert not errors, errors
    grown = _memory_kib(pid, "VmHWM") - before
    code, _, _ = request(bare_master, "/api/v1/status",
                         headers={"Authorization": f"Bearer {bare_master.token}"})
    assert code == 200
    assert grown < 64 * 1024, f"the master grew by up to {grown} KiB"
    reply = send_headers(3)  # a client whose headers are just too many is told so
    assert reply.startswith(b"HTTP/1.0 431 ") and b'"error": "the request line and headers ' \
        b'exceed 32768 bytes: send fewer or shorter headers"' in reply, reply
