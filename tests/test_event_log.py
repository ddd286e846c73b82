"""Event logs, vega history and the end-of-application summary."""

import json
import re
import os
import subprocess
import sys
import time

import pytest

from vega_runtime import Context

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_event_log_records_jobs_stages_and_tasks(tmp_path):
    """Every job, stage and task of an application lands in its JSON-lines log."""
    from operator import add

    with Context(master="local[2]", app_name="logged", conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(20), 4).map(lambda x: (x % 2, x)).reduce_by_key(add).collect()
        path = ctx.event_log.path
    events = [json.loads(line) for line in open(path)]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ApplicationStart" and kinds[-1] == "ApplicationEnd"
    assert kinds.count("JobStart") == kinds.count("JobEnd") == 1
    assert kinds.count("StageSubmitted") == kinds.count("StageCompleted") == 2
    assert kinds.count("TaskEnd") == 8
    assert sorted(e["executor"] for e in events if e["event"] == "ExecutorAdded") == \
        ["exec-1", "exec-2"]
    assert all(e["time"] > 0 for e in events)


def test_a_driver_whose_clock_is_set_back_an_hour_ran_for_as_long_as_it_ran(tmp_path,
                                                                               monkeypatch):
    """The wall clock set back an hour while a Context runs (an NTP step, a clock set by
    hand): its summary (what `vega submit` prints at the end, `vega history`) gives the
    seconds it ran, measured on a clock that does not jump (it said -3,599 s), though its
    end's time is the wall clock's, an hour before its start's; so does its REST duration,
    its endTime at its startTime plus those seconds at the earliest."""
    from vega_runtime.scheduler import event_log

    began = time.monotonic()
    ctx = Context(master="local", app_name="stepped", conf={"vega.eventlog.dir": str(tmp_path)})
    try:
        assert ctx.parallelize(range(10), 2).count() == 10
        wall = time.time
        monkeypatch.setattr(time, "time", lambda: wall() - 3600.0)
    finally:
        ctx.stop()
    ran = time.monotonic() - began
    events = [json.loads(line) for line in open(ctx.event_log.path)]
    assert events[-1]["time"] < events[0]["time"] - 3500.0
    summary = event_log.summarize(ctx.event_log.path)
    assert 0.0 <= summary["duration_seconds"] <= ran + 0.001, (summary, ran)
    # and the REST API's (a master's, Spark's history server's) end is not before its start
    from vega_runtime.deploy import spark_api_documents as docs
    from vega_runtime.deploy.app_events import replay

    attempt = docs.application_info(replay("app", events), running=False)["attempts"][0]
    assert attempt["endTimeEpoch"] >= attempt["startTimeEpoch"]
    assert 0 <= attempt["duration"] <= ran * 1000 + 1, (attempt, ran)
    assert all(e["elapsed"] >= 0 for e in events if e["event"].startswith(("Job", "Stage")))


def test_vega_history_lists_and_summarises_applications(tmp_path):
    """vega history lists finished applications; vega history APP_ID gives stages and totals."""
    with Context(master="local", app_name="summarised",
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(10), 2).map(lambda x: (x, 1)).group_by_key().count()
        app_id = ctx.application_id
    env = {**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "vega_cli.main", "history", *args],
                                       cwd=REPO, env=env, capture_output=True, text=True)
    listed = json.loads(run("--json").stdout)
    assert [(s["app_id"], s["name"], s["finished"]) for s in listed] == [(app_id, "summarised", True)]
    summary = json.loads(run(app_id, "--json").stdout)
    assert summary["jobs"] == 1 and summary["tasks"] == 4 and len(summary["stages"]) == 2
    assert summary["shuffle_written_bytes"] == summary["shuffle_read_bytes"] > 0
    text = run(app_id)
    assert text.returncode == 0 and "stages" in text.stdout and app_id in text.stdout
    missing = run("app-nope")
    assert missing.returncode == 1 and "no event log" in missing.stderr
    for args in (("--dir", str(tmp_path / "typo")), ("--json", "--dir", str(tmp_path / "typo"))):
        nowhere = run(*args)  # not an empty listing, as if no application had run
        assert (nowhere.returncode, nowhere.stdout) == (2, ""), nowhere.stderr  # usage
        assert f"vega: error: no event log directory {tmp_path / 'typo'}" in nowhere.stderr
    log_file = tmp_path / f"{app_id}.jsonl"  # a file given for the directory
    for args in (("--dir", str(log_file)), (app_id, "--dir", str(log_file))):
        a_file = run(*args)
        assert (a_file.returncode, a_file.stdout) == (2, ""), a_file.stderr
        assert f"vega: error: {log_file} is a file, not an event log directory" in a_file.stderr
    for bad in ("../secret", "a/b", ".hidden"):  # not a file name of the directory
        refused = run(bad)
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
        assert f"vega: error: {bad!r} is no application id" in refused.stderr
        assert "--dir" in nowhere.stderr


