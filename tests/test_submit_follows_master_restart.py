"""`vega submit --deploy-mode cluster` (and `vega logs --follow`) following a driver across
a master crash: it reconnects (for up to vega.master.reconnect_timeout) and follows the driver on, printing
what it had not printed yet and exiting with the driver's code (Spark's
spark.standalone.submit.waitAppCompletion).  A master with recovery on, SIGKILLed and
started again on its port and work dir, real processes."""

import signal
import subprocess
import threading

import pytest

from proc_helpers import spawn_vega, vega, wait_for
from test_master_restart_status import Cluster

#: the first run waits for the master's crash (it dies with it); under --supervise the
#: restarted master starts a second, which ends
JOB = """
import os, sys, time
runs = sys.argv[1]
os.makedirs(runs, exist_ok=True)
run = len(os.listdir(runs)) + 1
open(os.path.join(runs, str(run)), "w").close()
print("run", run, "started", flush=True)
print("run", run, "on stderr", file=sys.stderr, flush=True)
if run == 1:
    time.sleep(120)
print("run", run, "done", flush=True)
"""


def _submit(cluster, tmp_path, *flags):
    """``vega submit --deploy-mode cluster FLAGS JOB`` in the background, once its driver's
    first run has started; and the lists its stdout and stderr lines go to."""
    job = tmp_path / "job.py"
    job.write_text(JOB)
    submit = spawn_vega("submit", "--master", cluster.url, "--deploy-mode", "cluster", *flags,
                        str(job), str(tmp_path / "runs"), env=cluster.env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        start_new_session=True)
    cluster.procs.append(submit)
    lines = _pumped(submit)
    wait_for(lambda: "run 1 on stderr\n" in lines["err"], 60, "the driver's first run")
    return submit, lines


def _driver_id(lines):
    return next(w for line in lines["err"] for w in line.split() if w.startswith("driver-"))


def _pumped(proc):
    """Lists that receive ``proc``'s stdout and stderr lines as they come."""
    lines = {"out": [], "err": []}
    for stream, sink in ((proc.stdout, lines["out"]), (proc.stderr, lines["err"])):
        threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")),
                         daemon=True).start()
    return lines


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_vega_submit_follows_a_supervised_driver_across_a_master_restart(tmp_path, stop):
    """The master SIGKILLed (a crash) or SIGTERMed (vega stop-master) under a supervised
    cluster-mode driver and started again: the driver dies with it and the restarted master
    starts it again; `vega submit` reconnects and follows it to its end: each line of
    output once (the first run's, the master's notice, the second run's), and the driver's
    exit code (0).  Before, it exited 1 as the master went: 'lost the master while
    following driver ...; it may still be running'."""
    cluster = Cluster(tmp_path)
    try:
        submit, lines = _submit(cluster, tmp_path, "--supervise")
        follower = spawn_vega("logs", "--follow", "--master", cluster.url, _driver_id(lines),
                              env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
        cluster.procs.append(follower)
        followed = _pumped(follower)
        wait_for(lambda: followed["out"] == ["run 1 started\n"], 30, "vega logs --follow")
        cluster.restart_master(getattr(signal, stop))
        assert submit.wait(60) == 0, "".join(lines["err"])
        expected = ["run 1 started\n",
                    "vega: the master restarted; starting the supervised driver again\n",
                    "run 2 started\n", "run 2 done\n"]
        assert lines["out"] == expected
        assert follower.wait(30) == 0, "".join(followed["err"])
        assert followed["out"] == expected  # vega logs --follow goes on across it too
        err = "".join(lines["err"])
        assert err.count("run 1 on stderr") == 1 and err.count("run 2 on stderr") == 1, err
        assert "lost the master while following driver" in err and "following it again" in err
    finally:
        cluster.close()


def test_vega_submit_reports_the_end_of_a_driver_that_died_with_the_master(tmp_path):
    """A cluster-mode driver without --supervise dies with its master: the restarted
    master shows it failed, and `vega submit`, following it again, says so and exits 1
    (before: 'lost the master ...; it may still be running', though it was not; and
    `vega logs --follow` of it ended as if it had finished)."""
    cluster = Cluster(tmp_path)
    try:
        submit, lines = _submit(cluster, tmp_path)
        cluster.restart_master()
        assert submit.wait(60) == 1, "".join(lines["err"])
        assert lines["out"] == ["run 1 started\n"]
        assert "failed: it died with the master (a crash, or the master was killed); submit " \
            "it with --supervise" in "".join(lines["err"])
        logs = vega("logs", "--master", cluster.url, _driver_id(lines), env=cluster.env)
        assert (logs.returncode, logs.stdout) == (0, "run 1 started\n"), logs.stderr
    finally:
        cluster.close()


def test_vega_submit_gives_up_on_a_master_away_past_the_reconnect_timeout(tmp_path):
    """A master that does not come back within vega.master.reconnect_timeout (1 s here):
    `vega submit` stops following, says so and how to follow the driver later, exit 1."""
    import os
    import time

    cluster = Cluster(tmp_path)
    try:
        submit, lines = _submit(cluster, tmp_path, "--conf", "vega.master.reconnect_timeout=1")
        os.killpg(cluster.master.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert submit.wait(30) == 1, "".join(lines["err"])
        assert time.monotonic() - killed < 10
        err = "".join(lines["err"])
        assert "it was not back within 1s); it may still be running" in err, err
        assert f"vega logs --follow --master {cluster.url} {_driver_id(lines)}" in err
    finally:
        cluster.close()


def test_ctrl_c_while_the_master_is_away_says_the_driver_was_not_killed(tmp_path):
    """Ctrl-C while `vega submit` waits for its master to come back: the driver cannot be
    killed now; it says so and how to kill it later, and exits 130 (not a traceback or a
    'cannot reach the master' error as if nothing had been followed)."""
    import os

    cluster = Cluster(tmp_path)
    try:
        submit, lines = _submit(cluster, tmp_path)
        os.killpg(cluster.master.pid, signal.SIGKILL)
        wait_for(lambda: any("following it again" in line for line in lines["err"]), 30,
                 "vega submit to wait for the master")
        os.kill(submit.pid, signal.SIGINT)
        assert submit.wait(30) == 130, "".join(lines["err"])
        driver_id = _driver_id(lines)
        assert f"vega: driver {driver_id} was not killed: the master is away" in \
            "".join(lines["err"])
        assert f"vega kill --master {cluster.url} {driver_id}" in "".join(lines["err"])
    finally:
        cluster.close()
