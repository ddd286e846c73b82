"""A real Prometheus (Debian's package, run by hand on loopback) scrapes a local cluster."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from operator import add

import pytest

from vega_runtime import Context

PROMETHEUS = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary "
                                                           "(.ci/run installs it)")


def free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query(port, promql):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.load(response)["data"]["result"]
    except OSError:
        return None
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_tasks_a_job_ran(tmp_path):
    """After a job of 4 + 4 tasks, Prometheus's query API reports 8 successful tasks."""
    with Context(master="local-cluster[2,1]", app_name="scraped") as ctx:
        target = f"127.0.0.1:{ctx.backend.owned_cluster.webui_port}"
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                          f"  - job_name: vega-master\n    static_configs:\n"
                          f"      - targets: ['{target}']\n")
        port = free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),
            start_new_session=True)
        try:
            pairs = ctx.parallelize(range(100), 4).map(lambda x: (x % 3, x))
            assert len(pairs.reduce_by_key(add, 4).collect()) == 3
            promql = 'vega_tasks_total{outcome="success"}'
            deadline = time.monotonic() + 60  # first scrapes take a few seconds
            value = None
            while time.monotonic() < deadline and value != 8:
                value = query(port, promql)
                time.sleep(0.25)
            assert value == 8, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert query(port, 'vega_workers{state="alive"}') == 2
            assert query(port, 'vega_jobs_total{outcome="succeeded"}') == 1
        finally:
            os.killpg(prometheus.pid, signal.SIGTERM)
            prometheus.wait(30)
