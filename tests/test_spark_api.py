"""Spark's monitoring REST API (/api/v1/applications/...) on the master's HTTP port, for a
running application (events relayed by its driver) and a finished one (its event log):
field names compared with Spark's, values with the event log."""

import getpass
import json
import re
import shutil

import pytest
from http_helpers import api_get, api_get_bytes, browser_opener, ui_url
from proc_helpers import vega, wait_for, wait_for_file_in_task, write_job
from ui_workload import FLAKY_PARTITION, run_workload, task_events

from vega_runtime import Context, __version__
from vega_runtime.deploy.spark_api_documents import quantile_values, spark_date

# Field names of Spark's REST API documents, from Spark's
# core/src/main/scala/org/apache/spark/status/api/v1/api.scala (apache/spark at commit
# a7742058f3dec4eb84b79c889269e13d8d1e8761, Spark 4) and docs/monitoring.md.
APPLICATION_INFO = {"id", "name", "coresGranted", "maxCores", "coresPerExecutor",
                    "memoryPerExecutorMB", "attempts"}
# ApplicationAttemptInfo, with the getters Jackson writes (startTimeEpoch...); attemptId is
# an Option Spark leaves out when there are no attempts (Vega's case)
APPLICATION_ATTEMPT_INFO = {"startTime", "endTime", "lastUpdated", "duration", "sparkUser",
                            "completed", "appSparkVersion", "startTimeEpoch", "endTimeEpoch",
                            "lastUpdatedEpoch"}
JOB_DATA = {"jobId", "name", "description", "submissionTime", "completionTime", "stageIds",
            "jobGroup", "jobTags", "status", "numTasks", "numActiveTasks", "numCompletedTasks",
            "numSkippedTasks", "numFailedTasks", "numKilledTasks", "numCompletedIndices",
            "numActiveStages", "numCompletedStages", "numSkippedStages", "numFailedStages",
            "killedTasksSummary"}
STAGE_DATA = {
    "status", "stageId", "attemptId", "numTasks", "numActiveTasks", "numCompleteTasks",
    "numFailedTasks", "numKilledTasks", "numCompletedIndices", "submissionTime",
    "firstTaskLaunchedTime", "completionTime", "failureReason", "executorDeserializeTime",
    "executorDeserializeCpuTime", "executorRunTime", "executorCpuTime", "resultSize",
    "jvmGcTime", "resultSerializationTime", "memoryBytesSpilled", "diskBytesSpilled",
    "peakExecutionMemory", "peakOnHeapExecutionMemory", "peakOffHeapExecutionMemory",
    "inputBytes", "inputRecords", "outputBytes", "outputRecords", "shuffleRemoteBlocksFetched",
    "shuffleLocalBlocksFetched", "shuffleFetchWaitTime", "shuffleRemoteBytesRead",
    "shuffleRemoteBytesReadToDisk", "shuffleLocalBytesRead", "shuffleReadBytes",
    "shuffleReadRecords", "shuffleCorruptMergedBlockChunks", "shuffleMergedFetchFallbackCount",
    "shuffleMergedRemoteBlocksFetched", "shuffleMergedLocalBlocksFetched",
    "shuffleMergedRemoteChunksFetched", "shuffleMergedLocalChunksFetched",
    "shuffleMergedRemoteBytesRead", "shuffleMergedLocalBytesRead", "shuffleRemoteReqsDuration",
    "shuffleMergedRemoteReqsDuration", "shuffleWriteBytes", "shuffleWriteTime",
    "shuffleWriteRecords", "name", "description", "details", "schedulingPool", "rddIds",
    "accumulatorUpdates", "tasks", "executorSummary", "speculationSummary",
    "killedTasksSummary", "resourceProfileId", "peakExecutorMetrics",
    "taskMetricsDistributions", "executorMetricsDistributions", "isShufflePushEnabled",
    "shuffleMergersCount"}
#: Vega's own StageData fields: what the job page draws the stage DAG from
STAGE_DATA_VEGA = {"parentIds", "rdds"}
EXECUTOR_STAGE_SUMMARY = {
    "taskTime", "failedTasks", "succeededTasks", "killedTasks", "inputBytes", "inputRecords",
    "outputBytes", "outputRecords", "shuffleRead", "shuffleReadRecords", "shuffleWrite",
    "shuffleWriteRecords", "memoryBytesSpilled", "diskBytesSpilled", "isBlacklistedForStage",
    "peakMemoryMetrics", "isExcludedForStage"}
SPECULATION_STAGE_SUMMARY = {"numTasks", "numActiveTasks", "numCompletedTasks",
                             "numFailedTasks", "numKilledTasks"}
TASK_DATA = {"taskId", "index", "attempt", "partitionId", "launchTime", "resultFetchStart",
             "duration", "executorId", "host", "status", "taskLocality", "speculative",
             "accumulatorUpdates", "errorMessage", "taskMetrics", "executorLogs",
             "schedulerDelay", "gettingResultTime"}
