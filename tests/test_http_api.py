"""The master's web UI and JSON API, over real HTTPS, while a local cluster runs a job; and
how the HTTP port is secured (TLS 1.3 with a certificate of the cluster CA, a Host
allowlist, the token as Bearer or kept by the UI's pages from a ``?token=`` link, malformed headers)
against a real ``vega master`` without a secret.  Every client here verifies the server
against the cluster CA's file."""

import hashlib
import hmac
import json
import os
import pwd
import re
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from proc_helpers import clean_env, kill_group, read_text, spawn_vega, vega, wait_for, write_job

from vega_runtime import Context, StorageLevel
from vega_runtime.deploy.http_api import api_token
from vega_runtime.net.tls import ca_certificate_pem, http_client_context


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def site_of(cluster):
    """(port, CA file) of a local cluster's master, as ``bare_master`` has them."""
    return cluster.webui_port, cluster.ca_file


def request(site, path, method="GET", headers=None):
    """(status, headers, body) of one HTTPS request to ``site`` (anything with ``port`` and
    ``ca_file``, or a (port, CA file) pair), verified against its CA, without following
    redirects."""
    port, ca_file = site if isinstance(site, tuple) else (site.port, site.ca_file)
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", method=method,
                                 headers=headers or {})
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=http_client_context(ca_file)))
    try:
        with opener.open(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get(site, path, token):
    code, headers, body = request(site, path, headers={"Authorization": f"Bearer {token}"})
    assert code == 200, (path, code, body)
    return code, headers["Content-Type"], body


def raw_request(site, head: bytes) -> bytes:
    """Send raw request bytes (headers no client library would send) over TLS verified
    against the site's CA, and read the reply."""
    context = http_client_context(site.ca_file)
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as plain, \
            context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
        sock.sendall(head)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_ui_assets_and_application_detail_with_progress_and_cache():
    """The page and its assets load; an application's stages, executors and cached RDDs show."""
    with Context(master="local-cluster[2,1]", app_name="detailed") as ctx:
        port, token = site_of(ctx.backend.owned_cluster), ctx.backend.owned_cluster.token
        for path, kind in (("/", "text/html"), ("/ui/app.js", "text/javascript"),
                           ("/ui/style.css", "text/css")):
            code, content_type, body = get(port, path, token)
            assert code == 200 and content_type.startswith(kind) and body
        assert b"cdn" not in get(port, "/", token)[2].lower()
        for page in ("/", "/ui/app.html"):  # an icon of their own: no /favicon.ico to 404
            assert b'<link rel="icon" href="data:,">' in get(port, page, token)[2]
        cached = ctx.parallelize(range(40), 4).set_name("numbers").persist(StorageLevel.MEMORY_ONLY)
        assert cached.map(lambda x: (x % 2, x)).reduce_by_key(lambda a, b: a + b).count() == 2
        app_id = ctx.backend.app_id
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            detail = json.loads(get(port, f"/api/v1/applications/{app_id}", token)[2])
            if detail["cached_rdds"] and [s["state"] for s in detail["stages"]] == \
                    ["completed", "completed"]:  # the driver relays the end a moment later
                break
            time.sleep(0.1)
        assert [s["state"] for s in detail["stages"]] == ["completed", "completed"]
        assert [(s["done"], s["tasks"]) for s in detail["stages"]] == [(4, 4), (4, 4)]
        assert len(detail["executors"]) == 2
        assert detail["cached_rdds"][0]["name"] == "numbers"
        assert detail["cached_rdds"][0]["cached_partitions"] == 4


def test_killing_through_the_api_needs_the_token():
    """POST .../kill without the token is refused; with it the running job is cancelled."""
    from vega_runtime.errors import JobCancelled

    with Context(master="local-cluster[2,1]", app_name="to-kill") as ctx:
        port = ctx.backend.owned_cluster.webui_port
        https = http_client_context(ctx.backend.owned_cluster.ca_file)
        app_id = ctx.backend.app_id
        url = f"https://127.0.0.1:{port}/api/v1/applications/{app_id}/kill"
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10,
                                   context=https)
            raise AssertionError("an unauthenticated kill was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        outcome = {}

        def run():
            try:
                ctx.parallelize(range(2), 2).map(lambda x: time.sleep(60)).collect()
            except JobCancelled as exc:
                outcome["error"] = exc

        job = threading.Thread(target=run)
        job.start()
        secret = open(ctx.backend.owned_cluster.secret_file, "rb").read().strip()
        assert api_token(secret) == ctx.backend.owned_cluster.token  # derived from the secret
        with open(ctx.backend.owned_cluster.ca_file, "rb") as fh:  # so is the CA (HTTPS too)
            assert fh.read() == ca_certificate_pem(secret)
        kill = urllib.request.Request(url, method="POST")
        kill.add_header("Authorization", f"Bearer {api_token(secret)}")
        assert json.load(urllib.request.urlopen(kill, timeout=10, context=https))["killed"] is True
        job.join(30)
        assert "error" in outcome and "HTTP API" in str(outcome["error"])


def test_finished_applications_are_shown_from_their_event_logs(bare_master):
    """A master pointed at the event log directory lists and details finished applications."""
    with Context(master="local", app_name="earlier",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(8), 2).map(lambda x: (x, 1)).group_by_key().count()
        app_id = ctx.application_id
    port, token = bare_master, bare_master.token
    listed = json.loads(get(port, "/api/v1/history", token)[2])
    assert [(h["app_id"], h["name"], h["finished"], h["broken"]) for h in listed] == \
        [(app_id, "earlier", True, False)]
    detail = json.loads(get(port, f"/api/v1/history/{app_id}", token)[2])
    assert detail["tasks"] == 4 and len(detail["stages"]) == 2


def test_a_truncated_event_log_is_listed_as_broken_next_to_good_ones(bare_master):
    """A driver killed mid-write leaves a log whose last line is cut off, and another log holds
    a line that is no event: both are listed as broken, with why, and the good one as it is."""
    with Context(master="local", app_name="good",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(8), 2).map(lambda x: (x, 1)).group_by_key().count()
        good = ctx.application_id
    whole = (bare_master.events / f"{good}.jsonl").read_bytes()
    cut = whole[:whole.index(b'"StageSubmitted"') + 30]  # mid-line, as a SIGKILL leaves it
    (bare_master.events / "app-killed-0001.jsonl").write_bytes(
        cut.replace(good.encode(), b"app-killed-0001"))
    (bare_master.events / "app-garbled-0002.jsonl").write_bytes(b'{"event": "Appl\xff\n[1, 2]\n')
    port, token = bare_master, bare_master.token
    listed = {h["app_id"]: h for h in json.loads(get(port, "/api/v1/history", token)[2])}
    assert set(listed) == {good, "app-killed-0001", "app-garbled-0002"}
    assert listed[good]["broken"] is False and listed[good]["error"] is None
    assert listed[good]["finished"] and listed[good]["tasks"] == 4
    killed = listed["app-killed-0001"]
    assert killed["broken"] is True and "cut off" in killed["error"]
    assert killed["name"] == "good" and not killed["finished"]  # read up to where it breaks
    assert listed["app-garbled-0002"]["broken"] and "line 1" in listed["app-garbled-0002"]["error"]
    detail = json.loads(get(port, "/api/v1/history/app-killed-0001", token)[2])
    assert detail["broken"] and "cut off" in detail["error"]


def test_an_event_log_with_an_event_lacking_a_field_fails_no_other_page(bare_master):
    """An application's log holds a JobStart without its job_id, another's an Environment
    whose settings are not a list (logs of another version, or lines a driver relayed):
    Spark's REST API still lists every application, the first one's jobs are those before
    the bad event, and the master logs no traceback. Before, one such line made
    /api/v1/applications (and every page of that application) answer 500, with a traceback
    in the master's log at each request."""
    with Context(master="local", app_name="good",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(8), 2).count()
        ctx.parallelize(range(8), 2).count()
        good = ctx.application_id
    lines = (bare_master.events / f"{good}.jsonl").read_bytes().splitlines(keepends=True)
    second = [i for i, line in enumerate(lines) if b'"JobStart"' in line][1]
    lines[second] = lines[second].replace(b'"job_id": 1', b'"job": 1')
    broken = "app-20260101000000-beef"
    (bare_master.events / f"{broken}.jsonl").write_bytes(
        b"".join(lines).replace(good.encode(), broken.encode()))
    environment = [i for i, line in enumerate(lines) if b'"Environment"' in line][0]
    lines[environment] = json.dumps({**json.loads(lines[environment]), "settings": "abc",
                                     "runtime": [1]}).encode() + b"\n"
    odd = "app-20260101000000-0dd0"
    (bare_master.events / f"{odd}.jsonl").write_bytes(
        b"".join(lines).replace(good.encode(), odd.encode()))
    port, token = bare_master, bare_master.token
    status, _, body = get(port, "/api/v1/applications", token)
    assert status == 200, body[-300:]
    assert sorted((a["id"], a["name"]) for a in json.loads(body)) == \
        sorted([(good, "good"), (broken, "good"), (odd, "good")])
    status, _, body = get(port, f"/api/v1/applications/{broken}/jobs", token)
    assert status == 200, body[-300:]
    assert [job["jobId"] for job in json.loads(body)] == [0]
    assert "Traceback" not in read_text(str(bare_master.work_dir / "master.log"))


def test_a_fifo_or_a_link_in_the_event_log_directory_is_listed_as_broken_and_not_read(
        bare_master):
    """Another user who can write to a shared event log directory (Spark's is often
    /tmp/spark-events, mode 1777) plants a FIFO, a link to /dev/zero and a link to a file
    only the master's account can read, named as event logs: the history, Spark's
    application list and the logs zip answer at once, the three listed as broken, next to
    the real log, and none is read. Before, reading the FIFO blocked for ever, holding the
    history's lock: /api/v1/history and /api/v1/applications never answered anyone again;
    the link to /dev/zero was read without end; and /api/v1/applications/ID/logs served
    the linked file (the master's token here; its secret file as well), to anyone with
    --ui-open."""
    with Context(master="local", app_name="real",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(8), 2).count()
        real = ctx.application_id
    fifo, zero, token_link = ("app-20260101000000-f1f0", "app-20260101000000-2e40",
                              "app-20260101000000-70ce")
    os.mkfifo(bare_master.events / f"{fifo}.jsonl")
    os.symlink("/dev/zero", bare_master.events / f"{zero}.jsonl")
    os.symlink(bare_master.work_dir / "master.token", bare_master.events / f"{token_link}.jsonl")
    port, token = bare_master, bare_master.token
    listed = {h["app_id"]: h for h in json.loads(get(port, "/api/v1/history", token)[2])}
    assert sorted(listed) == sorted([real, fifo, zero, token_link])
    assert not listed[real]["broken"]
    assert "not a regular file" in listed[fifo]["error"]
    for link in (zero, token_link):
        assert listed[link]["broken"] and "a symbolic link" in listed[link]["error"]
    assert [a["id"] for a in json.loads(get(port, "/api/v1/applications", token)[2])] == [real]
    for planted in (fifo, zero, token_link):
        status, _, body = request(port, f"/api/v1/applications/{planted}/logs",
                                  headers={"Authorization": f"Bearer {token}"})
        assert status == 404 and token.encode() not in body

def test_secret_looking_settings_are_redacted_in_event_logs_and_the_environment_page(bare_master):
    """A job passes a password to its executors (vega.executor.env.DB_PASSWORD, Spark's
    spark.executorEnv): its tasks get it, but the event log, the logs zip and the
    Environment page (which --ui-open shows to anyone) say "*********(redacted)" for every
    setting whose key names a secret, password, token or access key, as Spark's
    spark.redaction.regex does. Before, the value was in all three."""
    import io
    import zipfile

    with Context(master="local[1]", app_name="redacted",
                 conf={"vega.eventlog.dir": str(bare_master.events),
                       "vega.executor.env.DB_PASSWORD": "hunter2-pw",
                       "vega.executor.env.AWS_ACCESS_KEY": "AKIA-example",
                       "vega.executor.env.PLAIN": "shown"}) as ctx:
        assert ctx.parallelize([0], 1).map(lambda _: os.environ["DB_PASSWORD"]).collect() == \
            ["hunter2-pw"]
        app_id = ctx.application_id
    log_bytes = (bare_master.events / f"{app_id}.jsonl").read_bytes()
    assert b"hunter2-pw" not in log_bytes and b"AKIA-example" not in log_bytes
    port, token = bare_master, bare_master.token
    env = json.loads(get(port, f"/api/v1/applications/{app_id}/environment", token)[2])
    properties = dict(env["sparkProperties"])
    assert properties["vega.executor.env.DB_PASSWORD"] == "*********(redacted)"
    assert properties["vega.executor.env.AWS_ACCESS_KEY"] == "*********(redacted)"
    assert properties["vega.executor.env.PLAIN"] == "shown"
    archive = zipfile.ZipFile(io.BytesIO(get(port, f"/api/v1/applications/{app_id}/logs",
                                             token)[2]))
    assert b"hunter2-pw" not in archive.read(f"{app_id}.jsonl")


def test_a_foreign_host_header_is_refused_before_anything_else(bare_master):
    """DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends Host: evil.example;
    that gets 403 even with the right token, while this master's own names and addresses and
    the configured extra name are served."""
    port, bearer = bare_master.port, {"Authorization": f"Bearer {bare_master.token}"}
    site = bare_master
    for host in ("evil.example", f"evil.example:{port}", "localhost.evil.example",
                 "127.0.0.1.evil.example", "vega.test.evil.example", "[::1", "localhost:x"):
        for path in ("/", "/api/v1/status", "/api/v1/history", "/ui/app.js",
                     "/api/v1/applications/app-1/logs", f"/?token={bare_master.token}"):
            code, _, body = request(site, path, headers={**bearer, "Host": host})
            assert code == 403, (host, path, code)
            assert b"Host" in body
    for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", "[::1]",
                 f"[::1]:{port}", "vega.test", f"VEGA.test:{port}", socket.gethostname()):
        code, _, _ = request(site, "/api/v1/status", headers={**bearer, "Host": host})
        assert code == 200, host