def test_vega_history_shows_names_and_errors_with_brackets_as_they_are(tmp_path):
    """An application named "[/daily] [bold red]etl", a stage failure whose message holds
    "[/x]", and another user's file "[/oops].jsonl" in a shared event log directory: vega
    history lists and summarises them, brackets and all. Before, rich read them as markup:
    "MarkupError: closing tag '[/daily]' ...", vega history failed for every user of that
    directory."""
    name = "[/daily] [bold red]etl"
    with Context(master="local", app_name=name,
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        with pytest.raises(Exception):
            ctx.parallelize(range(4), 2).map(lambda x: {}["[/x]"]).count()
        app_id = ctx.application_id
    (tmp_path / "[/oops].jsonl".replace("/", "")).write_text("not an event\n")
    env = {**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path), "COLUMNS": "300"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "vega_cli.main", "history", *args],
                                       cwd=REPO, env=env, capture_output=True, text=True)
    listed = run()
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout and "[oops]" in listed.stdout
    one = run(app_id)
    assert one.returncode == 0, one.stderr
    assert f"{app_id} {name} on local" in one.stdout and "[/x]" in one.stdout


def test_vega_submit_prints_a_summary_at_the_end(tmp_path):
    """The last stderr line of vega submit sums the application up and names its event log."""
    result = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                             "local[2]", "jobs/wordcount.py", "data/sample.txt", "3"],
                            cwd=REPO, env={**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path)},
                            capture_output=True, text=True)
    assert result.returncode == 0
    last = result.stderr.strip().splitlines()[-1]
    assert "finished in" in last and "1 job, 2 stages, 4 tasks" in last
    assert f"event log {tmp_path}" in last


def test_vega_history_lists_a_truncated_log_as_broken_next_to_good_ones(tmp_path):
    """A log cut off mid-line (its driver was killed while writing) is listed as broken, with
    why, and summarised as far as it goes; the good log next to it is listed as before.  A
    stage whose end is not in a log (cut mid-line, or at a line's end: a driver SIGKILLed)
    is listed as Spark's history server shows it, active, timed up to the log's last event;
    it was left out, as if it had never run."""
    with Context(master="local", app_name="whole", conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(10), 2).map(lambda x: (x, 1)).group_by_key().count()
        app_id = ctx.application_id
    whole = (tmp_path / f"{app_id}.jsonl").read_bytes()
    (tmp_path / "app-cut-0001.jsonl").write_bytes(
        whole[:whole.index(b'"TaskEnd"') + 20].replace(app_id.encode(), b"app-cut-0001"))
    second_stage_end = whole.index(b"\n", whole.rindex(b'"StageSubmitted"')) + 1
    (tmp_path / "app-cut-0002.jsonl").write_bytes(  # the first stage ended, the second not
        whole[:second_stage_end].replace(app_id.encode(), b"app-cut-0002"))
    env = {**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path), "COLUMNS": "200"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "vega_cli.main", "history", *args],
                                       cwd=REPO, env=env, capture_output=True, text=True)
    listed = {s["app_id"]: s for s in json.loads(run("--json").stdout)}
    assert listed[app_id]["broken"] is False and listed[app_id]["finished"]
    assert [s["status"] for s in listed[app_id]["stages"]] == ["COMPLETE", "COMPLETE"]
    cut = listed["app-cut-0001"]
    assert cut["broken"] is True and "line" in cut["error"] and "cut off" in cut["error"]
    assert cut["name"] == "whole" and cut["jobs"] == 0 and not cut["finished"]
    active = {"stage_id": 0, "name": listed[app_id]["stages"][0]["name"], "tasks": 2,
              "attempt": 0, "failure": None, "status": "ACTIVE"}
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in cut["stages"]] == [active]
    killed = listed["app-cut-0002"]
    assert (killed["broken"], killed["finished"], killed["jobs"]) == (False, False, 0)
    assert [(s["stage_id"], s["status"], s["failure"]) for s in killed["stages"]] == \
        [(0, "COMPLETE", None), (1, "ACTIVE", None)]
    assert killed["stages"][1]["seconds"] == 0.0  # submitted at the log's last event
    assert 0 <= cut["stages"][0]["seconds"] <= cut["last_updated"] - cut["started"]
    table = run()
    assert table.returncode == 0 and "broken" in table.stdout and app_id in table.stdout
    one = run("app-cut-0001")
    assert one.returncode == 0 and "broken event log" in one.stdout
    assert re.search(r"│ 0 +│ 0 +│ .* │ 2 +│ \d+\.\d{3} so far │ active +│", one.stdout), one.stdout


def test_vega_history_of_a_log_broken_at_its_first_line_names_nothing_it_lacks(tmp_path):
    """A log whose first line is not an event (a file of something else, or cut at once)
    has no name, master or start: vega history shows them empty, where it printed
    'None on None' and a start in 1970."""
    (tmp_path / "app-20261205230000-abcd.jsonl").write_text('garbage\n{"event": "JobStart"}\n')
    env = {**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path), "COLUMNS": "200"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "vega_cli.main", "history", *args],
                                       cwd=REPO, env=env, capture_output=True, text=True)
    table, one = run(), run("app-20261205230000-abcd")
    assert table.returncode == one.returncode == 0
    assert "broken" in table.stdout and "1970" not in table.stdout
    assert "None" not in one.stdout
    assert "app-20261205230000-abcd: 0.00s, 0 jobs (0 failed)" in one.stdout


