"""Requests to a master's HTTP port from tests: the scheme and the client's TLS settings are
decided here, in one place (the port is switching to HTTPS)."""

import json
import urllib.error
import urllib.request

#: the scheme of the master's web UI and REST API
UI_SCHEME = "http"


def ui_url(port: int, path: str, host: str = "127.0.0.1") -> str:
    return f"{UI_SCHEME}://{host}:{port}{path}"


def api_get(port: int, path: str, token: str):
    """(status, decoded JSON or raw bytes) of one authenticated GET."""
    req = urllib.request.Request(ui_url(port, path), headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body


def browser_opener() -> urllib.request.OpenerDirector:
    """A client that keeps cookies, as a browser does (``?token=`` links sign in with one)."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
