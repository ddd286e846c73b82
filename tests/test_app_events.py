"""Replaying an application's events (app_events.replay) into Spark's REST API documents
(spark_api_documents), with events written the way the driver writes them: lost
executors, skipped, failed and running stages, speculative attempts, unpersisted RDDs."""

import json

from vega_runtime.deploy import spark_api_documents as docs
from vega_runtime.deploy.app_events import RETAINED_JOBS, RETAINED_STAGES, replay


def stage(stage_id, parents, rdd_id, level="NONE"):
    return {"stage_id": stage_id, "kind": "shuffle map" if stage_id == 0 else "result",
            "name": f"stage {stage_id}", "num_tasks": 2, "parent_ids": parents,
            "rdds": [{"rdd_id": rdd_id, "name": f"rdd{rdd_id}", "call_site": "job.py:1",
                      "num_partitions": 2, "storage_level": level, "parent_ids": [],
                      "shuffle_parent_ids": []}]}


def task(task_id, stage_id, partition, executor, state, start, seconds, attempt=0, **extra):
    return {"event": "TaskInfo", "time": start + seconds, "task_id": task_id, "job_id": 0,
            "stage_id": stage_id, "stage_attempt": 0, "partition": partition,
            "attempt": attempt, "executor": executor, "host": "10.0.0.1", "state": state,
            "speculative": False, "launch_time": start, "finish_time": start + seconds,
            "error": None if state == "success" else "RuntimeError: boom",
            "metrics": {"duration": seconds, "run_time": seconds},
            "blocks_added": [], "blocks_dropped": [], **extra}


EVENTS = [
    {"event": "ApplicationStart", "time": 100.0, "app_id": "app-1", "name": "replayed",
     "master": "vega://m:7077"},
    {"event": "ExecutorAdded", "time": 100.5, "executor": "exec-1", "host": "10.0.0.1"},
    {"event": "ExecutorAdded", "time": 100.6, "executor": "exec-2", "host": "10.0.0.2"},
    {"event": "JobStart", "time": 101.0, "job_id": 0, "description": "first"},
    {"event": "JobGraph", "time": 101.0, "job_id": 0,
     "stages": [stage(0, [], 0, "MEMORY_ONLY"), stage(1, [0], 1)]},
    {"event": "StageSubmitted", "time": 101.0, "stage_id": 0, "attempt": 0, "name": "map",
     "num_tasks": 2},
    task(0, 0, 0, "exec-1", "success", 101.0, 0.5, blocks_added=[[0, 0, "memory", 100]]),
    task(1, 0, 1, "exec-2", "success", 101.0, 1.5, blocks_added=[[0, 1, "memory", 300]]),
    task(2, 0, 1, "exec-1", "success", 101.6, 0.4, attempt=1, speculative=True),
    {"event": "StageCompleted", "time": 102.5, "stage_id": 0, "failure": None},
    {"event": "StageSubmitted", "time": 102.5, "stage_id": 1, "attempt": 0, "name": "result",
     "num_tasks": 2},
    task(3, 1, 0, "exec-2", "lost", 102.5, 0.0),
    {"event": "ExecutorRemoved", "time": 103.0, "executor": "exec-2", "host": "10.0.0.2",
     "reason": "its worker was lost", "lost": True, "cause": "worker_lost"},
    {"event": "StageCompleted", "time": 103.0, "stage_id": 1,
     "failure": "task 1.0 failed 4 times"},
    {"event": "JobEnd", "time": 103.0, "job_id": 0, "succeeded": False,
     "error": "task 1.0 failed 4 times"},
    {"event": "JobStart", "time": 104.0, "job_id": 1, "description": "second"},
    {"event": "JobGraph", "time": 104.0, "job_id": 1,
     "stages": [stage(0, [], 0, "MEMORY_ONLY"), stage(2, [0], 2)]},
    {"event": "StageSubmitted", "time": 104.0, "stage_id": 2, "attempt": 0, "name": "again",
     "num_tasks": 2},
    task(4, 2, 0, "exec-1", "success", 104.0, 0.2),
]


