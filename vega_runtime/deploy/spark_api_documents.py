"""Spark's monitoring REST API documents (``/api/v1/applications/...``) from an
``app_events.AppRecord`` (pure: no I/O).

Field names and units are Spark's (``org.apache.spark.status.api.v1`` in api.scala of Spark 4, and
docs/monitoring.md): times in milliseconds, sizes in bytes, dates as
``2015-02-03T16:42:59.720GMT``.  What Vega does not measure (CPU time, GC time, spill,
record counts, input and output metrics) is 0, as Spark reports metrics it has none of;
Vega does not tell local from remote shuffle reads, so all shuffle bytes read are
``remoteBytesRead``.  docs/monitoring.md lists the differences.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence

from ..scheduler.event_log import redact
from .app_events import AppRecord, ExecutorRecord, JobRecord, StageAttempt, killed_attempt

#: Spark's default ``quantiles`` of taskSummary
DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: and of a stage's ``?withSummaries=true`` (its StagesResource)
SUMMARY_QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Spark's ``taskList?sortBy=`` values (its TaskSorting enum: the names in any case, and
#: ``runtime``, ``-runtime``) and Vega's earlier spellings, each with its sort key
_TASK_SORTING = {"id": lambda t: t["taskId"],
                 "increasing_runtime": lambda t: t["duration"],
                 "decreasing_runtime": lambda t: -t["duration"]}
_TASK_SORTING.update({"runtime": _TASK_SORTING["increasing_runtime"],
                      "-runtime": _TASK_SORTING["decreasing_runtime"],
                      "increasingruntime": _TASK_SORTING["increasing_runtime"],
                      "decreasingruntime": _TASK_SORTING["decreasing_runtime"]})
#: what Spark writes for a date that has not happened (an application still running)
NO_DATE = "1969-12-31T23:59:59.999GMT"


def spark_date(epoch: Optional[float]) -> Optional[str]:
    if epoch is None:
        return None
    millis = int(round(epoch * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + \
        f".{millis % 1000:03d}GMT"


#: push-based shuffle (Spark's, which Vega lacks): always 0
_PUSH_STAGE_FIELDS = (
    "shuffleCorruptMergedBlockChunks", "shuffleMergedFetchFallbackCount",
    "shuffleMergedRemoteBlocksFetched", "shuffleMergedLocalBlocksFetched",
    "shuffleMergedRemoteChunksFetched", "shuffleMergedLocalChunksFetched",
    "shuffleMergedRemoteBytesRead", "shuffleMergedLocalBytesRead", "shuffleRemoteReqsDuration",
    "shuffleMergedRemoteReqsDuration")
_PUSH_READ_FIELDS = (
    "corruptMergedBlockChunks", "mergedFetchFallbackCount", "remoteMergedBlocksFetched",
    "localMergedBlocksFetched", "remoteMergedChunksFetched", "localMergedChunksFetched",
    "remoteMergedBytesRead", "localMergedBytesRead", "remoteMergedReqsDuration")


def _ms(seconds: Optional[float]) -> int:
    return int(round((seconds or 0.0) * 1000))


def _status(task: dict) -> str:
    """Spark's task status of a Vega outcome."""
    return {"success": "SUCCESS", "killed": "KILLED", "running": "RUNNING"}.get(
        task["state"], "FAILED")


#: why a started attempt shows as killed when its stage attempt ended without its end (and
#: without saying why: ``Stage cancelled: FAILURE`` when it did)
STAGE_ENDED = "its stage attempt ended while it was running"


def attempts(app: AppRecord, stage: StageAttempt, now: Optional[float] = None) -> List[dict]:
    """Every task attempt of ``stage``: the ended ones, then those started and not ended,
    running (their duration up to ``now``, default the current time) while the stage
    attempt is active, else killed when it ended (Spark kills a finished stage's leftover
    attempts; Vega's driver stops waiting for them)."""
    if not stage.running:
        return stage.tasks
    if stage_status(app, stage) == "ACTIVE":
        at = time.time() if now is None else now
        return stage.tasks + [
            {**t, "metrics": {"duration": max(0.0, at - t["launch_time"]), "run_time": 0.0}}
            for t in stage.running.values()]
    job = app.jobs.get(stage.job_id) if stage.job_id is not None else None
    end = stage.completed or (job.completed if job is not None else None) or app.ended \
        or app.last_event
    # why, as Spark's kill of a cancelled or failed stage's tasks says (its end said why)
    reason = f"Stage cancelled: {stage.failure}" if stage.failure else STAGE_ENDED
    return stage.tasks + [killed_attempt(t, end, reason) for t in stage.running.values()]


