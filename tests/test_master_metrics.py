"""The master's /metrics endpoint, scraped over HTTPS (verified against the cluster CA)
while a local cluster runs; the workers' too."""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vega_runtime import Context
from vega_runtime.net.tls import http_client_context

from http_helpers import api_get
from proc_helpers import kill_group


def metrics_text(port, ca_file=None, scheme="https", query="") -> str:
    """The text at ``scheme://127.0.0.1:port/metrics``, verified against ``ca_file``."""
    context = http_client_context(ca_file) if scheme == "https" else None
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/metrics{query}", timeout=10,
                                context=context) as response:
        return response.read().decode()


def worker_metrics_port(log_path: str) -> int:
    """The port a local cluster's worker logged for its /metrics."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.search(r"worker metrics on https://[\d.]+:(\d+)/metrics", open(log_path).read())
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no metrics port in {log_path}")


def scrape(port, ca_file=None, scheme="https"):
    """The samples at ``scheme://127.0.0.1:port/metrics``, verified against ``ca_file``."""
    text = metrics_text(port, ca_file, scheme)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_describe_workers_applications_and_relayed_lines():
    """Workers by state, cores per worker, the running application and relayed log lines."""
    with Context(master="local-cluster[2,1]", app_name="metrics") as ctx:
        ctx.parallelize(range(4), 2).foreach(lambda x: print("line", x))
        samples = scrape(ctx.backend.owned_cluster.webui_port, ctx.backend.owned_cluster.ca_file)
        assert samples[("vega_workers", (("state", "alive"),))] == 2
        totals = [v for (name, labels), v in samples.items()
                  if name == "vega_worker_cores" and ("kind", "total") in labels]
        assert totals == [1, 1]
        assert samples[("vega_applications", (("state", "running"),))] == 1
        assert samples[("vega_connections_rejected_total", ())] == 0
        assert ("vega_log_lines_relayed_total", ()) in samples


def test_job_stage_task_and_shuffle_metrics_add_up_after_a_job(tmp_path):
    """After a 2-stage job of 4+4 tasks the master reports exactly those counts."""
    import time
    from operator import add

    with Context(master="local-cluster[2,1]", app_name="counted") as ctx:
        port = ctx.backend.owned_cluster.webui_port
        pairs = ctx.parallelize(range(100), 4).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(add, 4).collect()) == [(0, 1683), (1, 1617), (2, 1650)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            samples = scrape(port, ctx.backend.owned_cluster.ca_file)
            # the driver relays its counters every so often: wait for the job's end too
            if samples.get(("vega_tasks_total", (("outcome", "success"),))) == 8 and \
                    samples.get(("vega_jobs_total", (("outcome", "succeeded"),))) == 1:
                break
            time.sleep(0.1)
        assert samples[("vega_tasks_total", (("outcome", "success"),))] == 8
        assert samples[("vega_jobs_total", (("outcome", "succeeded"),))] == 1
        assert samples[("vega_stages_total", (("outcome", "completed"),))] == 2
        assert samples[("vega_task_duration_seconds_count", ())] == 8
        written = samples[("vega_shuffle_written_bytes_total", ())]
        assert written > 0 and samples[("vega_shuffle_read_bytes_total", ())] == written
        assert samples[("vega_fetch_failures_total", ())] == 0


def test_workers_export_their_own_metrics(tmp_path):
    """Each worker serves /metrics: its executors, capacity and shuffle service counters."""
    with Context(master="local-cluster[2,1]", app_name="worker-metrics") as ctx:
        assert ctx.parallelize(range(10), 2).map(lambda x: (x % 2, x)).group_by_key().count() == 2
        port = worker_metrics_port(ctx.backend.owned_cluster.log_paths[1])
        samples = scrape(port, ctx.backend.owned_cluster.ca_file)  # the workers' CA too
        executors = [v for (name, _), v in samples.items() if name == "vega_worker_executors"]
        cores = [v for (name, _), v in samples.items() if name == "vega_worker_offered_cores"]
        assert executors == [1] and cores == [1]
        assert any(name == "vega_shuffle_served_bytes_total" for name, _ in samples)
        ports = {dict(labels)["port"] for name, labels in samples
                 if name == "vega_rejected_connections_total"}
        assert ports == {"shuffle", "http"}  # both of the worker's ports report rejections
        # a scrape config's params (?module=...) end up in the query: still /metrics
        text = metrics_text(port, ctx.backend.owned_cluster.ca_file, query="?module=vega")
        assert "vega_worker_executors{" in text


def metric_names(text: str) -> set:
    """The metric names a /metrics text exports, as Prometheus users write them (a
    histogram's family name, a counter's ``_total``)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update({family.name} if family.type == "histogram"
                     else {sample.name for sample in family.samples})
    return names


def test_docs_monitoring_md_lists_every_metric_the_master_and_workers_export():
    """docs/monitoring.md's table names each daemon's metrics, no more and no fewer."""
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "monitoring.md")) as fh:
        rows = {cells[1].strip(): set(re.findall(r"`(vega_\w+)", cells[3]))
                for cells in (line.replace("\\|", "/").split("|") for line in fh)
                if cells[0] == "" and cells[1].strip() in ("master", "each worker")}
    with Context(master="local-cluster[1,1]", app_name="documented") as ctx:
        assert ctx.parallelize(range(10), 2).map(lambda x: (x % 2, x)).group_by_key().count() == 2
        cluster = ctx.backend.owned_cluster
        exported = {"master": metric_names(metrics_text(cluster.webui_port, cluster.ca_file)),
                    "each worker": metric_names(metrics_text(
                        worker_metrics_port(cluster.log_paths[1]), cluster.ca_file))}
    assert rows == exported


def test_a_client_mode_driver_serves_its_own_metrics_when_asked():
    """--conf vega.driver.metrics.port=P: the driver's tasks appear at :P/metrics."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Context(master="local[2]", conf={"vega.driver.metrics.port": port}) as ctx:
        ctx.parallelize(range(10), 5).count()
        samples = scrape(port)  # the no-secret CA: local mode has no secret
    assert samples[("vega_tasks_total", (("outcome", "success"),))] == 5
    assert samples[("vega_jobs_total", (("outcome", "succeeded"),))] == 1


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="needs promtool (Debian's prometheus package, which .ci/run installs)")
def test_the_master_and_a_worker_pass_promtools_lint():
    """``promtool check metrics`` finds nothing to say about the master's or a worker's
    /metrics after a job (no gauge named like a counter, ``_total``, say)."""
    with Context(master="local-cluster[2,1]", app_name="linted") as ctx:
        assert ctx.parallelize(range(10), 2).map(lambda x: (x % 2, x)).group_by_key().count() == 2
        cluster = ctx.backend.owned_cluster
        for port in (cluster.webui_port, worker_metrics_port(cluster.log_paths[1])):
            checked = subprocess.run(["promtool", "check", "metrics"], capture_output=True,
                                     text=True, input=metrics_text(port, cluster.ca_file),
                                     timeout=60)
            assert (checked.returncode, checked.stdout + checked.stderr) == (0, ""), port


