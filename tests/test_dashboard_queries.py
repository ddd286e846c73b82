"""Every panel query of the shipped Grafana dashboard (conf/monitoring/grafana/dashboards),
evaluated through the HTTP query API of a real Prometheus (Debian's package, run by hand on
loopback) that scrapes a standalone cluster with the shipped scrape jobs at 1 s, during and
after an application's jobs, and across a master restart.

Grafana itself is not installable here: its dashboard has no template variables, and the
one macro its queries use, ``$__rate_interval``, is substituted as Grafana does
(``rate_interval``), so each ``expr`` is what Grafana sends."""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from operator import add

import pytest
import yaml

from vega_runtime import Context

from http_helpers import api_get
from proc_helpers import REPO, master_and_worker, read_text, spawn_vega, wait_for

PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter")  # Debian's prometheus recommends it

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary "
                                                           "(.ci/run installs it)")
MONITORING = os.path.join(REPO, "conf", "monitoring")
WORKERS_UP = 'up{job="vega-workers"}'


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: the tests' Prometheus scrapes every second (its data source's "Scrape interval" then 1s)
SCRAPE_SECONDS = 1
#: a panel's width in pixels: Grafana's ``maxDataPoints`` (half of a 1920-pixel screen)
PANEL_PIXELS = 900


def rate_interval(scrape_seconds, range_seconds, pixels=PANEL_PIXELS):
    """Grafana's ``$__rate_interval``: max($__interval + scrape interval, 4 x scrape
    interval), ``$__interval`` being the dashboard's time range over the panel's width in
    pixels, at least the scrape interval (Grafana rounds it to a round number of seconds
    as this does up).

    >>> rate_interval(1, 1800), rate_interval(5, 1800), rate_interval(15, 6 * 3600)
    ('4s', '20s', '60s')
    """
    interval = max(scrape_seconds, math.ceil(range_seconds / pixels))
    return f"{max(interval + scrape_seconds, 4 * scrape_seconds)}s"


def panel_queries():
    """(panel title, legend, expr) of every target of the shipped dashboard, each
    ``$__rate_interval`` as Grafana makes it at the dashboard's own time range and the
    tests' scrape interval."""
    with open(os.path.join(MONITORING, "grafana", "dashboards", "vega.json")) as fh:
        dashboard = json.load(fh)
    shown = dashboard["time"]
    assert (shown["from"][:4], shown["from"][-1], shown["to"]) == ("now-", "m", "now")
    window = rate_interval(SCRAPE_SECONDS, 60 * int(shown["from"][4:-1]))
    return [(panel["title"], target.get("legendFormat", ""),
             target["expr"].replace("$__rate_interval", window))
            for panel in dashboard["panels"] for target in panel["targets"]]


