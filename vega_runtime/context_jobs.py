"""Job groups, thread-local properties and job status: the Context's job control.

A mixin of ``Context`` (PySpark's ``setJobGroup``, ``cancelJobGroup``,
``cancelAllJobs``, ``setLocalProperty``, ``statusTracker``).  Jobs run one at a
time under the Context's lock; cancelling asks the runner to stop the running
one, which then raises ``JobCancelled``.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional

from .scheduler import status

#: The local property naming a thread's job group (PySpark's key).
JOB_GROUP = "spark.jobGroup.id"
#: ``Context._running_group`` while no job runs.
_NO_JOB = object()


class JobControl:
    """Needs ``self._local`` (a threading.local), ``self._running_group``, ``self._runner``."""

    _local: threading.local
    _running_group: object

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
        """Cancel the running job if it belongs to ``group_id``; it raises ``JobCancelled``."""
        if self._running_group == group_id:
            self._runner.cancel(f"job group {group_id!r} was cancelled")

    def cancel_all_jobs(self) -> None:
        """Cancel the running job, if any; it raises ``JobCancelled``."""
        if self._running_group is not _NO_JOB:
            self._runner.cancel("all jobs were cancelled")

    def status_tracker(self) -> status.StatusTracker:
        """Ids and progress of jobs and stages, as PySpark's ``sc.statusTracker()``."""
        return status.StatusTracker(self._job_status)
