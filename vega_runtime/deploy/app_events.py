"""One application as its events tell it: jobs, stage attempts, task attempts, executors,
cached blocks and environment, replayed from event-log lines (pure: no I/O).

The same replay serves a running application (the lines its driver relays to the master)
and a finished one (its event log), so both get the same REST API and pages.  Times are
epoch seconds here; ``spark_api`` turns them into Spark's units.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Dict, List, Optional, Tuple

from ..records import Record

#: a field's default standing for a new empty container (each record gets its own)
_NEW = object()
#: the most finished jobs and finished stage attempts a replayed application keeps, the
#: oldest going first (Spark's spark.ui.retainedJobs and spark.ui.retainedStages), so a
#: long-lived Context's pages cost the master a bounded amount of memory
RETAINED_JOBS = 1000
RETAINED_STAGES = 1000
#: the most removed executors it keeps, the first removed going first (Spark's
#: spark.ui.retainedDeadExecutors): executors that come and go for days cost no more
RETAINED_DEAD_EXECUTORS = 100


class JobRecord(Record):
    """A job as its application's event log tells it."""
    job_id: int
    description: str
    submitted: float
    completed: Optional[float] = None
    succeeded: Optional[bool] = None
    error: Optional[str] = None
    #: stage_graph.stage_info of every stage in the job's graph (skipped ones too)
    graph: List[dict]
    #: what the submitting thread set: its job group, job description and job tags
    group: Optional[str] = None
    job_description: Optional[str] = None
    tags: List[str]

    def __init__(self, job_id, description, submitted, completed=None, succeeded=None,
                 error=None, graph=_NEW, group=None, job_description=None, tags=_NEW):
        self.job_id = job_id
        self.description = description
        self.submitted = submitted
        self.completed = completed
        self.succeeded = succeeded
        self.error = error
        self.graph = [] if graph is _NEW else graph
        self.group, self.job_description = group, job_description
        self.tags = [] if tags is _NEW else tags

    @property
    def stage_ids(self) -> List[int]:
        return [s["stage_id"] for s in self.graph]


class StageAttempt(Record):
    """A stage attempt as its application's event log tells it."""
    stage_id: int
    attempt: int
    name: str
    num_tasks: int
    job_id: Optional[int]
    submitted: float
    completed: Optional[float] = None
    failure: Optional[str] = None
    #: ended attempts (TaskInfo events and killed attempts), in the order they ended
    tasks: List[dict]
    #: attempts started (TaskStart) and not ended yet, by task id, in starting order
    running: Dict[int, dict]

    def __init__(self, stage_id, attempt, name, num_tasks, job_id, submitted, completed=None,
                 failure=None, tasks=_NEW, running=_NEW):
        self.stage_id = stage_id
        self.attempt = attempt
        self.name = name
        self.num_tasks = num_tasks
        self.job_id = job_id
        self.submitted = submitted
        self.completed = completed
        self.failure = failure
        self.tasks = [] if tasks is _NEW else tasks
        self.running = {} if running is _NEW else running


class ExecutorRecord(Record):
    """An executor as its application's event log tells it."""
    executor_id: str
    host: str
    added: float
    removed: Optional[float] = None
    remove_reason: Optional[str] = None
    #: whether it was lost (else released on purpose, by dynamic allocation or at the end)
    lost: Optional[bool] = None
    #: the class of a loss (ExecutorRemoved's ``cause``: "worker_lost", "oom"...), "" if none
    cause: str = ""
    #: the addresses of the custom resources it holds, by name (``{"gpu": ["0"]}``)
    resources: Dict[str, List[str]]
    #: the cores it holds (0: the log does not say, an older one's)
    cores: int = 0

    def __init__(self, executor_id, host, added, removed=None, remove_reason=None, lost=None,
                 cause="", resources=None, cores=0):
        self.executor_id = executor_id
        self.host = host
        self.added = added
        self.removed = removed
        self.remove_reason = remove_reason
        self.lost = lost
        self.cause = cause
        self.resources = {} if resources is None else resources
        self.cores = cores


