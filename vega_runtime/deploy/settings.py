"""A daemon's listener limits from its ``Config`` (``vega.net.*``, ``vega.ui.*``), as the
keyword arguments of ``net.server.Server`` and of ``http_api``'s servers."""

from __future__ import annotations

from typing import Any, Dict, Mapping


def rpc_limits(conf: Mapping[str, Any]) -> Dict[str, Any]:
    """``Server`` keyword arguments: handshake deadline and caps, send timeout."""
    return {"handshake_timeout": conf["vega.net.handshake_timeout"],
            "max_handshakes": conf["vega.net.max_handshakes"],
            "max_handshakes_per_address": conf["vega.net.max_handshakes_per_address"],
            "send_timeout": conf["vega.net.send_timeout"]}


def http_limits(conf: Mapping[str, Any]) -> Dict[str, Any]:
    """``start_http`` / ``start_metrics_http`` keyword arguments: connection caps and
    request/response deadlines."""
    return {"max_connections": conf["vega.ui.max_connections"],
            "per_address": conf["vega.ui.max_connections_per_address"],
            "request_timeout": conf["vega.ui.request_timeout"],
            "response_timeout": conf["vega.ui.response_timeout"]}