def _killed_summary(tasks: List[dict]) -> Dict[str, int]:
    """Spark's killedTasksSummary: how many attempts were killed for each reason."""
    out: Dict[str, int] = {}
    for t in tasks:
        if t["state"] == "killed":
            out[t.get("error") or "killed"] = out.get(t.get("error") or "killed", 0) + 1
    return out


def _running(tasks: List[dict]) -> List[dict]:
    return [t for t in tasks if t["state"] == "running"]


# -- applications -------------------------------------------------------------------------
def application_info(app: AppRecord, running: bool, incomplete: bool = False,
                     now: Optional[float] = None) -> dict:
    """ApplicationInfo: one attempt (Vega has no application attempts).  ``incomplete``: its
    log has no end and nothing tells when it ended (a driver killed, the master holding the
    application no more): as Spark's history server lists such an attempt, ``completed``
    false, ``endTime`` -1 and ``duration`` 0, whatever ``app.ended`` its pages end it at.
    A running one's duration is up to ``now`` (default the current time), on the clock of
    its events: its driver's; an ended one's is its steady seconds (``app.duration``) when
    its end says them.  Neither is negative, nor is an end before the start (a driver's
    clock set back: ``app_events._end_time``), nor a running one's less than its events
    span (its driver's clock set back while it runs)."""
    completed = not incomplete and (app.completed or not running)
    end = None if incomplete else app.ended if app.ended is not None else \
        (None if running else app.last_event)
    attempt = {
        "startTime": spark_date(app.started), "endTime": spark_date(end) or NO_DATE,
        "lastUpdated": spark_date(app.last_event or app.started),
        # (the difference of the epochs, as Spark's: rounding each apart could differ by 1)
        "duration": 0 if incomplete or not app.started else
        _ms(app.duration) if end is not None and app.duration is not None else
        max(0, _ms(end if end is not None else
                   max(time.time() if now is None else now, app.last_event)) -
            _ms(app.started)),
        "sparkUser": app.runtime.get("sparkUser", ""), "completed": completed,
        "appSparkVersion": app.runtime.get("vegaVersion", ""),
        "startTimeEpoch": _ms(app.started), "endTimeEpoch": _ms(end) if end else -1,
        "lastUpdatedEpoch": _ms(app.last_event or app.started)}
    active = [e for e in app.executors.values() if e.removed is None]
    each = _executor_cores(app, active[0] if active else None)
    cores = sum(_executor_cores(app, e) for e in active)
    return {"id": app.app_id, "name": app.name, "coresGranted": cores,
            "maxCores": _setting(app, "vega.cores.max") or None,  # 0: no limit
            "coresPerExecutor": each, "memoryPerExecutorMB": _executor_memory_mb(app),
            "attempts": [attempt]}


def _setting(app: AppRecord, key: str):
    return next((value for k, value, _ in app.settings if k == key), None)


def _executor_memory_mb(app: AppRecord) -> Optional[int]:
    """``vega.executor.memory`` in MiB (Spark's ``memoryPerExecutorMB``), if the log says."""
    from ..config_values import parse_size

    try:
        return parse_size(_setting(app, "vega.executor.memory")) >> 20
    except ValueError:  # not in the log (an older one), or not a size
        return None


def _executor_cores(app: AppRecord, executor: Optional[ExecutorRecord] = None) -> int:
    """The cores ``executor`` holds, as its ExecutorAdded says; else (an older log, or no
    executor) those each of the application's executors holds for ``vega.task.cpus``."""
    from ..resources import executor_cores

    if executor is not None and executor.cores:
        return executor.cores
    return executor_cores(float(_setting(app, "vega.task.cpus") or 1))


#: the settings ``application_info`` reads
_LISTED_SETTINGS = ("vega.cores.max", "vega.task.cpus", "vega.executor.memory")