def test_every_endpoint_needs_the_token_but_metrics_and_the_ui_files(bare_master):
    """No token or a wrong one: 401 (an HTML page for an unknown page); the Bearer token or
    ``?token=``: 200; /metrics stays open for Prometheus, and the UI's files (the same in
    every install: no data) are served to anyone, their scripts fetching the data with the
    token.  A cookie opens nothing.  Without a secret the token is random, in a 0600 file."""
    port, token = bare_master.port, bare_master.token
    assert token != api_token(b"-") and len(token) >= 32
    token_file = bare_master.work_dir / "master.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    paths = ("/other", "/api/v1/status",
             "/api/v1/applications", "/api/v1/history", "/api/v1/applications/app-1",
             "/api/v1/applications/app-1/logs", "/api/v1/history/app-1")
    old_cookie = hmac.new(token.encode(), b"vega-ui-cookie", hashlib.sha256).hexdigest()
    for path in paths:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token},
                        {"Authorization": f"Basic {token}"}, {"Cookie": f"vega-token-{port}=x"},
                        {"Cookie": f"vega-token-{port}={old_cookie}"}):
            code, reply_headers, body = request(bare_master, path, headers=headers)
            assert code == 401, (path, headers, code)
            kind = "application/json" if path.startswith("/api/") else "text/html"
            assert reply_headers["Content-Type"].startswith(kind)
            assert b"vega status --token" in body
        code, _, _ = request(bare_master, path, headers={"Authorization": f"Bearer {token}"})
        assert code in (200, 404), path  # 404: no application app-1 (or no page /other)
        code, _, _ = request(bare_master, f"{path}?token={token}")
        assert code in (200, 404), path
        code, _, _ = request(bare_master, f"{path}?token=wrong")
        assert code == 401, path
    for path in ("/", "/index.html", "/ui/app.js", "/ui/style.css", "/ui/app.html"):
        code, headers, _ = request(bare_master, path)
        assert code == 200, path
        # the token a page keeps is out of reach of any script but the UI's own
        assert "script-src 'self';" in headers["Content-Security-Policy"]
    code, _, _ = request(bare_master, "/api/v1/applications/app-1/kill", "POST")
    assert code == 401
    code, _, body = request(bare_master, "/metrics", headers={"Host": "prometheus.example"})
    assert code == 200 and b"vega_workers" in body


