"""The DAG scheduler: pure state transitions from events to actions.

It decides which stages are ready, which partitions are missing, which task
to retry and when a job is done; it performs no I/O.  ``JobRunner`` feeds it
events from a backend and carries out the actions it returns, so tests can
drive every transition with plain method calls.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

from ..logs import error_summary
from ..records import FrozenRecord, Record
from ..errors import BarrierStageFailed, FetchFailed, StageFailed, TaskFailed, VegaError
from .map_output import MapOutputTracker
from .stages import Stage, StageBuilder


#: Errors of a task that fail its job at once: running the task again would fail the same
#: way (a result bigger than vega.driver.max_result_size: executor.RESULT_TOO_LARGE; an RDD
#: action or transformation, or the Context, used by a task's function, which PySpark
#: refuses before any task runs; an HDFS namenode's redirect to a host vega.hdfs.datanodes
#: does not list, which every attempt would meet)
NOT_RETRIED = frozenset({"ResultTooLarge", "DriverOnlyError", "HdfsRedirectRefused"})

#: An executor on which this many tasks of a stage failed is avoided for the rest of the stage.
EXCLUDE_AFTER_FAILURES = 2
_NONE_EXCLUDED: FrozenSet[str] = frozenset()


class TaskSpec(FrozenRecord):
    """One task attempt to run: which partition of which stage attempt, for which job."""
    task_id: int
    job_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    #: executors this attempt should avoid: where it failed before, and executors on
    #: which tasks of the stage failed repeatedly (used only while others exist)
    excluded: FrozenSet[str]
    #: a copy of a straggling attempt (speculation); the first attempt to finish wins
    speculative: bool

    def __init__(self, task_id, job_id, stage_id, stage_attempt, partition, attempt,
                 excluded=frozenset(), speculative=False):
        setattr = object.__setattr__
        setattr(self, "task_id", task_id)
        setattr(self, "job_id", job_id)
        setattr(self, "stage_id", stage_id)
        setattr(self, "stage_attempt", stage_attempt)
        setattr(self, "partition", partition)
        setattr(self, "attempt", attempt)
        setattr(self, "excluded", excluded)
        setattr(self, "speculative", speculative)


# -- actions (records: vega_runtime/records.py) ----------------------------------

class LaunchTasks(Record):
    """Action: run these tasks of ``stage``."""
    stage: Stage
    tasks: List[TaskSpec]

    def __init__(self, stage, tasks):
        self.stage = stage
        self.tasks = tasks


class KillTasks(Record):
    """Action: stop these running task attempts."""
    task_ids: List[int]
    #: why, when the job goes on (the listener hears of each killed attempt)
    reason: str

    def __init__(self, task_ids, reason=""):
        self.task_ids = task_ids
        self.reason = reason


class StageSubmitted(Record):
    """Action: tell the listeners a stage attempt started."""
    stage: Stage
    num_tasks: int

    def __init__(self, stage, num_tasks):
        self.stage = stage
        self.num_tasks = num_tasks


class StageCompleted(Record):
    """Action: tell the listeners a stage attempt ended (``failure`` says why it failed)."""
    stage: Stage
    failure: Optional[str]

    def __init__(self, stage, failure=None):
        self.stage = stage
        self.failure = failure


class MergeAccumulators(Record):
    """Action: add a successful task's accumulator updates on the driver."""
    updates: Any

    def __init__(self, updates):
        self.updates = updates


class JobSucceeded(Record):
    """Action: the job is done; its results by partition, in order."""
    job_id: int
    results: List[Any]

    def __init__(self, job_id, results):
        self.job_id = job_id
        self.results = results


class JobFailed(Record):
    """Action: the job failed with ``error``."""
    job_id: int
    error: BaseException

    def __init__(self, job_id, error):
        self.job_id = job_id
        self.error = error


