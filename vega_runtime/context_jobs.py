"""Job groups, thread-local properties and job status: the Context's job control.

A mixin of ``Context`` (PySpark's ``setJobGroup``, ``cancelJobGroup``,
``cancelAllJobs``, ``setLocalProperty``, ``statusTracker``).  The jobs of several
threads run at the same time (``scheduler/runner.py``); each takes the group, tags and
scheduler pool its thread's local properties name when it starts.  Cancelling asks the
runner to stop the active jobs of a group (of a tag, or every one), which then raise
``JobCancelled``; the others go on.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Dict, List, Optional

from .config_limits import executor_storage_memory
from .scheduler import status
from .scheduler.runner import JOB_GROUP, JOB_TAGS

log = logging.getLogger(__name__)
#: how often a Context takes in its backend's executor events between jobs
IDLE_EVENTS_INTERVAL = 0.5


class JobControl:
    """Needs ``self._local`` (a threading.local), ``self._runner``, ``self.backend``,
    ``self._lock`` and ``self._stopped``."""

    _local: threading.local

    def _start_idle_events(self) -> None:
        """On a backend whose executors come and go between jobs (a cluster's: lost with
        their worker, released by dynamic allocation), take its events in every
        ``IDLE_EVENTS_INTERVAL`` seconds while no job runs, so the event log (and the
        master's pages) record them as they happen, not at the next job."""
        self._idle = threading.Event()  # set when the Context stops
        self._idle_thread = None
        if getattr(self.backend, "EVENTS_BETWEEN_JOBS", False):
            self._idle_thread = threading.Thread(
                target=_catch_up_while_idle, args=(weakref.ref(self), self._idle),
                name="vega-idle-events", daemon=True)
            self._idle_thread.start()

    def _stop_idle_events(self) -> None:
        """End that thread (it takes nothing in once the Context stops: ``stop`` holds the
        lock) and wait for it: nothing of a stopped Context runs on."""
        self._idle.set()
        if self._idle_thread is not None and self._idle_thread is not threading.current_thread():
            self._idle_thread.join()

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


def _catch_up_while_idle(context_ref, stopped: threading.Event) -> None:
    """Between jobs nobody asks the backend what happened: every ``IDLE_EVENTS_INTERVAL``
    seconds, while no job runs (no thread leads the job loop: ``catch_up``), take it in."""
    while not stopped.wait(IDLE_EVENTS_INTERVAL):
        context = context_ref()
        if context is None:
            return
        if context._lock.acquire(blocking=False):  # ``stop`` holds it
            try:
                if not context._stopped:
                    context._runner.catch_up()
            except Exception as exc:  # the next job meets the same failure and reports it
                log.debug("executor events not taken in between jobs: %s", exc)
            finally:
                context._lock.release()
        del context
