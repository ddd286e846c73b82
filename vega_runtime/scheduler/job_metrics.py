"""A driver's counts of jobs, stages and tasks, relayed to the master for /metrics."""

from __future__ import annotations

import json
import logging
import math
import threading
from bisect import bisect_left
from itertools import accumulate
from typing import Dict, Iterator, List, Optional

from .listener import JobListener

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the task duration histogram buckets.
DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)
#: vega_tasks_total's outcomes: ``killed`` is a started attempt stopped on purpose (a
#: speculative copy another attempt beat, a task of a cancelled job: Spark's numKilledTasks)
TASK_OUTCOMES = ("success", "failed", "fetch_failed", "lost", "killed")


class JobMetrics(JobListener):
    """Cumulative counters of one application; ``snapshot()`` is what the master gets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs = {"succeeded": 0, "failed": 0}
        self.jobs_running = 0
        self.stages = {"completed": 0, "failed": 0}
        self.stages_running = 0
        self.tasks = {"success": 0, "failed": 0, "fetch_failed": 0, "lost": 0, "killed": 0}
        #: successful tasks by the first bucket their duration fits in (``durations`` sums them)
        self._duration_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_count = 0
        self.duration_sum = 0.0
        self.shuffle = {"written": 0, "read": 0}
        self.version = 0
        #: live progress for the web UI: stage id -> {name, attempt, tasks, done, failed, state}
        self.stage_progress: dict = {}
        self.job_progress: dict = {}
        #: every stage of each running job's graph (``on_job_stages``)
        self._job_graphs: Dict[int, set] = {}

    def on_job_start(self, job_id: int, description: str) -> None:
        with self.lock:
            self.jobs_running += 1
            self.job_progress[job_id] = {"id": job_id, "description": description,
                                         "state": "running", "stages": []}
            self.version += 1

    def on_job_stages(self, job_id: int, stage_ids: List[int]) -> None:
        with self.lock:
            self._job_graphs[job_id] = set(stage_ids)

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        with self.lock:
            self.jobs_running -= 1
            self.jobs["failed" if error else "succeeded"] += 1
            self._job_graphs.pop(job_id, None)
            if job_id in self.job_progress:
                self.job_progress[job_id]["state"] = "failed" if error else "succeeded"
            self._trim(self.job_progress)
            self.version += 1

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        with self.lock:
            self.stages_running += 1
            self.stage_progress[stage_id] = {"id": stage_id, "name": name, "attempt": attempt,
                                             "tasks": num_tasks, "done": 0, "failed": 0,
                                             "state": "running"}
            for job_id, graph in self._job_graphs.items():  # the running jobs it serves
                job = self.job_progress.get(job_id)
                if stage_id in graph and job is not None and stage_id not in job["stages"]:
                    job["stages"].append(stage_id)
            self._trim(self.stage_progress)
            self.version += 1

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        with self.lock:
            self.stages_running -= 1
            self.stages["failed" if failure else "completed"] += 1
            if stage_id in self.stage_progress:
                self.stage_progress[stage_id]["state"] = "failed" if failure else "completed"
            self.version += 1

    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None:
        with self.lock:
            progress = self.stage_progress.get(stage_id)
            if progress is not None:
                progress["done" if success else "failed"] += 1

    @staticmethod
    def _trim(table: dict, keep: int = 50) -> None:
        for key in sorted(table)[:-keep]:
            del table[key]

    def on_task_metrics(self, outcome: str, metrics: dict) -> None:
        with self.lock:
            self.tasks[outcome] = self.tasks.get(outcome, 0) + 1
            if outcome == "success":
                duration = metrics.get("duration", 0.0)
                self.duration_count += 1
                self.duration_sum += duration
                self._duration_counts[bisect_left(DURATION_BUCKETS, duration)] += 1
            self.shuffle["written"] += int(metrics.get("shuffle_bytes_written", 0))
            self.shuffle["read"] += int(metrics.get("shuffle_bytes_read", 0))
            self.version += 1

    @property
    def durations(self) -> list:
        """Successful tasks that ran at most each bucket's bound (a cumulative histogram)."""
        return list(accumulate(self._duration_counts[:len(DURATION_BUCKETS)]))

    def snapshot(self) -> dict:
        with self.lock:
            return {"jobs": dict(self.jobs), "jobs_running": self.jobs_running,
                    "stages": dict(self.stages), "stages_running": self.stages_running,
                    "tasks": dict(self.tasks), "duration_buckets": self.durations,
                    "duration_count": self.duration_count, "duration_sum": self.duration_sum,
                    "shuffle": dict(self.shuffle), "version": self.version,
                    "job_progress": [dict(j, stages=list(j["stages"]))
                                     for j in self.job_progress.values()],
                    "stage_progress": [dict(s) for s in self.stage_progress.values()]}


