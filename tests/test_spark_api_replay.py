"""How a master replays event logs for Spark's REST API: which of a running application's
two logs it reads, a killed driver's application, rolling logs, and the listing of finished
applications (what it re-reads, what it keeps, what it holds up).  The documents' fields
are checked in test_spark_api.py."""

import json
import os
import time

from proc_helpers import unstarted_master

from vega_runtime import Context


def test_a_killed_drivers_job_is_failed_on_its_master(tmp_path):
    """A master holding the events a driver relayed up to its SIGKILL (no JobEnd, no
    ApplicationEnd), for an application it no longer runs: its running job is FAILED and
    no stage or task is active any more; the application is incomplete, as Spark's history
    server lists it (``completed`` false, ``endTime`` -1)."""
    from test_app_events import EVENTS, start

    from vega_runtime.deploy.spark_api import SparkApi

    app = "app-20261204181630-0002"
    master = unstarted_master(tmp_path)
    try:
        path = master.logs.events_path(app)
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as fh:
            for event in EVENTS + [start(5, 1, "exec-1", 104.3, stage_id=2)]:
                fh.write(json.dumps(event) + "\n")
        os.utime(path, (time.time() - 3600, time.time() - 3600))  # relayed an hour ago
        api = SparkApi(master)
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert code == 200 and [(j["jobId"], j["status"]) for j in jobs] == \
            [(1, "FAILED"), (0, "FAILED")]
        assert (jobs[0]["numActiveTasks"], jobs[0]["numActiveStages"]) == (0, 0)
        assert api.get(f"/api/v1/applications/{app}/stages", "status=active") == (200, [])
        code, info = api.get(f"/api/v1/applications/{app}", "")
        assert (info["attempts"][0]["completed"], info["attempts"][0]["endTimeEpoch"]) == \
            (False, -1)
    finally:
        master.stop()