def test_vega_history_shows_an_application_of_days_in_hours(tmp_path):
    """An application that ran for three days reads 72h00m, as vega status shows durations
    (it read 259200.0s); one of under a minute keeps its tenths; one job is "1 job"."""
    start, end = 1796000000.0, 1796000000.0 + 3 * 86400
    lines = [{"event": "ApplicationStart", "time": start, "app_id": "app-20261206030000-0001",
              "name": "days", "master": "local"},
             {"event": "JobStart", "time": start, "job_id": 0, "description": "one"},
             {"event": "JobEnd", "time": start, "job_id": 0, "succeeded": True, "error": None},
             {"event": "ApplicationEnd", "time": end}]
    (tmp_path / "app-20261206030000-0001.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in lines))
    lines[-1]["time"] = start + 0.42
    (tmp_path / "app-20261206030000-0002.jsonl").write_text(
        "".join(json.dumps({**e, "app_id": "app-20261206030000-0002"} if "app_id" in e else e)
                + "\n" for e in lines))
    env = {**os.environ, "VEGA_EVENTLOG_DIR": str(tmp_path), "COLUMNS": "200"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "vega_cli.main", "history", *args],
                                       cwd=REPO, env=env, capture_output=True, text=True)
    table = run()
    assert table.returncode == 0, table.stderr
    assert re.search(r"app-20261206030000-0001 .* 72h00m ", table.stdout), table.stdout
    assert re.search(r"app-20261206030000-0002 .* 0\.4s ", table.stdout), table.stdout
    assert "app-20261206030000-0001 days on local: 72h00m, 1 job (0 failed), 0 tasks " \
        "(0 failed attempts)" in run("app-20261206030000-0001").stdout  # "1 jobs" before


def test_task_level_lines_are_those_json_dumps_writes():
    """TaskStart, TaskEnd, TaskMetrics and TaskInfo lines are encoded by hand for speed: byte for byte what
    json.dumps writes, odd values (quotes, non-ASCII, non-finite or integer durations,
    non-bool flags) included."""
    from vega_runtime.scheduler.event_log import EventWriter
    from vega_runtime.scheduler.task_events import task_info
    from vega_runtime.scheduler.dag import TaskSpec

    class Lines(EventWriter):
        def __init__(self):
            self.lines = []

        def write(self, line, flush):
            self.lines.append((line, flush))

    writer = Lines()
    writer.on_task_start(3, 17, 12345, 0, "exec-1", "127.0.0.1", False)
    writer.on_task_start(3, 17, 12346, 2, 'ex"ec\\2', "h\u00f6st\n", True)
    writer.on_task_end(3, 17, "exec-1", True, 0.000123456, 0, False)
    writer.on_task_end(3, 17, "exéc", False, float("nan"), 1, True)
    writer.on_task_end(3, 17, "exec-1", 1, 0, 1, 0)
    writer.on_task_end(3, 17, "exec-1", True, float("inf"), 0, False)
    writer.on_task_metrics("success", {"shuffle_bytes_written": 1024.0, "duration": 0.1})
    writer.on_task_metrics("fetch_failed", {"shuffle_bytes_read": 7})
    spec = TaskSpec(task_id=12345, job_id=2, stage_id=3, stage_attempt=0, partition=17,
                    attempt=1)
    infos = [task_info(spec, "exec-1", "127.0.0.1", "success",
                       {"duration": 0.000123, "launch_time": 1764770000.25, "run_time": 1e-05},
                       None, [(4, 17, "memory", 1024)], []),
             task_info(spec, "ex\u00e9c", "h\"ost", "failed", {"duration": float("nan")},
                       "ValueError: bad \"input\"\nline 2"),
             {**task_info(spec, "exec-1", "h", "success", {}, None), "extra": 1}]
    for info in infos:
        writer.on_task_info(info)
    expected = [
        ("TaskStart", dict(stage_id=3, partition=17, task_id=12345, attempt=0, executor="exec-1",
                           host="127.0.0.1", speculative=False)),
        ("TaskStart", dict(stage_id=3, partition=17, task_id=12346, attempt=2,
                           executor='ex"ec\\2', host="h\u00f6st\n", speculative=True)),
        ("TaskEnd", dict(stage_id=3, partition=17, executor="exec-1", success=True,
                         duration=0.000123456, attempt=0, speculative=False)),
        ("TaskEnd", dict(stage_id=3, partition=17, executor="exéc", success=False,
                         duration=float("nan"), attempt=1, speculative=True)),
        ("TaskEnd", dict(stage_id=3, partition=17, executor="exec-1", success=1, duration=0,
                         attempt=1, speculative=0)),
        ("TaskEnd", dict(stage_id=3, partition=17, executor="exec-1", success=True,
                         duration=float("inf"), attempt=0, speculative=False)),
        ("TaskMetrics", dict(outcome="success", shuffle_written=1024, shuffle_read=0)),
        ("TaskMetrics", dict(outcome="fetch_failed", shuffle_written=0, shuffle_read=7)),
        *(("TaskInfo", info) for info in infos),
    ]
    assert len(writer.lines) == len(expected)
    for (line, flush), (event, fields) in zip(writer.lines, expected):
        at = json.loads(line)["time"]
        assert line == json.dumps({"event": event, "time": at, **fields})
        assert flush is False


