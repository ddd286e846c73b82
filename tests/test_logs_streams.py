"""`vega logs APP` keeps the stream of each line its tasks wrote: stdout on stdout, stderr on
stderr (as `vega submit` prints them), so `vega logs APP 2>/dev/null` is the output alone;
for client- and cluster-mode applications, with and without --follow; both streams into one
file (`vega logs APP > f 2>&1`) read as the tasks printed them."""

from __future__ import annotations

import json
import subprocess

import pytest

from proc_helpers import master_and_worker, vega, vega_argv, write_job

JOB = """\
import sys
from vega_runtime import Context

def both(x):
    print("out", x)
    print("err", x, file=sys.stderr)
    return x

with Context(app_name=sys.argv[1]) as ctx:
    print("counted", ctx.parallelize(range(3), 1).map(both).count())
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("streams")) as cluster:
        yield cluster


def _app_id(cluster, name: str) -> str:
    status = json.loads(vega("status", "--master", cluster["url"], "--json",
                             env=cluster["env"]).stdout)
    (app_id,) = [app["id"] for app in status["applications"] if app["name"] == name]
    return app_id


def _task_lines(text: str, printed_order: bool = False):
    lines = [line.split("] ", 1)[1] for line in text.splitlines()
             if line.startswith("[127.0.0.1 exec-")]
    return lines if printed_order else sorted(lines)


@pytest.mark.parametrize("mode", ["client", "cluster"])
def test_vega_logs_prints_tasks_stderr_on_stderr(cluster, tmp_path, mode):
    """The tasks' stdout lines on stdout only, their stderr lines on stderr only; both into
    one file, in the order printed."""
    job = write_job(tmp_path, "both.py", JOB)
    name = f"streams-{mode}"
    done = vega("submit", "--master", cluster["url"], "--deploy-mode", mode, job, name,
                env=cluster["env"])
    assert done.returncode == 0, done.stderr
    app_id = _app_id(cluster, name)
    for follow in ([], ["--follow"]):
        logs = vega("logs", *follow, "--master", cluster["url"], app_id, env=cluster["env"])
        assert logs.returncode == 0, logs.stderr
        assert _task_lines(logs.stdout) == ["out 0", "out 1", "out 2"], logs.stdout
        assert _task_lines(logs.stderr) == ["err 0", "err 1", "err 2"], logs.stderr
        together = subprocess.run(vega_argv("logs", *follow, "--master", cluster["url"], app_id),
                                  env=cluster["env"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=120)
        assert _task_lines(together.stdout, printed_order=True) == [
            "out 0", "err 0", "out 1", "err 1", "out 2", "err 2"], together.stdout
