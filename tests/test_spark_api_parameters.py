"""The query parameters Spark's monitoring REST API documents for stages and tasks
(``details``, ``taskStatus``, ``withSummaries``, ``quantiles``, ``sortBy``, ``status``),
with the values Spark's server takes, on a running application of a real master
(``local-cluster[2,1]``).  Each answer is compared with what Spark 4.3's own server gave
for the same request on a running PySpark application."""

import pytest
from http_helpers import api_get
from proc_helpers import wait_for
from ui_workload import FLAKY_PARTITION, run_workload

from vega_runtime import Context
from vega_runtime.deploy.spark_api_documents import quantile_values

#: Spark's ExecutorMetricsDistributions, without the JVM's peakMemoryMetrics
EXECUTOR_METRICS_DISTRIBUTIONS = {
    "quantiles", "taskTime", "failedTasks", "succeededTasks", "killedTasks", "inputBytes",
    "inputRecords", "outputBytes", "outputRecords", "shuffleRead", "shuffleReadRecords",
    "shuffleWrite", "shuffleWriteRecords", "memoryBytesSpilled", "diskBytesSpilled"}


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """(port and CA, token, application id) of a local-cluster application that has run
    the workload (stage 0: 4 tasks, one of them failing once) and still runs."""
    events = tmp_path_factory.mktemp("events")
    with Context(master="local-cluster[2,1]", app_name="rest-parameters",
                 conf={"vega.eventlog.dir": str(events)}) as ctx:
        run_workload(ctx)
        cluster = ctx.backend.owned_cluster
        site, token, app = (cluster.webui_port, cluster.ca_file), cluster.token, \
            ctx.backend.app_id
        wait_for(lambda: get((site, token, app), "/jobs/1", None)[1].get("status") ==
                 "SUCCEEDED", 30, "the master to have the driver's events")
        yield site, token, app


def get(running, path, code=200):
    site, token, app = running
    got, body = api_get(site, f"/api/v1/applications/{app}{path}", token)
    assert code is None or got == code, (path, got, body)
    return got, body


def body(running, path):
    return get(running, path)[1]


def test_task_status_keeps_those_tasks_and_the_stages_that_have_them(running):
    """``?details=true&taskStatus=FAILED`` lists only the stages with a failed attempt, each
    with only those attempts (Spark's answer: stage 3 of 4, its one failed task); on one
    stage (details by default) only those tasks; without details it chooses nothing."""
    listed = body(running, "/stages?details=true&taskStatus=FAILED")
    assert [(s["stageId"], [(t["index"], t["status"]) for t in s["tasks"].values()])
            for s in listed] == [(0, [(FLAKY_PARTITION, "FAILED")])]
    assert [s["stageId"] for s in body(running, "/stages?taskStatus=FAILED")] == [2, 1, 0]
    one, = body(running, "/stages/0?taskStatus=failed")
    assert [t["status"] for t in one["tasks"].values()] == ["FAILED"]
    assert one["numCompleteTasks"] == 4 and len(one["executorSummary"]) == 2  # not filtered
    both = body(running, "/stages/0/0?taskStatus=failed&taskStatus=SUCCESS")
    assert sorted(t["status"] for t in both["tasks"].values()) == ["FAILED"] + ["SUCCESS"] * 4
    assert body(running, "/stages?details=true&taskStatus=killed") == []
    got, error = get(running, "/stages?taskStatus=lost", 400)
    assert error == {"error": "taskStatus must be running, killed, failed, success or "
                              "unknown, not 'lost'"}


def test_with_summaries_adds_task_and_executor_distributions(running):
    """``?withSummaries=true`` adds taskMetricsDistributions (taskSummary's document) and
    executorMetricsDistributions, at Spark's default quantiles 0, .25, .5, .75, 1 or the
    ``quantiles`` given (sorted, as Spark's); without it neither is there."""
    stage, = [s for s in body(running, "/stages?withSummaries=true") if s["stageId"] == 0]
    tasks = body(running, "/stages/0/0/taskList?length=100")
    done = [t for t in tasks if t["status"] == "SUCCESS"]
    quantiles = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert stage["taskMetricsDistributions"] == \
        body(running, "/stages/0/0/taskSummary?quantiles=0,0.25,0.5,0.75,1")
    assert stage["taskMetricsDistributions"]["duration"] == \
        quantile_values([t["duration"] for t in done], quantiles)
    executors = stage["executorMetricsDistributions"]
    assert set(executors) == EXECUTOR_METRICS_DISTRIBUTIONS
    summaries = body(running, "/stages/0/0")["executorSummary"].values()
    assert executors["quantiles"] == quantiles
    for field in EXECUTOR_METRICS_DISTRIBUTIONS - {"quantiles"}:
        assert executors[field] == quantile_values([s[field] for s in summaries], quantiles)
    assert sum(quantile_values([s["failedTasks"] for s in summaries], [1.0])) == 1
    one = body(running, "/stages/0/0?withSummaries=true&quantiles=0.9,0.1&details=false")
    assert "tasks" not in one
    assert one["taskMetricsDistributions"]["quantiles"] == [0.1, 0.9]
    assert one["executorMetricsDistributions"]["quantiles"] == [0.1, 0.9]
    attempt, = body(running, "/stages/0?withSummaries=TRUE")
    assert attempt["taskMetricsDistributions"]["quantiles"] == quantiles
    for path in ("/stages", "/stages/0/0", "/stages/0/0?withSummaries=no"):
        shown = body(running, path)
        for stage in shown if isinstance(shown, list) else [shown]:
            assert "taskMetricsDistributions" not in stage, path
            assert "executorMetricsDistributions" not in stage, path
    assert get(running, "/stages?withSummaries=true&quantiles=x", 400)[1]["error"] == \
        "quantiles must be numbers between 0 and 1 separated by commas, not 'x'"


def test_task_list_takes_sparks_sort_orders_and_several_statuses(running):
    """``sortBy`` takes Spark's ``runtime`` and ``-runtime`` (and its enum's names, in any
    case), and ``status`` several values, as Spark's taskList (before, both got 400)."""
    tasks = body(running, "/stages/0/0/taskList?length=100")
    by_runtime = sorted(tasks, key=lambda t: t["duration"])
    for sort_by, expected in (("runtime", by_runtime), ("INCREASING_RUNTIME", by_runtime),
                              ("-runtime", by_runtime[::-1]),
                              ("decreasing_runtime", by_runtime[::-1]),
                              ("id", sorted(tasks, key=lambda t: t["taskId"]))):
        listed = body(running, f"/stages/0/0/taskList?length=100&sortBy={sort_by}")
        assert [t["duration"] for t in listed] == [t["duration"] for t in expected], sort_by
        assert sorted(t["taskId"] for t in listed) == sorted(t["taskId"] for t in tasks)
    assert get(running, "/stages/0/0/taskList?sortBy=size", 400)[1] == \
        {"error": "sortBy must be ID, runtime or -runtime, not 'size'"}
    several = body(running, "/stages/0/0/taskList?status=failed&status=success")
    assert sorted(t["status"] for t in several) == ["FAILED"] + ["SUCCESS"] * 4
    assert [t["status"] for t in body(running, "/stages/0/0/taskList?status=FAILED")] == \
        ["FAILED"]