TASK_METRICS = {"executorDeserializeTime", "executorDeserializeCpuTime", "executorRunTime",
                "executorCpuTime", "resultSize", "jvmGcTime", "resultSerializationTime",
                "memoryBytesSpilled", "diskBytesSpilled", "peakExecutionMemory",
                "peakOnHeapExecutionMemory", "peakOffHeapExecutionMemory", "inputMetrics",
                "outputMetrics", "shuffleReadMetrics", "shuffleWriteMetrics"}
INPUT_METRICS, OUTPUT_METRICS = {"bytesRead", "recordsRead"}, {"bytesWritten", "recordsWritten"}
SHUFFLE_PUSH_READ_METRICS = {
    "corruptMergedBlockChunks", "mergedFetchFallbackCount", "remoteMergedBlocksFetched",
    "localMergedBlocksFetched", "remoteMergedChunksFetched", "localMergedChunksFetched",
    "remoteMergedBytesRead", "localMergedBytesRead", "remoteMergedReqsDuration"}
SHUFFLE_READ_METRICS = {"remoteBlocksFetched", "localBlocksFetched", "fetchWaitTime",
                        "remoteBytesRead", "remoteBytesReadToDisk", "localBytesRead",
                        "recordsRead", "remoteReqsDuration", "shufflePushReadMetrics"}
SHUFFLE_WRITE_METRICS = {"bytesWritten", "writeTime", "recordsWritten"}
TASK_METRIC_DISTRIBUTIONS = {
    "quantiles", "duration", "executorDeserializeTime", "executorDeserializeCpuTime",
    "executorRunTime", "executorCpuTime", "resultSize", "jvmGcTime", "resultSerializationTime",
    "gettingResultTime", "schedulerDelay", "peakExecutionMemory", "peakOnHeapExecutionMemory",
    "peakOffHeapExecutionMemory", "memoryBytesSpilled", "diskBytesSpilled", "inputMetrics",
    "outputMetrics", "shuffleReadMetrics", "shuffleWriteMetrics"}
SHUFFLE_READ_METRIC_DISTRIBUTIONS = {
    "readBytes", "readRecords", "remoteBlocksFetched", "localBlocksFetched", "fetchWaitTime",
    "remoteBytesRead", "remoteBytesReadToDisk", "totalBlocksFetched", "remoteReqsDuration",
    "shufflePushReadMetricsDist"}
SHUFFLE_WRITE_METRIC_DISTRIBUTIONS = {"writeBytes", "writeRecords", "writeTime"}
EXECUTOR_SUMMARY = {
    "id", "hostPort", "isActive", "rddBlocks", "memoryUsed", "diskUsed", "totalCores",
    "maxTasks", "activeTasks", "failedTasks", "completedTasks", "totalTasks", "totalDuration",
    "totalGCTime", "totalInputBytes", "totalShuffleRead", "totalShuffleWrite", "isBlacklisted",
    "maxMemory", "addTime", "removeTime", "removeReason", "executorLogs", "memoryMetrics",
    "blacklistedInStages", "peakMemoryMetrics", "attributes", "resources",
    "resourceProfileId", "isExcluded", "excludedInStages"}
MEMORY_METRICS = {"usedOnHeapStorageMemory", "usedOffHeapStorageMemory",
                  "totalOnHeapStorageMemory", "totalOffHeapStorageMemory"}
RDD_STORAGE_INFO = {"id", "name", "numPartitions", "numCachedPartitions", "storageLevel",
                    "memoryUsed", "diskUsed", "dataDistribution", "partitions"}
RDD_DATA_DISTRIBUTION = {"address", "memoryUsed", "memoryRemaining", "diskUsed",
                         "onHeapMemoryUsed", "offHeapMemoryUsed", "onHeapMemoryRemaining",
                         "offHeapMemoryRemaining"}
RDD_DATA_DISTRIBUTION_OPTIONS = {"onHeapMemoryUsed", "offHeapMemoryUsed",
                                 "onHeapMemoryRemaining", "offHeapMemoryRemaining"}
RDD_PARTITION_INFO = {"blockName", "storageLevel", "memoryUsed", "diskUsed", "executors"}
APPLICATION_ENVIRONMENT_INFO = {"runtime", "sparkProperties", "hadoopProperties",
                                "systemProperties", "metricsProperties", "classpathEntries",
                                "resourceProfiles"}
RUNTIME_INFO = {"javaVersion", "javaHome", "scalaVersion"}

# The fields of each that are an Option in api.scala: Spark's JSON leaves out one that has
# no value (Jackson's NON_ABSENT: its API never writes null), and so does Vega's.
APPLICATION_INFO_OPTIONS = {"coresGranted", "maxCores", "coresPerExecutor",
                            "memoryPerExecutorMB"}
JOB_DATA_OPTIONS = {"description", "submissionTime", "completionTime", "jobGroup"}
STAGE_DATA_OPTIONS = {"submissionTime", "firstTaskLaunchedTime", "completionTime",
                      "failureReason", "description", "tasks", "executorSummary",
                      "speculationSummary", "peakExecutorMetrics", "taskMetricsDistributions",
                      "executorMetricsDistributions"}
