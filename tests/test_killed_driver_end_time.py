"""An application whose driver was SIGKILLed: its event log has no end, and the master's
REST API gave as its end the last event's time (before the kill), while the master's own
status (``vega status``) counted its duration to when it noticed the driver gone.  Spark's
history server cannot know when such a driver ended (it lists the application incomplete,
endTime -1); Spark's standalone Master ends it when it notices.  Vega's master knows, so
both its views now give that time."""

import json
import os
import signal
import subprocess
import time

from http_helpers import api_get
from proc_helpers import master_and_worker, spawn_vega, vega, wait_for, write_job

JOB = '''
import time
from vega_runtime import Context

ctx = Context(app_name="killed-driver")
print("sum", ctx.parallelize(range(10), 2).sum(), flush=True)
time.sleep(300)
'''


def test_killed_drivers_application_ends_when_the_master_noticed(tmp_path):
    """/api/v1/applications(/APP) give the killed driver's application completed, ended when
    the master noticed (after the kill, as ``vega status``'s duration says), not at its
    last event."""
    job = write_job(tmp_path, "killed_driver.py", JOB)
    with master_and_worker(tmp_path / "cluster") as cluster:
        out_path = tmp_path / "driver.out"
        with open(out_path, "w") as out:
            driver = spawn_vega("submit", "--master", cluster["url"], job, env=cluster["env"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: "sum 45" in out_path.read_text(), 60, "the driver's job")
            killed_at_ms = time.time() * 1000
            os.killpg(driver.pid, signal.SIGKILL)
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()

        def status():
            shown = json.loads(vega("status", "--master", cluster["url"], "--json",
                                    env=cluster["env"]).stdout)
            return shown["applications"][0]

        app = wait_for(lambda: (lambda shown: shown["state"] == "finished" and shown)(status()),
                       60, "the master to finish the application")
        noticed_ms = (app["started"] + app["duration_seconds"]) * 1000
        token = (cluster["home"] / "master" / "master.token").read_text().strip()
        site = (cluster["webui_port"], cluster["ca_file"])
        code, detail = api_get(site, f"/api/v1/applications/{app['id']}", token)
        assert code == 200, detail
        code, listed = api_get(site, "/api/v1/applications?status=completed", token)
        assert code == 200, listed
        assert [a["id"] for a in listed] == [app["id"]]
        for attempt in (detail["attempts"][0], listed[0]["attempts"][0]):
            assert attempt["completed"] is True
            assert attempt["endTimeEpoch"] >= killed_at_ms, (attempt, killed_at_ms)
            assert abs(attempt["endTimeEpoch"] - noticed_ms) <= 1, (attempt, app)
            assert attempt["duration"] == attempt["endTimeEpoch"] - attempt["startTimeEpoch"]
