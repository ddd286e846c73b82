"""The HTTP API token and links into the master's web UI, for whoever prints them (the
master, ``vega submit``, ``vega history``, a Context in Jupyter)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Optional
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

#: the page showing one application (its jobs, stages, executors, storage, environment)
APPLICATION_PAGE = "/ui/app.html"


def api_token(secret: bytes) -> str:
    """The token of a cluster with a secret (``Authorization: Bearer ...``), derived from
    the secret so whoever holds the secret can compute it."""
    if not secret:
        raise ValueError("api_token needs the cluster secret; without one the master makes a "
                         "random token (master_token)")
    return hmac.new(secret, b"vega-http-api", hashlib.sha256).hexdigest()


def read_token_file(path: str) -> Optional[str]:
    """The token a master wrote to ``path``, or None if it cannot be read."""
    try:
        with open(path) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def without_token(link: str) -> str:
    """``link`` without its ``token``: what may be printed where logs are kept (a browser
    signed in to that master opens it; ``vega status --token`` prints the signed-in one).

    >>> without_token("https://m:8080/ui/app.html?app=app-1&token=abc")
    'https://m:8080/ui/app.html?app=app-1'
    """
    parts = urlsplit(link)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def application_link(ui_link: str, app_id: str) -> str:
    """The link to one application's pages, from the link that opens the master's UI
    (``SCHEME://HOST:PORT/?token=T``, or without the token): same scheme, host and token.

    >>> application_link("http://10.0.0.1:8080/?token=abc", "app-1")
    'http://10.0.0.1:8080/ui/app.html?app=app-1&token=abc'
    """
    parts = urlsplit(ui_link)
    query = [("app", app_id)] + [(k, v) for k, v in parse_qsl(parts.query) if k == "token"]
    return urlunsplit((parts.scheme, parts.netloc, APPLICATION_PAGE,
                       urlencode(query, quote_via=quote), ""))
