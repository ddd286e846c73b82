"""The master's HTTP port: the JSON API (``/api/v1/``) and a plain status page."""

from __future__ import annotations

import html
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


def start_http(host: str, port: int, master) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path.rstrip("/") == "/api/v1/status":
                self._send(200, "application/json", json.dumps(master.status(), indent=1))
            elif self.path.rstrip("/") == "/metrics":
                from prometheus_client.exposition import CONTENT_TYPE_LATEST

                from .metrics import metrics_text

                self._send(200, CONTENT_TYPE_LATEST, metrics_text(master).decode("utf-8"))
            elif self.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", _page(master.status()))
            else:
                self._send(404, "application/json", json.dumps({"error": "not found"}))

        def _send(self, code: int, kind: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args) -> None:
            log.debug("http: " + fmt, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="master-http",
                     daemon=True).start()
    return server


def _page(status: dict) -> str:
    esc = html.escape
    workers = "".join(
        f"<tr><td>{esc(w['id'])}</td><td>{esc(w['host'])}</td><td>{esc(w['state'])}</td>"
        f"<td>{w['cores_used']}/{w['cores']}</td><td>{w['memory_used_bytes'] >> 20}/"
        f"{w['memory_bytes'] >> 20} MiB</td></tr>" for w in status["workers"])
    apps = "".join(
        f"<tr><td>{esc(a['id'])}</td><td>{esc(a['name'])}</td><td>{esc(a['state'])}</td>"
        f"<td>{a['cores']}</td><td>{a['duration_seconds']}s</td></tr>"
        for a in status["applications"])
    return (f"<!doctype html><title>Vega master</title><h1>Vega master "
            f"{esc(status['master']['url'])}</h1><h2>Workers</h2><table border=1>"
            f"<tr><th>id</th><th>host</th><th>state</th><th>cores</th><th>memory</th></tr>"
            f"{workers}</table><h2>Applications</h2><table border=1><tr><th>id</th><th>name</th>"
            f"<th>state</th><th>cores</th><th>duration</th></tr>{apps}</table>")


def start_metrics_http(host: str, port: int, collector) -> ThreadingHTTPServer:
    """A small HTTP server answering ``/metrics`` from one collector (workers, drivers)."""
    from .metrics import registry_text

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            from prometheus_client.exposition import CONTENT_TYPE_LATEST

            if self.path.rstrip("/") != "/metrics":
                self.send_error(404)
                return
            data = registry_text(collector)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args) -> None:
            log.debug("http: " + fmt, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     name="metrics-http", daemon=True).start()
    return server