class Prometheus:
    """A real Prometheus on loopback scraping ``targets`` ({job name: [host:port]}) every
    second with the shipped jobs of those names (their CA file: ``ca_file``); jobs the
    shipped file lacks (a driver's) are added as an operator would, like the master's."""

    def __init__(self, tmp_path, targets, ca_file):
        with open(os.path.join(MONITORING, "prometheus.yml")) as fh:
            shipped = {job["job_name"]: job for job in yaml.safe_load(fh)["scrape_configs"]}
        jobs = []
        for name, addresses in targets.items():
            job = dict(shipped.get(name) or dict(shipped["vega-master"], job_name=name))
            if "tls_config" in job:
                job["tls_config"] = dict(job["tls_config"], ca_file=ca_file)
            job["static_configs"] = [{"targets": addresses}]
            jobs.append(job)
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": f"{SCRAPE_SECONDS}s",
                                                     "evaluation_interval": "1s"},
                                          "scrape_configs": jobs}))
        self.port = free_port()
        self.log = tmp_path / "prometheus.log"
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"), start_new_session=True)
        self.count = sum(len(addresses) for addresses in targets.values())

    def query(self, promql, at=None):
        """[(labels, value)] of an instant query (at time ``at``, else now); None while
        Prometheus does not answer."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + \
            urllib.parse.urlencode({"query": promql, **({"time": at} if at else {})})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                document = json.load(response)
        except OSError:
            return None
        return [(r["metric"], float(r["value"][1])) for r in document["data"]["result"]]

    def samples(self, promql, seconds):
        """The raw (time, value) samples of the one series ``promql`` selects, last seconds."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + \
            urllib.parse.urlencode({"query": f"{promql}[{seconds}s]"})
        with urllib.request.urlopen(url, timeout=5) as response:
            found = json.load(response)["data"]["result"]
        return [(float(t), float(v)) for t, v in found[0]["values"]] if found else []

    def metadata(self, job):
        """{metric family: (type, unit)} that Prometheus stored of ``job``'s targets."""
        url = f"http://127.0.0.1:{self.port}/api/v1/targets/metadata?" + \
            urllib.parse.urlencode({"match_target": f'{{job="{job}"}}'})
        with urllib.request.urlopen(url, timeout=5) as response:
            return {m["metric"]: (m["type"], m["unit"]) for m in json.load(response)["data"]}

    def value(self, promql):
        """The value of the one series ``promql`` selects (None: no series yet)."""
        result = self.query(promql)
        assert result is None or len(result) <= 1, f"{promql}: {result}"
        return result[0][1] if result else None

    def wait_value(self, promql, expected, timeout=30):
        wait_for(lambda: self.value(promql) == expected, timeout,
                 f"{promql} == {expected} (it is {self.value(promql)}; "
                 f"{read_text(str(self.log))[-1500:]})")

    def wait_all_up(self):
        """Until every target has been scraped 3 times (``rate`` needs two samples)."""
        wait_for(lambda: (lambda found: found is not None and len(found) == self.count and
                          all(v >= 3 for _, v in found))(self.query("sum_over_time(up[1m])")),
                 60, f"3 scrapes of each target ({read_text(str(self.log))[-1500:]})")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def worker_metrics_address(cluster):
    log = os.path.join(str(cluster["home"]), "worker", "worker.log")
    found = wait_for(lambda: re.search(r"worker metrics on https://[\d.]+:(\d+)/", read_text(log)),
                     30, "the worker's metrics port")
    return f"127.0.0.1:{found.group(1)}"


def documented_metrics():
    """{row of docs/monitoring.md's table of metrics: the vega_ names in its last column}."""
    with open(os.path.join(REPO, "docs", "monitoring.md")) as fh:
        rows = [line.split(" | ") for line in fh if line.startswith("| ")]
    return {row[0].strip("| "): set(re.findall(r"\bvega_[a-z_]+", row[-1])) for row in rows
            if row[0].strip("| ") in ("master", "each worker")}


def check_types(stored, documented, where):
    """What Prometheus stored of a target's metrics is what the docs list, a counter named
    ``_total``, the task durations a histogram in seconds, the rest gauges."""
    names = {name for name in stored if name.startswith("vega_")}
    assert names == documented, f"{where}: stored {sorted(names - documented)} undocumented, " \
                                f"documented {sorted(documented - names)} not stored"
    for name in names:
        kind = stored[name][0]
        expected = "counter" if name.endswith("_total") else \
            "histogram" if name == "vega_task_duration_seconds" else "gauge"
        assert kind == expected, f"{where}: {name} is a {kind}, not a {expected}"


def by_legend(result, legend):
    """Grafana's legend of each series of ``result``: ``{{label}}`` filled in."""
    return {re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend) or
            str(labels): value for labels, value in result}