def test_a_wrong_token_is_told_apart_from_none(bare_master):
    """A request with a token that is not the master's (another master's, or one from
    before the secret changed) hears so; it was told to send one, which it had."""
    for headers, path in (({"Authorization": "Bearer 00"}, "/api/v1/status"),
                          ({}, "/api/v1/status?token=00")):
        code, _, body = request(bare_master, path, headers=headers)
        assert (code, json.loads(body)) == (401, {
            "error": "that token is not this master's (another master's, or from before its "
                     "secret changed): vega status --token prints it"}), path
    code, _, body = request(bare_master, "/api/v1/status")
    assert (code, json.loads(body)) == (401, {
        "error": "send Authorization: Bearer <token> (vega status --token prints it)"})


def test_killing_what_does_not_run_says_so(bare_master):
    """POST .../kill of an id nothing runs (the docs' literal APP_ID, or a finished one's):
    404 whose body says why and where the running ones are listed, as the API's other
    errors do (it was {"killed": false} alone)."""
    for app_id in ("APP_ID", "app-20261206022712-0000", "driver-20261206022712-0001"):
        code, _, body = request(bare_master, f"/api/v1/applications/{app_id}/kill", "POST",
                                headers={"Authorization": f"Bearer {bare_master.token}"})
        assert (code, json.loads(body)) == (404, {
            "killed": False, "id": app_id,
            "error": f"{app_id} is not a running application or cluster-mode driver: "
                     "GET /api/v1/status lists them"})


