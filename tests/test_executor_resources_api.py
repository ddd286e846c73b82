"""The resources each executor holds, as Spark's REST API lists them
(``/api/v1/applications/APP/executors``: ``resources``, a map of resource name to
ResourceInformation ``{"name", "addresses"}``), from a running application's relayed events
and from its event log once it has ended."""

import json

from http_helpers import api_get
from proc_helpers import wait_for
from test_address_sharing_clusters import meet, settings

from vega_runtime import Context


def test_the_executor_list_shows_the_gpu_address_each_executor_holds(tmp_path):
    """A 2-core worker with one GPU, executors of one GPU each at 0.5 a task: both
    executors hold address "0", and the executor list says so (before: ``resources: {}``);
    the event log has the same for the history pages."""
    events = tmp_path / "events"
    with Context("local-cluster[1,2,1024]", conf={**settings(tmp_path, 0.5),
                                                   "vega.eventlog.dir": str(events)}) as ctx:
        where = tmp_path / "met"
        where.mkdir()
        met = ctx.parallelize(range(2), 2).map_partitions_with_index(  # on both executors
            lambda index, _: [meet(index, str(where), 2)]).collect()
        assert sorted(met) == [("exec-1", ["0"]), ("exec-2", ["0"])]
        cluster, app = ctx.backend.owned_cluster, ctx.backend.app_id
        site, token = (cluster.webui_port, cluster.ca_file), cluster.token

        def executors():
            code, body = api_get(site, f"/api/v1/applications/{app}/executors", token)
            return body if code == 200 and len(body) == 2 else None

        listed = wait_for(executors, 30, "the executors in the REST API")
        log_file = events / f"{ctx.application_id}.jsonl"
    gpu = {"gpu": {"name": "gpu", "addresses": ["0"]}}
    assert {e["id"]: e["resources"] for e in listed} == {"exec-1": gpu, "exec-2": gpu}
    added = [json.loads(line) for line in log_file.read_text().splitlines()
             if '"ExecutorAdded"' in line]
    assert {e["executor"]: e["resources"] for e in added} == \
        {"exec-1": {"gpu": ["0"]}, "exec-2": {"gpu": ["0"]}}
