"""A real Prometheus (Debian's package, run by hand on loopback) scrapes a local cluster
over HTTPS, verifying the master's and the workers' certificates against the cluster CA
with the scrape jobs of the shipped conf/monitoring/prometheus.yml."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from operator import add

import pytest
import yaml

from vega_runtime import Context

from proc_helpers import REPO, wait_for

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
    """After a job of 4 + 4 tasks, Prometheus's query API reports 8 successful tasks; both
    workers are scraped too (``up`` is 1 for the three HTTPS targets)."""
    with Context(master="local-cluster[2,1]", app_name="scraped") as ctx:
        cluster = ctx.backend.owned_cluster
        workers = [wait_for(lambda: re.search(r"worker metrics on https://[\d.]+:(\d+)/",
                                              open(path).read()), 30, "worker metrics")
                   for path in cluster.log_paths[1:]]
        targets = {"vega-master": [f"127.0.0.1:{cluster.webui_port}"],
                   "vega-workers": [f"127.0.0.1:{found.group(1)}" for found in workers]}
        with open(os.path.join(REPO, "conf", "monitoring", "prometheus.yml")) as fh:
            shipped = yaml.safe_load(fh)
        jobs = [job for job in shipped["scrape_configs"] if job["job_name"] in targets]
        for job in jobs:  # as shipped but for the addresses and where the CA file is
            assert job["scheme"] == "https" and set(job["tls_config"]) == {"ca_file"}
            job["tls_config"]["ca_file"] = cluster.ca_file
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"},
                                          "scrape_configs": jobs}))
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
            assert wait_for(lambda: query(port, "sum(up)") == 3, 30,
                            "all three HTTPS targets to be up")
        finally:
            os.killpg(prometheus.pid, signal.SIGTERM)
            prometheus.wait(30)