def test_lost_executors_keep_their_tasks_and_lose_their_blocks():
    app = replay("app-1", EVENTS)
    everyone = {e["id"]: e for e in docs.executor_summaries(app, include_dead=True)}
    assert [e["id"] for e in docs.executor_summaries(app, include_dead=False)] == ["exec-1"]
    lost = everyone["exec-2"]
    assert (lost["isActive"], lost["removeReason"]) == (False, "its worker was lost")
    assert lost["removeTime"] == "1970-01-01T00:01:43.000GMT"
    assert (lost["totalTasks"], lost["failedTasks"], lost["completedTasks"]) == (2, 1, 1)
    assert (lost["rddBlocks"], lost["memoryUsed"]) == (0, 0)  # its cached block went with it
    assert (everyone["exec-1"]["rddBlocks"], everyone["exec-1"]["memoryUsed"]) == (1, 100)
    rdd, = docs.rdd_storage(app)
    assert (rdd["id"], rdd["numCachedPartitions"], rdd["memoryUsed"]) == (0, 1, 100)
    gone = replay("app-1", EVENTS + [{"event": "UnpersistRDD", "time": 105.0, "rdd_id": 0}])
    assert docs.rdd_storage(gone) == []


def test_stage_and_job_states_skipped_stages_and_speculation():
    app = replay("app-1", EVENTS)
    states = {(s.stage_id, s.attempt): docs.stage_status(app, s) for s in app.stage_attempts()}
    assert states == {(0, 0): "COMPLETE", (1, 0): "FAILED", (2, 0): "ACTIVE"}
    first, second = docs.job_data(app, app.jobs[0]), docs.job_data(app, app.jobs[1])
    assert (first["status"], first["numFailedStages"], first["numCompletedStages"]) == \
        ("FAILED", 1, 1)
    # stage 0, whose map output is there, does not run in the running job: pending until the
    # job is over, then skipped (Spark's rule; it was counted skipped while the job ran, as
    # was a stage waiting for its parents)
    assert (second["status"], second["numSkippedStages"], second["numSkippedTasks"]) == \
        ("RUNNING", 0, 0)
    ended = replay("app-1", EVENTS + [{"event": "JobEnd", "time": 105.0, "job_id": 1,
                                       "succeeded": True}])
    over = docs.job_data(ended, ended.jobs[1])
    assert (over["status"], over["numSkippedStages"], over["numSkippedTasks"]) == \
        ("SUCCEEDED", 1, 2)
    assert [(s["stage_id"], s["status"]) for s in
            docs.job_graph(ended, ended.jobs[1])["stages"]][0] == (0, "SKIPPED")
    assert second["numActiveTasks"] == 0  # its other task has not started (Spark's count)
    started = replay("app-1", EVENTS + [start(5, 1, "exec-1", 104.3, stage_id=2)])
    assert docs.job_data(started, started.jobs[1], now=105.0)["numActiveTasks"] == 1
    graph = docs.job_graph(app, app.jobs[1])
    assert [(s["stage_id"], s["status"]) for s in graph["stages"]] == \
        [(0, "PENDING"), (2, "ACTIVE")]
    data = docs.stage_data(app, app.stages[(0, 0)], details=True)
    assert data["speculationSummary"] == {"numTasks": 1, "numActiveTasks": 0,
                                          "numCompletedTasks": 1, "numFailedTasks": 0,
                                          "numKilledTasks": 0}
    assert [t["speculative"] for t in data["tasks"].values()] == [False, False, True]
    assert data["executorRunTime"] == 500 + 1500 + 400  # milliseconds
    assert data["firstTaskLaunchedTime"] == "1970-01-01T00:01:41.000GMT"
    summary = docs.task_summary(app.stages[(0, 0)], [0.0, 0.5, 1.0])
    assert summary["duration"] == [400.0, 500.0, 1500.0]
    assert docs.task_summary(app.stages[(1, 0)], [0.5]) is None  # nothing succeeded


def test_a_running_application_and_a_cut_off_log():
    running = replay("app-1", EVENTS)
    info = docs.application_info(running, running=True)
    assert info["attempts"][0]["completed"] is False
    assert info["attempts"][0]["endTime"] == docs.NO_DATE
    assert info["coresGranted"] == 1  # one live executor, one slot each
    running.settings = [["vega.cores.max", 0, "default"]]  # all it can get: no maximum
    assert docs.application_info(running, running=True)["maxCores"] is None
    running.settings = [["vega.cores.max", 3, "command line"]]
    assert docs.application_info(running, running=True)["maxCores"] == 3
    done = docs.application_info(running, running=False)  # its driver went away
    assert done["attempts"][0]["completed"] is True
    assert done["attempts"][0]["endTimeEpoch"] == 104200