class AppRecord(Record):
    """An application as its event log tells it: jobs, stages, executors."""
    app_id: str
    #: the Context's own id (its event log's name) when ``app_id`` is the master's
    context_id: str = ""
    name: str = ""
    master: str = ""
    started: float = 0.0
    ended: Optional[float] = None
    last_event: float = 0.0
    #: its seconds from start to end on a clock that does not jump (its ApplicationEnd's
    #: ``duration``), None when not ended or not known (a log of before)
    duration: Optional[float] = None
    jobs: Dict[int, JobRecord]
    stages: Dict[Tuple[int, int], StageAttempt]
    #: the latest stage_graph.stage_info seen for each stage id (of a retained attempt, or
    #: named by a job's graph until the job ends)
    stage_info: Dict[int, dict]
    executors: Dict[str, ExecutorRecord]
    #: cached blocks: (rdd_id, partition) -> {executor: (where, bytes)}
    blocks: Dict[Tuple[int, int], Dict[str, Tuple[str, int]]]
    settings: List[list]  # [key, value, origin]
    runtime: dict
    #: why the events stop early (a broken log), "" when they do not
    error: str = ""
    #: the job whose stages are being submitted (replay state)
    running_job: Optional[int] = None

    def __init__(self, app_id, context_id="", name="", master="", started=0.0, ended=None,
                 last_event=0.0, duration=None, jobs=_NEW, stages=_NEW, stage_info=_NEW, executors=_NEW,
                 blocks=_NEW, settings=_NEW, runtime=_NEW, error="", running_job=None):
        self.app_id = app_id
        self.context_id = context_id
        self.name = name
        self.master = master
        self.started = started
        self.ended = ended
        self.last_event = last_event
        self.duration = duration
        self.jobs = {} if jobs is _NEW else jobs
        self.stages = {} if stages is _NEW else stages
        self.stage_info = {} if stage_info is _NEW else stage_info
        self.executors = {} if executors is _NEW else executors
        self.blocks = {} if blocks is _NEW else blocks
        self.settings = [] if settings is _NEW else settings
        self.runtime = {} if runtime is _NEW else runtime
        self.error = error
        self.running_job = running_job
        # replay indexes (not fields), filled as ``replay`` adds jobs and stages (a record
        # starts empty): each event finds its stage attempt in one look-up, so replaying a
        # long-lived application's log takes time linear in its length
        #: the latest attempt of each stage id
        self._latest: Dict[int, StageAttempt] = {}
        #: the attempt each started, not yet ended task runs in, by (stage id, task id)
        self._running: Dict[Tuple[int, int], StageAttempt] = {}
        #: the ``elapsed`` (steady seconds since the application started) of each running
        #: job's start, by ("job", job id), and stage attempt's, by (stage id, attempt)
        self._elapsed: Dict[tuple, float] = {}
        #: finished jobs and stage attempts, oldest first (what retention drops); made at
        #: the first one: two empty deques are 1.5 KB, and the master's list of applications
        #: keeps a record that never replays a job for every event log it lists
        self._finished_jobs: Optional[Deque[int]] = None
        self._finished_stages: Optional[Deque[Tuple[int, int]]] = None
        self._removed_executors: Optional[Deque[str]] = None

    def _job_finished(self, job_id: int) -> None:
        if self._finished_jobs is None:
            self._finished_jobs = deque()
        self._finished_jobs.append(job_id)
        while len(self._finished_jobs) > RETAINED_JOBS:
            self.jobs.pop(self._finished_jobs.popleft(), None)

    def _executor_removed(self, executor_id: str) -> None:
        if self._removed_executors is None:
            self._removed_executors = deque()
        self._removed_executors.append(executor_id)
        while len(self._removed_executors) > RETAINED_DEAD_EXECUTORS:
            self.executors.pop(self._removed_executors.popleft(), None)

    def _stage_finished(self, stage: StageAttempt) -> None:
        if self._finished_stages is None:
            self._finished_stages = deque()
        self._finished_stages.append((stage.stage_id, stage.attempt))
        while len(self._finished_stages) > RETAINED_STAGES:
            key = self._finished_stages.popleft()
            dropped = self.stages.pop(key, None)
            if dropped is None:
                continue
            for task_id in dropped.running:
                self._running.pop((dropped.stage_id, task_id), None)
            if self._latest.get(dropped.stage_id) is dropped:
                del self._latest[dropped.stage_id]
                self.stage_info.pop(dropped.stage_id, None)

    def _forget_unsubmitted(self, job: JobRecord) -> None:
        """Drop the graph info of the ended ``job``'s stages that were never submitted (it
        skipped them, their map output being there already, or it failed first) and no
        running job names: no attempt of theirs is retained, so the retention of stages
        would never drop it, and a long-lived Context that runs jobs again and again over a
        shuffled RDD would cost its master a stage's info (~3 KB) a job for good."""
        unsubmitted = [s for s in job.stage_ids if s not in self._latest]
        if unsubmitted:
            running = {s for other in self.jobs.values() if other.completed is None
                       for s in other.stage_ids}
            for stage_id in unsubmitted:
                if stage_id not in running:
                    self.stage_info.pop(stage_id, None)

    def _add_attempt(self, stage: StageAttempt) -> None:
        latest = self._latest.get(stage.stage_id)
        if latest is None or stage.attempt >= latest.attempt:
            self._latest[stage.stage_id] = stage
        for task_id in stage.running:
            self._running[(stage.stage_id, task_id)] = stage

    @property
    def completed(self) -> bool:
        return self.ended is not None

    def stage_attempts(self) -> List[StageAttempt]:
        """Every stage attempt, newest first (as Spark lists stages)."""
        return sorted(self.stages.values(), key=lambda s: (s.stage_id, s.attempt), reverse=True)

    def latest_attempt(self, stage_id: int) -> Optional[StageAttempt]:
        return self._latest.get(stage_id)

    def rdd_infos(self) -> Dict[int, dict]:
        """Every RDD the job graphs named, by id (the latest description of each)."""
        rdds: Dict[int, dict] = {}
        for job in sorted(self.jobs.values(), key=lambda j: j.job_id):
            for stage in job.graph:
                for rdd in stage["rdds"]:
                    rdds[rdd["rdd_id"]] = rdd
        return rdds