def listed_record(app: AppRecord) -> AppRecord:
    """What ``application_info`` reads of ``app``, in a record of its own: a listing of
    applications keeps one for every event log (a master's, for as long as it runs), so not
    their jobs, stages, settings or runtime (about 25 KB an application), nor the executors
    that ended."""
    return AppRecord(app.app_id, context_id=app.context_id, name=app.name, master=app.master,
                     started=app.started, ended=app.ended, last_event=app.last_event,
                     executors={k: e for k, e in app.executors.items() if e.removed is None},
                     settings=[[k, v, ""] for k, v, _ in app.settings if k in _LISTED_SETTINGS],
                     runtime={k: v for k, v in app.runtime.items()
                              if k in ("vegaVersion", "sparkUser")},
                     error=app.error)


# -- jobs -----------------------------------------------------------------------------------
def job_data(app: AppRecord, job: JobRecord, now: Optional[float] = None) -> dict:
    stage_attempts = [s for s in app.stages.values() if s.job_id == job.job_id]
    ran = {s.stage_id for s in stage_attempts}
    tasks = [t for s in stage_attempts for t in attempts(app, s, now)]
    done = [t for t in tasks if t["state"] == "success"]
    # a job its application ended without ending (its driver was killed) is over, failed
    ended = job.completed if job.completed is not None else \
        None if app.ended is None else max(app.ended, job.submitted)
    # a stage of the job that has not run is pending while the job runs (its parents run
    # first), skipped once it is over (Spark's rule: its map output was there already)
    skipped = [s for s in job.graph if s["stage_id"] not in ran] if ended is not None else []
    status = "RUNNING" if ended is None else ("SUCCEEDED" if job.succeeded else "FAILED")
    latest = {}
    for s in stage_attempts:
        if s.stage_id not in latest or s.attempt > latest[s.stage_id].attempt:
            latest[s.stage_id] = s
    return {
        "jobId": job.job_id, "name": job.description,
        "description": job.job_description or job.description,
        "submissionTime": spark_date(job.submitted),
        "completionTime": spark_date(ended), "stageIds": job.stage_ids,
        "jobGroup": job.group, "jobTags": job.tags, "status": status,
        "numTasks": sum(s["num_tasks"] for s in job.graph),
        "numActiveTasks": len(_running(tasks)),
        "numCompletedTasks": len(done),
        "numSkippedTasks": sum(s["num_tasks"] for s in skipped),
        "numFailedTasks": len([t for t in tasks if _status(t) == "FAILED"]),
        "numKilledTasks": len([t for t in tasks if _status(t) == "KILLED"]),
        "numCompletedIndices": len({(t["stage_id"], t["partition"]) for t in done}),
        "numActiveStages": len([s for s in latest.values()
                                if stage_status(app, s) == "ACTIVE"]),
        "numCompletedStages": len([s for s in latest.values()
                                   if s.completed is not None and not s.failure]),
        "numSkippedStages": len(skipped),
        "numFailedStages": len([s for s in stage_attempts
                                if stage_status(app, s) == "FAILED"]),
        "killedTasksSummary": _killed_summary(tasks)}


def _finished_indices(stage: StageAttempt) -> int:
    return len({t["partition"] for t in stage.tasks if t["state"] == "success"})


# -- stages and tasks ---------------------------------------------------------------------
def stage_status(app: AppRecord, stage: StageAttempt) -> str:
    if stage.submitted is None:  # one of ``pending_stages``
        return "PENDING"
    if stage.completed is None:
        job = app.jobs.get(stage.job_id) if stage.job_id is not None else None
        ended = app.completed or (job is not None and job.completed is not None)
        return "FAILED" if ended else "ACTIVE"
    return "FAILED" if stage.failure else "COMPLETE"


def pending_stages(app: AppRecord) -> List[StageAttempt]:
    """The stages of running jobs that have not run yet (no attempt: waiting for their
    parents, or, reused, to be skipped), newest first: Spark lists them as PENDING (its
    listener makes every stage of a job as the job starts), without a submission time."""
    pending: Dict[int, StageAttempt] = {}
    if app.completed:
        return []
    for job in app.jobs.values():
        if job.completed is not None:
            continue
        for info in job.graph:
            if app.latest_attempt(info["stage_id"]) is None:
                pending.setdefault(info["stage_id"], StageAttempt(
                    info["stage_id"], 0, info["name"], info["num_tasks"], job.job_id, None))
    return [pending[k] for k in sorted(pending, reverse=True)]


