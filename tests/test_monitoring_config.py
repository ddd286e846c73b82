"""conf/monitoring: the Prometheus config, Grafana provisioning and dashboard are valid,
and every metric the dashboard queries is one Vega (or node_exporter) exports."""

import json
import os
import re
import urllib.request

import yaml

from vega_runtime import Context

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf",
                    "monitoring")
NODE_EXPORTER_METRICS = {"node_cpu_seconds_total", "node_memory_MemTotal_bytes",
                         "node_memory_MemAvailable_bytes"}


def load(*path):
    with open(os.path.join(ROOT, *path)) as fh:
        return json.load(fh) if path[-1].endswith(".json") else yaml.safe_load(fh)


def exported_metric_names():
    """Every sample name the master and a worker of a local cluster export after a job."""
    names = set()
    with Context(master="local-cluster[2,1]", app_name="names") as ctx:
        ctx.parallelize(range(8), 2).map(lambda x: (x % 2, x)).group_by_key().count()
        ports = [ctx.backend.owned_cluster.webui_port]
        log = open(ctx.backend.owned_cluster.log_paths[1]).read()
        ports += [int(p) for p in re.findall(r"worker metrics on http://[\d.]+:(\d+)/metrics", log)]
        for port in ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                for line in r.read().decode().splitlines():
                    if line and not line.startswith("#"):
                        names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def test_prometheus_config_scrapes_master_workers_and_nodes():
    """Three scrape jobs: the master, the workers and node_exporter."""
    config = load("prometheus.yml")
    assert [job["job_name"] for job in config["scrape_configs"]] == \
        ["vega-master", "vega-workers", "node"]


def test_grafana_provisioning_and_compose_file_fit_together():
    """The compose file mounts the provisioning and dashboards where the provider looks."""
    compose = load("docker-compose.yml")
    assert set(compose["services"]) == {"prometheus", "grafana", "node-exporter"}
    provider = load("grafana", "provisioning", "dashboards", "vega.yml")["providers"][0]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    datasource = load("grafana", "provisioning", "datasources", "prometheus.yml")
    assert datasource["datasources"][0]["uid"] == "prometheus"


def test_every_dashboard_query_uses_exported_metrics():
    """Each panel's PromQL names only metrics that exist."""
    dashboard = load("grafana", "dashboards", "vega.json")
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(dashboard["panels"]) >= 10 and exprs
    names = exported_metric_names() | NODE_EXPORTER_METRICS
    for expr in exprs:
        for metric in re.findall(r"\b(vega_[a-z_]+|node_[A-Za-z_]+)\b", expr):
            assert metric in names, f"{metric!r} (in {expr!r}) is not exported"
