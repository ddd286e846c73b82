"""The master's web UI and JSON API, over real HTTP, while a local cluster runs a job."""

import json
import threading
import time
import urllib.error
import urllib.request

from vega_runtime import Context, StorageLevel
from vega_runtime.deploy.http_api import api_token


def get(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_ui_assets_and_application_detail_with_progress_and_cache():
    """The page and its assets load; an application's stages, executors and cached RDDs show."""
    with Context(master="local-cluster[2,1]", app_name="detailed") as ctx:
        port = ctx.backend.owned_cluster.webui_port
        for path, kind in (("/", "text/html"), ("/ui/app.js", "text/javascript"),
                           ("/ui/style.css", "text/css")):
            code, content_type, body = get(port, path)
            assert code == 200 and content_type.startswith(kind) and body
        assert b"cdn" not in get(port, "/")[2].lower()
        cached = ctx.parallelize(range(40), 4).set_name("numbers").persist(StorageLevel.MEMORY_ONLY)
        assert cached.map(lambda x: (x % 2, x)).reduce_by_key(lambda a, b: a + b).count() == 2
        app_id = ctx.backend.app_id
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            detail = json.loads(get(port, f"/api/v1/applications/{app_id}")[2])
            if detail["cached_rdds"] and len(detail["stages"]) == 2:
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
        app_id = ctx.backend.app_id
        url = f"http://127.0.0.1:{port}/api/v1/applications/{app_id}/kill"
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10)
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
        request = urllib.request.Request(url, method="POST")
        request.add_header("Authorization", f"Bearer {api_token(secret)}")
        assert json.load(urllib.request.urlopen(request, timeout=10))["killed"] is True
        job.join(30)
        assert "error" in outcome and "HTTP API" in str(outcome["error"])


def test_finished_applications_are_shown_from_their_event_logs(tmp_path):
    """A master pointed at the event log directory lists and details finished applications."""
    from vega_runtime.deploy.master import Master
    from vega_runtime.deploy.http_api import start_http

    with Context(master="local", app_name="earlier", conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(8), 2).map(lambda x: (x, 1)).group_by_key().count()
        app_id = ctx.application_id
    master = Master("127.0.0.1", 0, None, "127.0.0.1", str(tmp_path / "m"),
                    event_log_dir=str(tmp_path))
    http = start_http("127.0.0.1", 0, master)
    try:
        port = http.server_address[1]
        listed = json.loads(get(port, "/api/v1/history")[2])
        assert [(h["app_id"], h["name"], h["finished"]) for h in listed] == [(app_id, "earlier", True)]
        detail = json.loads(get(port, f"/api/v1/history/{app_id}")[2])
        assert detail["tasks"] == 4 and len(detail["stages"]) == 2
    finally:
        http.shutdown()
        master.stop()