TASK_DATA_OPTIONS = {"resultFetchStart", "duration", "errorMessage", "taskMetrics"}
EXECUTOR_SUMMARY_OPTIONS = {"removeTime", "removeReason", "memoryMetrics", "peakMemoryMetrics"}
EXECUTOR_STAGE_SUMMARY_OPTIONS = {"peakMemoryMetrics"}
RDD_STORAGE_INFO_OPTIONS = {"dataDistribution", "partitions"}


def spark_fields(document: dict, fields: set, options: set = frozenset()) -> set:
    """The fields of ``document`` that Spark's are sure to have (all of ``fields`` but its
    ``options``), checking that it has no other and writes no null."""
    assert set(document) <= fields, set(document) - fields
    assert None not in document.values(), [k for k, v in document.items() if v is None]
    return set(document) | (fields & options)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """A local-cluster application that has run the workload and is still running."""
    events = tmp_path_factory.mktemp("events")
    with Context(master="local-cluster[2,1]", app_name="rest-api",
                 conf={"vega.eventlog.dir": str(events)}) as ctx:
        run_workload(ctx)
        cluster = ctx.backend.owned_cluster
        app = ctx.backend.app_id
        port, token = (cluster.webui_port, cluster.ca_file), cluster.token
        # the driver relays events in batches: wait for the last job's to arrive
        wait_for(lambda: api_get(port, f"/api/v1/applications/{app}/jobs/1", token)[0] == 200
                 and api_get(port, f"/api/v1/applications/{app}/jobs/1", token)[1]["status"]
                 == "SUCCEEDED", 30, "the master to have the driver's events")
        yield ctx, port, token, app, events / f"{ctx.application_id}.jsonl"


def get(running, path):
    _, port, token, app, _ = running
    code, body = api_get(port, f"/api/v1/applications/{app}{path}", token)
    assert code == 200, (path, code, body)
    return body


def test_applications_list_and_attempts_have_sparks_fields(running):
    _, port, token, app, _ = running
    code, listed = api_get(port, "/api/v1/applications", token)
    assert code == 200
    entry, = [a for a in listed if a["id"] == app]
    assert APPLICATION_INFO - APPLICATION_INFO_OPTIONS <= set(entry)  # + the master's own
    assert entry["memoryPerExecutorMB"] == 1024 and "maxCores" not in entry  # no limit
    assert set(entry["attempts"][0]) == APPLICATION_ATTEMPT_INFO
    assert entry["attempts"][0]["sparkUser"] == getpass.getuser()
    assert entry["attempts"][0]["completed"] is False
    assert entry["attempts"][0]["endTime"] == "1969-12-31T23:59:59.999GMT"
    # the master also lists finished applications of the suite's shared event directory
    completed = api_get(port, "/api/v1/applications?status=completed", token)[1]
    assert app not in [a["id"] for a in completed]
    assert all(a["attempts"][0]["completed"] for a in completed)
    one = get(running, "")
    assert APPLICATION_INFO - APPLICATION_INFO_OPTIONS <= set(one) and one["name"] == "rest-api"


def test_jobs_have_sparks_fields_and_counts(running):
    jobs = get(running, "/jobs")
    assert [j["jobId"] for j in jobs] == [1, 0]  # newest first, as Spark
    for job in jobs:
        assert spark_fields(job, JOB_DATA, JOB_DATA_OPTIONS) == JOB_DATA
    job0 = get(running, "/jobs/0")
    assert job0["stageIds"] == [0, 1] and job0["status"] == "SUCCEEDED"
    assert (job0["numTasks"], job0["numCompletedTasks"], job0["numFailedTasks"]) == (8, 8, 1)
    assert job0["numCompletedStages"] == 2 and job0["numSkippedStages"] == 0
    assert get(running, "/jobs?status=FAILED") == []
    # Spark's status parameters are lists: repeated, or here also comma-separated
    assert [j["jobId"] for j in get(running, "/jobs?status=failed&status=SUCCEEDED")] == [1, 0]
    assert [j["jobId"] for j in get(running, "/jobs?status=running,succeeded")] == [1, 0]