def test_new_events_apply_on_top_of_those_seen(tmp_path):
    """A running application's file is read from where the last read stopped, a line still
    being written waits for its end, and the result is the same as one full replay."""
    import json

    from vega_runtime.deploy.app_events import apply
    from vega_runtime.deploy.spark_api import _Replayed

    whole = replay("app-1", EVENTS)
    half = replay("app-1", EVENTS[:9])
    apply(half, EVENTS[9:])
    assert docs.job_data(half, half.jobs[1]) == docs.job_data(whole, whole.jobs[1])
    assert docs.executor_summaries(half, True) == docs.executor_summaries(whole, True)

    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e).encode() + b"\n" for e in EVENTS]
    path.write_bytes(b"".join(lines[:9]) + lines[9][:20])  # the 10th line half written
    replayed = _Replayed(str(path), replay("app-1", []), 0)
    replayed.read_new(path.stat().st_size)
    assert replayed.offset == sum(map(len, lines[:9])) and not replayed.app.error
    assert sum(len(s.tasks) for s in replayed.app.stages.values()) == 3
    path.write_bytes(b"".join(lines))
    replayed.read_new(path.stat().st_size)
    assert docs.job_data(replayed.app, replayed.app.jobs[1]) == docs.job_data(whole, whole.jobs[1])
    with open(path, "ab") as fh:
        fh.write(b"{not json\n")
    replayed.read_new(path.stat().st_size)
    assert replayed.app.error.startswith("a line is not a JSON event")


def test_a_big_events_file_is_replayed_a_piece_at_a_time(tmp_path, monkeypatch):
    """Pieces of a few lines (and one line longer than a piece) replay to what one full
    replay gives; a line still being written waits, as with one piece."""
    import json

    from vega_runtime.deploy import spark_api

    monkeypatch.setattr(spark_api, "REPLAY_CHUNK_BYTES", 700)
    whole = replay("app-1", EVENTS)
    lines = [json.dumps(e).encode() + b"\n" for e in EVENTS]
    assert max(map(len, lines)) > 700 > min(map(len, lines)) * 2
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][:20])
    replayed = spark_api._Replayed(str(path), replay("app-1", []), 0)
    replayed.read_new(path.stat().st_size)
    assert replayed.offset == sum(map(len, lines[:-1])) and not replayed.app.error
    path.write_bytes(b"".join(lines))
    replayed.read_new(path.stat().st_size)
    assert replayed.offset == path.stat().st_size
    assert docs.job_data(replayed.app, replayed.app.jobs[1]) == docs.job_data(whole, whole.jobs[1])
    assert docs.job_data(replayed.app, replayed.app.jobs[0]) == docs.job_data(whole, whole.jobs[0])
    assert docs.executor_summaries(replayed.app, True) == docs.executor_summaries(whole, True)


def test_the_master_keeps_relayed_events_up_to_a_bound(tmp_path, caplog):
    from vega_runtime.deploy.app_logs import RelayedEvents

    path = tmp_path / "events.jsonl"
    with RelayedEvents(str(path), max_bytes=30) as events:
        events.write("0123456789\n")
        events.write("0123456789\n")
        events.write("0123456789\n")  # would pass 30 bytes: dropped
        events.write("x\n")  # would fit, but the events must not have a gap
        assert events.dropped == 2
    assert path.read_text() == "0123456789\n" * 2
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "later events of this application are not kept" in caplog.text


