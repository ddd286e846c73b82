"""The end-of-application summary of a Context, counted as it runs.

What ``RunSummary`` counts from the scheduler's events, in memory bounded however long the
Context lives (counters, the stages running now, and ``TaskDurations``), is the summary a
Context's stop gives: the event log's end carries it (``RunSummary.totals``, which listings
of the log read there: ``event_log.summary_of_ends``), and without a log
(``vega.eventlog.dir`` empty, or the default directory unwritable), or with one a failed
write cut short (a full disk), it is the summary as it stands.  The counting costs a driver
1.3 to 1.7 µs of CPU a task, 1% of what it spends a task (``docs/monitoring.md``).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from typing import Dict, List, Optional

from .listener import JobListener


def percentile(values: List[float], q: float) -> float:
    """The ``q`` percentile of sorted ``values`` as the summaries give it: the value at rank
    ``int(q * n)`` (the upper of two middle ones), to 0.1 ms.

    >>> percentile([0.1, 0.2, 0.3, 0.4], 0.5), percentile([], 0.9)
    (0.3, 0.0)
    """
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, int(q * len(values)))], 4)


class TaskDurations:
    """Successful tasks' durations, for their percentiles, in bounded memory: each one while
    there are at most ``exact`` (the percentiles are then those of the event log's summary,
    exactly), past that a count per bucket whose bounds grow by ``GROWTH`` (1%: a percentile
    is within 0.5% of the log's; 1 µs to a day is ~2,500 buckets, to 10⁹ s at most 3,500).
    The maximum is exact.

    >>> d = TaskDurations(exact=3)
    >>> for s in (0.5, 1.2, 2.0): d.add(s)
    >>> d.percentile(0.5)  # each kept: the log's figure
    1.2
    >>> d.add(0.7)  # one more than kept: counted in buckets from now on
    >>> d.percentile(0.5), d.percentile(0.25), d.max
    (1.2021, 0.7024, 2.0)
    """

    GROWTH = 1.01
    _LOG_GROWTH = math.log(GROWTH)
    #: shorter durations share the lowest bucket, ``_SHORT`` (shown as 0)
    SHORTEST = 1e-6
    _SHORT = -(1 << 30)

    def __init__(self, exact: int = 10_000) -> None:
        self.exact = exact
        self.count = 0
        self.max = 0.0
        self._values: Optional[array] = array("d")
        self._buckets: Dict[int, int] = {}

    def add(self, seconds: float) -> None:
        self.count += 1
        if seconds > self.max:  # (``max``'s result, a third of the time)
            self.max = seconds
        if self._values is None:
            self._count_in_bucket(seconds)
            return
        self._values.append(seconds)
        if len(self._values) > self.exact:  # from now on, buckets
            for value in self._values:
                self._count_in_bucket(value)
            self._values = None

    def _count_in_bucket(self, seconds: float) -> None:
        if not seconds > self.SHORTEST:  # (NaN too)
            key = self._SHORT
        else:
            key = math.ceil(math.log(min(seconds, 1e9)) / self._LOG_GROWTH)
        self._buckets[key] = self._buckets.get(key, 0) + 1

    def percentile(self, q: float) -> float:
        """``percentile`` of every duration added (see the class for how exact)."""
        if self._values is not None:
            return percentile(sorted(self._values), q)
        rank, seen = min(self.count - 1, int(q * self.count)), 0
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen > rank:
                if key == self._SHORT:
                    return 0.0
                # the middle of the bucket's bounds by relative error (DDSketch's)
                middle = 2 * self.GROWTH ** key / (self.GROWTH + 1)
                return round(min(middle, self.max), 4)
        return 0.0


class RunSummary(JobListener):
    """The figures ``event_log.summarize`` gives of a log, counted as the application runs
    (thread-safe: jobs end on their own threads; task events come from the job loop).  Stages are counted, not listed:
    ``summary()`` has ``stage_count`` and ``resubmitted_stages`` where a log's summary has
    ``stages``."""

    def __init__(self, name: str, master: str) -> None:
        self.name, self.master = name, master
        self.started = time.time()
        self._steady_start = steady_seconds()
        self._lock = threading.Lock()
        self.jobs = self.failed_jobs = self.failed_tasks = 0
        self.stage_count = self.resubmitted_stages = 0
        self.shuffle_written = self.shuffle_read = 0
        self.durations = TaskDurations()
        #: the attempt of each stage running now
        self._running: Dict[int, int] = {}

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        with self._lock:
            self.jobs += 1
            self.failed_jobs += error is not None

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        with self._lock:
            self._running[stage_id] = attempt

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        with self._lock:
            if stage_id in self._running:  # (as a log's summary: one it saw submitted)
                self.stage_count += 1
                self.resubmitted_stages += self._running.pop(stage_id) != 0

    # Task events come from the job loop, driven by one thread at a time (runner.py), and
    # touch only what they count: unlocked, as every Context counts them (a lock each was
    # a fifth of this listener's cost per task)
    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None:
        if success:
            self.durations.add(duration)

    def on_task_metrics(self, outcome: str, metrics: dict) -> None:
        self.failed_tasks += outcome not in ("success", "killed")
        self.shuffle_written += int(metrics.get("shuffle_bytes_written", 0))
        self.shuffle_read += int(metrics.get("shuffle_bytes_read", 0))

    def totals(self) -> dict:
        """What the application ran up to now, counted: the keys its summary shares with an
        ended log's (``event_log.summary_of_ends``), whose ``ApplicationEnd`` carries them."""
        with self._lock:
            durations = self.durations
            return {
                "jobs": self.jobs, "failed_jobs": self.failed_jobs,
                "stage_count": self.stage_count, "resubmitted_stages": self.resubmitted_stages,
                "tasks": durations.count, "failed_tasks": self.failed_tasks,
                "task_seconds": {"p50": durations.percentile(0.5),
                                 "p90": durations.percentile(0.9),
                                 "max": round(durations.max, 4)},
                "shuffle_written_bytes": self.shuffle_written,
                "shuffle_read_bytes": self.shuffle_read}

    def summary(self, app_id: str) -> dict:
        """What the application ran up to now, in the keys of a log's summary (``event_log``
        None), its duration since this was made on a clock that does not jump."""
        return {"app_id": app_id, "name": self.name, "master": self.master,
                "started": self.started, "finished": True,
                "duration_seconds": round(steady_seconds() - self._steady_start, 3),
                "last_updated": time.time(), **self.totals(),
                "event_log": None, "broken": False, "error": None}


def steady_seconds() -> float:
    """Seconds that never jump, counting a suspended host's sleep (CLOCK_BOOTTIME, on Linux;
    elsewhere the monotonic clock)."""
    return time.clock_gettime(_STEADY_CLOCK)


_STEADY_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