def test_stages_tasks_and_summaries_have_sparks_fields(running):
    stages = get(running, "/stages")
    assert [(s["stageId"], s["attemptId"], s["status"]) for s in stages] == \
        [(2, 0, "COMPLETE"), (1, 0, "COMPLETE"), (0, 0, "COMPLETE")]
    for stage in stages:
        assert spark_fields(stage, STAGE_DATA | STAGE_DATA_VEGA, STAGE_DATA_OPTIONS) == \
            STAGE_DATA | STAGE_DATA_VEGA
        assert "tasks" not in stage and "executorSummary" not in stage
    detailed = get(running, "/stages/0/0")
    assert spark_fields(detailed, STAGE_DATA | STAGE_DATA_VEGA, STAGE_DATA_OPTIONS) == \
        STAGE_DATA | STAGE_DATA_VEGA
    assert "failureReason" not in detailed  # it did not fail
    assert set(detailed["speculationSummary"]) == SPECULATION_STAGE_SUMMARY
    for summary in detailed["executorSummary"].values():
        assert spark_fields(summary, EXECUTOR_STAGE_SUMMARY, EXECUTOR_STAGE_SUMMARY_OPTIONS) == \
            EXECUTOR_STAGE_SUMMARY
    assert (detailed["numCompleteTasks"], detailed["numFailedTasks"]) == (4, 1)
    assert detailed["parentIds"] == [] and get(running, "/stages/1")[0]["parentIds"] == [0]
    # every attempt of a stage, with its tasks unless ?details=false (Spark's default)
    assert [spark_fields(s, STAGE_DATA | STAGE_DATA_VEGA, STAGE_DATA_OPTIONS) and "tasks" in s
            for s in get(running, "/stages/0")] == [True]
    assert ["tasks" in s for s in get(running, "/stages/0?details=false")] == [False]
    assert "tasks" not in get(running, "/stages/0/0?details=FALSE")
    tasks = list(detailed["tasks"].values())
    for task in tasks:
        assert spark_fields(task, TASK_DATA, TASK_DATA_OPTIONS) == TASK_DATA
        metrics = task["taskMetrics"]
        assert set(metrics) == TASK_METRICS
        assert set(metrics["inputMetrics"]) == INPUT_METRICS
        assert set(metrics["outputMetrics"]) == OUTPUT_METRICS
        assert set(metrics["shuffleReadMetrics"]) == SHUFFLE_READ_METRICS
        assert set(metrics["shuffleReadMetrics"]["shufflePushReadMetrics"]) == \
            SHUFFLE_PUSH_READ_METRICS
        assert set(metrics["shuffleWriteMetrics"]) == SHUFFLE_WRITE_METRICS
    failed, = [t for t in tasks if t["status"] == "FAILED"]
    assert failed["index"] == FLAKY_PARTITION and failed["attempt"] == 0
    assert "the first attempt fails on purpose" in failed["errorMessage"]
    retried, = [t for t in tasks if t["index"] == FLAKY_PARTITION and t["status"] == "SUCCESS"]
    assert retried["attempt"] == 1
    # no cached input: Spark reports such tasks PROCESS_LOCAL (it reported ANY before)
    assert {t["taskLocality"] for t in tasks} == {"PROCESS_LOCAL"}
    listed = get(running, "/stages/0/0/taskList?sortBy=decreasingRuntime&length=3")
    assert len(listed) == 3 and [t["duration"] for t in listed] == \
        sorted((t["duration"] for t in tasks), reverse=True)[:3]
    assert [t["taskId"] for t in get(running, "/stages/0/0/taskList?status=failed")] == \
        [failed["taskId"]]


def test_no_document_has_a_null_anywhere(running):
    """Spark's REST API never writes null (a field without a value is left out: a running
    PySpark application's whole API has none); neither does Vega's, at any depth."""
    *_, app, _ = running

    def nulls(document, where=""):
        if isinstance(document, dict):
            return [n for k, v in document.items() for n in nulls(v, f"{where}.{k}")]
        if isinstance(document, list):
            return [n for v in document for n in nulls(v, f"{where}[]")]
        return [where] if document is None else []

    for path in ("", "/jobs", "/jobs/0", "/stages", "/stages/0", "/stages/0/0",
                 "/stages/0/0/taskList", "/stages/0/0/taskSummary", "/executors",
                 "/allexecutors", "/storage/rdd", "/environment", "/executorTimeline"):
        assert nulls(get(running, path)) == [], path
    _, port, token, *_ = running
    assert nulls(api_get(port, "/api/v1/applications", token)[1]) == []


def test_task_summary_quantiles_match_the_event_log(running):
    *_, event_log = running
    summary = get(running, "/stages/1/0/taskSummary?quantiles=0.0,0.5,1.0")
    assert set(summary) == TASK_METRIC_DISTRIBUTIONS
    assert set(summary["inputMetrics"]) == INPUT_METRICS
    assert set(summary["outputMetrics"]) == OUTPUT_METRICS
    assert set(summary["shuffleReadMetrics"]) == SHUFFLE_READ_METRIC_DISTRIBUTIONS
    assert set(summary["shuffleReadMetrics"]["shufflePushReadMetricsDist"]) == \
        SHUFFLE_PUSH_READ_METRICS
    assert set(summary["shuffleWriteMetrics"]) == SHUFFLE_WRITE_METRIC_DISTRIBUTIONS
    assert summary["quantiles"] == [0.0, 0.5, 1.0]
    done = [e for e in task_events(event_log, 1) if e["state"] == "success"]
    assert len(done) == 4
    # Spark's rule: of n sorted values, quantile q is the one at index min(int(q * n), n - 1)
    durations = sorted(round(e["metrics"]["duration"] * 1000) for e in done)
    assert summary["duration"] == [durations[0], durations[2], durations[3]]
    read = sorted(e["metrics"].get("shuffle_bytes_read", 0) for e in done)
    assert summary["shuffleReadMetrics"]["readBytes"] == [read[0], read[2], read[3]]
    assert read[-1] > 0
    assert quantile_values([5, 1, 4, 2, 3], [0.0, 0.25, 0.5, 0.95, 1.0]) == [1, 2, 3, 5, 5]
    # only successful tasks count, as in Spark: stage 0's failed attempt is left out
    assert len(task_events(event_log, 0)) == 5
    assert get(running, "/stages/0/0/taskSummary")["quantiles"] == [0.05, 0.25, 0.5, 0.75, 0.95]