def replay(app_id: str, events: List[dict], error: str = "") -> AppRecord:
    """The application ``events`` describe (in the order written)."""
    app = AppRecord(app_id, error=error)
    apply(app, events)
    return app


def apply(app: AppRecord, events: List[dict]) -> None:
    """Bring ``app`` up to date with ``events``, the ones written after those it has seen
    (a running application's new lines).  An event lacking a field this needs, or holding
    one of another type (a log of another version, a driver relaying garbage), ends the
    replay there, as a line that is no event does: ``app.error`` says which, and the pages
    show what came before it (one application's log cannot fail the list of all of them).

    >>> app = replay("app-1", [{"event": "JobStart", "time": 1.0, "job_id": 0},
    ...                        {"event": "JobStart", "time": 2.0}])
    >>> list(app.jobs), app.error
    ([0], "an event JobStart lacks a field or holds one of another type (KeyError('job_id'))")
    """
    running_job = app.running_job
    for e in events:
        try:
            running_job = _apply_event(app, e, running_job)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            app.error = (f"an event {e.get('event')} lacks a field or holds one of another "
                         f"type ({exc!r})")
            break
    app.running_job = running_job
    app.blocks = {k: v for k, v in app.blocks.items() if v}


def _seconds(value) -> bool:
    """Whether ``value`` is a count of seconds (a finite number, not negative)."""
    return type(value) in (int, float) and value - value == 0.0 and value >= 0


def _started_elapsed(app: AppRecord, key: tuple, e: dict) -> None:
    """Keep the steady seconds of the start of the job or stage attempt ``key`` (event
    ``e``), for ``_end_time``."""
    if _seconds(e.get("elapsed")):
        app._elapsed[key] = e["elapsed"]


def _end_time(app: AppRecord, key: tuple, start: float, at: float, e: dict) -> float:
    """When the job or stage attempt ``key`` that started at ``start`` ended (event ``e``,
    written ``at``): its end's time, but never before its start plus the steady seconds it
    took (a driver's wall clock set back while it ran, by NTP or a VM restored, would end
    it before it started), nor, without them (a log of before), before its start.

    >>> app = AppRecord("app-1")
    >>> _started_elapsed(app, ("job", 0), {"elapsed": 2.0})
    >>> _end_time(app, ("job", 0), 100.0, 40.0, {"elapsed": 7.5})   # set back a minute
    105.5
    >>> _end_time(app, ("job", 1), 100.0, 40.0, {})
    100.0
    """
    began, elapsed = app._elapsed.pop(key, None), e.get("elapsed")
    took = elapsed - began if began is not None and _seconds(elapsed) and elapsed >= began \
        else 0.0
    return max(at, start + took)