def stage_data(app: AppRecord, stage: StageAttempt, details: bool,
               now: Optional[float] = None, task_statuses: Sequence[str] = (),
               quantiles: Optional[Sequence[float]] = None) -> dict:
    """StageData; with ``details`` its tasks (those of ``task_statuses`` when given, as
    Spark's ``taskStatus``) and per-executor summary too (running attempts' durations up to
    ``now``, as ``attempts``); with ``quantiles``, Spark's ``withSummaries``: the task and
    executor metric distributions at those quantiles."""
    tasks = attempts(app, stage, now)
    metrics = [task_metrics(t) for t in tasks]
    info = app.stage_info.get(stage.stage_id, {})
    first_launch = min((t["launch_time"] for t in tasks), default=None)
    data = {
        "status": stage_status(app, stage), "stageId": stage.stage_id,
        "attemptId": stage.attempt, "numTasks": stage.num_tasks,
        "numActiveTasks": len(_running(tasks)),
        "numCompleteTasks": len([t for t in tasks if t["state"] == "success"]),
        "numFailedTasks": len([t for t in tasks if _status(t) == "FAILED"]),
        "numKilledTasks": len([t for t in tasks if _status(t) == "KILLED"]),
        "numCompletedIndices": _finished_indices(stage),
        "submissionTime": spark_date(stage.submitted),
        "firstTaskLaunchedTime": spark_date(first_launch),
        "completionTime": spark_date(stage.completed), "failureReason": stage.failure,
        "executorDeserializeTime": sum(m["executorDeserializeTime"] for m in metrics),
        "executorDeserializeCpuTime": 0,
        "executorRunTime": sum(m["executorRunTime"] for m in metrics),
        "executorCpuTime": 0, "resultSize": sum(m["resultSize"] for m in metrics),
        "jvmGcTime": 0, "resultSerializationTime": 0, "memoryBytesSpilled": 0,
        "diskBytesSpilled": 0, "peakExecutionMemory": 0, "peakOnHeapExecutionMemory": 0,
        "peakOffHeapExecutionMemory": 0, "inputBytes": 0, "inputRecords": 0,
        "outputBytes": 0, "outputRecords": 0,
        "shuffleRemoteBlocksFetched": 0, "shuffleLocalBlocksFetched": 0,
        "shuffleFetchWaitTime": 0,
        "shuffleRemoteBytesRead": sum(m["shuffleReadMetrics"]["remoteBytesRead"]
                                      for m in metrics),
        "shuffleRemoteBytesReadToDisk": 0, "shuffleLocalBytesRead": 0,
        "shuffleReadBytes": sum(m["shuffleReadMetrics"]["remoteBytesRead"] for m in metrics),
        "shuffleReadRecords": 0, **{name: 0 for name in _PUSH_STAGE_FIELDS},
        "shuffleWriteBytes": sum(m["shuffleWriteMetrics"]["bytesWritten"] for m in metrics),
        "shuffleWriteTime": 0, "shuffleWriteRecords": 0,
        "name": stage.name, "description": None, "details": stage.name,
        "schedulingPool": "default",
        "rddIds": sorted((r["rdd_id"] for r in info.get("rdds", ())), reverse=True),
        "accumulatorUpdates": [], "speculationSummary": speculation_summary(tasks),
        "killedTasksSummary": _killed_summary(tasks), "resourceProfileId": 0, "peakExecutorMetrics": None,
        "taskMetricsDistributions": None, "executorMetricsDistributions": None,
        "isShufflePushEnabled": False, "shuffleMergersCount": 0,
        # Vega's own: what the stage DAG is drawn from
        "parentIds": info.get("parent_ids", []), "rdds": info.get("rdds", []),
    }
    if details:
        data["tasks"] = {str(t["task_id"]): task_data(t) for t in tasks
                         if not task_statuses or _status(t) in task_statuses}
        data["executorSummary"] = executor_stage_summaries(tasks)
    if quantiles is not None:
        data["taskMetricsDistributions"] = task_summary(stage, quantiles)
        data["executorMetricsDistributions"] = executor_distributions(tasks, quantiles)
    return data


def has_tasks_of(stage: dict, task_statuses: Sequence[str]) -> bool:
    """Whether a StageData counts a task attempt of any of ``task_statuses`` (all when
    none is given): the stages Spark's ``/stages?details=true&taskStatus=`` lists."""
    counts = {"RUNNING": stage["numActiveTasks"], "SUCCESS": stage["numCompleteTasks"],
              "FAILED": stage["numFailedTasks"], "KILLED": stage["numKilledTasks"]}
    counts["UNKNOWN"] = stage["numTasks"] - sum(counts.values())
    return not task_statuses or any(counts[s] > 0 for s in task_statuses)