def long_lived_events(jobs):
    """A Context that ran ``jobs`` jobs and runs one more: the first caches RDD 0 on exec-1,
    the second RDD 1, later unpersisted; exec-2 was lost early, with a block of RDD 0;
    stage 5's first attempt failed and ran again; the last job's task is running."""
    events = [{"event": "ApplicationStart", "time": 100.0, "app_id": "app-1", "name": "long",
               "master": "vega://m:7077"},
              {"event": "Environment", "time": 100.0, "settings": [["vega.x", "1", "job"]],
               "runtime": {"pythonVersion": "3.11"}},
              {"event": "ExecutorAdded", "time": 100.1, "executor": "exec-1", "host": "h1"},
              {"event": "ExecutorAdded", "time": 100.1, "executor": "exec-2", "host": "h2"}]
    for job in range(jobs):
        at = 101.0 + job
        level = "MEMORY_ONLY" if job < 2 else "NONE"
        attempts = [0, 1] if job == 5 else [0]
        events += [{"event": "JobStart", "time": at, "job_id": job, "description": f"job {job}"},
                   {"event": "JobGraph", "time": at, "job_id": job,
                    "stages": [stage(job, [], job, level)]}]
        for attempt in attempts:
            events.append({"event": "StageSubmitted", "time": at, "stage_id": job,
                           "attempt": attempt, "name": "count", "num_tasks": 2})
            for partition in range(2):
                task_id = 3 * job + partition + attempt
                executor = f"exec-{1 + partition}" if job == 0 else "exec-1"
                blocks = [[job, partition, "memory", 100]] if job < 2 else []
                events.append({"event": "TaskStart", "time": at, "task_id": task_id,
                               "stage_id": job, "partition": partition, "attempt": attempt,
                               "executor": executor})
                events.append({**task(task_id, job, partition, executor, "success", at, 0.5,
                                      attempt=attempt, blocks_added=blocks),
                               "job_id": job, "stage_attempt": attempt})
            events.append({"event": "StageCompleted", "time": at + 0.5, "stage_id": job,
                           "failure": "FetchFailed" if attempt < attempts[-1] else None})
        events.append({"event": "JobEnd", "time": at + 0.5, "job_id": job, "succeeded": True})
        if job == 2:
            events += [{"event": "ExecutorRemoved", "time": at + 0.6, "executor": "exec-2",
                        "reason": "lost", "lost": True},
                       {"event": "UnpersistRDD", "time": at + 0.6, "rdd_id": 1}]
    at = 101.0 + jobs
    return events + [
        {"event": "JobStart", "time": at, "job_id": jobs, "description": "running"},
        {"event": "JobGraph", "time": at, "job_id": jobs, "stages": [stage(jobs, [], jobs)]},
        {"event": "StageSubmitted", "time": at, "stage_id": jobs, "attempt": 0, "name": "count",
         "num_tasks": 2},
        start(3 * jobs, 0, "exec-1", at, stage_id=jobs)]


def shown(app):
    """What the REST API shows of ``app``."""
    info = docs.application_info(app, True)
    del info["attempts"][0]["duration"]  # (up to now)
    return (info, [docs.job_data(app, job, now=1e6) for job in app.jobs.values()],
            [docs.stage_data(app, s, details=True, now=1e6) for s in app.stage_attempts()],
            docs.executor_summaries(app, True), docs.rdd_storage(app), app.blocks,
            docs.environment(app))


def test_a_long_lived_applications_relayed_events_are_compacted_to_what_its_pages_show(
        tmp_path, caplog):
    """A Context that runs jobs for days relayed events until the master's bound for them
    (512 MiB, tens of thousands of jobs) and then kept none: its pages stopped there.  Now
    the file is compacted to the events its pages show and the relay goes on: the pages
    show the same (jobs, stages, tasks, executors, cached blocks) as a replay of every
    event, and keep showing the latest jobs."""
    import logging

    from vega_runtime.deploy.app_events import still_shown
    from vega_runtime.deploy.app_logs import RelayedEvents

    events = long_lived_events(6000)
    lines = [json.dumps(e) + "\n" for e in events]
    path = tmp_path / "events.jsonl"
    bound = 4 << 20  # the 1000 jobs retention keeps are ~1.7 MB here
    assert sum(map(len, lines)) > 2 * bound
    caplog.set_level(logging.INFO, "vega_runtime.deploy.app_logs")
    with RelayedEvents(str(path), max_bytes=bound) as relayed:
        for at in range(0, len(lines), 50):
            relayed.write("".join(lines[at:at + 50]))
        assert relayed.dropped == 0 and not relayed.full
    assert path.stat().st_size <= bound
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert caplog.text.count("compacted") >= 2 and "not kept" not in caplog.text
    compacted = replay("app-1", [json.loads(line) for line in path.read_text().splitlines()])
    whole = replay("app-1", events)
    assert shown(compacted) == shown(whole)
    assert max(compacted.jobs) == 6000 and compacted.jobs[6000].completed is None
    assert compacted.blocks == {(0, 0): {"exec-1": ("memory", 100)}}
    kept = [e for e in events if still_shown(whole)(e)]
    assert len(kept) < len(events) // 3


def test_relayed_events_that_compact_to_more_than_half_their_bound_end_there(tmp_path, caplog):
    from vega_runtime.deploy.app_logs import RelayedEvents

    events = long_lived_events(300)  # every job retained: compacting frees nothing
    lines = [json.dumps(e) + "\n" for e in events]
    path = tmp_path / "events.jsonl"
    with RelayedEvents(str(path), max_bytes=sum(map(len, lines[:-10]))) as relayed:
        for line in lines:
            relayed.write(line)
        assert relayed.full and relayed.dropped == 10
    assert path.read_text() == "".join(lines[:-10])
    assert "later events of this application are not kept" in caplog.text