def _apply_event(app: AppRecord, e: dict, running_job: Optional[int]) -> Optional[int]:
    """``apply`` one event; the running job after it."""
    kind, at = e["event"], e["time"]
    app.last_event = max(app.last_event, at)
    if kind == "ApplicationStart":
        app.name, app.master, app.started = e.get("name") or "", e.get("master") or "", at
        app.context_id = e.get("context_id") or ""
    elif kind == "ApplicationEnd":
        duration = e.get("duration")
        if not _seconds(duration):  # a log of before: its events' steady seconds, if any
            duration = e.get("elapsed") if _seconds(e.get("elapsed")) else None
        app.duration = duration
        app.ended = max(at, app.started + (duration or 0.0))
    elif kind == "Environment":
        settings, runtime = e.get("settings", []), e.get("runtime", {})
        if not (isinstance(settings, list) and isinstance(runtime, dict) and all(
                isinstance(s, list) and len(s) == 3 and isinstance(s[0], str) for s in settings)):
            raise TypeError("settings must be [key, value, origin] lists, runtime a map")
        app.settings, app.runtime = settings, runtime
    elif kind == "JobStart":
        app.jobs[e["job_id"]] = JobRecord(e["job_id"], e.get("description", ""), at,
                                          group=e.get("job_group"),
                                          job_description=e.get("job_description"),
                                          tags=list(e.get("job_tags", [])))
        running_job = e["job_id"]
        _started_elapsed(app, ("job", e["job_id"]), e)
    elif kind == "JobGraph" and e["job_id"] in app.jobs:
        app.jobs[e["job_id"]].graph = e["stages"]
        for stage in e["stages"]:
            app.stage_info[stage["stage_id"]] = stage
    elif kind == "JobEnd" and e["job_id"] in app.jobs:
        job = app.jobs[e["job_id"]]
        if job.completed is None:
            app._job_finished(job.job_id)
        job.completed = _end_time(app, ("job", job.job_id), job.submitted, at, e)
        job.succeeded, job.error = e["succeeded"], e.get("error")
        app._forget_unsubmitted(job)
        running_job = None if running_job == e["job_id"] else running_job
    elif kind == "StageSubmitted":
        key = (e["stage_id"], e["attempt"])
        app.stages[key] = StageAttempt(e["stage_id"], e["attempt"], e["name"],
                                       e["num_tasks"], _job_of_stage(app, e["stage_id"],
                                                                     running_job), at)
        app._add_attempt(app.stages[key])
        _started_elapsed(app, key, e)
    elif kind == "StageCompleted":
        stage = app.latest_attempt(e["stage_id"])
        if stage is not None:
            if stage.completed is None:
                app._stage_finished(stage)
            stage.completed = _end_time(app, (stage.stage_id, stage.attempt),
                                        stage.submitted, at, e)
            stage.failure = e.get("failure")
    elif kind == "TaskStart":
        stage = app.latest_attempt(e["stage_id"])
        if stage is not None:
            stage.running[e["task_id"]] = _started(e, stage)
            app._running[(stage.stage_id, e["task_id"])] = stage
    elif kind == "TaskInfo":
        _ended(app, e["stage_id"], e["task_id"])
        stage = app.stages.get((e["stage_id"], e["stage_attempt"]))
        if stage is not None:
            stage.tasks.append(e)
        _apply_blocks(app, e)
    elif kind == "TaskKilled":
        started = _ended(app, e["stage_id"], e["task_id"])
        stage = app.stages.get((e["stage_id"], started["stage_attempt"])) if started \
            else app.latest_attempt(e["stage_id"])
        if stage is not None:
            stage.tasks.append(killed_attempt(started or _started(e, stage), at,
                                              e.get("reason") or "killed"))
    elif kind == "ExecutorAdded":
        cores = e.get("cores")
        app.executors[e["executor"]] = ExecutorRecord(
            e["executor"], e["host"], at, resources=_resources(e.get("resources")),
            cores=cores if isinstance(cores, int) and cores > 0 else 0)
    elif kind in ("ExecutorRemoved", "ExecutorLost") and e["executor"] in app.executors:
        record = app.executors[e["executor"]]
        if record.removed is None:
            app._executor_removed(record.executor_id)
        record.removed, record.remove_reason = at, e.get("reason")
        record.lost, record.cause = bool(e.get("lost", True)), e.get("cause") or ""
        for holders in app.blocks.values():
            holders.pop(e["executor"], None)
    elif kind == "UnpersistRDD":
        for key in [k for k in app.blocks if k[0] == e["rdd_id"]]:
            del app.blocks[key]
    return running_job


def _resources(value) -> Dict[str, List[str]]:
    """An ExecutorAdded event's ``resources`` (name -> addresses), or {} if it has none or
    they are not of that shape (the events come from the driver).

    >>> _resources({"gpu": ["0", "1"]}), _resources({"gpu": "0"}), _resources(None)
    ({'gpu': ['0', '1']}, {}, {})
    """
    if not isinstance(value, dict) or not all(
            isinstance(name, str) and isinstance(addresses, list)
            and all(isinstance(a, str) for a in addresses) for name, addresses in value.items()):
        return {}
    return value


def _job_of_stage(app: AppRecord, stage_id: int, running_job: Optional[int]) -> Optional[int]:
    """The job a stage submitted now runs for: of the jobs still running (several threads'
    run at once), the oldest whose graph holds it (a stage two jobs share runs for the
    first, as Spark's); else the job started last."""
    for job in app.jobs.values():
        if job.completed is None and stage_id in job.stage_ids:
            return job.job_id
    return running_job