def speculation_summary(tasks: List[dict]) -> dict:
    """SpeculationStageSummary: the speculative attempts among ``tasks``."""
    speculative = [t for t in tasks if t.get("speculative")]
    return {"numTasks": len(speculative), "numActiveTasks": len(_running(speculative)),
            "numCompletedTasks": len([t for t in speculative if t["state"] == "success"]),
            "numFailedTasks": len([t for t in speculative if _status(t) == "FAILED"]),
            "numKilledTasks": len([t for t in speculative if _status(t) == "KILLED"])}


def task_metrics(task: dict) -> dict:
    """TaskMetrics of one attempt (milliseconds and bytes); made once per replayed task
    (kept in it: a page polling a stage asks again and again)."""
    made = task.get("_task_metrics")
    if made is None:
        made = task["_task_metrics"] = _task_metrics(task)
    return made


def _task_metrics(task: dict) -> dict:
    m = task.get("metrics") or {}
    return {
        "executorDeserializeTime": _ms(m.get("deserialize_time")),
        "executorDeserializeCpuTime": 0,
        "executorRunTime": _ms(m.get("run_time", m.get("duration"))),
        "executorCpuTime": 0, "resultSize": int(m.get("result_size", 0)),
        "jvmGcTime": 0, "resultSerializationTime": 0, "memoryBytesSpilled": 0,
        "diskBytesSpilled": 0, "peakExecutionMemory": 0, "peakOnHeapExecutionMemory": 0,
        "peakOffHeapExecutionMemory": 0,
        "inputMetrics": {"bytesRead": 0, "recordsRead": 0},
        "outputMetrics": {"bytesWritten": 0, "recordsWritten": 0},
        "shuffleReadMetrics": {"remoteBlocksFetched": 0, "localBlocksFetched": 0,
                               "fetchWaitTime": 0,
                               "remoteBytesRead": int(m.get("shuffle_bytes_read", 0)),
                               "remoteBytesReadToDisk": 0, "localBytesRead": 0,
                               "recordsRead": 0, "remoteReqsDuration": 0,
                               "shufflePushReadMetrics": {n: 0 for n in _PUSH_READ_FIELDS}},
        "shuffleWriteMetrics": {"bytesWritten": int(m.get("shuffle_bytes_written", 0)),
                                "writeTime": 0, "recordsWritten": 0}}


def task_duration_ms(task: dict) -> int:
    return _ms((task.get("metrics") or {}).get("duration", 0.0))


def task_data(task: dict) -> dict:
    """TaskData of one attempt (made once per replayed task, as ``task_metrics``)."""
    made = task.get("_task_data")
    if made is None:
        made = task["_task_data"] = _task_data(task)
    return made


def _task_data(task: dict) -> dict:
    return {
        "taskId": task["task_id"], "index": task["partition"], "attempt": task["attempt"],
        "partitionId": task["partition"], "launchTime": spark_date(task["launch_time"]),
        "resultFetchStart": None, "duration": task_duration_ms(task),
        "executorId": task["executor"], "host": task["host"], "status": _status(task),
        "taskLocality": task.get("locality", "PROCESS_LOCAL"),  # (not known while it runs)
        "speculative": bool(task.get("speculative", False)),
        "accumulatorUpdates": [], "errorMessage": task.get("error"),
        "taskMetrics": task_metrics(task), "executorLogs": {}, "schedulerDelay": 0,
        "gettingResultTime": 0}


def executor_stage_summaries(tasks: List[dict]) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    for task in tasks:
        if task["state"] == "running":
            continue
        s = out.setdefault(task["executor"], {
            "taskTime": 0, "failedTasks": 0, "succeededTasks": 0, "killedTasks": 0,
            "inputBytes": 0, "inputRecords": 0, "outputBytes": 0, "outputRecords": 0,
            "shuffleRead": 0, "shuffleReadRecords": 0, "shuffleWrite": 0,
            "shuffleWriteRecords": 0, "memoryBytesSpilled": 0, "diskBytesSpilled": 0,
            "isBlacklistedForStage": False, "peakMemoryMetrics": None,
            "isExcludedForStage": False})
        m = task_metrics(task)
        s["taskTime"] += task_duration_ms(task)
        status = _status(task)
        s["succeededTasks" if status == "SUCCESS" else
          "killedTasks" if status == "KILLED" else "failedTasks"] += 1
        s["shuffleRead"] += m["shuffleReadMetrics"]["remoteBytesRead"]
        s["shuffleWrite"] += m["shuffleWriteMetrics"]["bytesWritten"]
    return out


