"""The job loop's handling of what happens to tasks and executors: backend events fed to
the DAG scheduler, and the actions it returns carried out (launch, kill, notify, finish).

``JobRunner`` (runner.py) decides which thread runs this loop and when jobs start and
end; this part knows nothing of threads.  Per-job state (the job's result function, its
settings, the bytes of results it brought back) is found through ``self.jobs``, by the
job id each ``TaskSpec`` carries.
"""

from __future__ import annotations

import logging
import pickle
import time
import warnings
from typing import Any, Dict, List, Optional

from ..errors import (LARGE_STAGE_BYTES, FetchFailed, LargeStageWarning, ResultTooLarge,
                      TaskFailed, TaskTooLarge, error_line)
from ..executor_loss import caused_by_app, loss_sentence
from ..logs import user_stacklevel
from ..net.messages import PutBlock
from ..processes import HeldSignals
from ..serde import dumps, dumps_closure, partition_not_serializable
from ..shuffle.blocks import MapStatus
from ..storage_level import StorageLevel
from .backend import (ExecutorAddedEvent, ExecutorLostEvent, TaskFinishedEvent, TaskLaunch,
                      TaskStartedEvent)
from .dag import (JobFailed, JobSucceeded, KillTasks, LaunchTasks, MergeAccumulators,
                  StageCompleted, StageSubmitted, TaskSpec)
from .executor import StagePayload, TaskState
from .stages import Stage, shuffle_dependencies, stage_profile

log = logging.getLogger(__name__)


