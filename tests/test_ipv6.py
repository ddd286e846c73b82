"""A cluster on IPv6: a master and a worker on ``::1``, a job submitted to
``vega://[::1]:PORT`` (its shuffle served by the worker over IPv6), ``vega status`` and the
master's HTTPS API on ``https://[::1]:PORT``.  Before, ``vega://[::1]:7077`` was refused as an
invalid master URL and no daemon could listen on an IPv6 address."""

from __future__ import annotations

import json
import os
import socket
import urllib.request

import pytest

from proc_helpers import master_and_worker, vega, write_job

from vega_runtime.master_url import parse_master
from vega_runtime.net.tls import http_client_context


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")


def test_ipv6_master_urls_parse_with_brackets():
    spec = parse_master("vega://[::1]:7077")
    assert (spec.kind, spec.host, spec.port) == ("vega", "::1", 7077)
    assert parse_master("vega://[fe80::1:2]:80/").host == "fe80::1:2"


@pytest.fixture
def v6_cluster(tmp_path):
    with master_and_worker(tmp_path, host="::1") as cluster:
        yield cluster


JOB = """
from vega_runtime import Context

with Context(app_name="on-ipv6") as ctx:
    words = ctx.parallelize(["a b", "b c", "c a", "a a"], 2).flat_map(str.split)
    print(sorted(words.map(lambda w: (w, 1)).reduce_by_key(lambda a, b: a + b, 3).collect()))
"""


def test_a_job_status_and_the_web_api_on_an_ipv6_cluster(v6_cluster, tmp_path):
    url, env = v6_cluster["url"], v6_cluster["env"]
    assert url.startswith("vega://[::1]:")
    job = write_job(tmp_path, "job.py", JOB)
    result = vega("submit", "--master", url, job, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[('a', 4), ('b', 2), ('c', 2)]"

    status = json.loads(vega("status", "--master", url, "--json", env=env).stdout)
    workers = status["workers"]
    assert [w["state"] for w in workers] == ["alive"]
    assert workers[0]["host"] == "::1"

    with open(os.path.join(str(v6_cluster["home"]), "master", "master.token")) as fh:
        token = fh.read().strip()
    request = urllib.request.Request(
        f"https://[::1]:{v6_cluster['webui_port']}/api/v1/applications",
        headers={"Authorization": f"Bearer {token}"})
    context = http_client_context(v6_cluster["ca_file"])
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        apps = json.load(response)
    assert [app["name"] for app in apps] == ["on-ipv6"]


def test_a_master_bound_to_every_interface_answers_ipv4_and_ipv6(tmp_path):
    """``--bind ::`` (here ``vega.master.bind``) listens on every interface of both
    families: the worker registers over IPv4, ``vega status`` asks over either."""
    with master_and_worker(tmp_path, settings='vega.master.bind: "::"\n') as cluster:
        port = cluster["url"].rsplit(":", 1)[1]
        for url in (f"vega://127.0.0.1:{port}", f"vega://[::1]:{port}"):
            status = vega("status", "--master", url, "--json", env=cluster["env"])
            assert status.returncode == 0, status.stderr
            assert [w["state"] for w in json.loads(status.stdout)["workers"]] == ["alive"]