def start(task_id, partition, executor, at, attempt=0, speculative=False, stage_id=0):
    return {"event": "TaskStart", "time": at, "stage_id": stage_id, "partition": partition,
            "task_id": task_id, "attempt": attempt, "executor": executor, "host": "10.0.0.1",
            "speculative": speculative}


#: a straggler (task 1 on exec-2) gets a speculative copy (task 2 on exec-1) that wins
SPECULATED = [
    {"event": "ApplicationStart", "time": 200.0, "app_id": "app-2", "name": "speculated",
     "master": "vega://m:7077"},
    {"event": "ExecutorAdded", "time": 200.1, "executor": "exec-1", "host": "10.0.0.1"},
    {"event": "ExecutorAdded", "time": 200.2, "executor": "exec-2", "host": "10.0.0.2"},
    {"event": "JobStart", "time": 201.0, "job_id": 0, "description": "slow"},
    {"event": "JobGraph", "time": 201.0, "job_id": 0, "stages": [stage(0, [], 0)]},
    {"event": "StageSubmitted", "time": 201.0, "stage_id": 0, "attempt": 0, "name": "map",
     "num_tasks": 2},
    start(0, 0, "exec-1", 201.0),
    start(1, 1, "exec-2", 201.0),
    task(0, 0, 0, "exec-1", "success", 201.0, 0.5),
    {"event": "SpeculativeTaskSubmitted", "time": 202.0, "stage_id": 0, "partition": 1},
    start(2, 1, "exec-1", 202.0, attempt=1, speculative=True),
    # -- 9 events: running; then the copy wins and the original is killed
    task(2, 0, 1, "exec-1", "success", 202.0, 0.6, attempt=1, speculative=True),
    {"event": "TaskKilled", "time": 202.6, "stage_id": 0, "partition": 1, "task_id": 1,
     "attempt": 0, "executor": "exec-2", "speculative": False,
     "reason": "another attempt finished first"},
    {"event": "StageCompleted", "time": 202.6, "stage_id": 0, "failure": None},
    {"event": "JobEnd", "time": 202.6, "job_id": 0, "succeeded": True, "error": None},
]


def test_started_attempts_are_running_with_their_duration_so_far():
    app = replay("app-2", SPECULATED[:11])
    stage0 = app.stages[(0, 0)]
    listed = docs.task_list(app, stage0, now=203.0)
    assert [(t["taskId"], t["status"], t["duration"], t["speculative"], t["executorId"])
            for t in listed] == [(0, "SUCCESS", 500, False, "exec-1"),
                                 (1, "RUNNING", 2000, False, "exec-2"),
                                 (2, "RUNNING", 1000, True, "exec-1")]
    assert listed[1]["launchTime"] == "1970-01-01T00:03:21.000GMT"
    assert listed[1]["taskMetrics"]["executorRunTime"] == 0  # no metrics before it ends
    assert [t["taskId"] for t in docs.task_list(app, stage0, statuses=["RUNNING"], now=203.0)] \
        == [1, 2]
    assert [t["taskId"] for t in docs.task_list(app, stage0, sort_by="decreasingRuntime",
                                                now=203.0)] == [1, 2, 0]
    data = docs.stage_data(app, stage0, details=True, now=203.0)
    assert (data["status"], data["numActiveTasks"], data["numCompleteTasks"],
            data["numKilledTasks"]) == ("ACTIVE", 2, 1, 0)
    assert data["speculationSummary"] == {"numTasks": 1, "numActiveTasks": 1,
                                          "numCompletedTasks": 0, "numFailedTasks": 0,
                                          "numKilledTasks": 0}
    assert sorted(data["tasks"]) == ["0", "1", "2"]
    assert data["executorSummary"]["exec-1"]["succeededTasks"] == 1
    assert "exec-2" not in data["executorSummary"]  # nothing of it has ended yet
    job = docs.job_data(app, app.jobs[0], now=203.0)
    assert (job["status"], job["numActiveTasks"], job["numCompletedTasks"]) == \
        ("RUNNING", 2, 1)
    executors = {e["id"]: e for e in docs.executor_summaries(app, True, now=203.0)}
    assert [(executors[e]["activeTasks"], executors[e]["totalTasks"],
             executors[e]["completedTasks"], executors[e]["totalDuration"])
            for e in ("exec-1", "exec-2")] == [(1, 2, 1, 500), (1, 1, 0, 0)]


