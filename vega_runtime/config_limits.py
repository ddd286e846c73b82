"""Figures derived from resolved settings: the frame limit, an executor's storage memory,
the RPC and HTTP servers' limits."""

from __future__ import annotations

from typing import Any, Mapping

#: the largest frame (message) a Vega connection accepts (``net.framing``): no task's
#: result can be bigger, whatever vega.driver.max_result_size says
FRAME_LIMIT = 1 << 30

#: the least memory a cluster's executor keeps cached partitions in, however small its own
CLUSTER_MIN_STORAGE_MEMORY = 64 << 20


def executor_storage_memory(conf: Mapping[str, Any], on_cluster: bool) -> int:
    """Bytes each executor keeps cached partitions in (docs/storage.md): a local master's
    (``local``, ``local[N]``) ``vega.storage.memory``; a cluster's executor, whose memory is
    reserved for it, half its ``vega.executor.memory`` (at least 64 MiB).

    >>> from vega_runtime.config import Config
    >>> conf = Config.load(overrides={"vega.executor.memory": "256m"}, conf_dir="/nonexistent")
    >>> [executor_storage_memory(conf, on_cluster) >> 20 for on_cluster in (True, False)]
    [128, 512]
    """
    if on_cluster:
        return max(CLUSTER_MIN_STORAGE_MEMORY, conf["vega.executor.memory"] // 2)
    return conf["vega.storage.memory"]


def rpc_limits(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``net.server.Server`` keyword arguments from ``vega.net.*``: the handshake deadline
    and caps, the send timeout (the master's, workers' and drivers' RPC ports)."""
    return {"handshake_timeout": conf["vega.net.handshake_timeout"],
            "max_handshakes": conf["vega.net.max_handshakes"],
            "max_handshakes_per_address": conf["vega.net.max_handshakes_per_address"],
            "send_timeout": conf["vega.net.send_timeout"]}


def http_limits(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``deploy.http_api`` servers' keyword arguments from ``vega.ui.*``: connection caps
    and request/response deadlines (the master's HTTP port, workers' and drivers' /metrics)."""
    return {"max_connections": conf["vega.ui.max_connections"],
            "per_address": conf["vega.ui.max_connections_per_address"],
            "request_timeout": conf["vega.ui.request_timeout"],
            "response_timeout": conf["vega.ui.response_timeout"]}