#: a snapshot's counters, which /metrics sums: tables of counts by outcome, and numbers
_COUNT_TABLES = ("jobs", "stages", "tasks", "shuffle")
_NUMBERS = ("jobs_running", "stages_running", "duration_count", "duration_sum", "version")
#: what the web UI shows of it: lists of maps (``cached_rdds``: the driver adds its cached RDDs)
_PROGRESS = ("job_progress", "stage_progress", "cached_rdds")


def checked_snapshot(text: str) -> dict:
    """A snapshot a driver relayed (``snapshot()`` as JSON), checked before the master keeps
    it: /metrics sums its counters at every scrape, so one of another shape would fail them
    all.  ValueError saying what is wrong; keys this version does not know are left out.

    >>> checked_snapshot('{"tasks": {"success": 3}, "jobs_running": 1, "later": "x"}')
    {'tasks': {'success': 3}, 'jobs_running': 1}
    >>> checked_snapshot('{"tasks": {"success": "3"}}')
    Traceback (most recent call last):
    ValueError: 'tasks' is not a map of numbers
    """
    try:
        snapshot = json.loads(text)
    except RecursionError:
        raise ValueError("its JSON is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"it is not JSON ({exc})") from None
    if not isinstance(snapshot, dict):
        raise ValueError(f"it is a JSON {type(snapshot).__name__}, not an object")
    checked = {}
    for key, value in snapshot.items():
        if key in _COUNT_TABLES:
            shape, right = "a map of numbers", isinstance(value, dict) and \
                all(map(_is_number, value.values()))
        elif key in _NUMBERS:
            shape, right = "a number", _is_number(value)
        elif key == "duration_buckets":
            shape = f"a list of {len(DURATION_BUCKETS)} numbers"
            right = isinstance(value, list) and len(value) == len(DURATION_BUCKETS) and \
                all(map(_is_number, value))
        elif key in _PROGRESS:
            shape = "a list of maps"
            right = isinstance(value, list) and all(isinstance(v, dict) for v in value)
        else:
            continue
        if not right:
            raise ValueError(f"{key!r} is not {shape}")
        checked[key] = value
    return checked


def _is_number(value) -> bool:
    """A finite int or float (a bool is neither, to a counter)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _total(snapshots, *path) -> float:
    total = 0
    for snapshot in snapshots:
        value = snapshot
        for key in path:
            value = value.get(key, 0) if isinstance(value, dict) else 0
        total += value or 0
    return total


def counters(snapshot: dict) -> dict:
    """The counters of ``snapshot``, without its progress tables and running gauges.

    >>> counters({"jobs": {"succeeded": 1}, "jobs_running": 2, "stage_progress": [{}]})
    {'jobs': {'succeeded': 1}}
    """
    return {key: value for key, value in snapshot.items()
            if key not in ("job_progress", "stage_progress", "cached_rdds", "version",
                           "jobs_running", "stages_running")}


def ended_counts(snapshot: dict) -> dict:
    """The counters of an ended application's last ``snapshot``: nothing of it runs any
    more, whatever its driver last said (a driver killed mid-job never says its job
    ended), and what it last said was running failed with it, as its REST API, its page
    (``ended_progress``) and Spark's history server have it: ``jobs_total`` counts every
    job that ran, not only those whose driver lived to say how they ended.

    >>> ended_counts({"jobs": {"succeeded": 1}, "jobs_running": 2, "stage_progress": [{}]})
    {'jobs': {'succeeded': 1, 'failed': 2}, 'stages': {'failed': 0}, 'jobs_running': 0, 'stages_running': 0}
    """
    counts = counters(snapshot)
    for table, running in (("jobs", "jobs_running"), ("stages", "stages_running")):
        done = dict(counts.get(table, {}))
        done["failed"] = done.get("failed", 0) + snapshot.get(running, 0)
        counts[table] = done
    return {**counts, "jobs_running": 0, "stages_running": 0}


def ended_progress(progress: List[dict]) -> List[dict]:
    """The jobs or stages (``job_progress``, ``stage_progress``) of an ended application's
    last snapshot: one its driver last said was running failed with the application (as
    its REST API and ``ended_counts`` have it).

    >>> ended_progress([{"id": 0, "state": "succeeded"}, {"id": 1, "state": "running"}])
    [{'id': 0, 'state': 'succeeded'}, {'id': 1, 'state': 'failed'}]
    """
    return [dict(p, state="failed") if p.get("state") == "running" else p for p in progress]


def add_counts(total: dict, snapshot: dict) -> dict:
    """``total`` plus ``snapshot``'s counters, as ``ended_counts`` gives them: what the
    master keeps of the applications it has forgotten, so that the sums it exports stay
    counters (a sum that drops when an application is forgotten reads as a reset, and
    Prometheus's ``rate`` as a burst of everything counted since).

    >>> add_counts(ended_counts({"tasks": {"success": 2}, "duration_buckets": [1, 2]}),
    ...            {"tasks": {"success": 3, "lost": 1}, "duration_buckets": [0, 3],
    ...             "jobs": {"succeeded": 1}, "jobs_running": 1})
    {'tasks': {'success': 5, 'lost': 1}, 'duration_buckets': [1, 5], 'jobs': {'failed': 1, 'succeeded': 1}, 'stages': {'failed': 0}, 'jobs_running': 0, 'stages_running': 0}
    """
    merged = dict(total)
    for key, value in ended_counts(snapshot).items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {})}
            for name, count in value.items():
                merged[key][name] = merged[key].get(name, 0) + count
        elif isinstance(value, list):
            before = merged.get(key, [0] * len(value))
            merged[key] = [a + b for a, b in zip(before, value)]
        elif key not in ("jobs_running", "stages_running"):
            merged[key] = merged.get(key, 0) + value
        else:
            merged[key] = 0
    return merged


def less_counts(snapshot: dict, base: Optional[dict]) -> dict:
    """``snapshot``'s counters less those of ``base`` (an earlier snapshot of the same
    driver; None or empty: nothing to take off): what a master that resumed an application
    after a restart counts of it, the driver's counts since it first reported to that master
    (its cumulative counts again would read, to Prometheus's ``rate`` and ``increase``, as
    every task of the application finishing again at once).  The running gauges and the
    progress tables are the snapshot's.

    >>> less_counts({"tasks": {"success": 8, "failed": 1}, "duration_buckets": [5, 8],
    ...              "duration_count": 8, "jobs_running": 1},
    ...             {"tasks": {"success": 6}, "duration_buckets": [4, 6], "duration_count": 6,
    ...              "jobs_running": 1})
    {'tasks': {'success': 2, 'failed': 1}, 'duration_buckets': [1, 2], 'duration_count': 2, 'jobs_running': 1}
    """
    if not base:
        return snapshot
    counted = dict(snapshot)
    for key, value in snapshot.items():
        before = base.get(key)
        if key in _COUNT_TABLES and isinstance(before, dict):
            counted[key] = {name: count - before.get(name, 0) for name, count in value.items()}
        elif key == "duration_buckets" and isinstance(before, list):
            counted[key] = [a - b for a, b in zip(value, before)]
        elif key in ("duration_count", "duration_sum") and before is not None:
            counted[key] = value - before
    return counted


def job_metric_families(snapshots) -> Iterator:
    """Jobs, stages, tasks, durations and shuffle bytes summed over the applications."""
    # imported here: only processes serving /metrics need prometheus-client
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

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
    for outcome in TASK_OUTCOMES:
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


class JobMetricsCollector:
    """Prometheus collector of one driver's JobMetrics (``vega.driver.metrics.port``)."""

    def __init__(self, metrics: JobMetrics):
        self.metrics = metrics

    def collect(self) -> Iterator:
        return job_metric_families([self.metrics.snapshot()])