def test_a_summary_cache_reads_again_only_the_logs_that_grew(tmp_path):
    """Logs are only appended to: a log of the same size is not read again (its summary is
    kept even if its bytes were rewritten), one that grew is, one that went is dropped."""
    from vega_runtime.scheduler.event_log import SummaryCache

    def write(name, jobs):
        lines = [{"event": "ApplicationStart", "time": 1.0, "app_id": name, "name": name,
                  "master": "local"}]
        lines += [{"event": "JobEnd", "time": 2.0 + i, "job_id": i, "succeeded": True}
                  for i in range(jobs)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))

    write("app-a", 1)
    write("app-b", 2)
    now = [0.0]
    cache = SummaryCache(clock=lambda: now[0])
    assert [(s["app_id"], s["jobs"]) for s in cache.list(str(tmp_path))] == [("app-a", 1),
                                                                         ("app-b", 2)]
    text = (tmp_path / "app-a.jsonl").read_text()
    (tmp_path / "app-a.jsonl").write_text(text.replace('"name": "app-a"', '"name": "app-z"'))
    write("app-b", 3)
    now[0] = 1.0  # (a read of a log that grew is due: reread_due)
    assert [(s["name"], s["jobs"]) for s in cache.list(str(tmp_path))] == [("app-a", 1),
                                                                       ("app-b", 3)]
    (tmp_path / "app-a.jsonl").unlink()
    assert [s["app_id"] for s in cache.list(str(tmp_path))] == ["app-b"]


def test_task_time_percentiles_and_max_are_rounded_alike(tmp_path):
    """The summary's task times (vega history, /api/v1/history, the UI's History table) are
    all rounded to 0.1 ms: the max too, not printed as 0.04526777200226206."""
    from vega_runtime.scheduler.event_log import summarize

    log = tmp_path / "app-rounded-0001.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in (
        {"event": "ApplicationStart", "time": 10.0, "app_id": "app-rounded-0001", "name": "r"},
        {"event": "TaskEnd", "time": 10.5, "success": True, "duration": 0.0019},
        {"event": "TaskEnd", "time": 10.6, "success": True, "duration": 0.04526777200226206},
        {"event": "ApplicationEnd", "time": 11.0})))
    summary = summarize(str(log))
    assert summary["task_seconds"] == {"p50": 0.0453, "p90": 0.0453, "max": 0.0453}


def test_a_job_is_named_by_its_action_and_the_user_line_that_called_it(tmp_path):
    """Spark's JobData.name is the job's call site: the action and the line of user code
    that called it (in a helper of the user's: the helper's line), 'count at job.py:12'.
    It was the RDD's repr and where the RDD was created, the same for every job on it."""
    from vega_runtime.deploy import spark_api_documents as docs
    from vega_runtime.deploy.app_events import replay
    from vega_runtime.scheduler.event_log import read_log

    lines = []
    with Context(master="local", app_name="named",
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        numbers = ctx.parallelize(range(4), 2)

        def helper():
            lines.append(sys._getframe().f_lineno); return numbers.count()  # noqa: E702

        lines.append(sys._getframe().f_lineno); numbers.collect()  # noqa: E702
        helper()
        lines.append(sys._getframe().f_lineno); numbers.map(lambda x: (x, 1)).reduceByKey(max).collect()  # noqa: E702,E501
        lines.append(sys._getframe().f_lineno); ctx.runJob(numbers, lambda it: [sum(it)])  # noqa: E702
        path, app_id = ctx.event_log.path, ctx.application_id
    events, error = read_log(path)
    app = replay(app_id, events)
    here = os.path.basename(__file__)
    assert [docs.job_data(app, job)["name"] for job in app.jobs.values()] == [
        f"collect at {here}:{lines[0]}", f"count at {here}:{lines[1]}",
        f"collect at {here}:{lines[2]}", f"run_job at {here}:{lines[3]}"]


def test_a_jobs_group_description_and_tags_reach_sparks_job_data(tmp_path):
    """set_job_group, set_job_description and add_job_tag of the submitting thread are in
    the job's JobStart, and so in Spark's JobData (jobGroup, description, jobTags); a job
    without them keeps its call site as description, no group and no tags."""
    from vega_runtime.deploy import spark_api_documents as docs
    from vega_runtime.deploy.app_events import replay
    from vega_runtime.scheduler.event_log import read_log

    with Context(master="local", app_name="grouped",
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        ctx.set_job_group("nightly", "the nightly report")
        ctx.add_job_tag("reports")
        ctx.parallelize(range(4), 2).count()
        path, app_id = ctx.event_log.path, ctx.application_id
    events, error = read_log(path)
    assert error == ""
    app = replay(app_id, events)
    plain, grouped = (docs.job_data(app, app.jobs[i]) for i in (0, 1))
    assert (plain["jobGroup"], plain["jobTags"]) == (None, [])
    assert plain["description"] == plain["name"]  # the call site, as before
    assert (grouped["jobGroup"], grouped["description"], grouped["jobTags"]) == \
        ("nightly", "the nightly report", ["reports"])


def test_an_event_log_that_cannot_be_written_stops_logging_not_the_application(tmp_path, caplog):
    """A full disk under the event log (here its file is swapped for /dev/full, which fails
    every write with ENOSPC: the log itself is never opened through a link) is said once and
    the log is given up; the application goes on, as Spark's does. It used to raise out of
    the scheduler's listener call: the user's job failed with a bare 'OSError: [Errno 28] No
    space left on device'."""
    from vega_runtime.scheduler.event_log import EventLog

    log = EventLog(str(tmp_path), "app-x", "full", "local")
    log._file.close()
    log._file = open("/dev/full", "w", encoding="utf-8")
    log.on_job_start(0, "collect")
    log.close()
    assert log.failure == "No space left on device"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"the event log {tmp_path}/app-x.jsonl cannot be written (No space left "
                        "on device): this application's later events are not logged; free "
                        "space there or point vega.eventlog.dir elsewhere"]


def test_an_event_log_directory_that_cannot_be_made_is_named(tmp_path):
    """A vega.eventlog.dir that cannot be a directory fails the Context naming it, the file in
    the way and what to do, not with a bare FileExistsError; a VegaError (an OSError was
    shown with the job's traceback by vega submit). Before, the reason was the system's
    'File exists', which does not say that the file is what is wrong."""
    from vega_runtime.errors import EventLogUnwritable

    (tmp_path / "file").write_text("")
    for directory, where in ((tmp_path / "file" / "events", "a directory above it"),
                             (tmp_path / "file", "that directory")):
        with pytest.raises(EventLogUnwritable) as failed:
            Context(master="local", conf={"vega.eventlog.dir": str(directory)})
        assert str(failed.value) == (
            f"cannot write an event log in {directory}: a file is in the way, "
            f"{tmp_path}/file, where {where} must be: move the file away (the directory is "
            "made), point vega.eventlog.dir at another directory, or set it to '' to keep "
            "none")


def test_a_default_event_log_that_cannot_be_written_is_warned_about_not_fatal(tmp_path):
    """A home whose ~/.vega cannot hold the default event log (read-only or missing in many
    containers; here a file in the way, which stops root too) costs the application its
    event log, with one warning, not the job nor its summary (counted as it ran): nobody
    asked for that directory. Before, vega submit exited 1 with "job failed: cannot write
    an event log in ...". A directory that was named still fails (the test above)."""
    (tmp_path / ".vega").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "VEGA_EVENTLOG_DIR"}
    result = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                             "local[2]", "jobs/wordcount.py", "data/sample.txt", "3"],
                            cwd=REPO, env={**env, "HOME": str(tmp_path)},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert warnings == [
        "vega: WARNING this application keeps no event log (vega history and the master's "
        f"web UI will not list it): cannot write an event log in {tmp_path}/.vega/events: a "
        f"file is in the way, {tmp_path}/.vega, where a directory above it must be: move "
        "the file away (the directory is made), point vega.eventlog.dir at another "
        "directory, or set it to '' to keep none"]
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"app-\S+ finished in .*: 1 job, 2 stages, 4 tasks .*; no event log",
                        last), result.stderr


