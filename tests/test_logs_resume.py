"""`vega logs` and the rotated files of an application's kept output, with a real master
(rotating at a small `vega.master.app_output.max_size`), worker and driver on loopback:
a `vega logs --follow` whose master restarted while the files rotated several times prints
every line once, in order; a plain `vega logs APP` prints all that is kept, oldest first."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from proc_helpers import vega, vega_argv, wait_for, write_job
from test_master_restart_status import Cluster

#: the jobs of each phase print 10 or 15 lines each; the driver runs its K-th job once
#: ``GATE.K`` is there (the test lets each go once the master keeps the one before: a job's
#: lines reach it as one run, and a run is not split across files, so a rotation a job at
#: 1500 bytes)
JOB = """\
import os, sys, time
from vega_runtime import Context

def lines(number, job, count):
    def emit(_):
        for i in range(count):
            print(f"phase {number} job {job} line {i:02d} " + "x" * 20)
    return emit

gate, k = sys.argv[1], 0
with Context(app_name="resume") as ctx:
    for number, (jobs, count) in enumerate(((1, 10), (8, 15), (1, 10))):
        for job in range(jobs):
            while k and not os.path.exists(f"{gate}.{k}"):
                time.sleep(0.05)
            ctx.parallelize([0], 1).foreach(lines(number, job, count))
            k += 1
"""
EXPECTED = [f"phase {n} job {j} line {i:02d} " + "x" * 20
            for n, (jobs, count) in enumerate(((1, 10), (8, 15), (1, 10)))
            for j in range(jobs) for i in range(count)]


@pytest.fixture
def cluster(tmp_path):
    config = tmp_path / "master.yaml"
    config.write_text("vega.master.app_output.max_size: 1500\n"
                      "vega.master.app_output.max_retained_files: 20\n")
    made = Cluster(tmp_path, ["--config", str(config)])
    try:
        made.worker("w1")
        wait_for(lambda: made.worker_states().get("w1") == "alive", what="the worker")
        yield made
    finally:
        made.close()


def _lines(text: str):
    """The task lines, without their ``[host executor stage.partition]`` prefix."""
    return [line.split("] ", 1)[1] for line in text.splitlines() if line.startswith("[")]


def _app_id(cluster):
    status = cluster.status() or {"applications": []}
    found = [app["id"] for app in status["applications"] if app["name"] == "resume"]
    return found[0] if found else None


def _state(cluster):
    status = cluster.status() or {"applications": []}
    return next((app["state"] for app in status["applications"] if app["name"] == "resume"),
                None)


def _kept(cluster, app_id: str) -> str:
    directory = cluster.tmp / "master" / "apps" / app_id
    return "".join((directory / name).read_text(errors="replace")
                   for name in os.listdir(directory) if name.startswith("output.log"))


def test_a_follower_resumed_after_rotations_and_vega_logs_print_every_line_once(
        cluster, tmp_path):
    """The follower has phase 0 when it is stopped (SIGSTOP) and the master SIGKILLed and
    started again; phase 1 (8 jobs: 8 rotations at 1500 bytes) reaches the new
    master; the follower, let go, follows again from its offsets: before, they were applied
    to the current files (or ``.1``) and lines were skipped or printed twice."""
    gate = str(tmp_path / "gate")
    job = write_job(tmp_path, "resume.py", JOB)
    submit = subprocess.Popen(vega_argv("submit", "--master", cluster.url, job, gate),
                              env=cluster.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    cluster.procs.append(submit)
    app_id = wait_for(lambda: _app_id(cluster), 60, "the application")
    out, err = open(tmp_path / "follow.out", "wb"), open(tmp_path / "follow.err", "wb")
    follower = subprocess.Popen(vega_argv("logs", "--follow", "--master", cluster.url, app_id),
                                env=cluster.env, stdout=out, stderr=err,
                                start_new_session=True)
    cluster.procs.append(follower)
    printed = lambda: (tmp_path / "follow.out").read_text()  # noqa: E731
    wait_for(lambda: EXPECTED[9] in printed(), 60, "the follower to print phase 0")
    os.kill(follower.pid, signal.SIGSTOP)
    try:
        cluster.restart_master()
        # (the driver back: what it printed while the master was away comes as one run)
        wait_for(lambda: _state(cluster) == "running", 60, "the driver to reconnect")
        for k in range(1, 9):
            open(f"{gate}.{k}", "w").close()
            wait_for(lambda: EXPECTED[9 + 15 * k] in _kept(cluster, app_id), 60,
                     f"job {k} kept by the restarted master")
        assert os.path.exists(cluster.tmp / "master" / "apps" / app_id / "output.log.7")
    finally:
        os.kill(follower.pid, signal.SIGCONT)
    wait_for(lambda: EXPECTED[129] in printed(), 60, "the follower to print phase 1")
    open(f"{gate}.9", "w").close()
    assert submit.wait(60) == 0
    assert follower.wait(60) == 0, (tmp_path / "follow.err").read_text()
    assert _lines(printed()) == EXPECTED, (tmp_path / "follow.err").read_text()
    assert "fell behind" not in (tmp_path / "follow.err").read_text()
    # all that is kept, oldest first (before: the current generation alone)
    logs = vega("logs", "--master", cluster.url, app_id, env=cluster.env)
    assert logs.returncode == 0, logs.stderr
    assert _lines(logs.stdout) == EXPECTED