def test_a_token_link_moves_the_token_to_the_fragment_and_sets_no_cookie(bare_master):
    """/?token=T&app=X answers 303 to /?app=X#token=T (the page's script keeps the token in
    its origin's storage and drops it from the address) and sets no cookie: a browser would
    send a cookie to every port of the host.  A wrong token is refused; a redirect never
    leaves the site."""
    port, token = bare_master.port, bare_master.token
    code, headers, _ = request(bare_master, f"/?app=app-1&token={token}")
    assert code == 303 and headers["Location"] == f"/?app=app-1#token={token}"
    assert headers["Referrer-Policy"] == "no-referrer" and "Set-Cookie" not in headers
    code, headers, _ = request(bare_master, f"/ui/app.html?token={token}&app=a")
    assert code == 303 and headers["Location"] == f"/ui/app.html?app=a#token={token}"
    for path in ("/\\evil.example/", "//evil.example/"):  # no redirect to another site
        reply = raw_request(bare_master, f"GET {path}?token={token} HTTP/1.1\r\nHost: localhost\r\n"
                                  "Connection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.0 303") or reply.startswith(b"HTTP/1.0 404"), reply
        if reply.startswith(b"HTTP/1.0 303"):
            location = reply.split(b"\r\nLocation: ", 1)[1].split(b"\r\n", 1)[0]
            assert location.split(b"#")[0] in (b"/", b"/evil.example"), reply
    code, headers, _ = request(bare_master, "/?token=wrong")
    assert code == 401 and "Set-Cookie" not in headers
    code, headers, _ = request(bare_master, "/?token=" + token[:-1] + "%C3%A9")
    assert code == 401 and "Set-Cookie" not in headers
    # a kill from another origin is refused even with the token
    bearer = {"Authorization": f"Bearer {token}"}
    code, _, _ = request(bare_master, "/api/v1/applications/app-1/kill", "POST",
                         headers={**bearer, "Origin": "https://127.0.0.1:1"})
    assert code == 403
    code, _, _ = request(bare_master, "/api/v1/applications/app-1/kill", "POST",
                         headers={**bearer, "Origin": f"https://127.0.0.1:{port}"})
    assert code == 404  # through: there is no application app-1