class TaskEvents:
    """Needs ``backend``, ``dag``, ``listener``, ``blocks``, ``barrier``, ``speculation``,
    ``clock``, ``settings``, ``merge_accumulators``, ``added_files``, ``profiler_of``,
    ``jobs`` (active jobs by id: ``ActiveJob``), ``_tasks``, ``_running_on``, ``_killed``,
    ``_stage_tasks``, ``_announced``, ``_payloads``, ``_under_replicated``,
    ``_launch_removals``, and ``_job_ended(job_id, outcome)``."""

    # -- events -> DAG -----------------------------------------------------------
    def _handle(self, event) -> list:
        if isinstance(event, TaskFinishedEvent):
            return self._task_finished(event)
        if isinstance(event, TaskStartedEvent):
            self._task_started(event)
            return []
        if isinstance(event, ExecutorAddedEvent):
            self.listener.on_executor_added(event.executor_id, event.host, event.at,
                                            event.resources)
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
        for task_id in [t for t, on in self._killed.items() if on == event.executor_id]:
            del self._killed[task_id]  # gone with it
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
            locality = self._attempt_over(spec.task_id, False)
            self.listener.on_task_end(spec.stage_id, spec.partition, event.executor_id, False, 0.0,
                                      spec.attempt, spec.speculative)
            self.listener.on_task_info(task_info(spec, event.executor_id, event.host, "lost", {},
                                                 sentence, locality=locality))
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

    def _replicate(self, executor_id: str, block: PutBlock) -> None:
        """Copies of a block a task cached at a replicated level, on other executors; fewer
        than the level asks are said once an RDD, as Spark's BlockManager warns
        ("replicated to only 0 peer(s) instead of 1 peers", as local mode always does)."""
        level = StorageLevel.named(block.level)
        targets = self.backend.replicate(executor_id, block)
        where = "memory" if level.use_memory else "disk"
        for target in targets:
            self.blocks.added(target, [[block.rdd_id, block.partition, where, len(block.data)]])
        if len(targets) < level.replication - 1 and block.rdd_id not in self._under_replicated:
            self._under_replicated.add(block.rdd_id)
            log.warning("RDD %d (%s): partition %d replicated to only %d other executors "
                        "instead of %d, as no more are reachable%s; said once an RDD",
                        block.rdd_id, block.level, block.partition, len(targets),
                        level.replication - 1,
                        "" if targets else " (local and local[1] run one executor)")

    def _task_finished(self, event: TaskFinishedEvent) -> list:
        finished = event.finished
        self._killed.pop(finished.task_id, None)
        # blocks of an RDD unpersisted since the launch: the executor has dropped them;
        # blocks of one not persisted now were stored after its removal by a task whose
        # stage's copy of the RDD still had its level: its executor drops them on word
        launched = self._launch_removals.pop(finished.task_id, self.blocks.removals)
        stale = {b[0] for b in finished.blocks_added if not self.blocks.is_persisted(b[0])}
        self.blocks.added(event.executor_id, [
            b for b in finished.blocks_added
            if b[0] not in stale and not self.blocks.removed_since(b[0], launched)])
        self.blocks.removed(event.executor_id, finished.blocks_dropped)
        for rdd_id in stale:
            self.backend.remove_rdd(rdd_id)
        for rdd_id, partition, level, data in finished.replicas:
            if rdd_id not in stale and not self.blocks.removed_since(rdd_id, launched):
                self._replicate(event.executor_id, PutBlock(rdd_id, partition, level, data))
        spec = self._tasks.pop(finished.task_id, None)
        if spec is None:
            return []
        ok = finished.state == TaskState.SUCCESS
        locality = self._attempt_over(spec.task_id, ok)
        self.listener.on_task_end(spec.stage_id, spec.partition, event.executor_id, ok,
                                  finished.metrics.get("duration", 0.0), spec.attempt,
                                  spec.speculative)
        self.listener.on_task_info(task_info(
            spec, event.executor_id, event.host, finished.state, finished.metrics,
            error_line(finished.error_type, finished.error_message) if not ok else None,
            finished.blocks_added, finished.blocks_dropped, locality))
        self.listener.on_task_metrics(finished.state, finished.metrics)
        if ok:
            stage = self.dag.stage_by_id.get(spec.stage_id)
            if stage is None:  # its jobs ended
                return []
            try:
                accumulators = pickle.loads(finished.accumulators) \
                    if finished.accumulators else None
                if stage.is_map:
                    value = MapStatus(stage.shuffle_dep.shuffle_id, spec.partition,
                                      event.executor_id, event.host, finished.data_path,
                                      tuple(finished.offsets), event.shuffle_port)
                else:
                    too_large = self._count_result(spec.job_id, len(finished.value or b""))
                    if too_large is not None:
                        return self.dag.abort_job(too_large, spec.job_id)
                    value = pickle.loads(finished.value)
            except Exception as exc:  # the driver cannot unpickle it: its stage's jobs fail
                return self.dag.abort_stage(spec.stage_id, exc)
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

    def _count_result(self, job_id: int, size: int) -> Optional[ResultTooLarge]:
        """Add a result task's serialized result to its job's running total (Spark's
        TaskSetManager.canFetchMoreResults; each job, an action, has its own): past
        vega.driver.max_result_size (0: no limit), the error that fails the job."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        job.result_tasks += 1
        job.result_bytes += size
        limit = self.settings.get("max_result_size", 0)
        if limit and job.result_bytes > limit:
            return ResultTooLarge(job.result_tasks, job.result_bytes, limit)
        return None

    def _task_started(self, event: TaskStartedEvent) -> None:
        spec = self._tasks.get(event.task_id)
        if spec is None:
            return
        self._running_on[spec.task_id] = (event.executor_id, event.locality)
        if self.speculation is not None:
            self.speculation.task_started(spec.task_id, (spec.stage_id, spec.stage_attempt),
                                          spec.partition,
                                          self._stage_tasks.get(spec.stage_id, 1), event.at)
        self.listener.on_task_start(spec.stage_id, spec.partition, spec.task_id, spec.attempt,
                                    event.executor_id, event.host, spec.speculative)

    def _attempt_over(self, task_id: int, succeeded: bool) -> str:
        """The attempt's locality level (PROCESS_LOCAL unless it was started elsewhere)."""
        _, locality = self._running_on.pop(task_id, ("", "PROCESS_LOCAL"))
        if self.speculation is not None:
            if succeeded:
                self.speculation.task_succeeded(task_id, self.clock())
            else:
                self.speculation.task_ended(task_id)
        return locality

    def _speculate(self) -> None:
        """Give each straggler a copy on another executor (the first to finish wins)."""
        for (stage_id, stage_attempt), partition in self.speculation.speculatable(self.clock()):
            running = [t for t in self._tasks.values()
                       if t.stage_id == stage_id and t.partition == partition]
            avoid = frozenset(self._running_on[t.task_id][0] for t in running
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
                if action.stage.stage_id not in self.dag.stage_by_id:
                    continue  # its jobs ended meanwhile (an earlier action of the list)
                try:
                    self._launch(action.stage, action.tasks)
                except Exception as exc:  # its payload does not pickle: its jobs fail, not all
                    self._apply(self.dag.abort_stage(action.stage.stage_id, exc))
            elif isinstance(action, KillTasks):
                for task_id in action.task_ids:
                    started = task_id in self._running_on
                    spec = self._tasks.pop(task_id, None)
                    if spec is not None and action.reason:
                        self._attempt_killed(spec, action.reason)
                    if spec is not None and started:  # KILLED in the REST API too
                        self.listener.on_task_metrics("killed", {})
                # each one sent, started or not (its start may wait in this poll's events):
                # its end, or its executor's loss, is to come (``wait_for_killed_tasks``)
                self._killed.update(self.backend.kill_tasks(action.task_ids))
            elif isinstance(action, StageSubmitted):
                self._stage_submitted(action.stage, action.num_tasks)
            elif isinstance(action, StageCompleted):
                stage = action.stage
                if self._announced.get(stage.stage_id) != stage.attempt:
                    # a Ctrl-C landed between the DAG's start of this attempt and the
                    # listeners' hearing of it: they hear it now, or its end is a stage
                    # never started ("failed after -0.00s", a summary without it)
                    self._stage_submitted(stage, stage.num_tasks)
                self.barrier.stage_ended(stage.stage_id)
                if self.speculation is not None:
                    self.speculation.stage_ended(stage.stage_id)
                with HeldSignals():  # (as a submission's)
                    self.listener.on_stage_completed(stage.stage_id, action.failure)
            elif isinstance(action, MergeAccumulators):
                self.merge_accumulators(action.updates)
            elif isinstance(action, (JobSucceeded, JobFailed)):
                self._job_ended(action.job_id, action)

    def _stage_submitted(self, stage: Stage, num_tasks: int) -> None:
        log.info("stage %d submitted: %d tasks", stage.stage_id, num_tasks)
        self._stage_tasks[stage.stage_id] = num_tasks
        if stage.barrier:
            self.barrier.stage_started(stage.stage_id, stage.attempt)
        # a Ctrl-C (or kill) is taken once every listener has heard: one landing in a
        # listener cut the others off, and they never heard the stage start (or end)
        with HeldSignals():
            self.listener.on_stage_submitted(stage.stage_id, stage.attempt, stage.name,
                                             num_tasks)
        self._announced[stage.stage_id] = stage.attempt

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
        job = self.jobs[tasks[0].job_id]  # the job the stage runs for (its oldest)
        payload = self._payload(stage, job)
        partitions = stage.rdd.partitions()
        key = (stage.stage_id, stage.attempt)
        launches = []
        for spec in tasks:
            self._tasks[spec.task_id] = spec
            self._launch_removals[spec.task_id] = self.blocks.removals
            # not an executor it must avoid (a retry's, or a speculative copy's original);
            # a barrier stage's tasks start together, wherever executors are idle
            # (the holders of each cached block it reads: one it runs away from serves it)
            cached = self.blocks.cached_input(stage.rdd, spec.partition)
            preferred = frozenset() if stage.barrier else \
                frozenset().union(*cached.values()) - spec.excluded
            try:
                partition = dumps(partitions[spec.partition])
            except Exception as exc:  # pickling can raise nearly anything
                raise partition_not_serializable(
                    partitions[spec.partition], f"partition {spec.partition} of stage "
                    f"{stage.stage_id} ({stage.rdd!r})", exc) from None
            room = self.backend.max_task_bytes
            if room is not None and len(payload) + len(partition) > room:
                raise TaskTooLarge(stage.stage_id, spec.partition, len(payload), len(partition),
                                   room)
            launches.append(TaskLaunch(spec, key, payload, partition, preferred,
                                       barrier=stage.barrier, holders=cached, pool=job.pool))
        self.backend.launch(launches)

    def _payload(self, stage: Stage, job) -> bytes:
        key = (stage.stage_id, stage.attempt)
        if key not in self._payloads:
            statuses = {dep.shuffle_id: [s.to_wire() for s in
                                         self.dag.map_outputs.statuses(dep.shuffle_id)]
                        for dep in shuffle_dependencies(stage.rdd)}
            payload = StagePayload(stage.stage_id, self.added_files, stage.rdd,
                                   None if stage.is_map else job.func,
                                   stage.shuffle_dep, statuses, self._stage_settings(stage, job),
                                   self.profiler_of(stage.rdd.rdd_id) if self.profiler_of else None)
            self._payloads[key] = dumps_closure(payload, f"stage {stage.stage_id} ({stage.rdd!r})")
            if len(self._payloads[key]) > LARGE_STAGE_BYTES:
                warnings.warn(LargeStageWarning(len(self._payloads[key])),
                              stacklevel=user_stacklevel())
        return self._payloads[key]

    def _stage_settings(self, stage: Stage, job) -> Dict[str, Any]:
        """The settings of the job ``stage`` runs for, with what each of its tasks takes
        when its profile says so (``TaskContext.cpus()``, ``resources()``)."""
        profile = stage_profile(stage.rdd)
        if profile is None:
            return job.settings
        cpus, resources = profile.task_needs(self.settings["task_cpus"],
                                             self.settings["task_resources"])
        return {**job.settings, "task_cpus": cpus, "task_resources": resources}


def task_info(spec: TaskSpec, executor_id: str, host: str, state: str, metrics: dict,
              error: Optional[str], blocks_added: list = (), blocks_dropped: list = (),
              locality: str = "PROCESS_LOCAL") -> dict:
    """What ``JobListener.on_task_info`` gets for one attempt; times in epoch seconds on the
    driver's clock, as Spark's TaskInfo: the launch is the finish less the attempt's
    duration (the executor's wall clock may be minutes off the driver's: its launch time
    put the attempt before its stage was submitted)."""
    finished = time.time()
    duration = float(metrics.get("duration", 0.0))
    return {"task_id": spec.task_id, "job_id": spec.job_id, "stage_id": spec.stage_id,
            "stage_attempt": spec.stage_attempt, "partition": spec.partition,
            "attempt": spec.attempt, "executor": executor_id, "host": host, "state": state,
            "speculative": bool(getattr(spec, "speculative", False)), "locality": locality,
            "launch_time": finished - duration,
            "finish_time": finished, "error": error,
            "metrics": {k: v for k, v in metrics.items() if k != "launch_time"},
            "blocks_added": [list(b) for b in blocks_added],
            "blocks_dropped": [list(b) for b in blocks_dropped]}