def test_every_panel_query_returns_exact_series_during_and_after_an_application(tmp_path,
                                                                          monkeypatch):
    """A 1-core worker runs an application's jobs (a shuffle: 4 + 4 tasks, a cached RDD: 2,
    task output: 2, a failing job: 1 task done, 1 failed 4 times), whose driver serves its
    own /metrics, scraped too under a job of its own; then a job held running. Each of
    the dashboard's 21 queries returns series, and the exact ones: 1 worker alive, 1
    application running then finished, 1 core and 1 GiB used of 1, 13 tasks succeeded and
    4 failed (rates and percentiles of the master's counts, not of the master's and the
    driver's together), shuffle bytes, 1 job and 1 stage running while one runs, no losses."""
    node = None
    with master_and_worker(tmp_path / "home") as cluster:
        targets = {"vega-master": [f"127.0.0.1:{cluster['webui_port']}"],
                   "vega-workers": [worker_metrics_address(cluster)],
                   "vega-driver": [f"127.0.0.1:{free_port()}"]}
        queries = panel_queries()
        assert len(queries) == 21
        if NODE_EXPORTER:
            targets["node"] = [f"127.0.0.1:{free_port()}"]
            node = subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address={targets['node'][0]}",
                 "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        else:
            queries = [q for q in queries if "node_" not in q[2]]
        prometheus = Prometheus(tmp_path, targets, cluster["ca_file"])
        monkeypatch.setenv("VEGA_SECRET_FILE", cluster["env"]["VEGA_SECRET_FILE"])
        release = tmp_path / "release"
        try:
            driver_port = int(targets["vega-driver"][0].rsplit(":", 1)[1])
            with Context(master=cluster["url"], app_name="dashboard",
                         conf={"vega.driver.metrics.port": driver_port}) as ctx:
                prometheus.wait_all_up()
                pairs = ctx.parallelize(range(1000), 4).map(lambda x: (x % 7, x))
                assert len(pairs.reduce_by_key(add, 4).collect()) == 7
                assert ctx.parallelize(range(100), 2).cache().count() == 100
                ctx.parallelize(range(2), 2).foreach(lambda x: print("line", x))
                def boom(x):
                    if x == 3:
                        raise ValueError("boom")
                    return x
                with pytest.raises(Exception, match="boom"):
                    ctx.parallelize(range(4), 2).map(boom).collect()
                master = '{job="vega-master"}'
                prometheus.wait_value(f'vega_tasks_total{{job="vega-master",outcome="success"}}', 13)
                prometheus.wait_value(f'vega_tasks_total{{job="vega-driver",outcome="success"}}', 13)
                # every query at one moment, as a panel: the first scrape of the master
                # that had every task counted (a rate's window then holds the last ones)
                counted = {outcome: prometheus.value(
                    f'vega_tasks_total{{job="vega-master",outcome="{outcome}"}}')
                    for outcome in ("success", "failed")}
                reached = {outcome: min(t for t, v in prometheus.samples(
                    f'vega_tasks_total{{job="vega-master",outcome="{outcome}"}}', 60)
                    if v == value) for outcome, value in counted.items()}
                now = max(reached.values())
                values = {}
                for title, legend, expr in queries:
                    result = prometheus.query(expr, now)
                    assert result, f"panel {title!r}: {expr} returns no series " \
                        f"(the workers' scrapes: {prometheus.samples(WORKERS_UP, 20)} at {now})"
                    values[(title, legend)] = by_legend(result, legend)
                assert values[("Workers by state", "{{state}}")] == \
                    {"alive": 1, "lost": 0, "dead": 0}
                assert values[("Applications by state", "{{state}}")] == \
                    {"running": 1, "waiting": 0, "finished": 0, "failed": 0, "killed": 0,
                     "recovering": 0}
                for panel, unit in (("Cores used / total", 1), ("Memory used / total", 1 << 30)):
                    assert values[(panel, "used")] == {"used": unit}
                    assert values[(panel, "total")] == {"total": unit}
                tasks = values[("Tasks per second by outcome", "{{outcome}}")]
                assert set(tasks) == {"success", "failed", "fetch_failed", "lost", "killed"}
                window = rate_interval(SCRAPE_SECONDS, 1800)
                master_rates = by_legend(prometheus.query(
                    f"sum by (outcome) (rate(vega_tasks_total{master}[{window}]))", now),
                    "{{outcome}}")
                assert tasks == master_rates
                # each outcome's rate shows as its count rose (at ``now`` the failures may be
                # older than the 4 s window: a loaded machine counted the last success
                # seconds after the last failure, and the panel rightly showed 0 failed/s)
                [panel_expr] = [expr for title, _, expr in queries
                                if title == "Tasks per second by outcome"]
                for outcome, at in reached.items():
                    rising = by_legend(prometheus.query(panel_expr, at), "{{outcome}}")
                    assert rising[outcome] > 0, (outcome, at, rising)
                p50, p95, p99 = (values[("Task duration percentiles", p)][p]
                                 for p in ("p50", "p95", "p99"))
                assert 0 < p50 <= p95 <= p99 <= 300
                assert prometheus.value(f"vega_task_duration_seconds_count{master}") == 13
                throughput = {legend: list(v.values()) for (title, legend), v in values.items()
                              if title == "Shuffle throughput"}
                assert throughput["written"][0] > 0 and throughput["read"][0] > 0
                assert throughput["served to other hosts"] == [0]  # one host: read from disk
                assert prometheus.value(f"vega_shuffle_written_bytes_total{master}") == \
                    prometheus.value(f"vega_shuffle_read_bytes_total{master}") > 0
                failures = values[("Failures and losses", "failed tasks")]
                assert len(failures) == 1 and 4 <= list(failures.values())[0] < 8
                for legend in ("fetch failures", "executor losses"):
                    assert list(values[("Failures and losses", legend)].values()) == [0]
                assert set(values[("Failures and losses", "rejected on {{port}}: {{reason}}")]
                           .values()) == {0}
                assert prometheus.value(f'vega_jobs_total{{job="vega-master",outcome="failed"}}') == 1
                assert prometheus.value(f'vega_jobs_total{{job="vega-master",outcome="succeeded"}}') == 3
                if NODE_EXPORTER:
                    busy = values[("Node CPU busy", "{{instance}}")]
                    assert list(busy) == targets["node"] and 0 <= busy[targets["node"][0]] <= 1
                    assert list(values[("Node memory used", "{{instance}}")].values())[0] > 0
                documented = documented_metrics()
                check_types(prometheus.metadata("vega-master"), documented["master"],
                                      "the master")
                check_types(prometheus.metadata("vega-workers"),
                                      documented["each worker"], "a worker")
                check_types(prometheus.metadata("vega-driver"), {
                    "vega_jobs_total", "vega_jobs_running", "vega_stages_total",
                    "vega_stages_running", "vega_tasks_total", "vega_task_duration_seconds",
                    "vega_shuffle_written_bytes_total", "vega_shuffle_read_bytes_total",
                    "vega_fetch_failures_total"}, "a driver")
                # a job held running: its panel shows one job and one stage (the master's)
                flag = str(release)

                def hold(_):  # (on the executor: until the test releases it, at most 60 s)
                    deadline = time.monotonic() + 60
                    while not os.path.exists(flag) and time.monotonic() < deadline:
                        time.sleep(0.05)
                holding = threading.Thread(target=lambda: ctx.parallelize([0], 1).foreach(hold))
                holding.start()
                try:
                    for _, legend, expr in queries:
                        if legend in ("jobs", "stages"):
                            wait_for(lambda: [v for _, v in prometheus.query(expr)] == [1], 30,
                                     f"{expr} to show one of the {legend} running "
                                     f"(it shows {prometheus.query(expr)})")
                finally:
                    release.touch()
                    holding.join(60)
            prometheus.wait_value('vega_applications{state="finished"}', 1)
            assert prometheus.value('vega_applications{state="running"}') == 0
            assert prometheus.value(f'vega_tasks_total{{job="vega-master",outcome="success"}}') == 14
        finally:
            release.touch()
            prometheus.stop()
            if node is not None:
                os.killpg(node.pid, signal.SIGTERM)
                node.wait(30)