def test_executors_storage_and_environment_have_sparks_fields(running):
    executors = get(running, "/allexecutors")
    assert sorted(e["id"] for e in executors) == ["exec-1", "exec-2"]
    assert get(running, "/executors") == executors  # none lost
    for executor in executors:
        assert spark_fields(executor, EXECUTOR_SUMMARY, EXECUTOR_SUMMARY_OPTIONS) == \
            EXECUTOR_SUMMARY
        assert "removeTime" not in executor  # not removed        assert set(executor["memoryMetrics"]) == MEMORY_METRICS
    assert sum(e["totalTasks"] for e in executors) == 4 + 1 + 4 + 4
    assert sum(e["failedTasks"] for e in executors) == 1
    rdd, = get(running, "/storage/rdd")
    assert set(rdd) == RDD_STORAGE_INFO - RDD_STORAGE_INFO_OPTIONS
    assert (rdd["name"], rdd["numPartitions"], rdd["numCachedPartitions"],
            rdd["storageLevel"]) == ("numbers", 4, 4, "Memory Serialized 1x Replicated")
    one = get(running, f"/storage/rdd/{rdd['id']}")
    assert set(one) == RDD_STORAGE_INFO
    for spread in one["dataDistribution"]:
        assert set(spread) == RDD_DATA_DISTRIBUTION - RDD_DATA_DISTRIBUTION_OPTIONS
    assert [p["blockName"] for p in one["partitions"]] == [f"rdd_{rdd['id']}_{i}" for i in range(4)]
    for partition in one["partitions"]:
        assert set(partition) == RDD_PARTITION_INFO
    # the flaky partition's failed attempt cached its block before failing: two copies
    assert sum(len(p["executors"]) for p in one["partitions"]) == \
        sum(e["rddBlocks"] for e in executors) in (4, 5)
    assert sum(p["memoryUsed"] for p in one["partitions"]) == rdd["memoryUsed"] > 0
    env = get(running, "/environment")
    assert APPLICATION_ENVIRONMENT_INFO <= set(env) and RUNTIME_INFO <= set(env["runtime"])
    properties = dict(env["sparkProperties"])
    assert properties["vega.app.name"] == "rest-api"
    assert env["propertySources"]["vega.app.name"] == "job"
    assert set(env["propertySources"]) == set(properties)
    assert all(env["propertySources"].values())


def test_bad_requests_get_one_clear_error(running):
    _, port, token, app, _ = running
    for path, code, words in (
            ("/stages/x", 400, "stage id must be a whole number"),
            ("/stages/9", 404, "no stage 9"),
            ("/stages/0/0/taskSummary?quantiles=2", 400, "between 0 and 1"),
            ("/stages/0/0/taskList?sortBy=size", 400, "sortBy must be"),
            ("/jobs/7", 404, "no job 7"),
            ("/jobs?status=done", 400,
             "status must be running, succeeded, failed or unknown, not 'done'"),
            ("/stages?status=complete,over", 400,
             "status must be active, complete, pending, failed or skipped, not 'over'"),
            ("/stages/0/0/taskList?status=ok", 400,
             "status must be running, killed, failed, success or unknown, not 'ok'"),
            ("/storage/rdd/99", 404, "no cached partitions"),
            ("/nothing", 404, "not found")):
        got, body = api_get(port, f"/api/v1/applications/{app}{path}", token)
        assert got == code and words in body["error"], (path, got, body)
    for query, words in (("status=done", "status must be completed or running, not 'done'"),
                         ("limit=-1", "limit must not be negative"),
                         ("limit=abc", "limit must be a whole number, not 'abc'"),
                         ("minDate=yesterday", "minDate must be a date such as 2026-12-04 or "
                                               "2026-12-04T17:00:00.000GMT, not 'yesterday'"),
                         ("maxEndDate=2026-02-30", "maxEndDate is not a real date"),
                         ("minDate=2026-12-04T17:00:00.000GMT%2B99:00",
                          "minDate has no real time zone offset")):
        got, body = api_get(port, f"/api/v1/applications?{query}", token)
        assert got == 400 and words in body["error"], (query, got, body)
    got, body = api_get(port, "/api/v1/applications/app-none-0001/jobs", token)
    assert got == 404 and "no application app-none-0001" in body["error"]
    assert api_get(port, f"/api/v1/applications/{app}/jobs", "wrong")[0] == 401


def test_path_segments_are_percent_decoded_as_sparks(running):
    """app%2D1 is app-1 (Spark's REST API decodes path parameters; Vega said 'no
    application app%2D...'), on Spark's routes and the master's own; an encoded '/' in a
    segment is refused as ambiguous (400), as Spark's server does."""
    _, port, token, app, _ = running
    encoded = app.replace("-", "%2D")
    assert api_get(port, f"/api/v1/applications/{encoded}/jobs/0", token) == \
        api_get(port, f"/api/v1/applications/{app}/jobs/0", token)
    got, body = api_get(port, f"/api/v1/applications/{encoded}", token)
    assert got == 200 and body["id"] == app
    got, body = api_get(port, f"/api/v1/applications/%61pp-none-0001/jobs", token)
    assert got == 404 and "no application app-none-0001 " in body["error"]
    got, body = api_get(port, f"/api/v1/applications/{app}%2Fjobs/0", token)
    assert got == 400 and "encoded / (%2F)" in body["error"], body


