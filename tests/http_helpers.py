"""Requests to a master's HTTP port from tests: the scheme and the client's TLS settings are
decided here, in one place.  A *site* is what a test knows of a master's HTTP port: an object
with ``port`` and ``ca_file`` (``bare_master``), a ``(port, CA file)`` pair, or a bare port
number (for building links only)."""

import json
import urllib.error
import urllib.request

from vega_runtime.net.tls import http_client_context

#: the scheme of the master's web UI and REST API
UI_SCHEME = "https"


def _port_and_ca(site):
    if isinstance(site, int):
        return site, None
    return site if isinstance(site, tuple) else (site.port, site.ca_file)


def ui_url(site, path: str, host: str = "127.0.0.1") -> str:
    return f"{UI_SCHEME}://{host}:{_port_and_ca(site)[0]}{path}"


def _opener(site, *handlers) -> urllib.request.OpenerDirector:
    """A client verifying the site's certificate against its cluster CA."""
    ca_file = _port_and_ca(site)[1]
    assert ca_file, "an HTTPS request needs the site's CA file"
    return urllib.request.build_opener(
        *handlers, urllib.request.HTTPSHandler(context=http_client_context(ca_file)))


def api_get(site, path: str, token: str):
    """(status, decoded JSON or raw bytes) of one authenticated GET."""
    req = urllib.request.Request(ui_url(site, path), headers={"Authorization": f"Bearer {token}"})
    try:
        with _opener(site).open(req, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body


def browser_opener(site) -> urllib.request.OpenerDirector:
    """A client that follows redirects and keeps cookies, as a browser does (a ``?token=``
    link to a page redirects to it, the token in the fragment; the master sets no cookie)."""
    return _opener(site, urllib.request.HTTPCookieProcessor())


def api_get_bytes(site, path: str, token: str):
    """(status, headers, body bytes) of one authenticated GET, whatever its type."""
    req = urllib.request.Request(ui_url(site, path), headers={"Authorization": f"Bearer {token}"})
    try:
        with _opener(site).open(req, timeout=20) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()