class RunningTasks:
    """The attempts the scheduler waits for, by task id and by ``(stage_id, partition)``: a
    finished task finds its partition's other attempts in constant time (no scan of every
    running task, which made a stage of many tasks quadratic)."""

    def __init__(self):
        self._by_id: Dict[int, TaskSpec] = {}
        self._by_partition: Dict[Tuple[int, int], Set[int]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self):
        return iter(self._by_id)

    def values(self):
        return self._by_id.values()

    def add(self, task: TaskSpec) -> None:
        self._by_id[task.task_id] = task
        self._by_partition.setdefault((task.stage_id, task.partition), set()).add(task.task_id)

    def pop(self, task_id: int) -> Optional[TaskSpec]:
        task = self._by_id.pop(task_id, None)
        if task is not None:
            key = (task.stage_id, task.partition)
            attempts = self._by_partition[key]
            attempts.discard(task_id)
            if not attempts:
                del self._by_partition[key]
        return task

    def of_partition(self, stage_id: int, partition: int) -> List[TaskSpec]:
        return [self._by_id[t] for t in sorted(self._by_partition.get((stage_id, partition), ()))]

    def clear(self) -> None:
        self._by_id.clear()
        self._by_partition.clear()


class _Job(Record):
    """An active job: its final stage, result function and results so far, and the ids of
    every stage of its graph (a stage two jobs need is shared: it runs once for both)."""
    job_id: int
    final_stage: Stage
    func: Callable
    partitions: List[int]
    results: Dict[int, Any]
    stage_ids: Set[int]

    def __init__(self, job_id, final_stage, func, partitions, results=None, stage_ids=None):
        self.job_id = job_id
        self.final_stage = final_stage
        self.func = func
        self.partitions = partitions
        self.results = {} if results is None else results
        self.stage_ids = set() if stage_ids is None else stage_ids


