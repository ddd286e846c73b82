"""The driver's job loop: feeds backend events to the DAG scheduler and
carries out the actions it returns (launch, kill, notify, finish)."""

from __future__ import annotations

import collections
import itertools
import logging
import os
import pickle
import signal
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Tuple

from ..errors import (LARGE_STAGE_BYTES, BarrierJobRefused, DriverExit, FetchFailed,
                      JobCancelled, LargeStageWarning, ResultTooLarge, TaskFailed, error_line)
from ..executor_loss import caused_by_app, loss_sentence
from ..files import AddedFiles
from ..logs import error_summary, user_stacklevel
from ..net.messages import PutBlock
from ..processes import HeldSignals
from ..resources import ResourceError, check_task_fits
from ..serde import dumps, dumps_closure, partition_not_serializable
from ..shuffle.blocks import MapStatus
from ..storage_level import StorageLevel
from .block_tracker import BlockTracker
from .backend import (Backend, ExecutorAddedEvent, ExecutorLostEvent, TaskFinishedEvent,
                      TaskLaunch, TaskStartedEvent)
from .dag import (DAGScheduler, JobFailed, JobSucceeded, KillTasks, LaunchTasks,
                  MergeAccumulators, StageCompleted, StageSubmitted, TaskSpec)
from .executor import StagePayload, TaskState
from .listener import JobListener
from .stage_graph import job_graph
from .stages import (Stage, barrier_stages, shuffle_dependencies, stage_profile, stage_rdds,
                     unsupported_barrier_stage)

if TYPE_CHECKING:
    from .speculation import SpeculationPolicy

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


def _stopped_by(interrupt: BaseException) -> str:
    """Why a job the driver was interrupted in is cancelled: Ctrl-C, or the signal of a
    ``DriverExit`` (its exit code, ``143``, was the stage's failure before).

    >>> _stopped_by(KeyboardInterrupt()), _stopped_by(DriverExit(signal.SIGTERM))
    ('interrupted (Ctrl-C)', 'stopped by SIGTERM')
    """
    if isinstance(interrupt, DriverExit):
        return f"stopped by {signal.Signals(interrupt.signum).name}"
    return "interrupted (Ctrl-C)"