def test_the_masters_history_listing_leaves_out_each_logs_stages(tmp_path):
    """What a master keeps and lists (/api/v1/history, asked for every second by an open
    page) is a line per application, not one entry per stage a long-lived Context ran (its
    stages counted); one application's summary (summary_of, /api/v1/history/APP_ID) has its stages."""
    from vega_runtime.scheduler.event_log import SummaryCache, list_summaries, summary_of

    lines = [{"event": "ApplicationStart", "time": 1.0, "app_id": "app-a", "name": "a",
              "master": "local"}]
    for stage_id in range(500):
        lines += [{"event": "StageSubmitted", "time": 2.0 + stage_id, "stage_id": stage_id,
                   "attempt": 0, "name": "count", "num_tasks": 2},
                  {"event": "StageCompleted", "time": 2.5 + stage_id, "stage_id": stage_id,
                   "failure": None}]
    (tmp_path / "app-a.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    listed = SummaryCache().list(str(tmp_path))
    assert [s["app_id"] for s in listed] == ["app-a"] and "stages" not in listed[0]
    whole = summary_of(str(tmp_path), "app-a")
    assert len(whole["stages"]) == 500
    assert listed[0] == {**{k: v for k, v in whole.items() if k != "stages"},
                         "stage_count": 500, "resubmitted_stages": 0}  # counted, not listed
    assert len(list_summaries(str(tmp_path))[0]["stages"]) == 500  # vega history --json


def test_a_running_applications_growing_log_is_read_again_as_often_as_its_reads_allow(
        tmp_path):
    """The master's history page asks every second: a log that grew and has not ended is
    read whole again once a second at most, and ten times its last read's seconds at most
    (event_log.reread_due; a running application's log of 164 MB took 7 s a read, asked for
    every second, before), listed as it was meanwhile; its end is listed at once, read at
    the log's two ends."""
    from vega_runtime.scheduler.event_log import SummaryCache

    now = [100.0]
    cache = SummaryCache(clock=lambda: now[0])
    log = tmp_path / "app-g.jsonl"

    def append(*events):
        with open(log, "a") as fh:
            fh.write("".join(json.dumps(e) + "\n" for e in events))

    def job(n):
        return {"event": "JobEnd", "time": 2.0 + n, "job_id": n, "succeeded": True}

    append({"event": "ApplicationStart", "time": 1.0, "app_id": "app-g", "name": "g",
            "master": "local"}, job(0))
    assert [(s["jobs"], s["finished"]) for s in cache.list(str(tmp_path))] == [(1, False)]
    append(job(1))
    now[0] = 100.5
    assert cache.list(str(tmp_path))[0]["jobs"] == 1  # read 0.5 s ago: as it was
    now[0] = 101.0
    assert cache.list(str(tmp_path))[0]["jobs"] == 2
    totals = {"jobs": 2, "failed_jobs": 0, "stage_count": 0, "resubmitted_stages": 0,
              "tasks": 0, "failed_tasks": 0, "shuffle_written_bytes": 0,
              "shuffle_read_bytes": 0, "task_seconds": {"p50": 0.0, "p90": 0.0, "max": 0.0}}
    append({"event": "ApplicationEnd", "time": 5.0, "duration": 4.0, "totals": totals})
    now[0] = 101.1
    [ended] = cache.list(str(tmp_path))
    assert (ended["jobs"], ended["finished"], ended["duration_seconds"]) == (2, True, 4.0)


def test_a_rolling_event_log_is_written_in_parts_and_read_whole(tmp_path):
    """vega.eventlog.rolling.*: past max_file_size the log goes on in APP.jsonl.2, .3...,
    each part whole lines; reading the log (summaries, vega history) takes every part, and
    a listing notices a log that grew only in a later part."""
    from vega_runtime.scheduler.event_log import EventLog, SummaryCache, part_path, read_log

    log = EventLog(str(tmp_path), "app-r", "rolled", "local", max_file_size=1000)
    now = [0.0]
    cache = SummaryCache(clock=lambda: now[0])
    for job_id in range(40):
        log.on_job_start(job_id, f"job {job_id}")
        log.on_job_end(job_id, None)
    assert cache.list(str(tmp_path))[0]["jobs"] == 40
    log.on_job_start(40, "job 40")
    log.on_job_end(40, None)
    log.close()
    parts = [part_path(log.path, n) for n in range(1, log.parts + 1)]
    assert log.parts > 3 and sorted(os.listdir(tmp_path)) == \
        sorted(os.path.basename(p) for p in parts)
    for path in parts[:-1]:
        size = os.path.getsize(path)
        assert 1000 <= size < 1200 and open(path, "rb").read().endswith(b"\n")
    events, error = read_log(log.path)
    assert error == "" and [e["job_id"] for e in events if e["event"] == "JobEnd"] == \
        list(range(41))
    assert (events[0]["event"], events[-1]["event"]) == ("ApplicationStart", "ApplicationEnd")
    now[0] = 1.0  # (a read of a log that grew is due: reread_due)
    [summary] = cache.list(str(tmp_path))
    assert (summary["app_id"], summary["jobs"], summary["finished"]) == ("app-r", 41, True)


def test_sparks_rolling_event_log_settings_map_to_vegas():
    from vega_runtime.pyspark_compat.conf import vega_settings

    assert vega_settings([("spark.eventLog.rolling.enabled", "true"),
                          ("spark.eventLog.rolling.maxFileSize", "64m")]) == \
        {"vega.eventlog.rolling.enabled": "true", "vega.eventlog.rolling.max_file_size": "64m"}


def test_the_master_cleans_old_event_logs_but_a_running_applications(tmp_path):
    """vega.history.fs.cleaner.* (Spark's spark.history.fs.cleaner.*): a master running for
    days kept every event log in its vega.eventlog.dir, and its web UI listed them all
    every second (the history grew by ~500 bytes an application, the directory by the
    logs).  With the cleaner on, a log older than max_age goes, then the oldest beyond
    max_num; a running application's log stays however old and however many there are."""
    import signal

    from proc_helpers import kill_group, master_and_worker, spawn_vega, vega, wait_for, write_job

    events = tmp_path / "events"
    events.mkdir()
    old = events / "app-20200101000000-0abc.jsonl"  # a log written 8 days ago
    old.write_text('{"event": "ApplicationStart", "time": 1.0}\n')
    eight_days_ago = os.path.getmtime(old) - 8 * 24 * 3600
    os.utime(old, (eight_days_ago, eight_days_ago))
    settings = ("vega.history.fs.cleaner.enabled: true\n"
                "vega.history.fs.cleaner.interval: 0.5\n"
                "vega.history.fs.cleaner.max_num: 2\n")
    with master_and_worker(tmp_path, settings) as cluster:
        env = {**cluster["env"], "VEGA_EVENTLOG_DIR": str(events)}
        quick = write_job(tmp_path, "quick.py", """
            from vega_runtime import Context
            with Context(app_name="quick") as ctx:
                print(ctx.application_id)
        """)
        first, second = [vega("submit", "--master", cluster["url"], quick, env=env)
                         for _ in range(2)]
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr
        second_id = second.stdout.split()[-1]
        slow = write_job(tmp_path, "slow.py", """
            import time
            from vega_runtime import Context
            with Context(app_name="slow") as ctx:
                print(ctx.application_id, flush=True)
                time.sleep(600)
        """)
        driver = spawn_vega("submit", "--master", cluster["url"], slow, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True)
        try:
            running_id = driver.stdout.readline().split()[-1]
            wanted = {f"{second_id}.jsonl", f"{running_id}.jsonl"}
            # the old log by age; the first application's as the oldest beyond 2 logs
            wait_for(lambda: set(_event_logs(events)) == wanted, timeout=30,
                     what=f"only {sorted(wanted)} in {os.listdir(events)}")
            os.utime(events / f"{running_id}.jsonl", (eight_days_ago, eight_days_ago))
            # two more sweeps: the running application's log stays, old as it looks
            log = tmp_path / "master" / "master.log"
            sweeps = lambda: len(open(log).read().split("event log cleaner: deleted"))
            before = sweeps()
            (events / "app-20200101000000-0def.jsonl").write_text("")
            os.utime(events / "app-20200101000000-0def.jsonl", (eight_days_ago, eight_days_ago))
            wait_for(lambda: sweeps() > before, what="the cleaner to look again")
            assert set(_event_logs(events)) == wanted
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            kill_group(driver)


def _event_logs(directory):
    return sorted(name for name in os.listdir(directory) if ".jsonl" in name)


def _write_log(directory, app_id, ended, days_ago):
    """An event log of ``app_id`` last written ``days_ago`` days ago, ended or cut off (its
    driver was killed)."""
    path = os.path.join(str(directory), f"{app_id}.jsonl")
    lines = [{"event": "ApplicationStart", "time": 1.0, "app_id": app_id, "name": "old"}]
    lines += [{"event": "ApplicationEnd", "time": 2.0}] if ended else []
    with open(path, "w") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)
    when = os.path.getmtime(path) - days_ago * 24 * 3600
    os.utime(path, (when, when))