def test_the_loser_of_a_speculation_is_killed():
    app = replay("app-2", SPECULATED)
    stage0 = app.stages[(0, 0)]
    assert stage0.running == {}
    listed = docs.task_list(app, stage0, now=999.0)
    assert [(t["taskId"], t["status"], t["duration"], t["speculative"], t["errorMessage"])
            for t in listed] == [(0, "SUCCESS", 500, False, None),
                                 (1, "KILLED", 1600, False, "another attempt finished first"),
                                 (2, "SUCCESS", 600, True, None)]
    data = docs.stage_data(app, stage0, details=True)
    assert (data["status"], data["numActiveTasks"], data["numCompleteTasks"],
            data["numKilledTasks"], data["numFailedTasks"], data["numCompletedIndices"]) == \
        ("COMPLETE", 0, 2, 1, 0, 2)
    assert data["killedTasksSummary"] == {"another attempt finished first": 1}
    assert data["speculationSummary"] == {"numTasks": 1, "numActiveTasks": 0,
                                          "numCompletedTasks": 1, "numFailedTasks": 0,
                                          "numKilledTasks": 0}
    assert data["executorSummary"]["exec-2"]["killedTasks"] == 1
    job = docs.job_data(app, app.jobs[0])
    assert (job["status"], job["numActiveTasks"], job["numKilledTasks"],
            job["numCompletedTasks"], job["killedTasksSummary"]) == \
        ("SUCCEEDED", 0, 1, 2, {"another attempt finished first": 1})
    executors = {e["id"]: e for e in docs.executor_summaries(app, True)}
    assert [(executors[e]["activeTasks"], executors[e]["totalTasks"],
             executors[e]["completedTasks"], executors[e]["failedTasks"])
            for e in ("exec-1", "exec-2")] == [(0, 2, 2, 0), (0, 1, 0, 0)]
    # the quantiles stay those of the successful attempts
    assert docs.task_summary(stage0, [0.0, 1.0])["duration"] == [500.0, 600.0]


def test_an_attempt_left_running_when_its_stage_ended_shows_as_killed():
    """The driver stops waiting for a failed job's other attempts: no event ends them."""
    events = SPECULATED[:11] + [
        task(2, 0, 1, "exec-1", "failed", 202.0, 0.6, attempt=1, speculative=True),
        {"event": "StageCompleted", "time": 203.0, "stage_id": 0, "failure": "boom"},
        {"event": "JobEnd", "time": 203.0, "job_id": 0, "succeeded": False, "error": "boom"}]
    app = replay("app-2", events)
    listed = docs.task_list(app, app.stages[(0, 0)], now=999.0)
    assert [(t["taskId"], t["status"], t["duration"], t["errorMessage"]) for t in listed] == \
        [(0, "SUCCESS", 500, None), (1, "KILLED", 2000, "Stage cancelled: boom"),
         (2, "FAILED", 600, "RuntimeError: boom")]
    assert docs.job_data(app, app.jobs[0])["numActiveTasks"] == 0


def test_the_executor_timeline_steps_with_each_executor_added_released_or_lost():
    events = SPECULATED + [
        {"event": "ExecutorRemoved", "time": 204.0, "executor": "exec-2", "host": "10.0.0.2",
         "reason": "exec-2 was idle for 1s: released", "lost": False, "cause": ""},
        {"event": "ExecutorAdded", "time": 205.0, "executor": "exec-3", "host": "10.0.0.3"},
        {"event": "ExecutorRemoved", "time": 206.0, "executor": "exec-1", "host": "10.0.0.1",
         "reason": "exec-1 ran out of memory", "lost": True, "cause": "oom"},
        {"event": "ApplicationEnd", "time": 207.0}]
    timeline = docs.executor_timeline(replay("app-2", events), now=300.0)
    assert (timeline["startTime"], timeline["endTime"], timeline["now"]) == \
        (200000, 207000, 300000)
    assert [(p["time"], p["executors"], p["change"], p["executorId"], p["cause"])
            for p in timeline["points"]] == [
        (200100, 1, "added", "exec-1", ""), (200200, 2, "added", "exec-2", ""),
        (204000, 1, "released", "exec-2", ""), (205000, 2, "added", "exec-3", ""),
        (206000, 1, "lost", "exec-1", "oom")]
    assert timeline["points"][2]["reason"] == "exec-2 was idle for 1s: released"


