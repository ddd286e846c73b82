"""Prometheus metrics of the master, read from its state at scrape time.

A custom collector (no counters sprinkled through the master): every scrape
reads the master's workers, applications and counters under its lock.
"""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry
from prometheus_client.exposition import generate_latest

APP_STATES = ("waiting", "running", "finished", "failed", "killed")
WORKER_STATES = ("alive", "lost", "dead")


class MasterCollector:
    def __init__(self, master):
        self.master = master

    def collect(self) -> Iterator:
        m = self.master
        with m.lock:
            workers = list(m.workers.values())
            apps = list(m.apps.values())
            counters = dict(m.counters)
            rejected = m.server.rejected
        by_state = GaugeMetricFamily("vega_workers", "Workers known to the master, by state",
                                     labels=["state"])
        for state in WORKER_STATES:
            by_state.add_metric([state], sum(1 for w in workers if w.state == state))
        yield by_state
        cores = GaugeMetricFamily("vega_worker_cores", "Cores of each worker",
                                  labels=["worker", "host", "kind"])
        memory = GaugeMetricFamily("vega_worker_memory_bytes", "Executor memory of each worker",
                                   labels=["worker", "host", "kind"])
        for w in workers:
            if w.state != "alive":
                continue
            cores.add_metric([w.worker_id, w.host, "total"], w.cores)
            cores.add_metric([w.worker_id, w.host, "used"], w.cores_used)
            memory.add_metric([w.worker_id, w.host, "total"], w.memory)
            memory.add_metric([w.worker_id, w.host, "used"], w.memory_used)
        yield cores
        yield memory
        applications = GaugeMetricFamily("vega_applications", "Applications, by state",
                                         labels=["state"])
        for state in APP_STATES:
            applications.add_metric([state], sum(1 for a in apps if a.state == state))
        yield applications
        yield CounterMetricFamily("vega_executor_losses_total",
                                  "Executors that exited or were lost with their worker",
                                  value=counters.get("executor_losses", 0))
        yield CounterMetricFamily("vega_log_lines_relayed_total",
                                  "Task output lines drivers relayed to the master",
                                  value=counters.get("log_lines", 0))
        yield CounterMetricFamily("vega_connections_rejected_total",
                                  "Connections dropped for failed authentication or bad frames",
                                  value=rejected)


def metrics_text(master) -> bytes:
    """The master's metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MasterCollector(master))
    return generate_latest(registry)