def test_listing_applications_replays_only_the_logs_that_changed(tmp_path, monkeypatch):
    """/api/v1/applications over more finished applications' logs than the replay cache
    holds reads each log once, then only the logs written to since (Spark's history server
    lists applications from its listing, not by reading every log again)."""
    from test_app_events import EVENTS

    from vega_runtime.deploy import spark_api

    replayed = []
    read_new = spark_api._Replayed.read_new

    def counted(self, size):
        replayed.append(os.path.basename(self.path))
        return read_new(self, size)

    monkeypatch.setattr(spark_api._Replayed, "read_new", counted)
    events = tmp_path / "events"
    events.mkdir()
    apps = [f"app-20261204000000-{n:04d}" for n in range(spark_api.CACHED_APPLICATIONS + 4)]
    for n, app in enumerate(apps):
        lines = [{**e, "time": e["time"] + n} for e in EVENTS]
        lines[0]["app_id"] = app
        (events / f"{app}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
        os.utime(events / f"{app}.jsonl", (time.time() - 3600, time.time() - 3600))  # cut off
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = spark_api.SparkApi(master)
        code, first = api.get("/api/v1/applications", "")
        assert code == 200 and [a["id"] for a in first] == apps[::-1]
        assert sorted(replayed) == [f"{app}.jsonl" for app in apps]
        replayed.clear()
        assert api.get("/api/v1/applications", "") == (200, first)
        # (logs without their end: incomplete, as Spark's history server lists them)
        assert api.get("/api/v1/applications", "status=running&limit=2") == (200, first[:2])
        assert replayed == []
        with open(events / f"{apps[3]}.jsonl", "a") as fh:
            fh.write(json.dumps({"event": "ApplicationEnd", "time": 200.0}) + "\n")
        (events / f"{apps[5]}.jsonl").unlink()
        code, third = api.get("/api/v1/applications", "")
        assert replayed == [f"{apps[3]}.jsonl"]
        assert [a["id"] for a in third] == [a for a in apps[::-1] if a != apps[5]]
        assert next(a for a in third if a["id"] == apps[3])["attempts"][0]["endTimeEpoch"] \
            == 200000
        assert sorted(api._listing) == sorted(a for a in apps if a != apps[5])
    finally:
        master.stop()


def test_a_rolling_event_log_is_replayed_across_its_parts(tmp_path):
    """A Context with vega.eventlog.rolling.enabled writes its log in parts of
    vega.eventlog.rolling.max_file_size; a master reading the event log directory lists and
    replays it whole, and goes on into a part written after its last read."""
    from vega_runtime.deploy.spark_api import SparkApi

    events = tmp_path / "events"
    with Context(master="local[2]", app_name="rolled",
                 conf={"vega.eventlog.dir": str(events), "vega.eventlog.rolling.enabled": True,
                       "vega.eventlog.rolling.max_file_size": "1m"}) as ctx:
        for _ in range(600):
            ctx.parallelize(range(4), 2).count()
        app = ctx.application_id
    names = sorted(n for n in os.listdir(events) if ".jsonl" in n)  # not the cleaner's mark
    assert names[0] == f"{app}.jsonl" and f"{app}.jsonl.2" in names
    assert all(os.path.getsize(events / n) < (1 << 20) + 4096 for n in names)
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = SparkApi(master)
        code, listed = api.get("/api/v1/applications", "")
        assert code == 200 and [(a["id"], a["attempts"][0]["completed"]) for a in listed] == \
            [(app, True)]
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert code == 200 and len(jobs) == 600 and {j["status"] for j in jobs} == {"SUCCEEDED"}
        # a part written after the last read (as a running application's log grows)
        last = len(names)
        end = (events / names[-1]).read_text().splitlines(keepends=True)[-1]
        (events / names[-1]).write_text("".join(
            (events / names[-1]).read_text().splitlines(keepends=True)[:-1]))
        api = SparkApi(master)
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert len(jobs) == 600
        start = {"event": "JobStart", "time": 1e10, "job_id": 600, "description": "late"}
        (events / f"{app}.jsonl.{last + 1}").write_text(json.dumps(start) + "\n" + end)
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert [(j["jobId"], j["name"]) for j in jobs[:1]] == [(600, "late")]
        # /logs (Spark's zip of the event log): every part, as stored
        import zipfile

        with api.event_logs_zip(app) as spooled, zipfile.ZipFile(spooled) as archive:
            stored = [f"{app}.jsonl"] + [f"{app}.jsonl.{n}" for n in range(2, last + 2)]
            assert archive.namelist() == stored
            assert all(archive.read(n) == (events / n).read_bytes() for n in stored)
        assert api.event_logs_zip("app-20000101000000-0000") is None
        assert api.get(f"/api/v1/applications/{app}", "")[1]["attempts"][0]["completed"]
    finally:
        master.stop()


def test_listing_applications_keeps_a_few_kilobytes_of_each(tmp_path):
    """The master keeps its listing of finished applications (``/api/v1/applications``) for
    as long as it runs, one entry per event log, and nothing deletes event logs: an entry
    holds what the list shows. Before, it held each application's settings and runtime
    (its Environment event, about 25 KB once parsed), so a master listing 10,000 event
    logs grew by some 250 MB, however few applications it retained."""
    import gc
    import tracemalloc

    from vega_runtime.deploy.spark_api import SparkApi

    events = tmp_path / "events"
    with Context(master="local[2]", app_name="listed",
                 conf={"vega.eventlog.dir": str(events)}) as ctx:
        assert ctx.parallelize(range(6), 2).map(lambda x: (x % 2, x)) \
            .reduce_by_key(lambda a, b: a + b).count() == 2
        log = (events / f"{ctx.application_id}.jsonl").read_text()
    apps = [f"app-20261204000000-{n:04d}" for n in range(40)]
    for app in apps:
        (events / f"{app}.jsonl").write_text(log.replace(ctx.application_id, app))
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = SparkApi(master, cached=0)
        api.get("/api/v1/applications", "")  # what listing loads once (modules, caches)
        api._listing.clear()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            code, listed = api.get("/api/v1/applications", "")
            del listed
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert code == 200 and sorted(api._listing) == sorted(apps + [ctx.application_id])
        # 29 KB each with its settings, 5.0 KB with two empty replay deques (a soak's
        # master grew with its history), 3.5 KB now (the record, the three settings it
        # shows without where they came from, and its files' paths, sizes and times)
        assert kept / len(api._listing) < 4000, f"{kept / len(api._listing):.0f} bytes each"
    finally:
        master.stop()


def test_a_long_list_of_applications_holds_up_no_application_page(tmp_path):
    """Listing applications reads every event log that changed (a first list of a
    thousand logs takes seconds): meanwhile an application's own pages are answered.
    Before, the list held the API's lock throughout, so every page of the UI waited."""
    import threading

    from test_app_events import EVENTS

    from vega_runtime.deploy.spark_api import SparkApi

    app = "app-20261204181630-0002"
    master = unstarted_master(tmp_path)
    listing, release = threading.Event(), threading.Event()

    def slow_history():  # the list is half way through the event logs
        listing.set()
        release.wait(30)
        return []

    master.history = slow_history
    api = SparkApi(master)
    lister = threading.Thread(target=api.get, args=("/api/v1/applications", ""))
    try:
        path = master.logs.events_path(app)
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as fh:
            fh.writelines(json.dumps(event) + "\n" for event in EVENTS)
        lister.start()
        assert listing.wait(30)
        answered = []
        page = threading.Thread(target=lambda: answered.append(
            api.get(f"/api/v1/applications/{app}/jobs", "")[0]))
        page.start()
        page.join(10)
        assert answered == [200] and lister.is_alive()
    finally:
        release.set()
        if lister.is_alive():
            lister.join(30)
        master.stop()


def test_a_running_application_never_goes_back_in_time_between_its_two_logs(tmp_path):
    """A running application's events reach a master two ways when it shares the event log
    directory: the driver writes its own log there, and relays the same lines to the master
    in batches (behind it).  A page that saw a stage in one must not lose it in the next
    request because the other appeared (the web UI's stage page once got "no stage 0"
    right after the API listed stage 0 as active)."""
    from test_app_events import EVENTS

    from vega_runtime.deploy.spark_api import SparkApi

    app = "app-20261206021000-0001"
    events = tmp_path / "events"
    events.mkdir()
    lines = [json.dumps(e) + "\n" for e in EVENTS]
    (events / f"{app}.jsonl").write_text("".join(lines[:6]))  # the driver's own: stage 0 on
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = SparkApi(master)
        assert api.get(f"/api/v1/applications/{app}/stages/0/0", "")[0] == 200
        relayed = master.logs.events_path(app)
        os.makedirs(os.path.dirname(relayed))
        with open(relayed, "w") as fh:  # the relay's first batch: before the stage
            fh.write("".join(lines[:3]))
        code, stage = api.get(f"/api/v1/applications/{app}/stages/0/0", "")
        assert (code, stage.get("stageId")) == (200, 0), stage
        with open(events / f"{app}.jsonl", "a") as fh:  # and it goes on from there
            fh.write("".join(lines[6:]))
        code, stage = api.get(f"/api/v1/applications/{app}/stages/2/0", "")
        assert (code, stage.get("stageId")) == (200, 2), stage
    finally:
        master.stop()


def test_a_running_applications_pages_follow_its_relayed_events_through_a_compaction(tmp_path):
    """The master compacts a long-lived application's relayed events into a new file; a
    page that had read the old one up to some offset must start the new one from its
    beginning, even once the new one is longer than that offset (it read on from the old
    offset, in the middle of a line, and the pages ended with "a line is not a JSON
    event")."""
    from test_app_events import long_lived_events

    from vega_runtime.deploy.app_logs import RelayedEvents
    from vega_runtime.deploy.spark_api import SparkApi

    app = "app-20261206060000-0001"
    lines = [json.dumps(e) + "\n" for e in long_lived_events(5000)]
    master = unstarted_master(tmp_path)
    try:
        path = master.logs.events_path(app)
        os.makedirs(os.path.dirname(path))
        api = SparkApi(master)
        with RelayedEvents(path, max_bytes=4 << 20) as relayed:
            read_at, inode = None, None
            for line in lines:
                relayed.write(line)
                event = json.loads(line)
                if event["event"] == "JobEnd" and read_at is None and relayed.size > 3 << 20:
                    code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
                    assert code == 200 and len(jobs) == 1000, jobs
                    read_at, inode = relayed.size, os.stat(path).st_ino
                if event["event"] == "JobEnd" and inode not in (None, os.stat(path).st_ino) \
                        and relayed.size > read_at + 1000:
                    break  # compacted, and longer again than what the page read
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert code == 200, jobs
        assert [j["jobId"] for j in jobs] == list(range(event["job_id"], event["job_id"] - 1000, -1))
        assert {j["status"] for j in jobs} == {"SUCCEEDED"}
    finally:
        master.stop()


def test_a_log_written_lately_is_of_a_running_driver_whatever_its_clock(tmp_path):
    """Logs without their end in the master's event log directory, of drivers it does not
    run: one written a moment ago by a driver ten minutes behind the master's clock runs
    (its job RUNNING, its duration on its driver's clock), one last written five minutes
    ago by a driver an hour ahead is cut off (its job FAILED, the application incomplete),
    as their files' modification times say; their event times said the opposite of both."""
    from vega_runtime.deploy.spark_api import SparkApi

    events = tmp_path / "events"
    events.mkdir()
    now = time.time()
    for app, skew, written in (("app-20261207030000-0001", -600.0, now),
                               ("app-20261207050000-0002", 3600.0, now - 300.0)):
        path = events / f"{app}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in (
            {"event": "ApplicationStart", "time": now + skew - 20.0, "app_id": app,
             "name": app[-4:], "master": "local[2]"},
            {"event": "JobStart", "time": now + skew - 10.0, "job_id": 0,
             "description": "count"})))
        os.utime(path, (written, written))
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = SparkApi(master)
        code, listed = api.get("/api/v1/applications", "")
        assert code == 200
        shown = {a["name"]: a["attempts"][0] for a in listed}
        # (its log written 10 s after its start on its driver's clock, and just now)
        assert 10_000 <= shown["0001"]["duration"] < 10_000 + (time.time() - now) * 1000 + 1
        assert shown["0002"]["endTimeEpoch"] == -1 and shown["0002"]["duration"] == 0, shown
        code, detail = api.get("/api/v1/applications/app-20261207030000-0001", "")
        assert 10_000 <= detail["attempts"][0]["duration"] < 10_000 + (time.time() - now) * 1000 + 1
        code, running = api.get("/api/v1/applications", "status=running")
        assert sorted(a["name"] for a in running) == ["0001", "0002"]  # (incomplete: both)
        for app, status in (("app-20261207030000-0001", "RUNNING"),
                            ("app-20261207050000-0002", "FAILED")):
            code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
            assert code == 200 and [j["status"] for j in jobs] == [status], (app, jobs)
    finally:
        master.stop()


