"""The master's /metrics endpoint, scraped over HTTP while a local cluster runs."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from vega_runtime import Context


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_describe_workers_applications_and_relayed_lines():
    """Workers by state, cores per worker, the running application and relayed log lines."""
    with Context(master="local-cluster[2,1]", app_name="metrics") as ctx:
        ctx.parallelize(range(4), 2).foreach(lambda x: print("line", x))
        samples = scrape(ctx.backend.owned_cluster.webui_port)
        assert samples[("vega_workers", (("state", "alive"),))] == 2
        totals = [v for (name, labels), v in samples.items()
                  if name == "vega_worker_cores" and ("kind", "total") in labels]
        assert totals == [1, 1]
        assert samples[("vega_applications", (("state", "running"),))] == 1
        assert samples[("vega_connections_rejected_total", ())] == 0
        assert ("vega_log_lines_relayed_total", ()) in samples