class JobRunner:
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
        self._job_settings: Dict[str, Any] = settings
        self.blocks = blocks
        self.dag = dag
        self.listener = listener
        self.settings = settings
        self.merge_accumulators = merge_accumulators
        self._job_ids = itertools.count()
        self._payloads: Dict[tuple, bytes] = {}
        self._tasks: Dict[int, TaskSpec] = {}
        self._running_on: Dict[int, str] = {}  # task_id -> executor_id, once started
        self._stage_tasks: Dict[int, int] = {}  # stage_id -> tasks of its running attempt
        self._func: Optional[Callable] = None
        #: ``profiler_of(rdd_id)``: the profiler shipped with a stage computing that RDD
        #: (``vega.python.profile``, vega_runtime/profiler.py); None: no profiling
        self.profiler_of: Optional[Callable[[int], Any]] = None
        self._outcome = None
        self._cancel_reason: Optional[str] = None
        self._result_tasks, self._result_bytes = 0, 0
        #: Files the driver added (``Context.add_file``); every stage payload carries them.
        self.added_files = AddedFiles()
        #: shuffles no RDD can read any more (``Context.register_shuffle_for_cleanup``, from
        #: any thread): their map outputs are forgotten and their files deleted as the next
        #: job starts
        self.unreachable_shuffles: Deque[int] = collections.deque()
        #: broadcasts no one can read any more (``Context.broadcast``, from any thread), as
        #: ``(id, the driver's file)``: executors drop their copies and the file is deleted
        #: as the next job starts
        self.unreachable_broadcasts: Deque[Tuple[int, str]] = collections.deque()

    def cancel(self, reason: str) -> None:
        """Ask the running job to stop (from any thread); it raises ``JobCancelled``, whose
        message is "job N cancelled " and ``reason``."""
        self._cancel_reason = reason

    # -- the loop ----------------------------------------------------------------
    def run_job(self, rdd, func: Callable, partitions: List[int], description: str) -> list:
        """``func``'s result for each partition, in order."""
        return self._run_job(rdd, func, partitions, description, None)

    def run_job_within(self, rdd, func: Callable, partitions: List[int], description: str,
                       timeout: float) -> Dict[int, Any]:
        """Results of the partitions finished within ``timeout`` seconds (all of them if the
        job ends in time), by partition; the job's remaining tasks are killed."""
        return self._run_job(rdd, func, partitions, description, time.monotonic() + timeout)

    def _run_job(self, rdd, func: Callable, partitions: List[int], description: str,
                 deadline: Optional[float]):
        job_id = next(self._job_ids)
        self._func, self._outcome, self._cancel_reason = func, None, None
        #: serialized results brought back for this job: how many, how many bytes
        self._result_tasks, self._result_bytes = 0, 0
        self._job_settings = {**self.settings, **self.job_settings()}
        self.listener.on_job_start(job_id, description)
        log.info("job %d submitted: %s", job_id, description)
        try:
            # what happened since the last job (executors lost or released) first, so the
            # job is planned on what is still there
            self.catch_up()
            self._remove_unreachable_shuffles()
            self._remove_unreachable_broadcasts()
            self._check_barrier_stages(rdd, partitions)
            self._check_resource_profiles(rdd)
            actions = self.dag.submit_job(job_id, rdd, func, partitions, description)
            stage_ids = self.dag.job_stage_ids()
            self.listener.on_job_stages(job_id, stage_ids)
            self.listener.on_job_graph(job_id, job_graph([self.dag.stage_by_id[s]
                                                          for s in stage_ids]))
            self._apply(actions)
            while self._outcome is None:
                if self._cancel_reason is not None:
                    raise JobCancelled(self._cancel_reason, job_id)
                if deadline is not None and time.monotonic() >= deadline:
                    return self._stop_at_deadline(job_id)
                wait = POLL_SECONDS if deadline is None else \
                    max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
                for event in self.backend.poll(wait):
                    self._apply(self._handle(event))
                if self.speculation is not None and self.dag.job is not None:
                    self._speculate()
            if self._cancel_reason is not None and not isinstance(self._outcome, JobFailed):
                # asked for while its last task ran (``local``'s run in the driver's thread,
                # where nothing can interrupt them): cancelled all the same, as in PySpark
                raise JobCancelled(self._cancel_reason, job_id)
        except BaseException as exc:
            # A Ctrl-C now (a second press) waits until the tasks are killed: cut short, the
            # cancel left them running, and the next job waited for them. One that asks for
            # what the first is doing is dropped; a third forces (HeldSignals).
            with HeldSignals() as held:
                if type(exc) is KeyboardInterrupt and not exc.args and self.dag.job is not None:
                    # what a notebook shows of it, as vega shell says
                    exc.args = (f"job {job_id} cancelled; its running tasks were stopped",)
                try:
                    self._end_stopped_job(job_id, exc)
                finally:
                    self.listener.on_job_end(job_id, exc)
                    if isinstance(exc, KeyboardInterrupt) and held.came == [signal.SIGINT]:
                        held.came.clear()
            raise
        finally:
            self._payloads.clear()
            self._tasks.clear()
            self._running_on.clear()
            self._stage_tasks.clear()
            self.barrier.clear()
            if self.speculation is not None:
                self.speculation = type(self.speculation)(self.speculation.policy)
        if isinstance(self._outcome, JobFailed):
            self.listener.on_job_end(job_id, self._outcome.error)
            raise self._outcome.error
        self.listener.on_job_end(job_id, None)
        if deadline is not None:
            return dict(zip(partitions, self._outcome.results))
        return self._outcome.results

    def _end_stopped_job(self, job_id: int, exc: BaseException) -> None:
        """The job stopped on ``exc``: its tasks are killed and its running stages end,
        failed (the listeners, a progress display say so).  Should that fail in turn (a
        listener that raises), the job is dropped all the same and ``exc`` stays its
        outcome, so that it is not left running and the next job can start."""
        if self.dag.job is None:
            return
        try:
            ended = self.dag.cancel_job(_stopped_by(exc)) \
                if isinstance(exc, (KeyboardInterrupt, DriverExit)) else self.dag.abort_job(exc)
            self._apply([a for a in ended if isinstance(a, (KillTasks, StageCompleted))])
        except Exception as failure:  # noqa: BLE001 - exc is what the caller is told
            log.error("job %d: ending it after %s failed too (%s: %s)", job_id,
                      error_summary(exc), type(failure).__name__, error_summary(failure))
        finally:
            self.dag.drop_job()

    def catch_up(self) -> None:
        """Take in what the backend reported since it was last asked (executors added, lost
        or released between jobs): the listeners (event log, the master's copy) hear of it
        now, not when the next job starts.  Only from the thread that may run jobs."""
        for event in self.backend.poll(0.0):
            self._apply(self._handle(event))

    def _check_barrier_stages(self, rdd, partitions: List[int]) -> None:
        """Refuse a job whose barrier stages cannot run (Spark's checks, in its order); one
        whose largest barrier stage has more tasks than can run at the same time runs once
        that many can: a cluster's driver waits ``vega.barrier.slots_wait`` seconds for
        executors to join (Spark's ``BarrierJobSlotsNumberCheckFailed`` retries)."""
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
                            f"an executor of this application (the stage of {stage_rdd!r})")

    def _stage_settings(self, stage: Stage) -> Dict[str, Any]:
        """The job's settings, with what each task of ``stage`` takes when its profile
        says so (``TaskContext.cpus()``, ``resources()``)."""
        profile = stage_profile(stage.rdd)
        if profile is None:
            return self._job_settings
        cpus, resources = profile.task_needs(self.settings["task_cpus"],
                                             self.settings["task_resources"])
        return {**self._job_settings, "task_cpus": cpus, "task_resources": resources}

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

    def _stop_at_deadline(self, job_id: int) -> Dict[int, Any]:
        finished = dict(self.dag.job.results)  # result-stage partitions only
        log.info("job %d stopped at its deadline with %d partitions done", job_id, len(finished))
        self._apply([a for a in self.dag.cancel_job("deadline reached")
                     if isinstance(a, KillTasks)])
        self.listener.on_job_end(job_id, None)
        return finished

    def task(self, task_id: int) -> Optional[TaskSpec]:
        """The running task with this id, if any (for output prefixes)."""
        return self._tasks.get(task_id)

    # -- events -> DAG -----------------------------------------------------------
    def _handle(self, event) -> list:
        if isinstance(event, TaskFinishedEvent):
            return self._task_finished(event)
        if isinstance(event, TaskStartedEvent):
            self._task_started(event)
            return []
        if isinstance(event, ExecutorAddedEvent):
            self.listener.on_executor_added(event.executor_id, event.host, event.at)
            return []
        if isinstance(event, ExecutorLostEvent):
            return self._executor_lost(event)
        return []

    def _executor_lost(self, event: ExecutorLostEvent) -> list:
        """An executor released on purpose (dynamic allocation) or lost: say how it ended, in
        one sentence for the log, the listeners and the error of each task it was running.
        Each such task runs again; the running one's attempt counts as failed unless the
        executor was lost with its worker (``caused_by_app``: Spark's rule), those waiting
        behind it on the executor never count."""
        running = [self._tasks[t] for t in event.task_ids if t in self._tasks]
        if event.released:
            sentence = event.reason
        else:
            description = event.reason if event.cause else f"was lost ({event.reason})"
            # the task it was running is the first in flight; those sent ahead waited
            first = self._tasks.get(event.task_ids[0]) if event.task_ids else None
            sentence = loss_sentence(event.executor_id, event.host, description,
                                     f"{first.stage_id}.{first.partition}" if first else "")
            if event.detail:
                sentence += f" (its log ends: {event.detail})"
            log.warning("%s", sentence)
        self.listener.on_executor_removed(event.executor_id, event.host, sentence,
                                          not event.released, event.at, event.cause)
        self.blocks.executor_lost(event.executor_id)
        actions = self.dag.executor_lost(event.executor_id, event.outputs_lost)
        for spec in running:
            del self._tasks[spec.task_id]
            self._attempt_over(spec.task_id, False)
            self.listener.on_task_end(spec.stage_id, spec.partition, event.executor_id, False, 0.0,
                                      spec.attempt, spec.speculative)
            self.listener.on_task_info(task_info(spec, event.executor_id, event.host, "lost", {},
                                                 sentence))
            self.listener.on_task_metrics("lost", {})
            # only the running task (the first in flight) can have caused the loss; the
            # tasks waiting behind it on the executor never started
            counted = caused_by_app(event.cause) and spec.task_id == event.task_ids[0]
            if counted:
                retry = self.dag.task_failed(spec, TaskFailed(
                    spec.stage_id, spec.partition, spec.attempt + 1, event.host,
                    event.executor_id, "ExecutorLost", sentence, "", self._call_site(spec)))
            else:
                retry = self.dag.task_lost(spec)
            if any(isinstance(a, LaunchTasks) for a in retry):
                log.warning("task %d.%d (attempt %d) will run again%s: %s", spec.stage_id,
                            spec.partition, spec.attempt + 2,
                            "" if counted else " (not counted as a failed attempt)", sentence)
            actions += retry
        return actions

    def _task_finished(self, event: TaskFinishedEvent) -> list:
        finished = event.finished
        self.blocks.added(event.executor_id, finished.blocks_added)
        self.blocks.removed(event.executor_id, finished.blocks_dropped)
        for rdd_id, partition, level, data in finished.replicas:
            target = self.backend.replicate(event.executor_id, PutBlock(rdd_id, partition, level, data))
            if target is not None:
                where = "memory" if StorageLevel.named(level).use_memory else "disk"
                self.blocks.added(target, [[rdd_id, partition, where, len(data)]])
        spec = self._tasks.pop(finished.task_id, None)
        if spec is None:
            return []
        ok = finished.state == TaskState.SUCCESS
        self._attempt_over(spec.task_id, ok)
        self.listener.on_task_end(spec.stage_id, spec.partition, event.executor_id, ok,
                                  finished.metrics.get("duration", 0.0), spec.attempt,
                                  spec.speculative)
        self.listener.on_task_info(task_info(
            spec, event.executor_id, event.host, finished.state, finished.metrics,
            error_line(finished.error_type, finished.error_message) if not ok else None,
            finished.blocks_added, finished.blocks_dropped))
        self.listener.on_task_metrics(finished.state, finished.metrics)
        if ok:
            stage = self.dag.stage_by_id[spec.stage_id]
            accumulators = pickle.loads(finished.accumulators) if finished.accumulators else None
            if stage.is_map:
                value = MapStatus(stage.shuffle_dep.shuffle_id, spec.partition, event.executor_id,
                                  event.host, finished.data_path, tuple(finished.offsets),
                                  event.shuffle_port)
            else:
                too_large = self._count_result(len(finished.value or b""))
                if too_large is not None:
                    return self.dag.abort_job(too_large)
                value = pickle.loads(finished.value)
            return self.dag.task_succeeded(spec, value, accumulators)
        if finished.state == TaskState.FETCH_FAILED:
            # where the reducer read from (a map output's host, or its file), else its own host
            failure = FetchFailed(finished.shuffle_id, finished.map_id, spec.partition,
                                  finished.fetch_from or event.host, finished.error_message)
            log.warning("task %d.%d %s", spec.stage_id, spec.partition, failure)
            return self.dag.fetch_failed(spec, failure)
        log.warning("task %d.%d (attempt %d) failed on %s: %s", spec.stage_id,
                    spec.partition, spec.attempt, event.executor_id,
                    error_line(finished.error_type, finished.error_message))
        return self.dag.task_failed(spec, TaskFailed(
            spec.stage_id, spec.partition, spec.attempt + 1, event.host, event.executor_id,
            finished.error_type, finished.error_message, finished.traceback,
            self._call_site(spec)))

    def _count_result(self, size: int) -> Optional[ResultTooLarge]:
        """Add a result task's serialized result to the job's running total (Spark's
        TaskSetManager.canFetchMoreResults): past vega.driver.max_result_size (0: no
        limit), the error that fails the job."""
        self._result_tasks += 1
        self._result_bytes += size
        limit = self.settings.get("max_result_size", 0)
        if limit and self._result_bytes > limit:
            return ResultTooLarge(self._result_tasks, self._result_bytes, limit)
        return None

    def _task_started(self, event: TaskStartedEvent) -> None:
        spec = self._tasks.get(event.task_id)
        if spec is None:
            return
        self._running_on[spec.task_id] = event.executor_id
        if self.speculation is not None:
            self.speculation.task_started(spec.task_id, (spec.stage_id, spec.stage_attempt),
                                          spec.partition,
                                          self._stage_tasks.get(spec.stage_id, 1), event.at)
        self.listener.on_task_start(spec.stage_id, spec.partition, spec.task_id, spec.attempt,
                                    event.executor_id, event.host, spec.speculative)

    def _attempt_over(self, task_id: int, succeeded: bool) -> None:
        self._running_on.pop(task_id, None)
        if self.speculation is not None:
            if succeeded:
                self.speculation.task_succeeded(task_id, self.clock())
            else:
                self.speculation.task_ended(task_id)

    def _speculate(self) -> None:
        """Give each straggler a copy on another executor (the first to finish wins)."""
        for (stage_id, stage_attempt), partition in self.speculation.speculatable(self.clock()):
            running = [t for t in self._tasks.values()
                       if t.stage_id == stage_id and t.partition == partition]
            avoid = frozenset(self._running_on[t.task_id] for t in running
                              if t.task_id in self._running_on)
            actions = self.dag.speculate(stage_id, stage_attempt, partition, avoid)
            if actions:
                log.info("task %d.%d runs past %.1fs (%.1f x the median of its stage's finished "
                         "tasks): launching a speculative copy", stage_id, partition,
                         self.speculation.threshold((stage_id, stage_attempt)),
                         self.speculation.policy.multiplier)
                self.listener.on_speculative_task_submitted(stage_id, partition)
                self._apply(actions)

    def _call_site(self, spec: TaskSpec) -> str:
        stage = self.dag.stage_by_id.get(spec.stage_id)
        return stage.rdd.call_site if stage is not None else ""

    # -- actions -> world ----------------------------------------------------------
    def _apply(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, LaunchTasks):
                self._launch(action.stage, action.tasks)
            elif isinstance(action, KillTasks):
                for task_id in action.task_ids:
                    spec = self._tasks.pop(task_id, None)
                    if spec is not None and action.reason:
                        self._attempt_killed(spec, action.reason)
                self.backend.kill_tasks(action.task_ids)
            elif isinstance(action, StageSubmitted):
                log.info("stage %d submitted: %d tasks", action.stage.stage_id, action.num_tasks)
                self._stage_tasks[action.stage.stage_id] = action.num_tasks
                self.listener.on_stage_submitted(action.stage.stage_id, action.stage.attempt,
                                                 action.stage.name, action.num_tasks)
            elif isinstance(action, StageCompleted):
                self.barrier.stage_ended(action.stage.stage_id)
                if self.speculation is not None:
                    self.speculation.stage_ended(action.stage.stage_id)
                self.listener.on_stage_completed(action.stage.stage_id, action.failure)
            elif isinstance(action, MergeAccumulators):
                self.merge_accumulators(action.updates)
            elif isinstance(action, (JobSucceeded, JobFailed)):
                self._outcome = action

    def _attempt_killed(self, spec: TaskSpec, reason: str) -> None:
        """An attempt killed while its job goes on (another attempt of it finished first)."""
        executor_id = self._running_on.get(spec.task_id, "")
        self._attempt_over(spec.task_id, False)
        if executor_id:  # it had started
            log.info("task %d.%d attempt %d on %s killed: %s", spec.stage_id, spec.partition,
                     spec.attempt, executor_id, reason)
            self.listener.on_task_killed(spec.stage_id, spec.partition, spec.task_id,
                                         spec.attempt, executor_id, spec.speculative, reason)

    def _launch(self, stage: Stage, tasks: List[TaskSpec]) -> None:
        payload = self._payload(stage)
        partitions = stage.rdd.partitions()
        key = (stage.stage_id, stage.attempt)
        launches = []
        for spec in tasks:
            self._tasks[spec.task_id] = spec
            # not an executor it must avoid (a retry's, or a speculative copy's original);
            # a barrier stage's tasks start together, wherever executors are idle
            preferred = frozenset() if stage.barrier else \
                self.blocks.preferred_executors(stage.rdd, spec.partition) - spec.excluded
            try:
                partition = dumps(partitions[spec.partition])
            except Exception as exc:  # pickling can raise nearly anything
                raise partition_not_serializable(
                    partitions[spec.partition], f"partition {spec.partition} of stage "
                    f"{stage.stage_id} ({stage.rdd!r})", exc) from None
            launches.append(TaskLaunch(spec, key, payload, partition, preferred,
                                       barrier=stage.barrier))
        self.backend.launch(launches)

    def _payload(self, stage: Stage) -> bytes:
        key = (stage.stage_id, stage.attempt)
        if key not in self._payloads:
            statuses = {dep.shuffle_id: [s.to_wire() for s in
                                         self.dag.map_outputs.statuses(dep.shuffle_id)]
                        for dep in shuffle_dependencies(stage.rdd)}
            payload = StagePayload(stage.stage_id, self.added_files, stage.rdd,
                                   None if stage.is_map else self._func,
                                   stage.shuffle_dep, statuses, self._stage_settings(stage),
                                   self.profiler_of(stage.rdd.rdd_id) if self.profiler_of else None)
            self._payloads[key] = dumps_closure(payload, f"stage {stage.stage_id} ({stage.rdd!r})")
            if len(self._payloads[key]) > LARGE_STAGE_BYTES:
                warnings.warn(LargeStageWarning(len(self._payloads[key])),
                              stacklevel=user_stacklevel())
        return self._payloads[key]


def task_info(spec: TaskSpec, executor_id: str, host: str, state: str, metrics: dict,
              error: Optional[str], blocks_added: list = (), blocks_dropped: list = ()) -> dict:
    """What ``JobListener.on_task_info`` gets for one attempt; times in epoch seconds (the
    executor's clock for the launch, the driver's for the finish)."""
    finished = time.time()
    duration = float(metrics.get("duration", 0.0))
    return {"task_id": spec.task_id, "job_id": spec.job_id, "stage_id": spec.stage_id,
            "stage_attempt": spec.stage_attempt, "partition": spec.partition,
            "attempt": spec.attempt, "executor": executor_id, "host": host, "state": state,
            "speculative": bool(getattr(spec, "speculative", False)),
            "launch_time": float(metrics.get("launch_time", finished - duration)),
            "finish_time": finished, "error": error,
            "metrics": {k: v for k, v in metrics.items() if k != "launch_time"},
            "blocks_added": [list(b) for b in blocks_added],
            "blocks_dropped": [list(b) for b in blocks_dropped]}

