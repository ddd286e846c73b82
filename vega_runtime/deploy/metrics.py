"""Prometheus metrics of the master, read from its state at scrape time.

A custom collector (no counters sprinkled through the master): every scrape
reads the master's workers, applications and counters under its lock.
"""

from __future__ import annotations

from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
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
            snapshots = [a.metrics for a in apps if a.metrics]
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
        yield from _job_metrics(snapshots)
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
    return registry_text(MasterCollector(master))


def _total(snapshots, *path) -> float:
    total = 0
    for snapshot in snapshots:
        value = snapshot
        for key in path:
            value = value.get(key, 0) if isinstance(value, dict) else 0
        total += value or 0
    return total


def _job_metrics(snapshots) -> Iterator:
    """Jobs, stages, tasks, durations and shuffle bytes summed over the applications."""
    from ..scheduler.job_metrics import DURATION_BUCKETS

    for name, key, outcomes, running_key in (
            ("vega_jobs", "jobs", ("succeeded", "failed"), "jobs_running"),
            ("vega_stages", "stages", ("completed", "failed"), "stages_running")):
        done = CounterMetricFamily(f"{name}_total", f"{key.capitalize()} finished, by outcome",
                                   labels=["outcome"])
        for outcome in outcomes:
            done.add_metric([outcome], _total(snapshots, key, outcome))
        yield done
        yield GaugeMetricFamily(f"{name}_running", f"{key.capitalize()} running now",
                                value=_total(snapshots, running_key))
    tasks = CounterMetricFamily("vega_tasks_total", "Tasks finished, by outcome",
                                labels=["outcome"])
    for outcome in ("success", "failed", "fetch_failed", "lost"):
        tasks.add_metric([outcome], _total(snapshots, "tasks", outcome))
    yield tasks
    buckets, cumulative = [], 0
    for i, bound in enumerate(DURATION_BUCKETS):
        cumulative = sum(s.get("duration_buckets", [0] * len(DURATION_BUCKETS))[i]
                         for s in snapshots)
        buckets.append((str(bound), cumulative))
    buckets.append(("+Inf", _total(snapshots, "duration_count")))
    yield HistogramMetricFamily("vega_task_duration_seconds", "Duration of successful tasks",
                                buckets=buckets, sum_value=_total(snapshots, "duration_sum"))
    yield CounterMetricFamily("vega_shuffle_written_bytes_total", "Shuffle bytes written",
                              value=_total(snapshots, "shuffle", "written"))
    yield CounterMetricFamily("vega_shuffle_read_bytes_total", "Shuffle bytes read",
                              value=_total(snapshots, "shuffle", "read"))
    yield CounterMetricFamily("vega_fetch_failures_total", "Reduce tasks that lost a map output",
                              value=_total(snapshots, "tasks", "fetch_failed"))


class WorkerCollector:
    """A worker's executors, capacity and shuffle service traffic."""

    def __init__(self, worker):
        self.worker = worker

    def collect(self) -> Iterator:
        w = self.worker
        with w.lock:
            running = len(w.executors)
            served = dict(w.served)
        labels = ["worker", "host"]
        values = [w.worker_id, w.host]
        for name, text, value in (
                ("vega_worker_executors", "Executor processes running", running),
                ("vega_worker_cores_total", "Cores offered to executors", w.cores),
                ("vega_worker_memory_total_bytes", "Memory offered to executors", w.memory)):
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
                 "missing")):
            family = CounterMetricFamily(name, text, labels=labels)
            family.add_metric(values, served[key])
            yield family


def registry_text(collector) -> bytes:
    """One collector's metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