@pytest.mark.parametrize("header", [
    b"Authorization: Bearer \xc3\xa9\xc3\xa9",  # UTF-8, not ASCII
    b"Authorization: Bearer \xff\xfe",
    b"Authorization: \x00\x01",
    b"Authorization: Bearer",
    b"Cookie: \xff\xfe=\x80; ;;==; vega-token-1=\xe9",
    b"Cookie: " + b"a" * 4000,
])
def test_malformed_headers_get_400_or_401_and_the_server_keeps_serving(bare_master, header):
    """A non-ASCII Authorization header or garbage cookies get an answer (400 or 401), never
    a dropped connection; the next request is served."""
    port = bare_master.port
    reply = raw_request(bare_master, b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header +
                        b"\r\nConnection: close\r\n\r\n")
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"401"), reply[:300]
    code, _, _ = request(bare_master, "/api/v1/status",
                         headers={"Authorization": f"Bearer {bare_master.token}"})
    assert code == 200


def _reply(bare_master, method: str, path: str, *headers: str):
    """(status code, headers as a dict, body) of one raw request."""
    head = "".join(f"{h}\r\n" for h in ("Host: 127.0.0.1", *headers, "Connection: close"))
    reply = raw_request(bare_master, f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode())
    top, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    return int(status.split()[1]), dict(line.split(": ", 1) for line in lines), body