def test_a_drivers_event_log_directory_is_cleaned_by_default(tmp_path):
    """Every Context writes an event log (``~/.vega/events`` by default) and nothing deleted
    them: a machine running jobs for months kept them all.  A Context starting cleans its
    local directory as the master's cleaner does (vega.history.fs.cleaner.*, on by default):
    a log not written for max_age (7 d) goes, then the oldest ended logs while there are more
    than max_num (1000); a log without its end (a driver running, or killed) stays until
    max_age.  It looks at most
    once an interval (1 d) for all the processes using the directory."""
    events = tmp_path / "events"
    events.mkdir()
    _write_log(events, "app-20200101000000-0001", ended=True, days_ago=8)
    _write_log(events, "app-20200101000000-0002", ended=False, days_ago=8)
    for n, days_ago in ((3, 3.0), (4, 2.0), (5, 1.0)):
        _write_log(events, f"app-20200101000000-000{n}", ended=True, days_ago=days_ago)
    _write_log(events, "app-20200101000000-0006", ended=False, days_ago=4.0)  # running
    conf = {"vega.eventlog.dir": str(events), "vega.history.fs.cleaner.max_num": 3}
    with Context("local", app_name="cleaning", conf=conf) as ctx:
        mine = f"{ctx.application_id}.jsonl"
        assert _event_logs(events) == ["app-20200101000000-0005.jsonl",
                                       "app-20200101000000-0006.jsonl", mine]
    _write_log(events, "app-20200101000000-0007", ended=True, days_ago=9)
    with Context("local", app_name="not-due", conf=conf) as ctx:
        later = f"{ctx.application_id}.jsonl"
        assert "app-20200101000000-0007.jsonl" in _event_logs(events)  # within the interval
    assert later in _event_logs(events) and mine in _event_logs(events)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_contexts_started_in_one_second_never_share_an_event_log(tmp_path):
    """A Context names itself and its event log ``app-<second>-<4 random hex digits>``: of
    65,536 names a second, Contexts started in the same second (a notebook's loop makes a
    hundred a second, a scheduler starts jobs together) sometimes drew the same one, and
    the later appended its events to the earlier's log: the history showed one application
    of the two.  With every name of two seconds taken (on a tmpfs: a disk's directory of
    131,072 files takes a minute to fill here), a Context started in them still writes
    its own log (under a longer name) and appends to none."""
    import re

    from proc_helpers import wait_for

    events = tmp_path / "events"
    events.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(events)], check=True)
    try:
        lead = 3  # two seconds' names take ~2 s on a quiet machine
        while True:  # until two seconds still to come are full (a loaded machine is slower)
            start, began = int(time.time()) + lead, time.monotonic()
            for second in (start, start + 1):
                stamp = time.strftime("app-%Y%m%d%H%M%S-", time.localtime(second))
                for n in range(1 << 16):  # (empty: a tmpfs file of one line takes a page)
                    os.close(os.open(events / f"{stamp}{n:04x}.jsonl",
                                     os.O_CREAT | os.O_WRONLY, 0o600))
            if time.time() < start:
                break
            lead = 2 * int(time.monotonic() - began) + 2
        wait_for(lambda: time.time() >= start, 30, "the second whose names are all taken")
        conf = {"vega.eventlog.dir": str(events), "vega.history.fs.cleaner.enabled": False}
        with Context("local", app_name="unlucky", conf=conf) as ctx:
            assert ctx.parallelize(range(4), 2).count() == 4
            path, app_id = ctx.event_log.path, ctx.application_id
        assert app_id[4:18] in {time.strftime("%Y%m%d%H%M%S", time.localtime(s))
                                for s in (start, start + 1)}, "the Context took over a second to start"
        assert os.path.basename(path) == f"{app_id}.jsonl"
        assert re.fullmatch(r"app-\d{14}-[0-9a-f]{8}", app_id), app_id  # not a taken name
        assert [n for n in os.listdir(events) if os.path.getsize(events / n)] == \
            [f"{app_id}.jsonl"]
    finally:
        subprocess.run(["umount", "-l", str(events)], check=True)


