"""conf/monitoring: the Prometheus config, Grafana provisioning and dashboard are valid,
and every metric the dashboard queries is one Vega (or node_exporter) exports."""

import json
import os
import re
import stat
import subprocess
import sys
import urllib.request

import pytest
import yaml

from vega_runtime import Context
from vega_runtime.net.tls import http_client_context

from proc_helpers import read_text, wait_for

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
        # (a worker registers, and may run tasks, before its /metrics listens and logs so)
        log_path = ctx.backend.owned_cluster.log_paths[1]
        found = wait_for(lambda: re.search(r"worker metrics on https://[\d.]+:(\d+)/metrics",
                                           read_text(log_path)), 30, "the worker's metrics port")
        ports.append(int(found.group(1)))
        https = http_client_context(ctx.backend.owned_cluster.ca_file)
        for port in ports:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", timeout=10,
                                        context=https) as r:
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


def interpolate(text, environ=None):
    """What docker compose makes of ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``
    with ``environ`` (default: nothing set); an unset ``:?`` variable raises, as compose does."""
    environ = environ or {}

    def value(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        if op == ":-":
            return arg
        if op == ":?":
            raise LookupError(arg)
        return ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", value, text)


def compose(environ=None):
    """The compose file as docker compose reads it with ``environ`` (default: a password set)."""
    with open(os.path.join(ROOT, "docker-compose.yml")) as fh:
        text = fh.read()
    if environ is None:
        environ = {"GRAFANA_ADMIN_PASSWORD": "s3cret"}
    return yaml.safe_load(interpolate(text, environ))


def test_every_port_is_published_on_loopback_by_default():
    """3000, 9090 and 9100 are published on 127.0.0.1 only (HOST_IP:HOST:CONTAINER), unless
    MONITORING_BIND_ADDRESS says otherwise."""
    published = {name: service.get("ports", []) for name, service in compose()["services"].items()}
    assert published == {"prometheus": ["127.0.0.1:9090:9090"],
                         "grafana": ["127.0.0.1:3000:3000"],
                         "node-exporter": ["127.0.0.1:9100:9100"]}
    moved = compose({"GRAFANA_ADMIN_PASSWORD": "x", "MONITORING_BIND_ADDRESS": "10.0.0.5"})
    assert moved["services"]["grafana"]["ports"] == ["10.0.0.5:3000:3000"]


def test_grafana_has_no_anonymous_access_and_no_default_password():
    """Anonymous access and sign-up off; the admin password comes from .env and compose
    refuses to start without it (no admin/admin fallback)."""
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    with pytest.raises(LookupError, match="scripts/monitoring_env.py"):
        compose({})
    with open(os.path.join(ROOT, "docker-compose.yml")) as fh:
        assert "admin/admin" not in fh.read()


def test_monitoring_env_script_writes_a_private_password_file_once(tmp_path):
    """scripts/monitoring_env.py writes .env born 0600 with a long random password that the
    compose file's variable picks up, and never overwrites it; the checkout ignores it."""
    script = os.path.join(os.path.dirname(ROOT), os.pardir, "scripts", "monitoring_env.py")
    target = tmp_path / ".env"
    old_umask = os.umask(0o022)
    try:
        first = subprocess.run([sys.executable, script, str(target)], capture_output=True,
                               text=True, check=True)
    finally:
        os.umask(old_umask)
    assert "mode 0600" in first.stdout
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    values = dict(line.split("=", 1) for line in target.read_text().splitlines()
                  if line and not line.startswith("#"))
    assert set(values) == {"GRAFANA_ADMIN_PASSWORD"} and len(values["GRAFANA_ADMIN_PASSWORD"]) >= 32
    env = compose(values)["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == values["GRAFANA_ADMIN_PASSWORD"]
    before = target.read_text()
    again = subprocess.run([sys.executable, script, str(target)], capture_output=True,
                           text=True, check=True)
    assert "exists; left as it is" in again.stdout and target.read_text() == before
    ignored = subprocess.run(["git", "check-ignore", "-q", "conf/monitoring/.env"],
                             cwd=os.path.dirname(os.path.dirname(ROOT)))
    assert ignored.returncode == 0


def panel_unit(exprs):
    """The Grafana unit a panel's queries call for: per second of a ``rate`` (bytes: Bps;
    node CPU seconds: a fraction busy), seconds of a duration quantile, bytes of a gauge
    in bytes, else counts."""
    text = " ".join(exprs)
    if "rate(node_cpu_seconds_total" in text:
        return "percentunit"
    if "histogram_quantile" in text:
        return "s" if re.search(r"_seconds_bucket\b", text) else "short"
    if re.search(r"\brate\(", text):
        return "Bps" if re.search(r"_bytes_total\b", text) else "ops"
    return "bytes" if re.search(r"_bytes\b", text) else "short"


def test_every_panel_unit_is_its_metrics_unit():
    """Each panel's unit is that of what its queries return (names carry their units)."""
    for panel in load("grafana", "dashboards", "vega.json")["panels"]:
        exprs = [t["expr"] for t in panel["targets"]]
        assert panel["fieldConfig"]["defaults"]["unit"] == panel_unit(exprs), panel["title"]


def test_grafana_steps_at_the_interval_prometheus_scrapes_at():
    """The data source's ``timeInterval`` (Grafana's "Scrape interval": the shortest step of
    its queries; 15s when unset) is the interval prometheus.yml scrapes at: unset, the
    dashboard read one sample in three, and a job or stage running under 15 s could fall
    between two steps and never show."""
    datasource = load("grafana", "provisioning", "datasources", "prometheus.yml")["datasources"][0]
    assert datasource.get("jsonData", {}).get("timeInterval") == \
        load("prometheus.yml")["global"]["scrape_interval"]


def seconds(duration: str) -> int:
    """Seconds of a Prometheus duration of one unit (``5s``, ``1m``, ``5m``, ``1h``)."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def test_rate_windows_are_grafanas_rate_interval_and_fixed_ones_hold_4_scrapes():
    """Each ``rate`` of the dashboard takes Grafana's ``$__rate_interval`` (at least 4 of
    the data source's scrape intervals, and the step between points on top): a fixed
    ``[1m]`` held 2 samples of a 30 s scrape, too few for a rate, and a ``[5m]`` smoothed
    away what a 1 s scrape shows.  A fixed window left (an ``increase`` over the last 5
    minutes: a count that must not change with the zoom) holds 4 of the shipped scrapes."""
    scrape = seconds(load("prometheus.yml")["global"]["scrape_interval"])
    exprs = [t["expr"] for p in load("grafana", "dashboards", "vega.json")["panels"]
             for t in p["targets"]]
    rates = [e for e in exprs if re.search(r"\brate\(", e)]
    assert len(rates) == 8
    for expr in rates:
        assert re.findall(r"\[([^\]]+)\]", expr) == ["$__rate_interval"], expr
    for expr in exprs:
        for window in re.findall(r"\[(\d+[smh])\]", expr):
            assert seconds(window) >= 4 * scrape, expr