def test_an_application_over_without_its_end_has_its_running_job_failed():
    """A driver killed mid-job leaves no JobEnd, StageCompleted or ApplicationEnd: once the
    master knows it is over, its running job is FAILED (ended with its last event), its
    active stage FAILED and the attempt still running there KILLED; nothing is active."""
    from vega_runtime.deploy.spark_api import ended_at_last_event

    running = replay("app-1", EVENTS + [start(5, 1, "exec-1", 104.3, stage_id=2)])
    assert docs.job_data(running, running.jobs[1], now=105.0)["status"] == "RUNNING"
    over = ended_at_last_event(running)
    assert running.ended is None  # the replay itself goes on from where it was
    job = docs.job_data(over, over.jobs[1])
    assert (job["status"], job["completionTime"]) == ("FAILED", "1970-01-01T00:01:44.300GMT")
    assert (job["numActiveTasks"], job["numKilledTasks"], job["numCompletedTasks"]) == (0, 1, 1)
    assert (job["numActiveStages"], job["numFailedStages"]) == (0, 1)
    stage = docs.stage_data(over, over.stages[(2, 0)], details=True)
    assert (stage["status"], stage["numActiveTasks"], stage["numKilledTasks"]) == \
        ("FAILED", 0, 1)
    first = docs.job_data(over, over.jobs[0])  # ended on its own: as it was
    assert (first["status"], first["completionTime"]) == ("FAILED", "1970-01-01T00:01:43.000GMT")


def test_a_long_lived_applications_log_replays_in_linear_time_keeping_the_latest_jobs():
    """A Context that ran thousands of jobs: each event finds its stage attempt in one
    look-up (the master's /api/v1/applications replayed a soak's log for over ten minutes
    when every task's end scanned every stage attempt seen so far), and only the latest
    1000 finished jobs and stage attempts are kept, as Spark's UI keeps (its master grew
    past 3 GB replaying 50,000 jobs)."""
    import time

    jobs = 10000
    events = [{"event": "ApplicationStart", "time": 100.0, "app_id": "app-1", "name": "long",
               "master": "vega://m:7077"}]
    for job in range(jobs):
        at = 101.0 + job
        events += [{"event": "JobStart", "time": at, "job_id": job, "description": f"job {job}"},
                   {"event": "StageSubmitted", "time": at, "stage_id": job, "attempt": 0,
                    "name": "count", "num_tasks": 2}]
        for partition in range(2):
            task_id = 2 * job + partition
            events.append({"event": "TaskStart", "time": at, "task_id": task_id,
                           "stage_id": job, "partition": partition, "attempt": 0,
                           "executor": "exec-1"})
            events.append({**task(task_id, job, partition, "exec-1", "success", at, 0.5),
                           "job_id": job})
        events += [{"event": "StageCompleted", "time": at + 0.5, "stage_id": job, "failure": None},
                   {"event": "JobEnd", "time": at + 0.5, "job_id": job, "succeeded": True}]
    started = time.monotonic()
    app = replay("app-1", events)
    took = time.monotonic() - started
    assert took < 5.0, f"replaying {len(events)} events took {took:.1f}s"
    assert sorted(app.jobs) == list(range(jobs - RETAINED_JOBS, jobs))
    assert all(j.succeeded for j in app.jobs.values())
    assert [s.stage_id for s in app.stage_attempts()] == \
        list(range(jobs - 1, jobs - 1 - RETAINED_STAGES, -1))
    assert [len(s.tasks) for s in app.stage_attempts()] == [2] * RETAINED_STAGES
    assert not any(s.running for s in app.stage_attempts())
    assert app.latest_attempt(jobs - 1).completed == 100.0 + jobs + 0.5
    assert app.latest_attempt(0) is None
    assert docs.application_info(app, True)["name"] == "long"


def test_a_long_lived_application_keeps_its_latest_dead_executors_only():
    """An application whose executors come and go (dynamic allocation over days, executors
    lost and replaced) kept a record of every executor it ever had: the master's replay,
    and every /allexecutors answer (which looks at each one's tasks), grew with them.  As
    Spark's spark.ui.retainedDeadExecutors (100), it keeps the 100 removed last and every
    live one."""
    events = [{"event": "ApplicationStart", "time": 100.0, "app_id": "app-1", "name": "churn",
               "master": "vega://m:7077"}]
    for n in range(1, 1001):
        events += [{"event": "ExecutorAdded", "time": 100.0 + n, "executor": f"exec-{n}",
                    "host": "10.0.0.1"},
                   {"event": "ExecutorRemoved", "time": 100.5 + n, "executor": f"exec-{n}",
                    "reason": "idle", "lost": False}]
    events.append({"event": "ExecutorAdded", "time": 2000.0, "executor": "exec-1001",
                   "host": "10.0.0.1"})
    app = replay("app-1", events)
    summaries = docs.executor_summaries(app, True)
    assert [e["id"] for e in summaries] == [f"exec-{n}" for n in range(901, 1002)]
    assert [e["isActive"] for e in summaries] == [False] * 100 + [True]
    assert [e["id"] for e in docs.executor_summaries(app, False)] == ["exec-1001"]