def test_head_other_methods_and_http_servers_own_refusals_get_json(bare_master):
    """HEAD answers as GET without the body (401 without the token); OPTIONS, PUT, DELETE
    and unknown methods get 405 with Allow; a URL or a header too long gets its 4xx as JSON
    with this port's headers, not http.server's HTML page; no reply names Python's version."""
    bearer = f"Authorization: Bearer {bare_master.token}"
    code, headers, body = _reply(bare_master, "HEAD", "/api/v1/status", bearer)
    got = request(bare_master, "/api/v1/status",
                  headers={"Authorization": f"Bearer {bare_master.token}"})
    assert (code, body) == (200, b"") and got[0] == 200
    assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) > 0
    code, headers, body = _reply(bare_master, "HEAD", "/api/v1/status")
    assert (code, body) == (401, b"") and headers["Content-Type"] == "application/json"
    code, _, body = _reply(bare_master, "HEAD", "/metrics")
    assert (code, body) == (200, b"")
    for method in ("OPTIONS", "PUT", "DELETE", "PATCH", "FOO"):
        for extra in ((), (bearer,)):
            code, headers, body = _reply(bare_master, method, "/api/v1/applications", *extra)
            assert code == 405 and headers["Allow"] == "GET, HEAD, POST", (method, code)
            assert json.loads(body) == {"error": f"method {method} is not allowed: this port "
                                                 f"answers GET, HEAD, POST"}
            assert headers["X-Frame-Options"] == "DENY" and headers["Server"] == "Vega"
    for path, extra, code, words in (
            ("/api/v1/applications/" + "a" * 70000, (bearer,), 414,
             "the request line exceeds 32768 bytes: shorten the URL"),
            ("/api/v1/applications", (bearer, "X-Big: " + "b" * 70000), 431,
             "the request line and headers exceed 32768 bytes: send fewer or shorter headers"),
            # http.server's own words
            ("/api/v1/applications", tuple(f"X-H{i}: v" for i in range(120)), 431,
             "Too many headers")):
        got, headers, body = _reply(bare_master, "GET", path, *extra)
        assert got == code and json.loads(body)["error"] == words, (got, body[:200])
        assert headers["Content-Type"] == "application/json" and headers["Server"] == "Vega"
        assert headers["X-Content-Type-Options"] == "nosniff"
    code, _, _ = request(bare_master, "/api/v1/status",  # and the port goes on serving
                         headers={"Authorization": f"Bearer {bare_master.token}"})
    assert code == 200


def test_a_method_a_path_does_not_answer_is_405_naming_the_one_it_does(bare_master):
    """POST to a GET path (curl -X POST .../status) answered 404 "not found", and a GET of
    an application's kill (a link opened in a browser) 404 "no application", for one the
    master runs too: now 405 with the path's Allow, as Spark's REST server (Jetty) answers."""
    bearer = f"Authorization: Bearer {bare_master.token}"
    for path in ("/api/v1/status", "/api/v1/applications", "/api/v1/applications/app-1",
                 "/api/v1/applications/app-1/jobs", "/api/v1/history"):
        code, headers, body = _reply(bare_master, "POST", path, bearer, "Content-Length: 0")
        assert (code, headers.get("Allow")) == (405, "GET, HEAD"), (path, code, body)
        assert json.loads(body) == {"error": f"method POST is not allowed on {path}: it "
                                             "answers GET, HEAD"}
    code, headers, body = _reply(bare_master, "GET", "/api/v1/applications/app-1/kill", bearer)
    assert (code, headers.get("Allow")) == (405, "POST"), (code, body)
    assert json.loads(body) == {"error": "method GET is not allowed on "
                                         "/api/v1/applications/app-1/kill: it answers POST"}
    # still 401 first without the token, and 404 for a path nobody answers
    assert _reply(bare_master, "POST", "/api/v1/status", "Content-Length: 0")[0] == 401
    assert _reply(bare_master, "POST", "/api/v2/nothing", bearer, "Content-Length: 0")[0] == 404


