"""An application known only from its event log, cut off by a SIGKILLed driver, after a
master restart (recovery off: the master holds it no more): Spark's history server lists
such an attempt incomplete, ``completed: false``, ``endTime`` -1 (1969-12-31T23:59:59.999GMT)
and ``duration`` 0 (its FsHistoryProvider's ApplicationAttemptInfo before an
ApplicationEnd), in ``?status=running``. Vega's REST API ended it at its last event,
completed, in ``?status=completed`` and the web UI's finished applications."""

import glob
import json
import os
import signal
import subprocess
import time

from http_helpers import api_get
from proc_helpers import spawn_vega, vega, wait_for, write_job
from test_master_restart_status import Cluster

JOB = '''
import time
from vega_runtime import Context

ctx = Context(app_name="cut-off")
print("sum", ctx.parallelize(range(10), 2).sum(), flush=True)
time.sleep(300)
'''
#: what Spark's API gives an incomplete attempt's ``endTime``: ``new Date(-1)``
NO_END = "1969-12-31T23:59:59.999GMT"
#: how far back the test moves the log's times: the master reads it as an hour later
HOUR = 3600.0


def _age_event_logs(*directories) -> None:
    """Move every time in the event logs under ``directories`` an hour back, and their
    files' modification times, as if the driver had been killed an hour ago (a log written
    under a minute ago is of a driver taken to run: ``spark_api.WRITTEN_LATELY``)."""
    for directory in directories:
        for path in glob.glob(os.path.join(str(directory), "**", "*.jsonl"), recursive=True):
            with open(path) as fh:
                events = [json.loads(line) for line in fh if line.strip()]
            for event in events:
                for key in ("time", "launch_time", "finish_time"):
                    if isinstance(event.get(key), float):
                        event[key] -= HOUR
            with open(path, "w") as fh:
                fh.writelines(json.dumps(event) + "\n" for event in events)
            os.utime(path, (time.time() - HOUR, time.time() - HOUR))


def test_a_cut_off_application_the_master_no_longer_holds_is_incomplete(tmp_path):
    """/api/v1/applications(/APP) give it incomplete as Spark's history server does, with its
    last event as lastUpdated; ?status=running lists it, ?status=completed not; `vega
    history` and `vega history APP` say incomplete."""
    events = tmp_path / "events"
    events.mkdir()
    (tmp_path / "master.yaml").write_text("vega.master.recovery: false\n")
    job = write_job(tmp_path, "cut_off.py", JOB)
    cluster = Cluster(tmp_path, ["--event-log-dir", str(events),
                                 "--config", str(tmp_path / "master.yaml")])
    try:
        cluster.worker("w")
        wait_for(lambda: cluster.worker_states() == {"w": "alive"}, what="the worker")
        out_path = tmp_path / "driver.out"
        with open(out_path, "w") as out:
            driver = spawn_vega("submit", "--master", cluster.url, "--conf",
                                f"vega.eventlog.dir={events}", job, env=cluster.env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        cluster.procs.append(driver)
        wait_for(lambda: "sum 45" in out_path.read_text(), 60, "the driver's job")
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        [app_id] = wait_for(lambda: [a["id"] for a in cluster.status()["applications"]
                                     if a["state"] == "finished"], 60, "the application's end")
        os.killpg(cluster.master.pid, signal.SIGKILL)
        cluster.master.wait(10)
        _age_event_logs(events, tmp_path / "master")
        cluster.master = cluster._start_master()
        assert cluster.status()["applications"] == []  # held no more

        with open(events / f"{app_id}.jsonl") as fh:
            last_event = [json.loads(line) for line in fh][-1]
        ready = json.loads((tmp_path / "master.ready").read_text())
        site = (ready["webui_port"], str(tmp_path / "master" / "ca.pem"))
        token = (tmp_path / "master" / "master.token").read_text().strip()

        def get(path):
            code, body = api_get(site, path, token)
            assert code == 200, (path, body)
            return body

        [listed] = get("/api/v1/applications")
        detail = get(f"/api/v1/applications/{app_id}")
        for info in (listed, detail):
            assert info["id"] == app_id and info["name"] == "cut-off"
            attempt = info["attempts"][0]
            assert (attempt["completed"], attempt["endTime"], attempt["endTimeEpoch"],
                    attempt["duration"]) == (False, NO_END, -1, 0), attempt
            assert attempt["lastUpdatedEpoch"] == round(last_event["time"] * 1000)
        assert [a["id"] for a in get("/api/v1/applications?status=running")] == [app_id]
        assert get("/api/v1/applications?status=completed") == []
        # (Spark: an incomplete attempt is in an end-date window only if its end may yet come)
        assert get("/api/v1/applications?maxEndDate=2000-01-01") == []
        history = vega("history", "--dir", str(events), "--json", env=cluster.env)
        # as the REST API: no duration (it listed the time to its last event), last updated
        assert [(h["app_id"], h["finished"], h["duration_seconds"], h["last_updated"])
                for h in json.loads(history.stdout)] == \
            [(app_id, False, 0.0, last_event["time"])]
        updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last_event["time"]))
        table = vega("history", "--dir", str(events), env=cluster.env)
        [row] = [line for line in table.stdout.splitlines() if app_id in line]
        cells = [cell.strip() for cell in row.split("│")[1:-1]]
        assert (cells[3], cells[-1]) == ("—", f"incomplete, last updated {updated}"), row
        # its summary said only "cut-off on vega://...: 0.37s, 1 job": read as ended then
        one = vega("history", app_id, "--dir", str(events), env=cluster.env)
        assert one.returncode == 0, one.stderr
        assert f"{app_id} cut-off on {cluster.url}: incomplete (its log has no end: running, " \
            f"or its driver was killed), last updated {updated}, 1 job (0 failed), 2 tasks" \
            in " ".join(one.stdout.split()), one.stdout
    finally:
        cluster.close()