def test_an_application_that_is_over_is_replayed_from_its_drivers_own_log(tmp_path):
    """A driver SIGKILLed just after its last events leaves them in its own log, not yet
    relayed to the master: once its application is over, the API replays the driver's
    log (the whole of it, what Spark's history server reads), not the relayed copy that
    a running application's pages follow.  Before, a cut-off application's last update
    was that of the relayed copy's last line (a test found it 1 ms early)."""
    from test_app_events import EVENTS

    from vega_runtime.deploy.spark_api import SparkApi

    app = "app-20261207214800-0001"
    events = tmp_path / "events"
    events.mkdir()
    lines = [json.dumps({**e, "time": e["time"] + 1e9, **({"app_id": app} if "app_id" in e
                                                         else {})}) + "\n" for e in EVENTS]
    (events / f"{app}.jsonl").write_text("".join(lines))
    master = unstarted_master(tmp_path / "master", events)
    try:
        relayed = master.logs.events_path(app)
        os.makedirs(os.path.dirname(relayed))
        with open(relayed, "w") as fh:
            fh.write("".join(lines[:-1]))  # the relay of the last task end never went out
        for path in (relayed, events / f"{app}.jsonl"):
            os.utime(path, (time.time() - 3600, time.time() - 3600))  # cut off an hour ago
        api = SparkApi(master)
        last = round((EVENTS[-1]["time"] + 1e9) * 1000)
        code, [listed] = api.get("/api/v1/applications", "")
        assert code == 200 and listed["attempts"][0]["lastUpdatedEpoch"] == last
        code, detail = api.get(f"/api/v1/applications/{app}", "")
        assert code == 200 and detail["attempts"][0]["lastUpdatedEpoch"] == last
        code, tasks = api.get(f"/api/v1/applications/{app}/stages/2/0/taskList", "")
        assert code == 200 and [t["taskId"] for t in tasks] == [4], tasks
    finally:
        master.stop()