def test_a_stage_submitted_while_two_jobs_run_belongs_to_the_job_whose_graph_has_it():
    """Jobs of two threads run at once: job 0's result stage, submitted after job 1 started,
    is job 0's (by the jobs' graphs), not the job started last."""
    app = replay("app-1", [
        {"event": "ApplicationStart", "time": 100.0, "app_id": "app-1", "name": "two",
         "master": "local[2]"},
        {"event": "JobStart", "time": 101.0, "job_id": 0, "description": "first"},
        {"event": "JobGraph", "time": 101.0, "job_id": 0,
         "stages": [stage(0, [], 0), stage(1, [0], 1)]},
        {"event": "StageSubmitted", "time": 101.0, "stage_id": 0, "attempt": 0, "name": "map",
         "num_tasks": 2},
        {"event": "JobStart", "time": 101.5, "job_id": 1, "description": "second"},
        {"event": "JobGraph", "time": 101.5, "job_id": 1, "stages": [stage(2, [], 2)]},
        {"event": "StageSubmitted", "time": 101.5, "stage_id": 2, "attempt": 0,
         "name": "other", "num_tasks": 2},
        {"event": "StageCompleted", "time": 102.0, "stage_id": 0, "failure": None},
        {"event": "StageSubmitted", "time": 102.0, "stage_id": 1, "attempt": 0,
         "name": "result", "num_tasks": 2},
    ])
    assert {key: stage.job_id for key, stage in app.stages.items()} == \
        {(0, 0): 0, (2, 0): 1, (1, 0): 0}


def test_a_drivers_clock_set_back_mid_run_never_ends_a_span_before_it_started():
    """The driver's wall clock set back an hour (NTP, a VM restored) while a job and its
    stage ran: each end is its start plus the steady seconds between their events
    (``elapsed``), the application's duration its end's steady ``duration``; without them (a
    log of before) an end is at its start at the earliest.  Its end read 3,590 s before
    its start, its duration -3,590,000 ms."""
    def events(steady: bool):
        def at(t, elapsed, **e):
            return {**e, "time": t, **({"elapsed": elapsed} if steady else {})}
        return [
            at(1000.0, 0.0, event="ApplicationStart", app_id="app-1", name="stepped",
               master="local"),
            at(1001.0, 1.0, event="JobStart", job_id=0, description="count"),
            at(1001.0, 1.0, event="JobGraph", job_id=0, stages=[stage(0, [], 0)]),
            at(1001.5, 1.5, event="StageSubmitted", stage_id=0, attempt=0, name="count",
               num_tasks=2),
            at(1004.0 - 3600.0, 4.0, event="StageCompleted", stage_id=0, failure=None),
            at(1005.0 - 3600.0, 5.0, event="JobEnd", job_id=0, succeeded=True),
            at(1010.0 - 3600.0, 10.0, event="ApplicationEnd",
               **({"duration": 10.0} if steady else {}))]

    app = replay("app-1", events(steady=True))
    attempt = docs.application_info(app, running=False)["attempts"][0]
    assert (attempt["startTimeEpoch"], attempt["endTimeEpoch"], attempt["duration"]) == \
        (1_000_000, 1_010_000, 10_000)
    job = docs.job_data(app, app.jobs[0])
    assert (job["submissionTime"], job["completionTime"]) == \
        (docs.spark_date(1001.0), docs.spark_date(1005.0))
    assert docs.stage_data(app, app.stages[(0, 0)], False)["completionTime"] == \
        docs.spark_date(1004.0)

    before = replay("app-1", events(steady=False))
    attempt = docs.application_info(before, running=False)["attempts"][0]
    assert (attempt["endTimeEpoch"], attempt["duration"]) == (1_000_000, 0)
    assert docs.job_data(before, before.jobs[0])["completionTime"] == docs.spark_date(1001.0)

    # running, its clock set back: as long as its events span at least
    running = replay("app-1", events(steady=True)[:-3])
    assert docs.application_info(running, running=True, now=1006.0 - 3600.0)[
        "attempts"][0]["duration"] == 1_500