@pytest.fixture
def retaining_one(tmp_path):
    """A real master keeping only the latest finished application and a 1-core worker."""
    from proc_helpers import master_and_worker

    with master_and_worker(tmp_path, "vega.master.retained_applications: 1\n") as cluster:
        yield cluster


def test_master_counters_never_go_back_and_ended_applications_run_no_jobs(retaining_one):
    """The master's job, stage and task counters are sums over the applications it knows:
    when it forgot one (vega.master.retained_applications, the TTL) they dropped by its
    counts, which Prometheus takes for a counter reset (and ``rate`` for a burst of all
    that was counted since the start); and an application whose driver was killed mid-job
    counted as running a job and a stage until it was forgotten (200 applications later,
    or a day).  Now forgotten applications' counts are kept, and ended ones run nothing:
    nor does its page (``/api/v1/applications/APP``, the web UI's table of its jobs and
    stages) show that job and stage running any more (it did): they failed, on the page
    and in ``vega_jobs_total``/``vega_stages_total{outcome="failed"}``."""
    from proc_helpers import spawn_vega, vega, wait_for, write_job

    c = retaining_one
    port, ca_file, env = c["webui_port"], c["ca_file"], c["env"]
    job = write_job(c["home"], "four.py", """
        from vega_runtime import Context
        with Context(app_name="four") as ctx:
            assert ctx.parallelize(range(8), 4).count() == 8
    """)

    def applications():
        import json
        return json.loads(vega("status", "--master", c["url"], "--json", env=env).stdout)[
            "applications"]

    for n in range(2):
        done = vega("submit", "--master", c["url"], job, env=env)
        assert done.returncode == 0, done.stderr
    # the second one's end made the master forget the first
    wait_for(lambda: len(applications()) == 1, what="the first application forgotten")
    samples = scrape(port, ca_file)
    slow = write_job(c["home"], "slow.py", """
        import time
        from vega_runtime import Context
        with Context(app_name="slow") as ctx:
            ctx.parallelize(range(1), 1).foreach(lambda x: time.sleep(600))
    """)
    driver = spawn_vega("submit", "--master", c["url"], slow, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True)
    try:
        running = wait_for(lambda: (s := scrape(port, ca_file))[("vega_jobs_running", ())] == 1
                           and s, what="the slow job running")
        assert running[("vega_tasks_total", (("outcome", "success"),))] == 8
        assert running[("vega_jobs_total", (("outcome", "succeeded"),))] == 2
        assert running[("vega_task_duration_seconds_count", ())] == 8
        app_id, = [a["id"] for a in applications() if a["name"] == "slow"]
        with open(os.path.join(str(c["home"]), "master", "master.token")) as fh:
            token = fh.read().strip()
        # (the job's start is counted before its stage's start reaches the master)
        wait_for(lambda: api_get((port, ca_file), f"/api/v1/applications/{app_id}",
                                 token)[1]["stages"], what="the slow job's stage running")
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(10)
        wait_for(lambda: all(a["state"] != "running" for a in applications()),
                 what="the killed driver's application to end")
        after = scrape(port, ca_file)
        code, page = api_get((port, ca_file), f"/api/v1/applications/{app_id}", token)
    finally:
        kill_group(driver)
    assert code == 200 and page["state"] == "finished"
    assert [(j["id"], j["state"]) for j in page["jobs"]] == [(0, "failed")]
    assert [(s["id"], s["state"]) for s in page["stages"]] == [(0, "failed")]
    assert after[("vega_jobs_running", ())] == 0
    assert after[("vega_stages_running", ())] == 0
    # the job and stage it left running failed with it, as its page says (they were
    # counted neither succeeded nor failed: gone from jobs_total as from jobs_running)
    for name, labels in (("vega_jobs_total", (("outcome", "failed"),)),
                         ("vega_stages_total", (("outcome", "failed"),))):
        assert (running[(name, labels)], after[(name, labels)]) == (0, 1), name
    for name, labels in (("vega_tasks_total", (("outcome", "success"),)),
                         ("vega_jobs_total", (("outcome", "succeeded"),)),
                         ("vega_task_duration_seconds_count", ()),
                         ("vega_stages_total", (("outcome", "completed"),))):
        assert after[(name, labels)] == samples[(name, labels)] == running[(name, labels)], name