def task_list(app: AppRecord, stage: StageAttempt, offset: int = 0, length: int = 20,
              sort_by: str = "ID", statuses: Sequence[str] = (),
              now: Optional[float] = None) -> List[dict]:
    """``taskList``: attempts sorted as Spark's ``sortBy`` (``ID``, ``runtime`` or
    ``-runtime``), of ``statuses`` only when given, ``length`` from ``offset``."""
    key = _TASK_SORTING.get(sort_by.lower())
    if key is None:
        raise ValueError(f"sortBy must be ID, runtime or -runtime, not {sort_by!r}")
    tasks = [task_data(t) for t in attempts(app, stage, now)]
    if statuses:
        tasks = [t for t in tasks if t["status"] in statuses]
    return sorted(tasks, key=key)[offset:offset + length]


def quantile_values(values: Sequence[float], quantiles: Sequence[float]) -> List[float]:
    """Spark's taskSummary rule: the value at index ``min(int(q * n), n - 1)`` of the
    sorted values (``[]`` when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return []
    return [float(ordered[min(int(q * len(ordered)), len(ordered) - 1)]) for q in quantiles]


def task_summary(stage: StageAttempt, quantiles: Sequence[float]) -> Optional[dict]:
    """TaskMetricDistributions over the stage attempt's successful tasks (as Spark), or None
    when none has succeeded yet."""
    done = [t for t in stage.tasks if t["state"] == "success"]
    if not done:
        return None
    metrics = [task_metrics(t) for t in done]

    def dist(get) -> List[float]:
        return quantile_values([get(m) for m in metrics], quantiles)

    zeros = dist(lambda m: 0)
    return {
        "quantiles": list(quantiles),
        "duration": quantile_values([task_duration_ms(t) for t in done], quantiles),
        "executorDeserializeTime": dist(lambda m: m["executorDeserializeTime"]),
        "executorDeserializeCpuTime": zeros,
        "executorRunTime": dist(lambda m: m["executorRunTime"]),
        "executorCpuTime": zeros, "resultSize": dist(lambda m: m["resultSize"]),
        "jvmGcTime": zeros, "resultSerializationTime": zeros, "gettingResultTime": zeros,
        "schedulerDelay": zeros, "peakExecutionMemory": zeros,
        "peakOnHeapExecutionMemory": zeros, "peakOffHeapExecutionMemory": zeros,
        "memoryBytesSpilled": zeros, "diskBytesSpilled": zeros,
        "inputMetrics": {"bytesRead": zeros, "recordsRead": zeros},
        "outputMetrics": {"bytesWritten": zeros, "recordsWritten": zeros},
        "shuffleReadMetrics": {
            "readBytes": dist(lambda m: m["shuffleReadMetrics"]["remoteBytesRead"]),
            "readRecords": zeros, "remoteBlocksFetched": zeros, "localBlocksFetched": zeros,
            "fetchWaitTime": zeros,
            "remoteBytesRead": dist(lambda m: m["shuffleReadMetrics"]["remoteBytesRead"]),
            "remoteBytesReadToDisk": zeros, "totalBlocksFetched": zeros,
            "remoteReqsDuration": zeros,
            "shufflePushReadMetricsDist": {n: zeros for n in _PUSH_READ_FIELDS}},
        "shuffleWriteMetrics": {
            "writeBytes": dist(lambda m: m["shuffleWriteMetrics"]["bytesWritten"]),
            "writeRecords": zeros, "writeTime": zeros}}


def executor_distributions(tasks: List[dict], quantiles: Sequence[float]) -> Optional[dict]:
    """ExecutorMetricsDistributions: each field of the stage attempt's per-executor
    summaries at ``quantiles`` (as Spark's, without the JVM's ``peakMemoryMetrics``), or
    None when no task has ended."""
    summaries = list(executor_stage_summaries(tasks).values())
    if not summaries:
        return None
    fields = [k for k, v in summaries[0].items() if isinstance(v, int) and
              not isinstance(v, bool)]
    return {"quantiles": list(quantiles),
            **{k: quantile_values([s[k] for s in summaries], quantiles) for k in fields}}


# -- executors, storage, environment ---------------------------------------------------------
def _storage_memory(app: AppRecord):
    """What each of ``app``'s executors keeps cached partitions in, from its settings
    (``config_limits.executor_storage_memory``); None when its log does not say."""
    from ..config_limits import executor_storage_memory
    from ..errors import MasterURLError
    from ..master_url import parse_master

    settings = {key: _setting(app, key) for key in
                ("vega.master", "vega.executor.memory", "vega.storage.memory")}
    try:
        on_cluster = parse_master(str(settings["vega.master"])).kind not in ("inline", "local")
    except MasterURLError:  # no master recorded (an older log): the setting as it was
        on_cluster = False
    if on_cluster and not isinstance(settings["vega.executor.memory"], int):
        return None
    return executor_storage_memory(settings, on_cluster)


def executor_summaries(app: AppRecord, include_dead: bool,
                       now: Optional[float] = None) -> List[dict]:
    tasks = [t for s in app.stages.values() for t in attempts(app, s, now)]
    memory = _storage_memory(app)
    out = []
    for record in sorted(app.executors.values(), key=lambda e: (e.added, e.executor_id)):
        if record.removed is not None and not include_dead:
            continue
        mine = [t for t in tasks if t["executor"] == record.executor_id]
        held = [(k, holders[record.executor_id]) for k, holders in app.blocks.items()
                if record.executor_id in holders]
        failed = len([t for t in mine if _status(t) == "FAILED"])
        completed = len([t for t in mine if t["state"] == "success"])
        memory_used = sum(size for _, (where, size) in held if where == "memory")
        out.append({
            "id": record.executor_id, "hostPort": record.host,
            "isActive": record.removed is None, "rddBlocks": len(held),
            "memoryUsed": memory_used,
            "diskUsed": sum(size for _, (where, size) in held if where == "disk"),
            "totalCores": _executor_cores(app, record), "maxTasks": 1,
            "activeTasks": len(_running(mine)),
            "failedTasks": failed,
            "completedTasks": completed, "totalTasks": len(mine),
            "totalDuration": sum(task_duration_ms(t) for t in mine
                                 if t["state"] != "running"), "totalGCTime": 0,
            "totalInputBytes": 0,
            "totalShuffleRead": sum(task_metrics(t)["shuffleReadMetrics"]["remoteBytesRead"]
                                    for t in mine),
            "totalShuffleWrite": sum(task_metrics(t)["shuffleWriteMetrics"]["bytesWritten"]
                                     for t in mine),
            "isBlacklisted": False, "maxMemory": int(memory) if isinstance(memory, int) else 0,
            "addTime": spark_date(record.added), "removeTime": spark_date(record.removed),
            "removeReason": record.remove_reason, "executorLogs": {},
            "memoryMetrics": {"usedOnHeapStorageMemory": memory_used,
                              "usedOffHeapStorageMemory": 0,
                              "totalOnHeapStorageMemory": int(memory)
                              if isinstance(memory, int) else 0,
                              "totalOffHeapStorageMemory": 0},
            "blacklistedInStages": [], "peakMemoryMetrics": None, "attributes": {},
            # Spark's ResourceInformation of each resource it holds
            "resources": {name: {"name": name, "addresses": list(addresses)}
                          for name, addresses in sorted(record.resources.items())},
            "resourceProfileId": 0, "isExcluded": False,
            "excludedInStages": []})
    return out


def executor_timeline(app: AppRecord, now: float) -> dict:
    """Vega's own: the application's executor count over time, one point per executor
    added or removed (``change``: added, released on purpose, or lost), in time order;
    what the executors page draws as a step line, up to ``endTime`` or, while the
    application runs, the server's ``now`` (a browser's clock may differ from it)."""
    changes = [(e.added, 0, "added", e) for e in app.executors.values()]
    changes += [(e.removed, 1, "lost" if e.lost else "released", e)
                for e in app.executors.values() if e.removed is not None]
    count, points = 0, []
    for at, _, change, record in sorted(changes, key=lambda c: (c[0], c[1], c[3].executor_id)):
        count += 1 if change == "added" else -1
        points.append({"time": _ms(at), "executors": count, "change": change,
                       "executorId": record.executor_id, "host": record.host,
                       "reason": None if change == "added" else record.remove_reason,
                       "cause": record.cause if change == "lost" else ""})
    return {"startTime": _ms(app.started), "endTime": _ms(app.ended) if app.ended else None,
            "now": _ms(now), "points": points}


def _level_description(name: str) -> str:
    """A storage level's name in the event log (``MEMORY_ONLY``) as Spark's API shows it
    (``Memory Serialized 1x Replicated``)."""
    from ..storage_level import StorageLevel

    try:
        return StorageLevel.named(name).description
    except (ValueError, IndexError, TypeError):  # not a level's name (another version's log)
        return name


def rdd_storage(app: AppRecord, rdd_id: Optional[int] = None) -> List[dict]:
    """RDDStorageInfo of every RDD with cached partitions (or of one, with its
    ``dataDistribution`` and ``partitions``)."""
    infos = app.rdd_infos()
    by_rdd: Dict[int, list] = {}
    for (rdd, partition), holders in sorted(app.blocks.items()):
        by_rdd.setdefault(rdd, []).append((partition, holders))
    out = []
    for rdd, parts in sorted(by_rdd.items()):
        if rdd_id is not None and rdd != rdd_id:
            continue
        info = infos.get(rdd, {})
        level = _level_description(info.get("storage_level", ""))
        memory = sum(s for _, h in parts for where, s in h.values() if where == "memory")
        disk = sum(s for _, h in parts for where, s in h.values() if where == "disk")
        entry = {"id": rdd, "name": info.get("name", f"rdd {rdd}"),
                 "numPartitions": info.get("num_partitions", len(parts)),
                 "numCachedPartitions": len(parts), "storageLevel": level,
                 "memoryUsed": memory, "diskUsed": disk}
        if rdd_id is not None:
            executors = sorted({e for _, h in parts for e in h})
            entry["dataDistribution"] = [{
                "address": app.executors[e].host if e in app.executors else e,
                "memoryUsed": sum(h[e][1] for _, h in parts if e in h and h[e][0] == "memory"),
                "memoryRemaining": 0,
                # no on- or off-heap split: Spark's Options for it are left out
                "diskUsed": sum(h[e][1] for _, h in parts if e in h and h[e][0] == "disk")}
                for e in executors]
            entry["partitions"] = [{
                "blockName": f"rdd_{rdd}_{partition}", "storageLevel": level,
                "memoryUsed": sum(s for where, s in h.values() if where == "memory"),
                "diskUsed": sum(s for where, s in h.values() if where == "disk"),
                "executors": sorted(h)} for partition, h in parts]
        out.append(entry)
    return out


def environment(app: AppRecord) -> dict:
    """ApplicationEnvironmentInfo; Vega's settings are the ``sparkProperties`` and
    ``propertySources`` (Vega's own) says where each value came from."""
    runtime = app.runtime
    return {
        "runtime": {"javaVersion": "", "javaHome": "", "scalaVersion": "",
                    **{k: v for k, v in runtime.items() if k != "pythonExecutable"}},
        # (redacted again: an event log written before its values were matched too)
        "sparkProperties": [[k, redact(k, "" if v is None else str(v))]
                            for k, v, _ in app.settings],
        "hadoopProperties": [], "systemProperties": [
            [k, redact(k, str(v))] for k, v in sorted(runtime.items())],
        "metricsProperties": [], "classpathEntries": [],
        "resourceProfiles": [],
        "propertySources": {k: origin for k, _, origin in app.settings}}


def job_graph(app: AppRecord, job: JobRecord) -> dict:
    """Vega's own: the job's stage DAG with each stage's state in this job (what the job
    page draws): one that has not run is PENDING while the job runs, SKIPPED after."""
    over = job.completed is not None or app.ended is not None
    stages = []
    for info in job.graph:
        attempts = [s for s in app.stages.values()
                    if s.stage_id == info["stage_id"] and s.job_id == job.job_id]
        state = ("SKIPPED" if over else "PENDING") if not attempts else \
            stage_status(app, max(attempts, key=lambda s: s.attempt))
        stages.append({**info, "status": state,
                       "attempts": sorted(s.attempt for s in attempts)})
    return {"jobId": job.job_id, "stages": stages}
