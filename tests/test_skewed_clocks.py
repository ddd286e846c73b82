"""Hosts whose wall clocks disagree, each process on its own clock (libfaketime): a driver an
hour ahead of the master, a driver ten minutes ahead of its worker.  The master's REST API
times a running application with its driver's events, so "now" must be the driver's; a
task's launch time was the executor's clock while its stage's times are the driver's."""

import glob
import json
import os
import signal
import subprocess
import time

import pytest

from http_helpers import api_get
from proc_helpers import master_and_worker, spawn_vega, vega, wait_for, write_job

LIBFAKETIME = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)
pytestmark = pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime "
                                "(apt-get install libfaketime)")

#: a task function ``wait`` that returns once the file ``release`` (sys.argv[1]) exists
WAIT_FOR_RELEASE = '''
import os, sys, threading, time
from vega_runtime import Context

release = sys.argv[1]

def wait(x):
    deadline = time.monotonic() + 120
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    return x
'''

#: a driver whose one-task job runs until the test creates the file ``release``
WAITING_JOB = WAIT_FOR_RELEASE + '''
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


#: where the ``sitecustomize`` of a process on a fake clock is (it mends time.sleep)
FAKETIME_SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faketime_site")


def faketime_env(offset: str) -> dict:
    """The variables that put a process (and its children) on a wall clock ``offset`` off
    ("+1h", "-10m"), its monotonic clock left alone (a clock that steps or is wrong moves
    only the wall clock); ``faketime_site/sitecustomize.py`` makes its time.sleep work."""
    path = os.pathsep.join(p for p in (FAKETIME_SITE, os.environ.get("PYTHONPATH", "")) if p)
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset, "DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": path}


def _site_and_token(cluster):
    token = (cluster["home"] / "master" / "master.token").read_text().strip()
    return (cluster["webui_port"], cluster["ca_file"]), token


def _ms(text: str) -> int:
    """Spark's date (2026-12-07T03:12:15.014GMT) as epoch milliseconds."""
    import calendar
    stamp, millis = text[:-len("GMT")].split(".")
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(millis)


class AheadDriver:
    """``vega submit`` of ``WAITING_JOB`` with its clock an hour ahead of the master's, its
    task running: ``app_id``, ``submitted`` (monotonic), ``api(path)``."""

    def __init__(self, tmp_path, cluster):
        job = write_job(tmp_path, "waiting.py", WAITING_JOB)
        self.release, self.out_path = tmp_path / "release", tmp_path / "driver.out"
        self.submitted = time.monotonic()
        with open(self.out_path, "w") as out:
            self.proc = spawn_vega("submit", "--master", cluster["url"], job,
                                   str(self.release),
                                   env={**cluster["env"], **faketime_env("+1h")}, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.site, self.token = _site_and_token(cluster)
        wait_for(lambda: "started" in self.out_path.read_text(), 60, "the driver's Context")
        self.app_id = self.api("/api/v1/applications")[0]["id"]
        self.task = wait_for(self.running_task, 60, "the task to run")

    def api(self, path: str):
        code, document = api_get(self.site, path, self.token)
        assert code == 200, document
        return document

    def running_task(self):
        stages = self.api(f"/api/v1/applications/{self.app_id}/stages?status=active"
                          "&details=true")
        tasks = [t for s in stages for t in s.get("tasks", {}).values()
                 if t["status"] == "RUNNING"]
        return tasks[0] if tasks else None

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.submitted) * 1000

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def test_a_driver_an_hour_ahead_runs_for_as_long_as_it_has_run(tmp_path):
    """A running application whose driver's clock is an hour ahead of the master's: its
    duration (the list, its own document) and its running task's are the time it has run,
    not less an hour (they were -3,600 s)."""
    with master_and_worker(tmp_path / "cluster") as cluster:
        driver = AheadDriver(tmp_path, cluster)
        try:
            listed = driver.api("/api/v1/applications")
            detail = driver.api(f"/api/v1/applications/{driver.app_id}")
            elapsed_ms = driver.elapsed_ms()
            for attempt in (listed[0]["attempts"][0], detail["attempts"][0]):
                assert not attempt["completed"]
                assert 0 <= attempt["duration"] <= elapsed_ms, (attempt, elapsed_ms)
            assert 0 <= driver.task["duration"] <= elapsed_ms, (driver.task, elapsed_ms)
            # the driver's clock is the one its times are on: an hour ahead of this one
            ahead_ms = listed[0]["attempts"][0]["startTimeEpoch"] - time.time() * 1000
            assert 3_600_000 - driver.elapsed_ms() - 1000 < ahead_ms < 3_601_000, ahead_ms
            driver.release.write_text("")
            assert driver.proc.wait(60) == 0, driver.out_path.read_text()
            assert "count 1" in driver.out_path.read_text()
        finally:
            driver.stop()


def test_a_killed_driver_an_hour_ahead_ends_after_it_started(tmp_path):
    """The same driver killed (SIGKILL) mid-job: its application ends when the master
    noticed, on the driver's clock as its other times, so after its start (it ended an
    hour before it started: duration -3,600 s, its job's too)."""
    with master_and_worker(tmp_path / "cluster") as cluster:
        driver = AheadDriver(tmp_path, cluster)
        driver.stop()
        app = wait_for(lambda: (lambda a: a["attempts"][0]["completed"] and a)(
            driver.api(f"/api/v1/applications/{driver.app_id}")), 60, "the application's end")
        elapsed_ms = driver.elapsed_ms()
        attempt = app["attempts"][0]
        assert 0 <= attempt["duration"] <= elapsed_ms, (attempt, elapsed_ms)
        assert attempt["endTimeEpoch"] - attempt["startTimeEpoch"] == attempt["duration"]
        [job] = driver.api(f"/api/v1/applications/{driver.app_id}/jobs")
        assert job["status"] == "FAILED"
        assert 0 <= _ms(job["completionTime"]) - _ms(job["submissionTime"]) <= elapsed_ms, job


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


#: a driver whose one-task job runs until its own clock has been set back (the test writes
#: the step into its libfaketime timestamp file), then ends
STEPPED_JOB = WAIT_FOR_RELEASE + '''
ctx = Context(app_name="stepped-driver")
began, counted = time.time(), []
job = threading.Thread(target=lambda: counted.append(
    ctx.parallelize(range(1), 1).map(wait).count()))
