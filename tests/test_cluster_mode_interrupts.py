"""Cluster deploy mode interrupted where it was not before: a Ctrl-C landing as the master
takes the driver (before its reply), and a killed application's Context stopping. A real
master and worker (test_cli_submit_signals.py has Ctrl-C while the driver is followed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from proc_helpers import (REPO, executor_processes, master_and_worker, vega, wait_for,
                          write_job)

from vega_runtime import Context

#: Made the first module imported (sitecustomize), it makes a Ctrl-C (or N of them) land
#: just as ``vega submit`` waits for the master's reply to its SubmitDriver: a moment no
#: keyboard can hit on purpose.
CTRL_C_AT_THE_REPLY = """
import signal

from vega_runtime.net import connection

_send, _recv = connection.Connection.send, connection.Connection.recv


def send(self, message):
    _send(self, message)
    if type(message).__name__ == "SubmitDriver":
        self.interrupt_at_reply = True


def recv(self):
    if getattr(self, "interrupt_at_reply", False):
        self.interrupt_at_reply = False
        for _ in range({times}):
            signal.raise_signal(signal.SIGINT)
    return _recv(self)


connection.Connection.send, connection.Connection.recv = send, recv
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("cluster")) as running:
        yield running


def _drivers(cluster) -> dict:
    status = vega("status", "--master", cluster["url"], "--json", env=cluster["env"])
    return {driver["id"]: driver["state"] for driver in json.loads(status.stdout)["drivers"]}


def _submit_interrupted(cluster, tmp_path, times: int) -> subprocess.CompletedProcess:
    job = write_job(tmp_path, "sleepy.py", """
        import time
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1], 1).map(lambda x: time.sleep(60)).collect()
    """)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(CTRL_C_AT_THE_REPLY.format(times=times))
    env = {**cluster["env"], "PYTHONPATH": f"{hook}{os.pathsep}{REPO}"}
    return subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                           cluster["url"], "--deploy-mode", "cluster", job], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_ctrl_c_as_the_master_takes_the_driver_kills_the_driver_it_names(cluster, tmp_path):
    """A Ctrl-C after vega submit sent the driver, before the master's reply, ended it with
    'vega: error: interrupted' and the driver ran on, its id never printed (nobody could
    kill it); now the reply is awaited and the driver it names killed, as a Ctrl-C while it
    is followed."""
    before = set(_drivers(cluster))
    result = _submit_interrupted(cluster, tmp_path, times=1)
    [driver_id] = set(_drivers(cluster)) - before
    assert (result.returncode, result.stdout) == (130, ""), result.stderr
    assert result.stderr.splitlines()[1:] == [
        f"vega: driver {driver_id} submitted to {cluster['url']}",
        f"vega: driver {driver_id} killed (Ctrl-C)"]
    assert _drivers(cluster)[driver_id] == "killed"


def test_a_second_ctrl_c_as_the_master_takes_the_driver_says_how_to_find_it(cluster,
                                                                           tmp_path):
    """A second Ctrl-C forces, as everywhere: vega submit ends at once, and says the driver
    may be running and how to see and kill it (it said 'interrupted' alone)."""
    before = set(_drivers(cluster))
    result = _submit_interrupted(cluster, tmp_path, times=2)
    [driver_id] = set(_drivers(cluster)) - before
    url = cluster["url"]
    try:
        assert (result.returncode, result.stdout) == (130, ""), result.stderr
        assert result.stderr.splitlines()[1:] == [
            "vega: error: interrupted as the master took the driver, which may be running",
            f"See it with: vega status --master {url}; kill it with: vega kill --master "
            f"{url} DRIVER_ID"]
    finally:
        vega("kill", "--master", url, driver_id, env=cluster["env"])
    assert _drivers(cluster)[driver_id] == "killed"


def test_a_killed_applications_context_stops_at_once(cluster, monkeypatch):
    """An application killed with vega kill (as a cluster-mode driver is on Ctrl-C): its
    executors' connections drop, and each waited 5 s (EXIT_REASON_WAIT) for word of why,
    which a killed application never gets, so the Context's stop took 5 s (vega submit
    --deploy-mode cluster: Ctrl-C took ~5 s more about 1 run in 5). Now the stop ends the
    waits: it takes what stopping takes, well under those 5 s."""
    monkeypatch.setenv("VEGA_SECRET_FILE", cluster["env"]["VEGA_SECRET_FILE"])
    ctx = Context(cluster["url"], "killed")
    try:
        assert ctx.parallelize([1, 2], 1).sum() == 3
        assert executor_processes(ctx.application_id)
        killed = vega("kill", "--master", cluster["url"], ctx.application_id,
                      env=cluster["env"])
        assert killed.stdout.strip() == f"killed {ctx.application_id}", killed.stderr
        wait_for(lambda: not executor_processes(ctx.application_id), 30, "its executors' end")
    finally:
        began = time.monotonic()
        ctx.stop()
        took = time.monotonic() - began
    assert took < 2.5, f"the stop took {took:.1f}s"
