"""Job groups, thread-local properties and job status: the Context's job control.

A mixin of ``Context`` (PySpark's ``setJobGroup``, ``cancelJobGroup``,
``cancelAllJobs``, ``setLocalProperty``, ``statusTracker``).  The jobs of several
threads run at the same time (``scheduler/runner.py``); each takes the group, tags and
scheduler pool its thread's local properties name when it starts.  Cancelling asks the
runner to stop the active jobs of a group (of a tag, or every one), which then raise
``JobCancelled``; the others go on.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, List, Optional

from .config import executor_storage_memory
from .scheduler import status
from .scheduler.runner import JOB_GROUP, JOB_TAGS


class JobControl:
    """Needs ``self._local`` (a threading.local) and ``self._runner``."""

    _local: threading.local

    def _job_properties(self) -> Dict[str, object]:
        """This thread's job group, description and tags, as the event log records a job's
        (Spark's ``JobData.jobGroup``, ``description`` and ``jobTags``)."""
        return {"job_group": self.get_local_property(JOB_GROUP),
                "job_description": self.get_local_property("spark.job.description"),
                "job_tags": sorted(self.get_job_tags())}

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

        >>> ctx.set_job_group("nightly", "nightly report")
        >>> ctx.parallelize(range(3)).count()  # cancel_job_group("nightly") would stop it
        3
        >>> ctx.get_local_property("spark.jobGroup.id")
        'nightly'
        >>> ctx.set_local_property("spark.jobGroup.id", None)  # no group again
        """
        self.set_local_property(JOB_GROUP, group_id)
        self.set_local_property("spark.job.description", description)
        self.set_local_property("spark.job.interruptOnCancel", str(interrupt_on_cancel).lower())

    def cancel_job_group(self, group_id: str) -> None:
        """Cancel the active jobs of ``group_id`` (whichever thread runs them); they raise
        ``JobCancelled``, the other jobs go on."""
        self._runner.cancel(f"part of cancelled job group {group_id}",  # Spark's words
                            lambda job: job.group == group_id)

    def set_job_description(self, value: Optional[str]) -> None:
        """The description of the jobs this thread submits (PySpark's ``setJobDescription``)."""
        self.set_local_property("spark.job.description", value)

    def set_interrupt_on_cancel(self, interrupt_on_cancel: bool) -> None:
        """Whether cancelling this thread's jobs interrupts their running tasks; Vega always
        stops a cancelled job's tasks, so this is recorded for PySpark programs only."""
        self.set_local_property("spark.job.interruptOnCancel", str(interrupt_on_cancel).lower())

    def add_job_tag(self, tag: str) -> None:
        """Tag the jobs this thread submits from now on (see ``cancel_jobs_with_tag``).

        >>> ctx.add_job_tag("nightly")
        >>> ctx.parallelize(range(3)).count()  # cancel_jobs_with_tag("nightly") would stop it
        3
        >>> sorted(ctx.get_job_tags())
        ['nightly']
        >>> ctx.remove_job_tag("nightly")
        """
        if not tag or "," in tag:
            raise ValueError(f"a job tag is a non-empty string without commas, not {tag!r}")
        self.set_local_property(JOB_TAGS, ",".join(sorted(self.get_job_tags() | {tag})))

    def remove_job_tag(self, tag: str) -> None:
        self.set_local_property(JOB_TAGS, ",".join(sorted(self.get_job_tags() - {tag})) or None)

    def get_job_tags(self) -> set:
        """The tags of the jobs this thread submits."""
        return set(filter(None, (self.get_local_property(JOB_TAGS) or "").split(",")))

    def clear_job_tags(self) -> None:
        self.set_local_property(JOB_TAGS, None)

    def cancel_jobs_with_tag(self, tag: str) -> None:
        """Cancel the active jobs that carry ``tag``; they raise ``JobCancelled``."""
        self._runner.cancel(f"part of cancelled job tags {tag}", lambda job: tag in job.tags)

    @staticmethod
    def spark_user() -> str:
        """The user running this application (PySpark's ``sparkUser``): ``SPARK_USER`` if
        set, as Spark's, else the account's name (its uid where it has none)."""
        import getpass

        if os.environ.get("SPARK_USER"):
            return os.environ["SPARK_USER"]
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # a container's uid without a passwd entry
            return str(os.getuid())

    def cancel_all_jobs(self) -> None:
        """Cancel every active job; they raise ``JobCancelled``."""
        self._runner.cancel("as part of cancellation of all jobs")

    def status_tracker(self) -> status.StatusTracker:
        """Ids and progress of jobs and stages, as PySpark's ``sc.statusTracker()``."""
        return status.StatusTracker(self._job_status, self._executor_infos)

    def _executor_infos(self) -> List[status.SparkExecutorInfo]:
        infos = []
        budget = executor_storage_memory(
            self.conf, on_cluster=self.master_spec.kind not in ("inline", "local"))
        for executor in self.backend.executors():
            cached = self._blocks.memory_bytes(executor.executor_id)
            total = budget if executor.caches else 0
            infos.append(status.SparkExecutorInfo(executor.host, executor.port, cached,
                                                  executor.running, cached, 0, total, 0))
        return infos
