"""The driver's jobs: each action's thread submits its job and waits for it; one job loop
serves every active job at once (Spark runs the jobs of several threads concurrently).

Leader/follower: the loop (backend events in, the DAG scheduler's actions out:
``TaskEvents``) is driven by whichever waiting thread holds the lead; it hands the lead
over when its own job ends, and a thread whose job is still active takes it.  So a job's
thread is where its loop runs whenever it runs alone, as before (Ctrl-C there interrupts
the loop, and ``local``'s tasks run there), and no thread of Vega's own is needed but for
a job running on past its deadline (``run_job_within``: Spark's approximate actions),
whose own thread has returned.  Other
threads touch the loop's state only through requests the leader takes in between polls
(``_take_requests``: jobs in ``_submitted`` to plan, an ``ActiveJob.cancel_reason`` to act
on; ``backend.wake`` cuts a poll short for them).  A job's barrier-slot wait
(``_check_barrier_stages``, at most ``vega.barrier.slots_wait``) is the leader's too: the
other jobs' events are taken in meanwhile, their cancellations after it.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from ..errors import BarrierJobRefused, DriverExit, JobCancelled
from ..files import AddedFiles
from ..logs import error_summary
from ..processes import HeldSignals
from ..resources import ResourceError, check_task_fits
from .backend import Backend
from .block_tracker import BlockTracker
from .dag import DAGScheduler, JobFailed, JobSucceeded, KillTasks, StageCompleted, TaskSpec
from .listener import JobListener
from .stage_graph import job_graph
from .stages import barrier_stages, stage_profile, stage_rdds, unsupported_barrier_stage
from .task_events import TaskEvents

if TYPE_CHECKING:
    from .speculation import SpeculationPolicy

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
#: seconds ``stop_jobs`` waits at most for the threads awaiting a removal to return
STOP_WAIT = 10.0
#: The local properties naming a thread's job group, its job tags and its scheduler pool
#: (PySpark's keys).
JOB_GROUP = "spark.jobGroup.id"
JOB_TAGS = "spark.job.tags"
SCHEDULER_POOL = "spark.scheduler.pool"


def _stopped_by(interrupt: BaseException) -> str:
    """Why a job the driver was interrupted in is cancelled: Ctrl-C, or the signal of a
    ``DriverExit`` (its exit code, ``143``, was the stage's failure before).

    >>> _stopped_by(KeyboardInterrupt()), _stopped_by(DriverExit(signal.SIGTERM))
    ('interrupted (Ctrl-C)', 'stopped by SIGTERM')
    """
    if isinstance(interrupt, DriverExit):
        return f"stopped by {signal.Signals(interrupt.signum).name}"
    return "interrupted (Ctrl-C)"


class ActiveJob:
    """One submitted job, from its thread's call until its outcome is known: what the
    submitting thread gave, and what the loop found."""

    def __init__(self, job_id: int, rdd, func: Callable, partitions: List[int],
                 description: str, deadline: Optional[float], settings: Dict[str, Any],
                 fair: bool):
        self.job_id = job_id
        self.rdd, self.func, self.partitions = rdd, func, partitions
        self.description = description
        #: ``run_job_within``'s (``time.monotonic()``), or None
        self.deadline = deadline
        #: the settings shipped with its stages: the driver's, and its thread's local
        #: properties (``TaskContext.getLocalProperty``)
        self.settings = settings
        properties = settings.get("local_properties", {})
        self.group: Optional[str] = properties.get(JOB_GROUP)
        self.tags = set(filter(None, (properties.get(JOB_TAGS) or "").split(",")))
        #: the FAIR scheduler's pool (``spark.scheduler.pool``, else ``default``); FIFO
        #: mode has one pool for every job
        self.pool = (properties.get(SCHEDULER_POOL) or "default") if fair else "default"
        #: why it was asked to stop (from any thread), until the loop stops it
        self.cancel_reason: Optional[str] = None
        #: what its thread was interrupted by, when it stopped waiting (the job's end says so)
        self.interrupted: Optional[BaseException] = None
        #: serialized results brought back for it: how many, how many bytes
        self.result_tasks, self.result_bytes = 0, 0
        #: JobSucceeded / JobFailed
        self.outcome: Any = None
        #: the results of the partitions done at its deadline, by partition, once it passed
        self.partial: Optional[Dict[int, Any]] = None
        #: handed to the loop (``_submitted``), its listeners told it started
        self.queued = False
        self.done = False


class JobRunner(TaskEvents):
    def __init__(self, backend: Backend, dag: DAGScheduler, listener: JobListener,
                 settings: Dict[str, Any], merge_accumulators: Callable[[dict], None],
                 blocks: BlockTracker,
                 job_settings: Callable[[], Dict[str, Any]] = dict,
                 speculation: Optional[SpeculationPolicy] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.backend = backend
        #: the global syncs of barrier stages' tasks (the backend's: its executors reach it)
        self.barrier = backend.barrier
        #: copies of straggling tasks (``vega.speculation``); None: off
        self.speculation = None
        if speculation:  # its module loads only then
            from .speculation import SpeculationTracker

            self.speculation = SpeculationTracker(speculation)
        #: the backends' clock (TaskStartedEvent.at)
        self.clock = clock
        #: settings read when each job starts and shipped with its stages: the submitting
        #: thread's local properties (``TaskContext.getLocalProperty``), the driver's Python
        self.job_settings = job_settings
        self.blocks = blocks
        self.dag = dag
        self.listener = listener
        self.settings = settings
        self.merge_accumulators = merge_accumulators
        #: called once a thread has stopped leading the loop (the Context arms its task
        #: reaper's timer there: between jobs nobody polls the backend)
        self.after_lead: Callable[[], None] = lambda: None
        self._job_ids = itertools.count()
        #: the active jobs by id (their threads wait for them), oldest first
        self.jobs: Dict[int, ActiveJob] = {}
        #: guards ``jobs``, ``_submitted`` and ``_leader``; notified when a job ends and
        #: when the lead is free
        self._cond = threading.Condition()
        #: jobs their threads submitted, which the leader has not planned yet
        self._submitted: Deque[ActiveJob] = collections.deque()
        #: the thread driving the loop, or None
        self._leader: Optional[int] = None
        #: threads waiting for executors' removal replies (``await_removal``): the leader
        #: wakes them after each poll, which a reply cuts short
        self._removal_waiters = 0
        #: the Context is stopping: removals are no longer waited for (its executors go)
        self._stopping = False
        self._payloads: Dict[tuple, bytes] = {}
        self._tasks: Dict[int, TaskSpec] = {}
        #: task_id -> ``blocks.removals`` when it was launched (``_task_finished``)
        self._launch_removals: Dict[int, int] = {}
        #: task_id -> (executor_id, locality level), once started
        self._running_on: Dict[int, Tuple[str, str]] = {}
        #: killed tasks that were in flight on an executor (sent, whether or not their start
        #: was taken in) whose end has not been heard yet: task_id -> executor_id
        #: (``wait_for_killed_tasks``)
        self._killed: Dict[int, str] = {}
        self._stage_tasks: Dict[int, int] = {}  # stage_id -> tasks of its running attempt
        #: stage_id -> the attempt whose start the listeners heard last
        self._announced: Dict[int, int] = {}
        self._under_replicated: set = set()  # RDDs a block of which had fewer copies than asked
        #: ``profiler_of(rdd_id)``: the profiler shipped with a stage computing that RDD
        #: (``vega.python.profile``, vega_runtime/profiler.py); None: no profiling
        self.profiler_of: Optional[Callable[[int], Any]] = None
        #: Files the driver added (``Context.add_file``); every stage payload carries them.
        self.added_files = AddedFiles()
        #: shuffles no RDD can read any more (``Context.register_shuffle_for_cleanup``, from
        #: any thread): their map outputs are forgotten and their files deleted as the next
        #: job starts
        self.unreachable_shuffles: Deque[int] = collections.deque()
        #: ``forget_shuffles``' requests (from any thread), ``[shuffle ids, None]`` each:
        #: the leader forgets their map outputs and sets the task id bound in place of None
        self._forgotten: Deque[list] = collections.deque()
        #: broadcasts no one can read any more (``Context.broadcast``, from any thread), as
        #: ``(id, the driver's file)``: executors drop their copies and the file is deleted
        #: as the next job starts
        self.unreachable_broadcasts: Deque[Tuple[int, str]] = collections.deque()
        #: persisted RDDs no one can use any more (``Context.register_persisted``, from any
        #: thread): each is unpersisted (``forget_rdd``) as the next job starts
        self.unreachable_rdds: Deque[int] = collections.deque()
        self.forget_rdd: Callable[[int], None] = lambda rdd_id: None

    # -- from any thread -----------------------------------------------------------
    def cancel(self, reason: str, which: Callable[[ActiveJob], bool] = lambda job: True) -> int:
        """Ask the active jobs ``which`` selects (every one by default) to stop; each raises
        ``JobCancelled``, whose message is "job N cancelled " and ``reason``.  How many."""
        with self._cond:
            chosen = [job for job in self.jobs.values() if not job.done and which(job)]
            for job in chosen:
                if job.cancel_reason is None:
                    job.cancel_reason = reason
        if chosen:
            self._wake()
        return len(chosen)

    def stop_jobs(self, reason: str) -> None:
        """Cancel every active job and wait until they have ended (``Context.stop``: Spark's
        "SparkContext was shut down"), driving the loop if no job's thread does."""
        if self.cancel(reason):
            self._await(lambda: not self.jobs)
        with self._cond:  # a blocking removal another thread awaits returns: the
            self._stopping = True  # executors go whole (it led the loop through their stop)
        self._wake()
        with self._cond:
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._removal_waiters, STOP_WAIT)

    def _wake(self) -> None:
        wake = getattr(self.backend, "wake", None)
        if wake is not None:
            wake()

    # -- a job's thread --------------------------------------------------------------
    def run_job(self, rdd, func: Callable, partitions: List[int], description: str) -> list:
        """``func``'s result for each partition, in order."""
        return self._run_job(rdd, func, partitions, description, None)

    def run_job_within(self, rdd, func: Callable, partitions: List[int], description: str,
                       timeout: float) -> Dict[int, Any]:
        """Results of the partitions finished within ``timeout`` seconds (all of them if the
        job ends in time), by partition.  The job runs on past its deadline, as Spark's
        approximate actions' (their ``PartialResult`` has a final value to come), led by a
        thread of its own while no other thread leads the loop, until it ends (its results
        unused) or is cancelled (``Context.stop``, ``cancel_all_jobs``)."""
        return self._run_job(rdd, func, partitions, description, time.monotonic() + timeout)

    def _run_job(self, rdd, func: Callable, partitions: List[int], description: str,
                 deadline: Optional[float]):
        settings = {**self.settings, **self.job_settings()}
        job = ActiveJob(next(self._job_ids), rdd, func, partitions, description, deadline,
                        settings, self.settings.get("scheduler_mode") == "fair")
        with self._cond:  # active (cancellable) before anyone hears of it
            self.jobs[job.job_id] = job
        try:
            self.listener.on_job_start(job.job_id, description)
        except BaseException:
            with self._cond:
                del self.jobs[job.job_id]
            raise
        log.info("job %d submitted: %s", job.job_id, description)
        with self._cond:
            if not job.done:  # (the loop may have failed meanwhile, ending every job)
                self._submitted.append(job)
                job.queued = True
            leader = self._leader
        if leader is not None:
            self._wake()
        try:
            self._await(lambda: job.done or job.partial is not None)
        except BaseException as exc:
            if not job.done:
                self._abandon(job, exc)
            if type(exc) is KeyboardInterrupt and not exc.args:  # what a notebook shows
                exc.args = (f"job {job.job_id} cancelled; its running tasks "
                            f"{'were' if job.done else 'are being'} stopped",)
            raise
        if not job.done:  # past its deadline: it runs on
            threading.Thread(target=self._run_on, args=(job,), daemon=True,
                             name=f"vega-job-{job.job_id}").start()
            return job.partial
        if isinstance(job.outcome, JobFailed):
            raise job.outcome.error
        if deadline is not None:
            return dict(zip(partitions, job.outcome.results))
        return job.outcome.results

    def _run_on(self, job: ActiveJob) -> None:
        """(A thread of its own.) Lead the loop whenever no other thread does until ``job``,
        past its deadline, ends; its outcome is no one's to raise, the listeners have it."""
        try:
            self._await(lambda: job.done)
        except BaseException as exc:  # noqa: BLE001 - the loop failed: every job has ended
            log.warning("job %d, run on past its deadline, ended as the job loop failed: %s",
                        job.job_id, error_summary(exc))

    def wait_for_killed_tasks(self, timeout: float) -> None:
        """Return once every task killed so far that had been sent to an executor has ended
        (reported its end, run or dropped unstarted, or was lost with its executor), or after
        ``timeout`` seconds, leading the loop meanwhile when no other thread does; also one
        whose start the loop had not taken in (its job failed right after its send).  A
        failed save waits for them before it removes its output: a task still writing would
        make it again (an HDFS CREATE makes the directories a file is in), as a killed task's
        upload ends."""
        killed = set(self._killed)
        deadline = time.monotonic() + timeout
        self._await(lambda: not any(task_id in self._killed for task_id in killed)
                    or time.monotonic() >= deadline)

    def await_removal(self, number: int, timeout: float) -> bool:
        """Return once every executor reachable has confirmed the removal numbered
        ``number`` (the backend's ``remove_rdd``/``remove_broadcast`` with ``reply``; one
        lost meanwhile is not waited for), or after ``timeout`` seconds, leading the loop
        meanwhile when no other thread does (``unpersist(blocking=True)``).  False if it
        timed out: an executor that did not answer (hung, or its connection stalled)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._removal_waiters += 1
        try:
            self._await(lambda: self._stopping or time.monotonic() >= deadline
                        or not self.backend.removal_pending(number))
        finally:
            with self._cond:
                self._removal_waiters -= 1
                self._cond.notify_all()  # (``stop_jobs`` may wait for it)
        return self._stopping or not self.backend.removal_pending(number)

    def forget_shuffles(self, shuffle_ids: List[int]) -> int:
        """Forget the map outputs of ``shuffle_ids`` (``RDD.clean_shuffle_dependencies``), so
        a later job computes them again from lineage, as one lost with its executor (a
        running job that reads one meanwhile meets fetch failures, and does the same).
        The loop's leader does it in between polls (this thread, when no other leads):
        returns once it has, with a task id above every task's launched by then
        (``DAGScheduler.task_id_bound``: the files to delete are theirs)."""
        request = [list(shuffle_ids), None]
        self._forgotten.append(request)
        self._wake()
        self._await(lambda: request[1] is not None)
        return request[1]

    def _abandon(self, job: ActiveJob, interrupt: BaseException) -> None:
        """Its thread was interrupted (Ctrl-C, a signal's ``DriverExit``) while another led
        the loop: as PySpark's Ctrl-C handler cancels every job, every active job is
        cancelled; the leader ends them (this one's end names the interruption)."""
        job.interrupted = interrupt
        self.cancel(_stopped_by(interrupt))

    def _await(self, done: Callable[[], bool]) -> None:
        """Return once ``done()``; lead the loop meanwhile whenever no other thread does."""
        me = threading.get_ident()
        while True:
            with self._cond:
                while not done() and self._leader is not None:
                    self._cond.wait(POLL_SECONDS)
                if done():
                    return
                self._leader = me
            try:
                self._lead(done)
            finally:
                with self._cond:
                    self._leader = None
                    self._cond.notify_all()
                self.after_lead()

    # -- the leader's thread ---------------------------------------------------------
    def _lead(self, done: Callable[[], bool]) -> None:
        """Drive the loop for every active job until ``done()``.  Should the loop itself
        fail (the backend: no executors, the master gone; a listener that raises; Ctrl-C
        here), every active job ends with that failure, and it is raised."""
        try:
            while not done():
                self._take_requests()
                if done():
                    return
                for event in self.backend.poll(self._poll_wait()):
                    self._apply(self._handle(event))
                if self._removal_waiters:  # a reply ends a poll: theirs may have come
                    with self._cond:
                        self._cond.notify_all()
                if self.speculation is not None and self.dag.jobs:
                    self._speculate()
        except BaseException as exc:
            # A Ctrl-C now (a second press) waits until the tasks are killed: cut short, the
            # cancel left them running, and the next job waited for them. One that asks for
            # what the first is doing is dropped; a third forces (HeldSignals).
            with HeldSignals() as held:
                self._end_every_job(exc)
                if isinstance(exc, KeyboardInterrupt) and held.came == [signal.SIGINT]:
                    held.came.clear()
            raise

    def _poll_wait(self) -> float:
        deadlines = [job.deadline for job in list(self.jobs.values())  # (others add to it)
                     if job.deadline is not None]
        if not deadlines:
            return POLL_SECONDS
        return max(0.0, min(POLL_SECONDS, min(deadlines) - time.monotonic()))

    def _take_requests(self) -> None:
        """Forget the shuffles asked to (``forget_shuffles``), plan the jobs submitted since
        the last look, stop the jobs asked to stop and those past their deadline."""
        while self._forgotten:
            request = self._forgotten.popleft()
            for shuffle_id in request[0]:
                self.dag.map_outputs.unregister_all(shuffle_id)
            with self._cond:
                request[1] = self.dag.task_id_bound()
                self._cond.notify_all()
        while True:
            with self._cond:
                if not self._submitted:
                    break
                job = self._submitted.popleft()
            self._submit(job)
        now = None
        for job in list(self.jobs.values()):
            if job.done or not job.queued:  # (its thread is still announcing it)
                continue
            if job.cancel_reason is not None:
                self._cancel(job)
            elif job.deadline is not None:
                now = time.monotonic() if now is None else now
                if now >= job.deadline:
                    self._reach_deadline(job)

    def _submit(self, job: ActiveJob) -> None:
        if job.done or job.cancel_reason is not None:
            return  # cancelled before it was planned: it ends without a task (below)
        try:
            # what happened since the last look (executors lost or released) first, so the
            # job is planned on what is still there
            self.catch_up_events()
            self._remove_unreachable_shuffles()
            self._remove_unreachable_broadcasts()
            while self.unreachable_rdds:
                self.forget_rdd(self.unreachable_rdds.popleft())
            self._check_barrier_stages(job.rdd, job.partitions)
            self._check_resource_profiles(job.rdd)
            actions = self.dag.submit_job(job.job_id, job.rdd, job.func, job.partitions,
                                          job.description)
            stage_ids = self.dag.job_stage_ids(job.job_id)
            self.listener.on_job_stages(job.job_id, stage_ids)
            self.listener.on_job_graph(job.job_id, job_graph([self.dag.stage_by_id[s]
                                                              for s in stage_ids]))
            self._apply(actions)
        except Exception as exc:  # refused (a barrier stage), or its closure does not pickle
            self._end_stopped_job(job, exc)

    def _cancel(self, job: ActiveJob) -> None:
        error = job.interrupted or JobCancelled(job.cancel_reason, job.job_id)
        if isinstance(error, (KeyboardInterrupt, DriverExit)):
            actions = self.dag.cancel_job(_stopped_by(error), job.job_id)
        else:
            actions = self.dag.abort_job(error, job.job_id)
        self._apply([a for a in actions if not isinstance(a, (JobSucceeded, JobFailed))])
        self._job_ended(job.job_id, JobFailed(job.job_id, error))

    def _reach_deadline(self, job: ActiveJob) -> None:
        """Its thread has the results of the partitions done (of the result stage), and the
        job runs on (Spark's ``ApproximateActionListener``)."""
        finished = dict(self.dag.jobs[job.job_id].results) if job.job_id in self.dag.jobs \
            else {}
        log.info("job %d reached its deadline with %d partitions done; it runs on",
                 job.job_id, len(finished))
        with self._cond:
            job.deadline, job.partial = None, finished
            self._cond.notify_all()

    def _job_ended(self, job_id: int, outcome) -> None:
        """Job ``job_id`` has its outcome: the listeners hear of it, its thread wakes."""
        job = self.jobs.get(job_id)
        if job is None or job.done:
            return
        if isinstance(outcome, JobSucceeded) and job.cancel_reason is not None:
            # asked for while its last task ran (``local``'s run in the leader's thread,
            # where nothing can interrupt them): cancelled all the same, as in PySpark
            outcome = JobFailed(job_id, JobCancelled(job.cancel_reason, job_id))
        self.dag.drop_job(job_id)
        job.outcome = outcome
        try:
            self.listener.on_job_end(job_id, outcome.error if isinstance(outcome, JobFailed)
                                     else None)
        finally:
            self._forget(job)

    def _forget(self, job: ActiveJob) -> None:
        """What the loop kept for ``job`` and no active job needs goes; its thread wakes."""
        stages = self.dag.stage_by_id
        for key in [k for k in self._payloads if k[0] not in stages]:
            del self._payloads[key]
        for task_id in [t for t, spec in self._tasks.items() if spec.stage_id not in stages]:
            del self._tasks[task_id]
            self._running_on.pop(task_id, None)
        for stage_id in [s for s in self._stage_tasks if s not in stages]:
            del self._stage_tasks[stage_id]
            self._announced.pop(stage_id, None)
            self.barrier.stage_ended(stage_id)
        with self._cond:
            job.done = True
            del self.jobs[job.job_id]
            if job in self._submitted:  # ended before it was planned (the loop failed)
                self._submitted.remove(job)
            self._cond.notify_all()
            idle = not self.jobs
        if idle:
            self._running_on.clear()
            self._launch_removals.clear()
            self.barrier.clear()
            if self.speculation is not None:
                self.speculation = type(self.speculation)(self.speculation.policy)
        # the RDD removals no task still tracked was launched before
        self.blocks.forget_removals(min(self._launch_removals.values(), default=None))

    def _end_every_job(self, exc: BaseException) -> None:
        """The loop failed with ``exc``: every active job ends (an interruption cancels
        them, as PySpark's Ctrl-C cancels every job; any other failure is each one's)."""
        interrupt = isinstance(exc, (KeyboardInterrupt, DriverExit))
        for job in list(self.jobs.values()):
            if not job.done:
                self._end_stopped_job(
                    job, JobCancelled(_stopped_by(exc), job.job_id) if interrupt else exc,
                    exc if interrupt else None)

    def _end_stopped_job(self, job: ActiveJob, exc: BaseException,
                         interrupt: Optional[BaseException] = None) -> None:
        """The job stopped on ``exc``: its tasks are killed and its running stages end,
        failed (the listeners, a progress display say so).  Should that fail in turn (a
        listener that raises), the job is dropped all the same and ``exc`` stays its
        outcome, so that it is not left active."""
        try:
            if job.job_id in self.dag.jobs:
                ended = self.dag.cancel_job(_stopped_by(interrupt), job.job_id) \
                    if interrupt is not None else self.dag.abort_job(exc, job.job_id)
                self._apply([a for a in ended if isinstance(a, (KillTasks, StageCompleted))])
        except Exception as failure:  # noqa: BLE001 - exc is what the caller is told
            log.error("job %d: ending it after %s failed too (%s: %s)", job.job_id,
                      error_summary(exc), type(failure).__name__, error_summary(failure))
        finally:
            self.dag.drop_job(job.job_id)
            if not job.done:
                job.outcome = JobFailed(job.job_id, exc)
                try:
                    self.listener.on_job_end(job.job_id, exc)
                except Exception as failure:  # noqa: BLE001
                    log.error("job %d: a listener failed on its end: %s", job.job_id,
                              error_summary(failure))
                finally:
                    self._forget(job)

    def catch_up(self) -> None:
        """Take in what the backend reported since it was last asked (executors added, lost
        or released between jobs): the listeners (event log, the master's copy) hear of it
        now, not when the next job starts.  From any thread; nothing while a thread leads
        the loop (it takes them in)."""
        me = threading.get_ident()
        with self._cond:
            if self._leader is not None and self._leader != me:
                return
            outer, self._leader = self._leader, me
        try:
            self.catch_up_events()
        finally:
            with self._cond:
                self._leader = outer
                if outer is None:
                    self._cond.notify_all()

    def catch_up_events(self) -> None:
        """(The leader's.)"""
        for event in self.backend.poll(0.0):
            self._apply(self._handle(event))

    def _check_barrier_stages(self, rdd, partitions: List[int]) -> None:
        """Refuse a job whose barrier stages cannot run (Spark's checks, in its order); one
        whose largest barrier stage has more tasks than can run at the same time runs once
        that many can: a cluster's driver waits ``vega.barrier.slots_wait`` seconds for
        executors to join, a local cluster's for the replacements of those it lost
        (``may_gain_executors``; Spark's ``BarrierJobSlotsNumberCheckFailed`` retries)."""
        stages = barrier_stages(rdd, partitions)
        if not stages:
            return
        for stage_rdd, tasks in stages:
            problem = unsupported_barrier_stage(stage_rdd, tasks)
            if problem is not None:
                raise BarrierJobRefused(problem)
        needed = max(tasks for _, tasks in stages)
        if self.settings.get("dynamic_allocation"):
            raise BarrierJobRefused(
                "a barrier stage cannot run with dynamic allocation, which may take executors "
                "away while its tasks wait for each other: set "
                "vega.dynamic_allocation.enabled to false (Spark's rule, SPARK-24942)")
        wait = self.settings.get("barrier_slots_wait", 0.0) \
            if self.backend.may_gain_executors else 0.0
        deadline = time.monotonic() + wait
        while (slots := self.backend.max_concurrent_tasks()) < needed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BarrierJobRefused(
                    f"a barrier stage of {needed} tasks cannot run: its tasks run all at the "
                    f"same time, and the executors can run {slots} at once"
                    + (f" (waited {wait:g}s, vega.barrier.slots_wait, for more to join)"
                       if wait else "")
                    + ". Give the application more executors (cores), or repartition the "
                    "barrier stage's input to fewer partitions (Spark's rule, SPARK-24819)")
            for event in self.backend.poll(min(POLL_SECONDS, left)):
                self._apply(self._handle(event))

    def _check_resource_profiles(self, rdd) -> None:
        """Refuse a job with a stage whose resource profile (``with_resources``) asks for
        executors of its own, or more per task than the executors have (Vega's executors are
        the application's, as Spark's without dynamic allocation: a profile may change only
        what each task takes, Spark's ``TaskResourceProfile``)."""
        for stage_rdd in stage_rdds(rdd):
            profile = stage_profile(stage_rdd)
            if profile is None:
                continue
            if profile.executorResources:
                raise ResourceError(
                    f"the resource profile of {stage_rdd!r} asks for executors with "
                    f"{', '.join(sorted(profile.executorResources))}: Vega runs every stage "
                    "on the application's executors, so a profile may only change what each "
                    "task takes (require only TaskResourceRequests); set the executors' "
                    "resources with vega.executor.* (spark.executor.*) settings")
            check_task_fits(*profile.task_needs(self.settings["task_cpus"],
                                                self.settings["task_resources"]),
                            self.settings["executor_cores"], self.settings["executor_resources"],
                            f"an executor of this application (the stage of {stage_rdd!r})",
                            self.settings.get("address_sharing"))


    def _remove_unreachable_shuffles(self) -> None:
        while self.unreachable_shuffles:
            shuffle_id = self.unreachable_shuffles.popleft()
            self.dag.map_outputs.unregister_shuffle(shuffle_id)
            self.backend.remove_shuffle(shuffle_id)

    def _remove_unreachable_broadcasts(self) -> None:
        while self.unreachable_broadcasts:
            broadcast_id, path = self.unreachable_broadcasts.popleft()
            self.backend.remove_broadcast(broadcast_id)
            try:
                os.unlink(path)
            except FileNotFoundError:  # destroy() deleted it
                pass


    def task(self, task_id: int) -> Optional[TaskSpec]:
        """The task with this id the job loop has launched and not seen end, if any: the
        output prefix of ``local``'s tasks (the other backends pass the spec of the task
        they sent, until its executor reports its end: ``OutputCallback``)."""
        return self._tasks.get(task_id)
