"""Hosts whose wall clocks disagree, each process on its own clock (libfaketime): a driver an
hour ahead of the master, a driver ten minutes ahead of its worker.  The master's REST API
times a running application with its driver's events, so "now" must be the driver's; a
task's launch time was the executor's clock while its stage's times are the driver's."""

import glob
import json
import subprocess
import time

import pytest

from http_helpers import api_get
from proc_helpers import master_and_worker, spawn_vega, vega, wait_for, write_job

LIBFAKETIME = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)
pytestmark = pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime "
                                "(apt-get install libfaketime)")

#: a driver whose one-task job runs until the test creates the file ``release``
WAITING_JOB = '''
import os, sys, time
from vega_runtime import Context

release = sys.argv[1]

def wait(x):
    deadline = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    return x

ctx = Context(app_name="skewed-driver")
print("started", flush=True)
print("count", ctx.parallelize(range(1), 1).map(wait).count(), flush=True)
ctx.stop()
'''

QUICK_JOB = '''
from vega_runtime import Context

ctx = Context(app_name="skewed-worker")
print("sum", ctx.parallelize(range(10), 2).sum(), flush=True)
ctx.stop()
'''


def faketime_env(offset: str) -> dict:
    """The variables that put a process (and its children) on clocks ``offset`` ahead
    ("+1h"): its monotonic clock too, by the same constant (libfaketime 0.9.10 fails every
    time.sleep with EINVAL under DONT_FAKE_MONOTONIC; ahead, never behind, so that the
    monotonic clock of a host up for less than the offset stays positive)."""
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset}


def _site_and_token(cluster):
    token = (cluster["home"] / "master" / "master.token").read_text().strip()
    return (cluster["webui_port"], cluster["ca_file"]), token


def _ms(text: str) -> int:
    """Spark's date (2026-12-07T03:12:15.014GMT) as epoch milliseconds."""
    import calendar
    stamp, millis = text[:-len("GMT")].split(".")
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(millis)


def test_a_driver_an_hour_ahead_runs_for_as_long_as_it_has_run(tmp_path):
    """A running application whose driver's clock is an hour ahead of the master's: its
    duration (the list, its own document) and its running task's are the time it has run,
    not less an hour (they were -3,600 s)."""
    job = write_job(tmp_path, "waiting.py", WAITING_JOB)
    release = tmp_path / "release"
    with master_and_worker(tmp_path / "cluster") as cluster:
        out_path = tmp_path / "driver.out"
        submitted = time.monotonic()
        with open(out_path, "w") as out:
            driver = spawn_vega("submit", "--master", cluster["url"], job, str(release),
                                env={**cluster["env"], **faketime_env("+1h")}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            site, token = _site_and_token(cluster)

            def running_task():
                code, stages = api_get(site, "/api/v1/applications/"
                                       f"{app_id}/stages?status=active&details=true", token)
                assert code == 200, stages
                tasks = [t for s in stages for t in s.get("tasks", {}).values()
                         if t["status"] == "RUNNING"]
                return tasks[0] if tasks else None

            wait_for(lambda: "started" in out_path.read_text(), 60, "the driver's Context")
            code, listed = api_get(site, "/api/v1/applications", token)
            assert code == 200, listed
            app_id = listed[0]["id"]
            task = wait_for(running_task, 60, "the task to run")
            code, listed = api_get(site, "/api/v1/applications", token)
            code_one, detail = api_get(site, f"/api/v1/applications/{app_id}", token)
            elapsed_ms = (time.monotonic() - submitted) * 1000
            assert code == code_one == 200, (listed, detail)
            for attempt in (listed[0]["attempts"][0], detail["attempts"][0]):
                assert not attempt["completed"]
                assert 0 <= attempt["duration"] <= elapsed_ms, (attempt, elapsed_ms)
            assert 0 <= task["duration"] <= elapsed_ms, (task, elapsed_ms)
            # the driver's clock is the one its times are on: an hour ahead of this one
            started_ms = listed[0]["attempts"][0]["startTimeEpoch"]
            assert 3_590_000 < started_ms - time.time() * 1000 < 3_610_000
            release.write_text("")
            assert driver.wait(60) == 0, out_path.read_text()
            assert "count 1" in out_path.read_text()
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()


def test_tasks_on_a_worker_ten_minutes_behind_launch_within_their_stage(tmp_path):
    """Tasks run by the executors of a worker whose clock is ten minutes behind the
    driver's: their launch times are on the driver's clock, as their stage's times, so
    within the stage's submission and completion (they were ten minutes before it)."""
    job = write_job(tmp_path, "quick.py", QUICK_JOB)
    with master_and_worker(tmp_path / "cluster") as cluster:
        done = vega("submit", "--master", cluster["url"], job,
                    env={**cluster["env"], **faketime_env("+10m")})
        assert done.returncode == 0 and "sum 45" in done.stdout, done.stderr
        site, token = _site_and_token(cluster)
        code, listed = api_get(site, "/api/v1/applications", token)
        assert code == 200, listed
        code, stages = api_get(site, f"/api/v1/applications/{listed[0]['id']}/stages"
                               "?details=true", token)
        assert code == 200, stages
        [stage] = stages
        submitted, completed = _ms(stage["submissionTime"]), _ms(stage["completionTime"])
        launches = sorted(_ms(t["launchTime"]) for t in stage["tasks"].values())
        assert len(launches) == 2
        assert submitted <= _ms(stage["firstTaskLaunchedTime"]) == launches[0], \
            json.dumps(stage)[:600]
        assert all(submitted <= at <= completed for at in launches), (submitted, launches,
                                                                       completed)