def test_start_master_and_status_print_the_link_and_scripts_use_the_token(tmp_path):
    """vega start-master prints the UI link; vega status --token prints the token (stdout,
    for scripts) and the link (stderr); the link signs a browser in, the token a script."""
    env = clean_env(VEGA_CONF_DIR=str(tmp_path / "home"))
    work_dir = str(tmp_path / "master")
    started = vega("start-master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                   "--work-dir", work_dir, env=env)
    try:
        assert started.returncode == 0, started.stderr
        ports = json.loads(open(os.path.join(work_dir, "master.ready")).read())
        link = f"https://127.0.0.1:{ports['webui_port']}/?token="
        printed = [line for line in started.stdout.splitlines() if line.startswith("web UI: ")]
        assert len(printed) == 1 and printed[0].startswith(f"web UI: {link}")
        token = printed[0].split("?token=", 1)[1]
        shown = vega("status", "--token", "--master", f"vega://127.0.0.1:{ports['port']}", env=env)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == f"{token}\n" and f"web UI: {link}{token}" in shown.stderr
        site = (ports["webui_port"], os.path.join(work_dir, "ca.pem"))
        assert (f"CA certificate (for curl --cacert and Prometheus; browsers refuse it): "
                f"{site[1]}") in started.stdout
        ca = vega("status", "--ca-cert", env=env)  # from the secret, on any host that has it
        assert ca.returncode == 0 and ca.stdout == open(site[1]).read(), ca.stderr
        code, headers, _ = request(site, f"/?token={token}")
        assert code == 303 and headers["Location"] == f"/#token={token}"
        assert json.loads(get(site, "/api/v1/status", token)[2])["master"][
            "webui_port"] == ports["webui_port"]
    finally:
        vega("stop-master", "--work-dir", work_dir, env=env)


def test_without_a_secret_status_reads_the_token_the_master_wrote(bare_master):
    """A master without a secret: vega status --token (same user, same host) reads the random
    token from the file the master names, and the link it prints works."""
    shown = vega("status", "--token", "--master", bare_master.url, env=bare_master.env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == bare_master.token
    link = f"https://127.0.0.1:{bare_master.port}/?token={bare_master.token}"
    assert f"web UI: {link}" in shown.stderr
    assert request(bare_master, link.split(str(bare_master.port), 1)[1])[0] == 303


def test_status_token_warns_when_the_master_refuses_its_secret(bare_master, tmp_path):
    """vega status --token with another secret than the master's still prints the token
    of that secret (it is derived, not asked for), and says on stderr that the master
    could not be asked and why, instead of a silent token the master refuses."""
    other = tmp_path / "other-secret"
    other.write_text("not the master's secret\n")
    other.chmod(0o600)
    shown = vega("status", "--token", "--master", bare_master.url, "--secret-file", str(other),
                 env=bare_master.env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == api_token(b"not the master's secret") + "\n"
    assert f"vega: warning: the master at {bare_master.url} could not be asked (" \
        in shown.stderr and "another secret" in shown.stderr
    assert "works only if the master has that secret" in shown.stderr
    assert "web UI:" not in shown.stderr
    assert request(bare_master, "/api/v1/status",
                   headers={"Authorization": f"Bearer {shown.stdout.strip()}"})[0] == 401


def test_submit_verbose_prints_the_link_of_a_local_cluster(tmp_path):
    """vega submit --verbose against a local cluster says how to open its web UI."""
    job = write_job(tmp_path, "tiny.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print(ctx.parallelize(range(4), 2).count())
    """)
    done = vega("submit", "--verbose", "--master", "local-cluster[1,1]", job)
    assert done.returncode == 0, done.stderr
    assert "local-cluster web UI: https://127.0.0.1:" in done.stderr and "/?token=" in done.stderr


# -- HTTPS -------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="the openssl command line tool is not installed")
def test_openssl_s_client_sees_tls13_and_a_certificate_of_the_cluster_ca(bare_master):
    """`openssl s_client -tls1_3` verifies the HTTP port's certificate against the CA file
    the master wrote (with the address checked), and no client certificate is asked for."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{bare_master.port}", "-tls1_3",
            "-brief", "-CAfile", bare_master.ca_file, "-verify_return_error",
            "-verify_ip", "127.0.0.1", "-ign_eof"]
    done = subprocess.run(argv, input=b"GET /metrics HTTP/1.0\r\n\r\n", capture_output=True,
                          timeout=30)
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert "Protocol version: TLSv1.3" in output, output
    assert "Verification: OK" in output, output
    assert "HTTP/1.0 200" in output and "vega_workers" in output, output


def test_the_certificate_is_issued_by_the_cluster_ca_for_this_masters_names(bare_master):
    """The server's certificate is an ECDSA P-256 key (browsers offer no Ed25519) signed by
    the cluster CA (here the well-known no-secret CA, in the master's ca.pem), naming the
    master's addresses and names, --ui-allowed-hosts included."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    with open(bare_master.ca_file, "rb") as fh:
        assert fh.read() == ca_certificate_pem(b"")  # no secret: the well-known CA
    with socket.create_connection(("127.0.0.1", bare_master.port), timeout=10) as plain, \
            http_client_context(bare_master.ca_file).wrap_socket(
                plain, server_hostname="127.0.0.1") as sock:
        assert sock.version() == "TLSv1.3"
        der = sock.getpeercert(binary_form=True)
    leaf = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate(ca_certificate_pem(b""))
    leaf.verify_directly_issued_by(ca)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "vega.test", socket.gethostname().lower()} <= \
        set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1"} <= {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def test_a_client_trusting_another_ca_or_another_name_is_refused(bare_master):
    """Verification is real: the CA of another secret does not verify the certificate, nor
    does a name it does not list."""
    url = f"https://127.0.0.1:{bare_master.port}/metrics"
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(url, timeout=10, context=http_client_context(secret=b"another"))
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    with socket.create_connection(("127.0.0.1", bare_master.port), timeout=10) as plain, \
            pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        http_client_context(bare_master.ca_file).wrap_socket(plain,
                                                             server_hostname="evil.example")


def test_plain_http_on_the_https_port_gets_a_clear_400_and_others_are_served(bare_master):
    """A plain-HTTP request is answered at once, in plain HTTP, with 400 and "use https://"
    (no hang); it is counted as a TLS refusal and the next HTTPS request is served."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", bare_master.port), timeout=10) as sock:
        sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert time.monotonic() - started < 5
    assert reply.startswith(b"HTTP/1.0 400 Bad Request\r\n"), reply
    assert b"speaks HTTPS only" in reply and b"https://" in reply
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(f"http://127.0.0.1:{bare_master.port}/", timeout=10)
    assert plain.value.code == 400
    metrics = request(bare_master, "/metrics")[2].decode()
    assert re.search(r'vega_rejected_connections_total\{port="http",reason="tls"\} ([2-9]|\d\d)',
                     metrics), metrics
    assert get(bare_master, "/api/v1/status", bare_master.token)[0] == 200


def test_the_web_ui_port_given_as_the_master_url_is_named_as_not_an_rpc_port(bare_master):
    """`vega status --master vega://HOST:WEBUI_PORT` (the port of the browser's URL): exit 3
    saying the port is not a Vega RPC port and where the master's is. Before, the only
    message was "The read operation timed out": the TLS handshake succeeds (the HTTPS port's
    certificate is of the cluster CA too) and the HTTP server waits for a request."""
    result = vega("status", "--master", f"vega://127.0.0.1:{bare_master.port}",
                  env=bare_master.env)
    assert result.returncode == 3, result.stderr
    assert (f"127.0.0.1:{bare_master.port} sent no challenge within 5s: this is not a Vega RPC "
            "port (a web UI's HTTPS port? the master's RPC port is vega.master.port, 7077 by "
            "default)") in result.stderr
    assert vega("status", "--master", bare_master.url, env=bare_master.env).returncode == 0


def test_with_tls_off_for_a_benchmark_the_port_and_its_links_are_plain_http(monkeypatch):
    """VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS=1 (never a default) turns HTTPS off too, and
    the links say http://, so that they still open."""
    from vega_runtime.deploy.http_api import start_metrics_http, ui_link
    from vega_runtime.net.tls import PLAINTEXT_ENV

    class Collector:
        def collect(self):
            return iter(())

    monkeypatch.setenv(PLAINTEXT_ENV, "1")
    server = start_metrics_http("127.0.0.1", 0, Collector())
    try:
        assert server.scheme == "http"
        assert ui_link("127.0.0.1", 8080, "t") == "http://127.0.0.1:8080/?token=t"
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.delenv(PLAINTEXT_ENV)
    assert ui_link("::1", 8080, "t") == "https://[::1]:8080/?token=t"


def test_daemons_without_a_secret_warn_that_every_local_user_can_run_code_on_them(
        bare_master, tmp_path):
    """Loopback is every local account's: a master and a worker run with --no-secret say at
    WARNING that any user of the host can connect and run code as this account (a second
    user did, as root, in a probe), and how to give them a secret."""
    me = f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"
    warning = ("without a cluster secret: every user of this host can connect to it and run "
               f"code as {me} on this cluster's workers (its TLS is encrypted, not "
               "authenticated). Run it without --no-secret: it then uses ")
    assert f"WARNING vega_cli: master {warning}" in read_text(str(tmp_path / "master.out"))
    log = tmp_path / "worker.out"
    with open(log, "wb") as out:
        worker = spawn_vega("worker", bare_master.url, "--no-secret", "--host", "127.0.0.1",
                            "--port", "0", "--webui-port", "0", "--work-dir", str(tmp_path / "worker"),
                            env=bare_master.env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=out, start_new_session=True)
    try:
        wait_for(lambda: "registered with" in read_text(str(log)) or worker.poll() is not None,
                 60, "the worker to register")
        assert f"WARNING vega_cli: worker {warning}" in read_text(str(log))
    finally:
        kill_group(worker)
