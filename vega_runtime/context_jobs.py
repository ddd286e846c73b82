"""Job groups, thread-local properties and job status: the Context's job control.

A mixin of ``Context`` (PySpark's ``setJobGroup``, ``cancelJobGroup``,
``cancelAllJobs``, ``setLocalProperty``, ``statusTracker``).  The jobs of several
threads run at the same time (``scheduler/runner.py``); each takes the group, tags and
scheduler pool its thread's local properties name when it starts.  Cancelling asks the
runner to stop the active jobs of a group (of a tag, or every one), which then raise
``JobCancelled``; the others go on.
"""

from __future__ import annotations

import functools
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
#: seconds past an executor's kill timeout when the reaper's timer looks (``overdue_kills``
#: wants the timeout passed, not reached)
REAP_SLACK = 0.01


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
        #: the task reaper's timer (``_reap_later``) and the lock that arms one at a time
        self._reap_timer: Optional[threading.Timer] = None
        self._reap_lock = threading.Lock()
        if getattr(self.backend, "EVENTS_BETWEEN_JOBS", False):
            self._idle_thread = threading.Thread(
                target=_catch_up_while_idle, args=(weakref.ref(self), self._idle),
                name="vega-idle-events", daemon=True)
            self._idle_thread.start()
        elif hasattr(self.backend, "next_overdue_kill"):
            self._runner.after_lead = functools.partial(_reap_later, weakref.ref(self))

    def _stop_idle_events(self) -> None:
        """End that thread and the reaper's timer (they take nothing in once the Context
        stops: ``stop`` holds the lock) and wait for them: nothing of a stopped Context runs
        on."""
        self._idle.set()
        with self._reap_lock:
            timer, self._reap_timer = self._reap_timer, None
        for thread in (self._idle_thread, timer):
            if thread is not None and thread is not threading.current_thread():
                if thread is timer:
                    timer.cancel()
                thread.join()

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
        _catch_up(context)
        del context


def _catch_up(context) -> None:
    """Take in what the backend reported, unless the Context is stopping (``stop`` holds
    its lock) or a job's thread leads the loop (it takes it in)."""
    if context._lock.acquire(blocking=False):
        try:
            if not context._stopped:
                context._runner.catch_up()
        except Exception as exc:  # the next job meets the same failure and reports it
            log.debug("executor events not taken in between jobs: %s", exc)
        finally:
            context._lock.release()


def _reap_later(context_ref, at_least: float = 0.0) -> None:
    """``local[N]``'s task reaper between jobs: its backend ends an executor whose killed
    task runs on past ``vega.task.reaper.kill_timeout`` when it is polled, and once a job
    has ended nobody polls it (the process would spin until the next job, or the stop).
    While a killed task runs, a timer takes the backend's events in when its executor is
    due (``_reap_now``), then looks again; no thread runs while none does (the timer is
    armed as each thread stops leading the loop: ``JobRunner.after_lead``).  A cluster's
    backend needs none: the idle Context polls it anyway (``_catch_up_while_idle``)."""
    context = context_ref()
    due = context.backend.next_overdue_kill() if context is not None else None
    if due is None:
        return
    with context._reap_lock:  # (``_stop_idle_events`` takes the timer under it)
        if context._idle.is_set():
            return
        timer = context._reap_timer
        if timer is not None and timer.is_alive() and timer is not threading.current_thread():
            return  # (armed already: it looks again after it fires)
        timer = threading.Timer(max(due, at_least) + REAP_SLACK, _reap_now, (context_ref,))
        timer.name, timer.daemon = "vega-task-reaper", True
        context._reap_timer = timer
        timer.start()


def _reap_now(context_ref) -> None:
    """(The reaper's timer.) Poll the backend, which ends the overdue executors, then arm
    the timer again while a killed task still runs (not at once: a job's thread that leads
    the loop reaps them itself)."""
    context = context_ref()
    if context is None:
        return
    _catch_up(context)
    del context
    _reap_later(context_ref, IDLE_EVENTS_INTERVAL)