def _started(start: dict, stage: StageAttempt) -> dict:
    """A started attempt (TaskStart) in TaskInfo's shape, its state "running"."""
    return {"task_id": start["task_id"], "job_id": stage.job_id, "stage_id": stage.stage_id,
            "stage_attempt": stage.attempt, "partition": start["partition"],
            "attempt": start["attempt"], "executor": start["executor"],
            "host": start.get("host", ""), "state": "running",
            "speculative": bool(start.get("speculative", False)),
            "launch_time": start["time"], "finish_time": None, "error": None, "metrics": {},
            "blocks_added": [], "blocks_dropped": []}


def killed_attempt(started: dict, at: float, reason: str) -> dict:
    """A started attempt killed ``at`` (its duration from launch to kill), as Spark shows
    an attempt killed because another one of its task finished first."""
    return {**started, "state": "killed", "finish_time": at, "error": reason,
            "metrics": {"duration": max(0.0, at - started["launch_time"]), "run_time": 0.0}}


def _ended(app: AppRecord, stage_id: int, task_id: int) -> Optional[dict]:
    """Forget the started attempt ``task_id`` (it has ended); its start, if seen."""
    stage = app._running.pop((stage_id, task_id), None)
    return stage.running.pop(task_id, None) if stage is not None else None


def _apply_blocks(app: AppRecord, task: dict) -> None:
    executor = task["executor"]
    for rdd_id, partition, where, size in task.get("blocks_added", ()):
        app.blocks.setdefault((rdd_id, partition), {})[executor] = (where, int(size))
    for rdd_id, partition, *_ in task.get("blocks_dropped", ()):
        app.blocks.get((rdd_id, partition), {}).pop(executor, None)


def still_shown(app: AppRecord) -> Callable[[dict], bool]:
    """Whether each event of the log ``app`` was replayed from, taken in the log's order, is
    still needed to replay what ``app`` shows (as Spark's event-log compaction keeps the
    events of live jobs only): those of the jobs, stage attempts and executors retention
    kept, the tasks that stored the cached blocks ``app`` has, and every event about the
    application itself.  Replaying only those gives the same jobs, stages, tasks,
    executors and blocks.

    >>> app = replay("app-1", [{"event": "JobStart", "time": 1.0, "job_id": 0},
    ...                        {"event": "JobStart", "time": 2.0, "job_id": 1}])
    >>> del app.jobs[0]  # as if retention had dropped it
    >>> keeps = still_shown(app)
    >>> keeps({"event": "JobStart", "time": 1.0, "job_id": 0}), keeps({"event": "JobStart",
    ...                                                                "time": 2.0, "job_id": 1})
    (False, True)
    """
    latest: Dict[int, int] = {}  # stage id -> its latest attempt submitted so far
    attempts: Dict[Tuple[int, int], Optional[int]] = {}  # started task -> its stage attempt
    blocks = {(rdd_id, partition, executor)
              for (rdd_id, partition), holders in app.blocks.items() for executor in holders}

    def keeps(e: dict) -> bool:
        kind = e.get("event")
        if kind in ("JobStart", "JobGraph", "JobEnd"):
            return e["job_id"] in app.jobs
        if kind == "StageSubmitted":
            if e["attempt"] >= latest.get(e["stage_id"], -1):
                latest[e["stage_id"]] = e["attempt"]
            return (e["stage_id"], e["attempt"]) in app.stages
        if kind == "StageCompleted":
            return (e["stage_id"], latest.get(e["stage_id"])) in app.stages
        if kind == "TaskStart":
            attempt = attempts[(e["stage_id"], e["task_id"])] = latest.get(e["stage_id"])
            return (e["stage_id"], attempt) in app.stages
        if kind == "TaskInfo":
            attempts.pop((e["stage_id"], e["task_id"]), None)
            return (e["stage_id"], e["stage_attempt"]) in app.stages or any(
                (rdd_id, partition, e["executor"]) in blocks
                for rdd_id, partition, *_ in e.get("blocks_added", ()))
        if kind == "TaskKilled":
            attempt = attempts.pop((e["stage_id"], e["task_id"]), latest.get(e["stage_id"]))
            return (e["stage_id"], attempt) in app.stages
        if kind in ("ExecutorAdded", "ExecutorRemoved", "ExecutorLost"):
            return e["executor"] in app.executors
        return True  # the application's own events, unpersisted RDDs'

    return keeps