class DAGScheduler:
    """Turns jobs into stages and tasks, and reacts to task outcomes.  Several jobs may be
    active at once (submitted from different threads, as Spark runs them): a map stage
    they both need is one stage, computed once; a failure of a stage fails the jobs that
    need it, and only those."""

    def __init__(self, map_outputs: MapOutputTracker, max_task_attempts: int = 4,
                 max_stage_attempts: int = 4):
        self.map_outputs = map_outputs
        self.max_task_attempts = max_task_attempts
        self.max_stage_attempts = max_stage_attempts
        self.stages = StageBuilder()
        #: the active jobs by id, oldest first
        self.jobs: Dict[int, _Job] = {}
        self.waiting: Set[Stage] = set()
        self.running: Set[Stage] = set()
        self.pending: Dict[int, Set[int]] = {}  # stage_id -> partitions not yet done
        self.running_tasks = RunningTasks()
        self.failures: Dict[Tuple[int, int], int] = {}  # (stage_id, partition) -> failed attempts
        self.launches: Dict[Tuple[int, int], int] = {}  # (stage_id, partition) -> attempts started
        self.failed_on: Dict[Tuple[int, int], Set[str]] = {}  # (stage_id, partition) -> executors
        self.stage_failures: Dict[Tuple[int, str], int] = {}  # (stage_id, executor) -> failures
        self.stage_by_id: Dict[int, Stage] = {}
        self._task_ids = itertools.count()

    @property
    def job(self) -> Optional[_Job]:
        """The oldest active job, or None when none is active."""
        return next(iter(self.jobs.values()), None)

    # -- events ------------------------------------------------------------------
    def submit_job(self, job_id: int, rdd, func: Callable, partitions: List[int],
                   name: str = "") -> list:
        """Start job ``job_id`` (named ``name``, which its result stage takes); the jobs
        already active go on, sharing the map stages it needs too."""
        if job_id in self.jobs:
            raise VegaError(f"job {job_id} is already active on this Context")
        if not self.jobs:  # what tasks of earlier jobs' stages did is forgotten
            self.failures.clear()
            self.launches.clear()
            self.failed_on.clear()
            self.stage_failures.clear()
        final = self.stages.new_stage(rdd, None, self._register_map_stage, name)
        self.stage_by_id[final.stage_id] = final
        job = self.jobs[job_id] = _Job(job_id, final, func, list(partitions))
        job.stage_ids = set(_graph(final))
        if not partitions:
            return self._finish_job(job, JobSucceeded(job_id, []))
        return self._submit_stage(final)

    def task_id_bound(self) -> int:
        """A task id above every task's so far, and below every later one's (it goes
        unused): what a removal of map output files keeps (``RemoveShuffle.before_task``)."""
        return next(self._task_ids)

    def job_stage_ids(self, job_id: Optional[int] = None) -> List[int]:
        """The ids of every stage in a job's graph (the oldest active job's for None),
        ancestors first."""
        job = self.jobs.get(job_id) if job_id is not None else self.job
        return sorted(job.stage_ids) if job is not None else []

    def task_succeeded(self, task: TaskSpec, value: Any, accumulators: Any = None) -> list:
        """``value`` is a MapStatus for map tasks, the result for result tasks."""
        if self.running_tasks.pop(task.task_id) is None:
            return []
        stage = self.stage_by_id.get(task.stage_id)
        pending = self.pending.get(task.stage_id)
        if stage is None or stage not in self.running or task.stage_attempt != stage.attempt \
                or pending is None or task.partition not in pending:
            return []
        pending.discard(task.partition)
        actions: list = self._kill_other_attempts(task)
        if accumulators:
            actions.append(MergeAccumulators(accumulators))
        if stage.is_map:
            self.map_outputs.register(value)
        else:
            self._result_job(stage).results[task.partition] = value
        if not pending:
            actions += self._stage_finished(stage)
        return actions

    def task_failed(self, task: TaskSpec, error: TaskFailed) -> list:
        """A task raised (or its executor died under it): retry it or fail its stage's jobs."""
        if self.running_tasks.pop(task.task_id) is None:
            return []
        stage = self.stage_by_id.get(task.stage_id)
        if stage is None or not self._current(stage, task):
            return []
        if stage.barrier:
            return self._barrier_stage_failed(stage, str(error))
        key = (stage.stage_id, task.partition)
        self.failures[key] = self.failures.get(key, 0) + 1
        if error.executor_id:
            self.failed_on.setdefault(key, set()).add(error.executor_id)
            bad = (stage.stage_id, error.executor_id)
            self.stage_failures[bad] = self.stage_failures.get(bad, 0) + 1
        if self.failures[key] >= self.max_task_attempts or error.error_type in NOT_RETRIED:
            error.attempts = self.failures[key]
            return self._abort_stage(stage, error)
        if self._other_attempts(task):
            return []  # a copy of it still runs
        return [LaunchTasks(stage, [self._task(stage, task.partition)])]

    def abort_job(self, error: BaseException, job_id: Optional[int] = None) -> list:
        """Fail job ``job_id`` (every active job for None) at once with ``error`` (the
        driver found it cannot go on: its results are too large, say); nothing if it is
        not active."""
        actions: list = []
        for job in self._jobs_named(job_id):
            actions += self._fail_job(job, error)
        return actions

    def abort_stage(self, stage_id: int, error: BaseException) -> list:
        """Fail every active job that needs stage ``stage_id`` with ``error`` (the driver
        could not launch its tasks: its payload does not pickle, say); the others go on."""
        stage = self.stage_by_id.get(stage_id)
        return [] if stage is None else self._abort_stage(stage, error)

    def drop_job(self, job_id: Optional[int] = None) -> None:
        """Forget job ``job_id`` (every active job for None), if active, without a word
        (what ending it would have said could not be said)."""
        for job in self._jobs_named(job_id):
            self._finish_job(job, None)

    def task_lost(self, task: TaskSpec) -> list:
        """A task's executor went away for reasons outside the task: rerun, uncounted."""
        if self.running_tasks.pop(task.task_id) is None:
            return []
        stage = self.stage_by_id.get(task.stage_id)
        if stage is None or not self._current(stage, task) or self._other_attempts(task):
            return []
        if stage.barrier:
            return self._barrier_stage_failed(
                stage, f"task {task.partition} of stage {stage.stage_id} was lost with its "
                       "executor")
        return [LaunchTasks(stage, [self._task(stage, task.partition)])]

    def speculate(self, stage_id: int, stage_attempt: int, partition: int,
                  avoid: FrozenSet[str] = frozenset()) -> list:
        """Launch a copy of a straggling task, avoiding the executors in ``avoid`` (where
        it runs); nothing if the partition is done or already has a copy."""
        stage = self.stage_by_id.get(stage_id)
        if stage is None or stage not in self.running or stage.barrier \
                or stage.attempt != stage_attempt \
                or partition not in self.pending.get(stage_id, ()):
            return []
        if len(self.running_tasks.of_partition(stage_id, partition)) != 1:
            return []
        task = self._task(stage, partition, speculative=True, avoid=avoid)
        return [LaunchTasks(stage, [task])]

    def fetch_failed(self, task: TaskSpec, failure: FetchFailed) -> list:
        """A reducer lost a map output: recompute the missing map tasks, then retry."""
        if self.running_tasks.pop(task.task_id) is None:
            return []
        stage = self.stage_by_id.get(task.stage_id)
        if stage is None or stage not in self.running or task.stage_attempt != stage.attempt:
            return []  # a stale attempt: the output it missed may have been recomputed since
        self.map_outputs.unregister(failure.shuffle_id, failure.map_id)
        if stage.barrier and not stage.is_map:
            return self._abort_stage(stage, BarrierStageFailed(stage.stage_id, stage.failures + 1,
                                                               str(failure), True))
        if stage.barrier:  # it reruns whole
            self.map_outputs.unregister_all(stage.shuffle_dep.shuffle_id)
        stage.failures += 1
        if stage.failures >= self.max_stage_attempts:
            return self._abort_stage(stage, StageFailed(stage.stage_id, stage.failures,
                                                        str(failure)))
        actions: list = [KillTasks(self._tasks_of(stage), "its stage is resubmitted after a fetch "
                                             "failure"), StageCompleted(stage, str(failure))]
        self.running.discard(stage)
        self.pending.pop(stage.stage_id, None)
        self._new_attempt(stage)
        return actions + self._submit_stage(stage)

    def executor_lost(self, executor_id: str, outputs_lost: bool) -> list:
        """Forget the map outputs an executor's host can no longer serve (each stage that
        needs them computes them again, for every job waiting on it)."""
        if outputs_lost:
            self.map_outputs.remove_executor(executor_id)
        return []

    def cancel_job(self, reason: str, job_id: Optional[int] = None) -> list:
        """Cancel job ``job_id`` (every active job for None): its tasks no other job needs
        are killed, and it fails with ``JobCancelled``."""
        from ..errors import JobCancelled

        actions: list = []
        for job in self._jobs_named(job_id):
            actions += self._fail_job(job, JobCancelled(reason))
        return actions

    # -- transitions ---------------------------------------------------------------
    def _jobs_named(self, job_id: Optional[int]) -> List[_Job]:
        if job_id is None:
            return list(self.jobs.values())
        return [self.jobs[job_id]] if job_id in self.jobs else []

    def _result_job(self, stage: Stage) -> _Job:
        """The job whose result stage ``stage`` is (each result stage is one job's)."""
        return next(j for j in self.jobs.values() if j.final_stage is stage)

    def _jobs_needing(self, stage: Stage) -> List[_Job]:
        return [j for j in self.jobs.values() if stage.stage_id in j.stage_ids]

    def _register_map_stage(self, stage: Stage) -> None:
        self.stage_by_id[stage.stage_id] = stage
        self.map_outputs.register_shuffle(stage.shuffle_dep.shuffle_id, stage.num_partitions)

    def _missing_partitions(self, stage: Stage) -> List[int]:
        if stage.is_map:
            return self.map_outputs.missing(stage.shuffle_dep.shuffle_id)
        job = self._result_job(stage)
        return [p for p in job.partitions if p not in job.results]

    def _submit_stage(self, stage: Stage) -> list:
        if stage in self.running or stage in self.waiting:
            return []
        missing_parents = [p for p in stage.parents
                           if not self.map_outputs.is_available(p.shuffle_dep.shuffle_id)]
        if missing_parents:
            self.waiting.add(stage)
            actions: list = []
            for parent in missing_parents:
                actions += self._submit_stage(parent)
            return actions
        partitions = self._missing_partitions(stage)
        if not partitions:
            return self._stage_finished(stage, submitted=False)
        self.running.add(stage)
        self.pending[stage.stage_id] = set(partitions)
        tasks = [self._task(stage, p) for p in partitions]
        stage.num_tasks = len(tasks)
        return [StageSubmitted(stage, len(tasks)), LaunchTasks(stage, tasks)]

    def _task(self, stage: Stage, partition: int, speculative: bool = False,
              avoid: FrozenSet[str] = frozenset()) -> TaskSpec:
        key = (stage.stage_id, partition)
        attempt = self.launches.get(key, 0)
        self.launches[key] = attempt + 1
        if (self.failed_on or self.stage_failures or avoid) and not stage.barrier:
            excluded = set(self.failed_on.get(key, ())) | avoid
            excluded |= {executor for (stage_id, executor), n in self.stage_failures.items()
                         if stage_id == stage.stage_id and n >= EXCLUDE_AFTER_FAILURES}
            excluded = frozenset(excluded)
        else:  # no task has failed: nothing to avoid (most tasks of most jobs)
            excluded = _NONE_EXCLUDED
        # the task runs for the oldest active job needing its stage (Spark's
        # activeJobForStage): its priority when jobs share the executors
        job_id = next(j.job_id for j in self.jobs.values() if stage.stage_id in j.stage_ids)
        task = TaskSpec(next(self._task_ids), job_id, stage.stage_id, stage.attempt,
                        partition, attempt, excluded, speculative)
        self.running_tasks.add(task)
        return task

    def _stage_finished(self, stage: Stage, submitted: bool = True) -> list:
        # only consecutive failed attempts count (Spark's clearFailures): a stage re-used
        # again and again in a long job is not aborted for failures it recovered from
        stage.failures = 0
        self.running.discard(stage)
        self.pending.pop(stage.stage_id, None)
        actions: list = [StageCompleted(stage)] if submitted else []
        if not stage.is_map:
            job = self._result_job(stage)
            results = [job.results[p] for p in job.partitions]
            return actions + self._finish_job(job, JobSucceeded(job.job_id, results))
        if self.map_outputs.missing(stage.shuffle_dep.shuffle_id):
            # An executor was lost while this stage ran: compute what is missing again.
            return actions + self._submit_stage(stage)
        for child in sorted(self.waiting, key=lambda s: s.stage_id):
            if all(self.map_outputs.is_available(p.shuffle_dep.shuffle_id) for p in child.parents):
                self.waiting.discard(child)
                actions += self._submit_stage(child)
        return actions

    def _barrier_stage_failed(self, stage: Stage, reason: str) -> list:
        """A task of a barrier stage failed (or was lost): its stage attempt fails and its
        other tasks are killed (they may be waiting for it in a sync). A result stage fails
        the job; a map stage drops every map output it wrote and runs again, whole, until
        it failed ``max_stage_attempts`` times (Spark's rules)."""
        stage.failures += 1
        if not stage.is_map or stage.failures >= self.max_stage_attempts:
            return self._abort_stage(stage, BarrierStageFailed(stage.stage_id, stage.failures,
                                                               reason, not stage.is_map))
        actions: list = [KillTasks(self._tasks_of(stage), "a task of its barrier stage failed: "
                                                          "the stage runs again"),
                         StageCompleted(stage, reason.splitlines()[0])]
        self.running.discard(stage)
        self.pending.pop(stage.stage_id, None)
        self.map_outputs.unregister_all(stage.shuffle_dep.shuffle_id)
        self._new_attempt(stage)
        return actions + self._submit_stage(stage)

    def _current(self, stage: Stage, task: TaskSpec) -> bool:
        """The task belongs to its stage's running attempt and its partition is not done."""
        return stage in self.running and task.stage_attempt == stage.attempt \
            and task.partition in self.pending.get(stage.stage_id, ())

    def _other_attempts(self, task: TaskSpec) -> List[int]:
        return [t.task_id for t in self.running_tasks.of_partition(task.stage_id, task.partition)
                if t.task_id != task.task_id]

    def _kill_other_attempts(self, task: TaskSpec) -> list:
        """The partition is done: its other attempts (speculative copies, or the original
        a copy beat) are killed and their outcomes ignored."""
        others = self._other_attempts(task)
        for task_id in others:
            self.running_tasks.pop(task_id)
        return [KillTasks(others, "another attempt finished first")] if others else []

    def _tasks_of(self, stage: Stage) -> List[int]:
        return [t.task_id for t in self.running_tasks.values() if t.stage_id == stage.stage_id]

    def _abort_stage(self, stage: Stage, error: BaseException) -> list:
        """A stage cannot succeed: every active job that needs it fails with ``error``
        (Spark's abortStage); the others go on."""
        actions: list = []
        for job in self._jobs_needing(stage):
            actions += self._fail_job(job, error)
        return actions

    def _fail_job(self, job: _Job, error: BaseException) -> list:
        """End ``job`` with ``error``: its running stages no other active job needs end,
        failed, and their tasks are killed."""
        own = self._own_stage_ids(job)
        running = sorted((s for s in self.running if s.stage_id in own), key=lambda s: s.stage_id)
        actions: list = [KillTasks([t.task_id for t in self.running_tasks.values()
                                    if t.stage_id in own])]
        actions += [StageCompleted(s, error_summary(error)) for s in running]
        return actions + self._finish_job(job, JobFailed(job.job_id, error))

    def _own_stage_ids(self, job: _Job) -> Set[int]:
        """The stages of ``job``'s graph no other active job needs."""
        shared: Set[int] = set()
        for other in self.jobs.values():
            if other is not job:
                shared |= other.stage_ids
        return job.stage_ids - shared

    def _finish_job(self, job: _Job, outcome) -> list:
        # Its stages no other job needs go with it (they hold its RDDs, data included), as
        # Spark's DAG scheduler forgets a job's stages at its end: a later job that reads
        # one of its shuffles gets a new map stage, skipped while the map outputs exist.
        own = self._own_stage_ids(job)
        del self.jobs[job.job_id]
        for stage_id in own:
            stage = self.stage_by_id.pop(stage_id, None)
            if stage is None:
                continue
            self.waiting.discard(stage)
            self.running.discard(stage)
            self.pending.pop(stage_id, None)
            if stage.is_map and self.stages.shuffle_stages.get(
                    stage.shuffle_dep.shuffle_id) is stage:
                del self.stages.shuffle_stages[stage.shuffle_dep.shuffle_id]
        for task_id in [t.task_id for t in self.running_tasks.values() if t.stage_id in own]:
            self.running_tasks.pop(task_id)
        self._forget_attempts(own)
        return [outcome]

    def _new_attempt(self, stage: Stage) -> None:
        """A new attempt of ``stage``: its tasks' failures, and the executors they failed
        on, count afresh (Spark's task set is per stage attempt); attempt numbers go on."""
        stage.attempt += 1
        for table in (self.failures, self.failed_on, self.stage_failures):
            for key in [k for k in table if k[0] == stage.stage_id]:
                del table[key]

    def _forget_attempts(self, stage_ids: Set[int]) -> None:
        """What the tasks of forgotten stages did (attempts, failures, where) goes with
        them, as Spark's task sets: with jobs always overlapping it stayed for ever."""
        for table in (self.failures, self.launches, self.failed_on, self.stage_failures):
            for key in [k for k in table if k[0] in stage_ids]:
                del table[key]


def _graph(final: Stage) -> List[int]:
    """The ids of every stage a job whose result stage is ``final`` needs."""
    seen: Dict[int, Stage] = {}
    stack = [final]
    while stack:
        stage = stack.pop()
        if stage.stage_id not in seen:
            seen[stage.stage_id] = stage
            stack.extend(stage.parents)
    return sorted(seen)
