"""What jobs and stages are doing, for ``Context.status_tracker()`` (PySpark's StatusTracker).

``JobStatusStore`` is a listener: it records each job's group (the submitting
thread's ``spark.jobGroup.id`` local property), its stages and their task
counts.  ``StatusTracker`` answers PySpark's questions from it.
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, NamedTuple, Optional

from .. import aliases
from .listener import JobListener

#: Jobs and stages remembered after they end (PySpark keeps 1000 by default too).
RETAINED = 1000


class SparkJobInfo(NamedTuple):
    """PySpark's job status: ``status`` is RUNNING, SUCCEEDED, FAILED or UNKNOWN."""

    jobId: int
    stageIds: List[int]
    status: str


class SparkStageInfo(NamedTuple):
    """PySpark's stage status."""

    stageId: int
    currentAttemptId: int
    name: str
    numTasks: int
    numActiveTasks: int
    numCompletedTasks: int
    numFailedTasks: int


class SparkExecutorInfo(NamedTuple):
    """PySpark's executor status (the driver is listed too, first).  ``cacheSize`` and
    ``usedOnHeapStorageMemory`` are the bytes of cached partitions the executor keeps in
    memory, ``totalOnHeapStorageMemory`` what it may cache
    (``config_limits.executor_storage_memory``); Vega keeps nothing off the heap (both off-heap
    fields are 0)."""

    host: str
    port: int
    cacheSize: int
    numRunningTasks: int
    usedOnHeapStorageMemory: int
    usedOffHeapStorageMemory: int
    totalOnHeapStorageMemory: int
    totalOffHeapStorageMemory: int


class JobStatusStore(JobListener):
    """Jobs by id with their group and stages; stages with their task counts."""

    def __init__(self, job_group: Callable[[], Optional[str]]):
        self._job_group = job_group
        self._lock = threading.Lock()
        self.jobs: Dict[int, dict] = {}
        self.stages: Dict[int, dict] = {}

    def on_job_start(self, job_id: int, description: str) -> None:
        with self._lock:
            self.jobs[job_id] = {"group": self._job_group(), "stages": [], "status": "RUNNING"}
            _trim(self.jobs)

    def on_job_stages(self, job_id: int, stage_ids: List[int]) -> None:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                job["stages"] = list(stage_ids)

    def on_job_graph(self, job_id: int, stages: List[dict]) -> None:
        """A stage the job skips (its map output is reused) is never submitted: it is known
        from the job's graph, with no task run, as Spark's status store knows it."""
        with self._lock:
            for stage in stages:
                self.stages.setdefault(stage["stage_id"], {
                    "attempt": 0, "name": stage["name"], "tasks": stage["num_tasks"],
                    "completed": 0, "failed": 0, "running": False})
            _trim(self.stages)

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        with self._lock:  # (its jobs list it already: ``on_job_stages``)
            self.stages[stage_id] = {"attempt": attempt, "name": name, "tasks": num_tasks,
                                     "completed": 0, "failed": 0, "running": True}
            _trim(self.stages)

    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None:
        with self._lock:
            stage = self.stages.get(stage_id)
            if stage is not None:
                stage["completed" if success else "failed"] += 1

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        with self._lock:
            if stage_id in self.stages:
                self.stages[stage_id]["running"] = False

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        with self._lock:
            if job_id in self.jobs:
                self.jobs[job_id]["status"] = "FAILED" if error is not None else "SUCCEEDED"
            still = {s for i, job in self.jobs.items() if job["status"] == "RUNNING"
                     for s in job["stages"]}  # a stage another active job shares runs on
            for stage_id in self.jobs.get(job_id, {}).get("stages", []):
                if stage_id in self.stages and stage_id not in still:
                    self.stages[stage_id]["running"] = False


def _trim(table: dict) -> None:
    while len(table) > RETAINED:
        table.pop(next(iter(table)))


class StatusTracker:
    """Low-level status of jobs and stages, as PySpark's ``sc.statusTracker()``.

    >>> ctx.set_job_group("tracked", "two jobs to look up")
    >>> ctx.parallelize([1, 2]).count(), ctx.parallelize([3]).count()
    (2, 1)
    >>> len(ctx.status_tracker().get_job_ids_for_group("tracked"))
    2
    >>> ctx.set_local_property("spark.jobGroup.id", None)  # no group again
    """

    def __init__(self, store: JobStatusStore,
                 executor_infos: Callable[[], List[SparkExecutorInfo]] = list):
        self._store = store
        self._executor_infos = executor_infos

    def get_job_ids_for_group(self, job_group: Optional[str] = None) -> List[int]:
        """Ids of the known jobs of ``job_group`` (None: jobs without a group)."""
        with self._store._lock:
            return [i for i, job in self._store.jobs.items() if job["group"] == job_group]

    def get_active_job_ids(self) -> List[int]:
        with self._store._lock:
            return [i for i, job in self._store.jobs.items() if job["status"] == "RUNNING"]

    def get_active_stage_ids(self) -> List[int]:
        with self._store._lock:
            return [i for i, stage in self._store.stages.items() if stage["running"]]

    def get_job_info(self, job_id: int) -> Optional[SparkJobInfo]:
        """A job's stages and status, or None if it is unknown (or long forgotten)."""
        with self._store._lock:
            job = self._store.jobs.get(job_id)
            return None if job is None else SparkJobInfo(job_id, list(job["stages"]), job["status"])

    def get_stage_info(self, stage_id: int) -> Optional[SparkStageInfo]:
        """A stage's task counts, or None if it is unknown; tasks not yet finished of a
        running stage count as active."""
        with self._store._lock:
            s = self._store.stages.get(stage_id)
            if s is None:
                return None
            active = max(0, s["tasks"] - s["completed"]) if s["running"] else 0
            return SparkStageInfo(stage_id, s["attempt"], s["name"], s["tasks"], active,
                                  s["completed"], s["failed"])

    def get_executor_infos(self) -> List[SparkExecutorInfo]:
        """The driver and the executors it holds now, with their running tasks and cache.

        >>> [(info.host, info.numRunningTasks) for info in ctx.status_tracker().get_executor_infos()][:1]
        [('localhost', 0)]
        """
        return self._executor_infos()


aliases.install(StatusTracker, aliases.STATUS_TRACKER_METHODS)