def test_logs_is_sparks_zip_of_the_event_log_and_output_the_task_output(running):
    """GET /applications/APP_ID/logs answers as Spark's: the application's event log as a
    zip file (application/octet-stream, eventLogs-APP_ID.zip), here the lines its driver
    relayed to the master; /output is the task output Vega kept; an unknown one is 404."""
    import io
    import zipfile

    _, port, token, app, _ = running
    code, headers, body = api_get_bytes(port, f"/api/v1/applications/{app}/logs", token)
    assert code == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == f"attachment; filename=eventLogs-{app}.zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [f"{app}.jsonl"]
        events = [json.loads(line) for line in archive.read(f"{app}.jsonl").splitlines()]
    assert events[0]["event"] == "ApplicationStart" and events[0]["app_id"] == app
    assert {e["job_id"] for e in events if e["event"] == "JobEnd"} == {0, 1}
    code, headers, body = api_get_bytes(port, f"/api/v1/applications/{app}/output", token)
    assert code == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    unknown = "app-20000101000000-0000"
    assert api_get(port, f"/api/v1/applications/{unknown}/logs", token) == \
        (404, {"error": f"no event log of {unknown} on this master"})


def test_a_finished_application_from_its_event_log(bare_master, tmp_path):
    """A master that never ran the application serves it from its event log directory,
    completed, with the same documents."""
    with Context(master="local-cluster[2,1]", app_name="finished",
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        run_workload(ctx)
        app = ctx.application_id
    shutil.copy(tmp_path / f"{app}.jsonl", bare_master.events)
    port, token = bare_master, bare_master.token
    code, listed = api_get(port, "/api/v1/applications?status=completed", token)
    assert code == 200 and [a["id"] for a in listed] == [app]
    assert spark_fields(listed[0], APPLICATION_INFO, APPLICATION_INFO_OPTIONS) == APPLICATION_INFO
    assert set(listed[0]["attempts"][0]) == APPLICATION_ATTEMPT_INFO
    assert listed[0]["attempts"][0]["completed"] is True
    assert api_get(port, "/api/v1/applications?status=running", token)[1] == []
    base = f"/api/v1/applications/{app}"
    assert [j["status"] for j in api_get(port, f"{base}/jobs", token)[1]] == \
        ["SUCCEEDED", "SUCCEEDED"]
    stage = api_get(port, f"{base}/stages/0/0", token)[1]
    assert spark_fields(stage, STAGE_DATA | STAGE_DATA_VEGA, STAGE_DATA_OPTIONS) == \
        STAGE_DATA | STAGE_DATA_VEGA and len(stage["tasks"]) == 5
    executors = api_get(port, f"{base}/allexecutors", token)[1]
    assert len(executors) == 2 and all(spark_fields(e, EXECUTOR_SUMMARY, EXECUTOR_SUMMARY_OPTIONS)
                                        == EXECUTOR_SUMMARY for e in executors)
    assert api_get(port, f"{base}/storage/rdd", token)[1][0]["numCachedPartitions"] == 4


def test_applications_are_chosen_by_start_and_end_dates_as_sparks(running, bare_master):
    """?minDate, ?maxDate (start) and ?minEndDate, ?maxEndDate (end) in Spark's two formats:
    a finished application is kept when both fall in them; a running one when it started in
    them and maxEndDate is still to come; then ?limit.  /api/v1/version is Spark's."""
    with Context(master="local", app_name="dated",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        done = ctx.application_id
    site, token = bare_master, bare_master.token

    def listed(query, where=site, key=token):
        code, body = api_get(where, f"/api/v1/applications?{query}", key)
        assert code == 200, (query, body)
        return [a["id"] for a in body]

    attempt = api_get(site, f"/api/v1/applications/{done}", token)[1]["attempts"][0]
    start, end = attempt["startTimeEpoch"], attempt["endTimeEpoch"]
    assert start < end
    for query, kept in (
            (f"minDate={spark_date(start / 1000)}", True),
            (f"minDate={spark_date((start + 1) / 1000)}", False),
            (f"maxDate={spark_date(start / 1000)}", True),
            (f"maxDate={spark_date((start - 1) / 1000)}", False),
            (f"minEndDate={spark_date(end / 1000)}", True),
            (f"minEndDate={spark_date((end + 1) / 1000)}", False),
            (f"maxEndDate={spark_date(end / 1000)}", True),
            (f"maxEndDate={spark_date((end - 1) / 1000)}", False),
            ("minDate=2010-01-01&maxDate=3000-01-01", True),
            ("maxEndDate=2010-01-01", False),
            # a zone other than GMT: the end, an hour ahead
            (f"minEndDate={spark_date(end / 1000 + 3600)[:-3]}GMT%2B01:00", True),
            (f"minEndDate={spark_date((end + 1) / 1000 + 3600)[:-3]}GMT%2B01:00", False)):
        assert listed(query) == ([done] if kept else []), query
    _, port, token, app, _ = running
    start = api_get(port, f"/api/v1/applications/{app}", token)[1]["attempts"][0][
        "startTimeEpoch"]
    for query, kept in ((f"maxDate={spark_date(start / 1000)}", True),
                        (f"minDate={spark_date((start + 1) / 1000)}", False),
                        ("minEndDate=3000-01-01", True),  # not ended: no end to compare
                        ("maxEndDate=3000-01-01", True),
                        ("maxEndDate=2010-01-01", False)):  # it ends after that
        assert (app in listed(f"status=running&{query}", port, token)) == kept, query
    assert app in listed("status=completed&status=running", port, token)
    assert listed("status=running&limit=0", port, token) == []
    assert api_get(port, "/api/v1/version", token) == (200, {"spark": __version__})
    assert api_get(port, "/api/v1/version", "wrong")[0] == 401


def test_a_jobs_group_and_tags_reach_the_master_without_an_event_log(monkeypatch):
    """A driver without an event log relays each job's group, description and tags to the
    master itself: the master's JobData has them."""
    monkeypatch.delenv("VEGA_EVENTLOG_DIR", raising=False)
    with Context(master="local-cluster[1,1]", app_name="grouped",
                 conf={"vega.eventlog.dir": ""}) as ctx:
        assert ctx.event_log is None
        ctx.set_job_group("nightly", "the nightly report")
        ctx.add_job_tag("reports")
        assert ctx.parallelize(range(4), 2).count() == 4
        cluster = ctx.backend.owned_cluster
        site, path = (cluster.webui_port, cluster.ca_file), \
            f"/api/v1/applications/{ctx.backend.app_id}/jobs/0"
        wait_for(lambda: api_get(site, path, cluster.token)[0] == 200, 30,
                 "the driver's events at the master")
        job = api_get(site, path, cluster.token)[1]
    assert (job["jobGroup"], job["description"], job["jobTags"]) == \
        ("nightly", "the nightly report", ["reports"])


def test_a_job_past_its_deadline_runs_on_to_its_end_in_the_rest_api(tmp_path):
    """countApprox answers at its timeout and its job runs on, as Spark's: the master's
    REST API shows its stage running, then COMPLETE with every task a SUCCESS once its
    last task can end (it was killed: stage FAILED, task KILLED)."""
    late = str(tmp_path / "late")
    with Context(master="local-cluster[2,1]", app_name="deadline") as ctx:
        approx = ctx.parallelize(range(10), 2).map(
            lambda x: x if x < 5 else (wait_for_file_in_task(late), x)[1]).countApprox(1500)
        assert approx == 10
        cluster = ctx.backend.owned_cluster
        site, token = (cluster.webui_port, cluster.ca_file), cluster.token
        base = f"/api/v1/applications/{ctx.backend.app_id}"
        running = wait_for(lambda: next((s for s in api_get(site, base + "/stages", token)[1]
                                         if s["numCompleteTasks"] == 1), None), 30,
                           "the stage's first task at the master")
        open(late, "w").close()
        stage = wait_for(lambda: next((s for s in api_get(site, base + "/stages", token)[1]
                                       if s["status"] == "COMPLETE"), None), 30,
                         "the stage's end at the master")
        tasks = api_get(site, base + "/stages/0/0/taskList", token)[1]
        gauge = ctx.job_metrics.snapshot()["stages_running"]
    assert (running["status"], running["numActiveTasks"]) == ("ACTIVE", 1)
    assert (stage["stageId"], stage["numActiveTasks"], stage["numKilledTasks"],
            stage["numCompleteTasks"]) == (0, 0, 0, 2)
    assert sorted((t["index"], t["status"]) for t in tasks) == [(0, "SUCCESS"), (1, "SUCCESS")]
    assert gauge == 0


def test_the_contexts_html_and_link_open_its_pages(running):
    """In Jupyter a Context shows its master, application and a link that signs in to its
    pages."""
    ctx, port, token, app, _ = running
    link = ctx.application_ui_link
    assert link == ui_url(port, f"/ui/app.html?app={app}&token={token}")
    html = ctx._repr_html_()
    assert "local-cluster[2,1]" in html and app in html and html.count("<a href=") == 1
    assert link.replace("&", "&amp;") in html
    with browser_opener(port).open(link, timeout=20) as response:  # signs in (a cookie), then the page
        assert response.status == 200 and b"app-pages.js" in response.read()


def test_submit_and_history_print_the_applications_links(bare_master, tmp_path):
    """vega submit says where the application's pages are as it starts; vega history links
    each finished application to the pages of the master that has its event logs."""
    job = write_job(tmp_path, "tiny.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print(ctx.parallelize(range(4), 2).count())
    """)
    done = vega("submit", "--master", "local-cluster[1,1]", "--conf",
                f"vega.eventlog.dir={bare_master.events}", job, env=bare_master.env)
    assert done.returncode == 0, done.stderr
    shown = re.search(r"^application (app-\S+): web UI (https://\S+/ui/app\.html\?app=(app-\S+))$",
                      done.stderr, re.M)
    assert shown and "token" not in done.stderr, done.stderr  # job logs are kept: no token
    app, = [p.name[:-len(".jsonl")] for p in bare_master.events.glob("*.jsonl")]
    assert shown.group(1) == shown.group(3)  # the master's id, which the link opens
    listed = vega("history", "--dir", str(bare_master.events), "--master", bare_master.url,
                  env=bare_master.env)
    assert listed.returncode == 0, listed.stderr
    link = ui_url(bare_master, f"/ui/app.html?app={app}&token={bare_master.token}")
    assert f"{app}: {link}" in listed.stdout
    one = vega("history", app, "--dir", str(bare_master.events), "--master", bare_master.url,
               env=bare_master.env)
    assert f"web UI: {link}" in one.stdout
    code, info = api_get(bare_master, f"/api/v1/applications/{app}", bare_master.token)
    assert code == 200 and info["attempts"][0]["completed"] is True


def test_an_application_the_master_runs_is_listed_once(tmp_path, monkeypatch):
    """The master and the driver share the event log directory (as with the default
    ~/.vega/events): the running application is listed once, under the master's id, not
    again from its event log under the Context's."""
    monkeypatch.setenv("VEGA_EVENTLOG_DIR", str(tmp_path))
    with Context(master="local-cluster[1,1]", app_name="once") as ctx:
        assert ctx.parallelize(range(4), 2).count() == 4
        cluster = ctx.backend.owned_cluster
        port, token = (cluster.webui_port, cluster.ca_file), cluster.token
        assert (tmp_path / f"{ctx.application_id}.jsonl").exists()
        wait_for(lambda: api_get(port, f"/api/v1/applications/{ctx.backend.app_id}/jobs",
                                 token)[1], 30, "the driver's events at the master")
        code, listed = api_get(port, "/api/v1/applications", token)
        assert code == 200 and [a["id"] for a in listed] == [ctx.backend.app_id]


def test_a_cluster_masters_link_has_the_port_it_reports(bare_master, tmp_path):
    """Against a ``vega master`` (its web UI on a port of its choosing, not 8080), vega submit
    in client mode prints the link the master reports (without its token, which
    ``--verbose`` prints), and the Context's _repr_html_ shows it signed in; the link opens
    the application's page."""
    job = write_job(tmp_path, "linked.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print("LINK", ctx.application_ui_link)
            print("HTML", ctx._repr_html_())
            print("APP", ctx.backend.app_id)
            print("URL", ctx.uiWebUrl)
    """)
    done = vega("submit", "--master", bare_master.url, job, env=bare_master.env)
    assert done.returncode == 0, done.stderr
    app = re.search(r"^APP (\S+)$", done.stdout, re.M).group(1)
    link = ui_url(bare_master, f"/ui/app.html?app={app}&token={bare_master.token}")
    unsigned = ui_url(bare_master, f"/ui/app.html?app={app}")
    assert re.search(rf"^application app-\S+: web UI {re.escape(unsigned)}$", done.stderr, re.M), \
        done.stderr
    assert re.search(r"^LINK (\S+)$", done.stdout, re.M).group(1) == link
    assert f"URL {ui_url(bare_master, '')}\n" in done.stdout
    assert f'<a href="{link.replace("&", "&amp;")}"' in done.stdout
    assert bare_master.port != 8080
    with browser_opener(bare_master).open(link, timeout=20) as response:
        assert response.status == 200 and b"app-pages.js" in response.read()


def test_a_driver_in_cluster_mode_links_to_its_masters_reported_port(tmp_path):
    """vega submit --deploy-mode cluster: the driver, on a worker, prints the link to its
    application's pages on the master's reported HTTPS port (its Context's link signed with
    the cluster's token)."""
    from test_cluster_e2e import Cluster

    from vega_runtime.net.ui_links import api_token

    cluster = Cluster(tmp_path / "standalone")
    try:
        cluster.start_worker("worker-a")
        with open(cluster.master_ready) as fh:
            webui_port = json.load(fh)["webui_port"]
        job = write_job(tmp_path, "linked.py", """
            from vega_runtime import Context
            with Context() as ctx:
                print("APP", ctx.backend.app_id)
                print("LINK", ctx.application_ui_link)
        """)
        done = cluster.submit("--deploy-mode", "cluster", job, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        app = re.search(r"^APP (\S+)$", done.stdout, re.M).group(1)
        link = ui_url((webui_port, None),
                      f"/ui/app.html?app={app}&token={api_token(cluster.secret)}")
        assert re.search(r"^LINK (\S+)$", done.stdout, re.M).group(1) == link
        # the driver's own lines come back to vega submit's stderr (its job's prints to its
        # stdout), as in client mode; what it prints itself leaves the token out
        unsigned = ui_url((webui_port, None), f"/ui/app.html?app={app}")
        assert re.search(rf"^application app-\S+: web UI {re.escape(unsigned)}$", done.stderr,
                         re.M), done.stderr[-3000:]
        assert "web UI" not in done.stdout
    finally:
        cluster.stop()
