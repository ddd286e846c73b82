"""Prometheus metrics of the master, read from its state at scrape time.

A custom collector (no counters sprinkled through the master): every scrape
reads the master's workers, applications and counters (its ``MasterState``) under
its lock.
prometheus-client is imported at the first scrape, not at daemon start-up.
"""

from __future__ import annotations

from typing import Iterator


from ..scheduler.job_metrics import ended_counts, job_metric_families


def connection_families(servers, labels=(), values=()) -> Iterator:
    """Rejected connections by port and reason, and open connections by port and state, of
    ``servers`` (``{port label: Server or HTTP server}``)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    rejected = CounterMetricFamily(
        "vega_rejected_connections", "Connections dropped or refused, by port and reason "
        "(auth_failed, tls, protocol, handshake_timeout, request_timeout, request_too_large, "
        "total_limit, address_limit, out_of_descriptors, no_threads)", labels=[*labels, "port", "reason"])
    open_now = GaugeMetricFamily("vega_open_connections", "Connections open now, by port and "
                                 "state (handshake, established)", labels=[*labels, "port", "state"])
    for port, server in servers.items():
        if server is None:
            continue
        for reason, count in sorted(server.rejections.counts().items()):
            rejected.add_metric([*values, port, reason], count)
        for state, count in server.connection_counts().items():
            open_now.add_metric([*values, port, state], count)
    yield rejected
    yield open_now


class MasterCollector:
    def __init__(self, master, http=None):
        self.master = master
        self.http = http

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from .master_state import AppState, WorkerState  # the master's (it has them loaded)
        from .master_status import recovered_app_state, recovered_worker_state

        m = self.master
        with m.lock:
            workers = list(m.state.workers.values())
            apps = list(m.state.apps.values())
            # what a restarted master knows from its recovery directory only, counted as
            # vega status shows it: workers not back yet are lost, stopped ones dead
            recovered_states = [recovered_worker_state(w)
                                for w in m.state.recovered_workers.values()]
            app_states = [a.state.value for a in apps] + \
                [recovered_app_state(r) for r in m.state.recovered.values()]
            # an ended application's jobs run no more (its driver may have been killed
            # mid-job); forgotten ones still count, or the sums would go back; one resumed
            # after a restart counts from its first report to this master on
            snapshots = [a.counted_metrics() if a.state.active
                         else ended_counts(a.counted_metrics())
                         for a in apps if a.metrics] + [m.state.forgotten_metrics]
            counters = dict(m.state.counters)
            rejected = m.server.rejected
        by_state = GaugeMetricFamily("vega_workers", "Workers known to the master, by state",
                                     labels=["state"])
        for state in WorkerState:  # the master's own states: one series each, 0 included
            by_state.add_metric([state.value], sum(1 for w in workers if w.state == state)
                                + recovered_states.count(state.value))
        yield by_state
        cores = GaugeMetricFamily("vega_worker_cores", "Cores of each worker",
                                  labels=["worker", "host", "kind"])
        memory = GaugeMetricFamily("vega_worker_memory_bytes", "Executor memory of each worker",
                                   labels=["worker", "host", "kind"])
        for w in workers:
            if w.state != WorkerState.ALIVE:
                continue
            cores.add_metric([w.worker_id, w.host, "total"], w.cores)
            cores.add_metric([w.worker_id, w.host, "used"], w.cores_used)
            memory.add_metric([w.worker_id, w.host, "total"], w.memory)
            memory.add_metric([w.worker_id, w.host, "used"], w.memory_used)
        yield cores
        yield memory
        applications = GaugeMetricFamily("vega_applications", "Applications, by state",
                                         labels=["state"])
        for state in [*(s.value for s in AppState), "recovering"]:
            applications.add_metric([state], app_states.count(state))
        yield applications
        yield from job_metric_families(snapshots)
        yield CounterMetricFamily("vega_executor_losses_total",
                                  "Executors that exited or were lost with their worker",
                                  value=counters.get("executor_losses", 0))
        yield CounterMetricFamily("vega_log_lines_relayed_total",
                                  "Task output lines drivers relayed to the master",
                                  value=counters.get("log_lines", 0))
        yield CounterMetricFamily("vega_connections_rejected_total",
                                  "Connections to the RPC port dropped, all reasons together",
                                  value=rejected)
        yield from connection_families({"rpc": m.server, "http": self.http})


def metrics_text(master, http=None) -> bytes:
    """The master's metrics in the Prometheus text format (``http``: its HTTP server)."""
    return registry_text(MasterCollector(master, http))


class WorkerCollector:
    """A worker's executors, capacity and shuffle service traffic."""

    def __init__(self, worker):
        self.worker = worker
        #: the HTTP server answering /metrics, once it runs (``start_metrics_http`` sets it)
        self.http = None

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        w = self.worker
        with w.lock:
            running = len(w.executors)
            served = dict(w.served)
        served.update(executors_launched=w.state.launched, executors_exited=w.state.exited)
        served["rejected"] = w.shuffle.rejected
        labels = ["worker", "host"]
        values = [w.worker_id, w.host]
        for name, text, value in (
                ("vega_worker_executors", "Executor processes running", running),
                ("vega_worker_offered_cores", "Cores offered to executors", w.cores),
                ("vega_worker_offered_memory_bytes", "Memory offered to executors",
                 w.memory)):
            family = GaugeMetricFamily(name, text, labels=labels)
            family.add_metric(values, value)
            yield family
        for name, text, key in (
                ("vega_worker_executors_launched_total", "Executors started", "executors_launched"),
                ("vega_worker_executor_exits_total", "Executors that exited unasked",
                 "executors_exited"),
                ("vega_shuffle_blocks_served_total", "Shuffle blocks sent to other hosts", "blocks"),
                ("vega_shuffle_served_bytes_total", "Shuffle bytes sent to other hosts", "bytes"),
                ("vega_shuffle_blocks_missing_total", "Shuffle block requests for missing files",
                 "missing"),
                ("vega_worker_connections_rejected_total",
                 "Shuffle service connections dropped for failed authentication or bad frames",
                 "rejected")):
            family = CounterMetricFamily(name, text, labels=labels)
            family.add_metric(values, served[key])
            yield family
        yield from connection_families({"shuffle": w.shuffle, "http": self.http}, labels, values)


def registry_text(collector) -> bytes:
    """One collector's metrics in the Prometheus text format."""
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
