"""Job groups, thread-local properties and job status: the Context's job control.

A mixin of ``Context`` (PySpark's ``setJobGroup``, ``cancelJobGroup``,
``cancelAllJobs``, ``setLocalProperty``, ``statusTracker``).  Jobs run one at a
time under the Context's lock; cancelling asks the runner to stop the running
one, which then raises ``JobCancelled``, and makes the jobs of the group (or all
jobs) that other threads have submitted and are waiting to run raise it too, as
Spark cancels a group's queued jobs.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Dict, Iterator, Optional

from .errors import JobCancelled
from .scheduler import status

#: The local property naming a thread's job group (PySpark's key).
JOB_GROUP = "spark.jobGroup.id"
#: ``Context._running_group`` while no job runs.
_NO_JOB = object()
#: the key of ``cancel_all_jobs`` in ``Context._cancellations``
_ALL_JOBS = object()


class JobControl:
    """Needs ``self._local`` (a threading.local), ``self._running_group``, ``self._runner``,
    ``self._lock`` (the Context's job slot) and ``self._cancellations`` (a Counter)."""

    _local: threading.local
    _running_group: object
    _lock: threading.RLock
    #: how often each job group (and ``_ALL_JOBS``: every job) has been cancelled
    _cancellations: Counter

    @contextlib.contextmanager
    def _job_slot(self) -> Iterator[None]:
        """Run this thread's job when the Context is free; if its group, or every job, was
        cancelled while it waited, it raises ``JobCancelled`` instead of running."""
        group = self.get_local_property(JOB_GROUP)
        seen = (self._cancellations[group], self._cancellations[_ALL_JOBS])
        with self._lock:
            if (self._cancellations[group], self._cancellations[_ALL_JOBS]) != seen:
                raise JobCancelled(f"job group {group!r} was cancelled before the job started"
                                   if self._cancellations[group] != seen[0] else
                                   "all jobs were cancelled before the job started")
            outer, self._running_group = self._running_group, group
            try:
                yield
            finally:
                self._running_group = outer

    def _job_status_store(self) -> status.JobStatusStore:
        return status.JobStatusStore(lambda: self.get_local_property(JOB_GROUP))

    def set_local_property(self, key: str, value: Optional[str]) -> None:
        """A property of the jobs this thread submits; None removes it."""
        properties = self._local_properties()
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value

    def get_local_property(self, key: str) -> Optional[str]:
        """A local property set in this thread, or None."""
        return self._local_properties().get(key)

    def _local_properties(self) -> Dict[str, str]:
        if not hasattr(self._local, "properties"):
            self._local.properties = {}
        return self._local.properties

    def _adopt_local_properties(self, properties: Dict[str, str]) -> None:
        """Give this thread another's local properties (jobs it runs on that one's behalf)."""
        self._local.properties = dict(properties)

    def set_job_group(self, group_id: str, description: str,
                      interrupt_on_cancel: bool = False) -> None:
        """Jobs this thread submits from now on belong to ``group_id`` (see ``cancel_job_group``).

        >>> # ctx.set_job_group("nightly", "nightly report"); rdd.count(); ctx.cancel_job_group("nightly")
        """
        self.set_local_property(JOB_GROUP, group_id)
        self.set_local_property("spark.job.description", description)
        self.set_local_property("spark.job.interruptOnCancel", str(interrupt_on_cancel).lower())

    def cancel_job_group(self, group_id: str) -> None:
        """Cancel the running job if it belongs to ``group_id``, and the group's jobs waiting
        to run; they raise ``JobCancelled``."""
        self._cancellations[group_id] += 1
        if self._running_group == group_id:
            self._runner.cancel(f"job group {group_id!r} was cancelled")

    def cancel_all_jobs(self) -> None:
        """Cancel the running job, if any, and those waiting to run; they raise ``JobCancelled``."""
        self._cancellations[_ALL_JOBS] += 1
        if self._running_group is not _NO_JOB:
            self._runner.cancel("all jobs were cancelled")

    def status_tracker(self) -> status.StatusTracker:
        """Ids and progress of jobs and stages, as PySpark's ``sc.statusTracker()``."""
        return status.StatusTracker(self._job_status)
