"""A cluster-mode driver's own stdout and stderr (driver_output): `vega logs DRIVER_ID`,
`vega submit --deploy-mode cluster` and the web UI read them in the order printed, each
stream still apart (`2>/dev/null`), across the driver's own rotations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

from http_helpers import api_get_bytes
from proc_helpers import master_and_worker, vega, vega_argv, write_job
from test_log_rotation import _Recorder

from vega_runtime.deploy import ordered_output
from vega_runtime.deploy.app_logs import AppLogs
from vega_runtime.net.messages import LogChunk

JOB = """\
import os, sys
for i in range(int(sys.argv[1])):
    stream = sys.stderr if (i // 2) % 2 else sys.stdout
    print("line", i, "err" if stream is sys.stderr else "out", file=stream)
    if i == 7:
        sys.stdout.flush()
        os.write(1, b"line fd out\\n")  # past sys.stdout: counted, in order from here
"""


def _expected(count: int):
    lines = []
    for i in range(count):
        lines.append(f"line {i} {'err' if (i // 2) % 2 else 'out'}")
        if i == 7:
            lines.append("line fd out")
    return lines


def _lines(text: str):
    return [line for line in text.splitlines() if line.startswith("line ")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with master_and_worker(tmp_path_factory.mktemp("driver-output")) as cluster:
        yield cluster


def test_a_cluster_mode_drivers_output_reads_in_the_order_printed(cluster, tmp_path):
    """Its submitter, `vega logs` (and --follow) with 2>&1 read the lines as printed;
    `2>/dev/null` keeps its stdout alone, and stderr its stderr alone."""
    job = write_job(tmp_path, "chatty.py", JOB)
    expected = _expected(40)
    submit = subprocess.run(vega_argv("submit", "--master", cluster["url"], "--deploy-mode",
                                      "cluster", job, "40"),
                            env=cluster["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=120)
    assert submit.returncode == 0, submit.stdout
    assert _lines(submit.stdout) == expected, submit.stdout
    (driver_id,) = set(re.findall(r"driver-\d+-\d+", submit.stdout))
    for follow in ([], ["--follow"]):
        together = subprocess.run(vega_argv("logs", *follow, "--master", cluster["url"],
                                            driver_id),
                                  env=cluster["env"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=120)
        assert _lines(together.stdout) == expected, together.stdout
        apart = vega("logs", *follow, "--master", cluster["url"], driver_id, env=cluster["env"])
        assert _lines(apart.stdout) == [x for x in expected if x.endswith("out")]
        assert _lines(apart.stderr) == [x for x in expected if x.endswith("err")]
    # the JSON API's output of the driver, which the web UI shows
    token = (cluster["home"] / "master" / "master.token").read_text().strip()
    status, _, body = api_get_bytes((cluster["webui_port"], cluster["ca_file"]),
                                    f"/api/v1/applications/{driver_id}/output", token)
    assert status == 200 and _lines(body.decode()) == expected, body


ROTATING = """\
import os, sys
from vega_runtime.deploy import driver_output
driver_output.install(sys.argv[1], 400, 2)
for i in range(150):
    print("line", i, "out")
    print("line", i, "err", file=sys.stderr)
    if i % 10 == 9:
        sys.stdout.flush()
        os.write(2, b"line fd %d err\\n" % i)  # fd 2 follows the rotations
"""


def test_a_drivers_output_rotates_in_order_and_a_follower_crosses_each_rotation(tmp_path):
    """The driver renames its three files together past the bound (its descriptors moved to
    the new ones); the current and the kept generations read in order, each stream file
    holding its stream alone, and a follower started at the beginning reads every line."""
    directory = tmp_path / "apps" / "driver-20261206000000-0001"
    directory.mkdir(parents=True)
    out, err = open(directory / "output.log", "ab"), open(directory / "stderr.log", "ab")
    done = subprocess.run([sys.executable, "-c", ROTATING, str(directory)], stdout=out,
                          stderr=err, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
    out.close(), err.close()
    assert done.returncode == 0
    expected = []
    for i in range(150):
        expected += [f"line {i} out", f"line {i} err"]
        if i % 10 == 9:
            expected.append(f"line fd {i} err")
    files = sorted(os.listdir(directory))
    assert files == ["output.log", "output.log.1", "output.log.2", "stderr.log",
                     "stderr.log.1", "stderr.log.2", "streams.log", "streams.log.1",
                     "streams.log.2"]
    for suffix in (".2", ".1", ""):
        with open(directory / f"output.log{suffix}") as fh:
            assert all(x.endswith("out") for x in fh.read().splitlines())
        with open(directory / f"stderr.log{suffix}") as fh:
            assert all(x.endswith("err") for x in fh.read().splitlines())
        assert os.path.getsize(directory / f"output.log{suffix}") <= 400
        # (what came straight to the descriptor passes the bound until the next write)
        assert os.path.getsize(directory / f"stderr.log{suffix}") <= 400 + 20
    logs = AppLogs(str(tmp_path))
    tail = logs.tail(directory.name, 1 << 20).splitlines()
    assert tail == expected[-len(tail):]
    assert len(tail) > 40  # two generations
    conn = _Recorder()
    logs.follow(conn, directory.name, False, lambda: ("FINISHED", 0, True, ""),
                threading.Event())
    conn.close()
    text = "".join(c.text for c in conn.chunks if isinstance(c, LogChunk))
    assert text.splitlines() == expected[-len(text.splitlines()):]
    assert text.endswith("line 149 err\nline fd 149 err\n")
    assert ordered_output.is_ordered(str(directory))