def test_a_cleaner_mark_from_a_clock_set_ahead_does_not_stop_the_cleaning(tmp_path):
    """The mark says when a Context's cleaner last looked; one left while the host's clock
    was a month ahead (a wrong clock at boot that NTP then set back) is in the future: no
    Context cleaned the directory for that month (it had looked "less than an interval
    ago"). A mark from the future is no recent look: the next Context cleans, and marks."""
    events = tmp_path / "events"
    events.mkdir()
    _write_log(events, "app-20200101000000-0001", ended=True, days_ago=8)
    marker = events / f".vega-cleaner-{os.getuid()}"
    marker.touch()
    ahead = time.time() + 30 * 24 * 3600
    os.utime(marker, (ahead, ahead))
    with Context("local", app_name="cleaning", conf={"vega.eventlog.dir": str(events)}) as ctx:
        assert _event_logs(events) == [f"{ctx.application_id}.jsonl"]
    assert os.path.getmtime(marker) <= time.time()


def test_an_event_log_from_a_clock_set_ahead_ages_from_when_the_cleaner_saw_it(tmp_path):
    """A log written while the host's clock was a month ahead (then set back) is last
    written in the future: the cleaner kept it until the clock caught up, and a max_age
    later (a month and a week; a clock a year ahead, a year).  The cleaner takes it as
    written when it first sees it, and deletes it a max_age later."""
    from vega_runtime.scheduler.event_log_cleaner import clean_event_logs

    week = 7 * 24 * 3600.0
    _write_log(tmp_path, "app-20270101000000-0001", ended=True, days_ago=-30)
    _write_log(tmp_path, "app-20261201000000-0002", ended=True, days_ago=0)
    now = time.time()
    assert clean_event_logs(str(tmp_path), [], now, week, 0) == []
    assert abs(os.path.getmtime(tmp_path / "app-20270101000000-0001.jsonl") - now) < 0.001
    assert clean_event_logs(str(tmp_path), [], now + week + 1, week, 0) == \
        ["app-20261201000000-0002", "app-20270101000000-0001"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another account needs root")
def test_a_drivers_cleaner_deletes_only_its_own_accounts_logs(tmp_path, capfd):
    """In an event log directory several accounts share (Spark's usual 1777
    /tmp/spark-events), a Context's cleaner leaves the other accounts' logs to theirs: it
    may not delete them (a sticky directory), and each would have been a warning on the
    user's terminal once a day.  Each account marks when its own cleaner looked."""
    events = tmp_path / "events"
    events.mkdir()
    _write_log(events, "app-20200101000000-0001", ended=True, days_ago=8)
    _write_log(events, "app-20200101000000-0002", ended=True, days_ago=8)
    os.chown(events / "app-20200101000000-0002.jsonl", 65534, 65534)  # nobody's
    conf = {"vega.eventlog.dir": str(events)}
    with Context("local", app_name="shared", conf=conf) as ctx:
        mine = f"{ctx.application_id}.jsonl"
        assert _event_logs(events) == ["app-20200101000000-0002.jsonl", mine]
    assert os.path.exists(events / f".vega-cleaner-{os.getuid()}")
    assert "event log" not in capfd.readouterr().err


def test_cleaners_delete_only_event_logs_from_the_directory(tmp_path):
    """``vega master`` without --event-log-dir cleans ``~/.vega/events``, a directory every
    driver of the account (of any cluster, or local) writes, and a Context cleans its own
    vega.eventlog.dir: both deleted every old ``*.jsonl`` and ``*.jsonl.N`` file there, an
    event log or not (a user's ``notes.jsonl``, a data set's ``part.jsonl.1`` in a
    directory given as vega.eventlog.dir).  A cleaner deletes only event logs: files named
    by an application id (what a Context writes)."""
    from proc_helpers import clean_env, kill_group, read_text, spawn_vega, wait_for

    events = tmp_path / ".vega" / "events"
    events.mkdir(parents=True)
    theirs = ["notes.jsonl", "part.jsonl.1", "app-1.jsonl", "driver-20200101000000-0001.jsonl"]
    for name in theirs:
        (events / name).write_text('{"event": "ApplicationEnd"}\n')
    eight_days_ago = time.time() - 8 * 24 * 3600
    for name in theirs:
        os.utime(events / name, (eight_days_ago, eight_days_ago))
    _write_log(events, "app-20200101000000-0001", ended=True, days_ago=8)
    with Context("local", app_name="cleaning", conf={"vega.eventlog.dir": str(events)}) as ctx:
        mine = f"{ctx.application_id}.jsonl"
    assert _event_logs(events) == sorted(theirs + [mine])
    _write_log(events, "app-20200101000000-0002", ended=True, days_ago=8)
    ready = tmp_path / "master.ready"
    env = {k: v for k, v in clean_env(HOME=str(tmp_path)).items() if k != "VEGA_EVENTLOG_DIR"}
    master = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                        "--work-dir", str(tmp_path / "master"), "--ready-file", str(ready),
                        env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: not (events / "app-20200101000000-0002.jsonl").exists(), timeout=30,
                 what="the master's cleaner to delete the old event log")
        assert read_text(str(ready))  # it ran
        assert _event_logs(events) == sorted(theirs + [mine])
    finally:
        kill_group(master)


def test_a_local_clusters_master_shows_the_history_its_driver_writes(tmp_path, monkeypatch):
    """The master of a `local-cluster` Context lists (History table, /api/v1/history) the
    event logs of the directory its driver writes to, vega.eventlog.dir, not the default
    directory's, which held another application's log (before: every application of the
    default directory, a suite's or another user's shared one; its cleaner cleaned it)."""
    from http_helpers import api_get

    monkeypatch.setenv("VEGA_EVENTLOG_DIR", str(tmp_path / "default"))
    with Context(master="local", app_name="elsewhere") as other:
        other.parallelize([1]).count()
    assert [n for n in os.listdir(tmp_path / "default") if n.startswith("app-")] == [
        f"{other.application_id}.jsonl"]
    with Context(master="local-cluster[1,1]", app_name="mine",
                 conf={"vega.eventlog.dir": str(tmp_path / "mine")}) as ctx:
        ctx.parallelize([1]).count()
        cluster = ctx.backend.owned_cluster
        code, listed = api_get((cluster.webui_port, cluster.ca_file), "/api/v1/history",
                               cluster.token)
    assert code == 200 and [s["name"] for s in listed] == ["mine"], listed