def restart_master(cluster, ready):
    """SIGKILL the cluster's master and start it again on the same ports and work dir."""
    os.killpg(cluster["master_pid"], signal.SIGKILL)
    home = str(cluster["home"])
    proc = spawn_vega("master", "--host", "127.0.0.1", "--port", cluster["url"].rsplit(":", 1)[1],
                      "--webui-port", str(cluster["webui_port"]), "--work-dir",
                      os.path.join(home, "master"), "--config", os.path.join(home, "master.yaml"),
                      "--ready-file", ready, "--event-log-dir", os.path.join(home, "events"),
                      env=cluster["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      start_new_session=True)
    wait_for(lambda: os.path.exists(ready), 30, "the restarted master")
    return proc


def test_a_restarted_master_counts_only_what_its_applications_do_after(tmp_path, monkeypatch):
    """A finished application ran 8 tasks, a running one 6 more: the master's
    vega_tasks_total is 14. The master is killed and restarted: the counter starts again
    from 0 (a reset, to Prometheus), and the running application, resumed, runs 2 tasks:
    it reads 2, and the dashboard's increase counts 2 tasks since the restart. (Before,
    the resumed driver's cumulative 8 were counted: the 6 tasks it ran before the restart
    finished again, to ``rate`` and ``increase``.) Its driver reports at once when it is
    back, not at its next task: the master's counter is its own at once."""
    with master_and_worker(tmp_path / "home") as cluster:
        prometheus = Prometheus(tmp_path, {"vega-master": [f"127.0.0.1:{cluster['webui_port']}"]},
                                cluster["ca_file"])
        monkeypatch.setenv("VEGA_SECRET_FILE", cluster["env"]["VEGA_SECRET_FILE"])
        restarted = None
        success = 'vega_tasks_total{outcome="success"}'
        try:
            prometheus.wait_all_up()
            with Context(master=cluster["url"], app_name="before") as ctx:
                assert ctx.parallelize(range(8), 8).count() == 8
            with Context(master=cluster["url"], app_name="across") as ctx:
                assert ctx.parallelize(range(6), 6).count() == 6
                prometheus.wait_value(success, 14)
                restarted = restart_master(cluster, str(tmp_path / "home" / "master.ready2"))
                since = time.time()
                # the resumed driver reports at once: its jobs are on its page again
                site = (cluster["webui_port"], cluster["ca_file"])
                token = read_text(os.path.join(str(tmp_path / "home"), "master", "master.token"))
                wait_for(lambda: (lambda got: got[0] == 200 and got[1].get("jobs"))(
                    api_get(site, f"/api/v1/applications/{ctx.application_id}", token.strip())),
                    30, "the resumed application's jobs on its page")
                resumed = time.time()
                wait_for(lambda: any(t > resumed for t, _ in prometheus.samples(success, 60)),
                         30, "a scrape of the restarted master after the driver reported")
                before = [v for t, v in prometheus.samples(success, 60) if t > since]
                assert set(before) == {0}, f"counted again, before any task ran: {before}"
                assert ctx.parallelize(range(2), 2).count() == 2
                prometheus.wait_value(success, 2)
                after = [v for t, v in prometheus.samples(success, 60) if t > since]
                assert max(after) == 2, after
                window = int(time.time() - since) + 1
                increase = prometheus.value(f"increase({success}[{window}s])")
                assert 2 <= increase < 4, increase
        finally:
            prometheus.stop()
            if restarted is not None:
                os.killpg(restarted.pid, signal.SIGTERM)
                restarted.wait(30)

