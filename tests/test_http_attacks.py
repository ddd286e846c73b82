"""The master's HTTPS port against a client on the same machine or network that means harm:
request targets that name another host, ... .  Each against a real ``vega master``
(``bare_master``), over real TLS verified against its cluster CA."""

from test_http_api import raw_request


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