job.start()
print("started", flush=True)
deadline = time.monotonic() + 120
while time.time() > began - 1800 and time.monotonic() < deadline:
    time.sleep(0.05)
open(release, "w").close()
job.join()
print("count", counted, flush=True)
ctx.stop()
'''


def test_a_driver_set_back_an_hour_mid_job_ends_nothing_before_it_started(tmp_path):
    """The driver's clock set back an hour while its job runs (an NTP step, a VM restored):
    the application, its job and its stage end after they started, the application's
    duration the seconds it ran (its end was 3,600 s before its start, its job's too)."""
    job = write_job(tmp_path, "stepped.py", STEPPED_JOB)
    step_file = tmp_path / "faketime"
    step_file.write_text("+0\n")
    env = {k: v for k, v in faketime_env("+0").items() if k != "FAKETIME"}
    env.update(FAKETIME_TIMESTAMP_FILE=str(step_file), FAKETIME_CACHE_DURATION="1")
    out_path, release = tmp_path / "driver.out", tmp_path / "release"
    with master_and_worker(tmp_path / "cluster") as cluster:
        submitted = time.monotonic()
        with open(out_path, "w") as out:
            proc = spawn_vega("submit", "--master", cluster["url"], job, str(release),
                              env={**cluster["env"], **env}, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
        try:
            site, token = _site_and_token(cluster)

            def api(path):
                code, document = api_get(site, path, token)
                assert code == 200, document
                return document

            wait_for(lambda: "started" in out_path.read_text(), 60, "the driver's Context")
            app_id = api("/api/v1/applications")[0]["id"]
            wait_for(lambda: api(f"/api/v1/applications/{app_id}/jobs"), 60, "the job")
            step_file.write_text("-1h\n")
            assert proc.wait(60) == 0, out_path.read_text()
            ran_ms = (time.monotonic() - submitted) * 1000
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert "count [1]" in out_path.read_text()
        attempt = wait_for(lambda: (lambda a: a["completed"] and a)(
            api(f"/api/v1/applications/{app_id}")["attempts"][0]), 60, "the end")
        assert attempt["startTimeEpoch"] <= attempt["endTimeEpoch"], attempt
        assert 0 <= attempt["duration"] <= ran_ms, (attempt, ran_ms)
        [done] = api(f"/api/v1/applications/{app_id}/jobs")
        assert done["status"] == "SUCCEEDED"
        assert 0 <= _ms(done["completionTime"]) - _ms(done["submissionTime"]) <= ran_ms, done
        [stage] = api(f"/api/v1/applications/{app_id}/stages")
        assert 0 <= _ms(stage["completionTime"]) - _ms(stage["submissionTime"]) <= ran_ms
