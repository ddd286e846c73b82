"""How start-cluster / start-workers mark each started worker's registration, against a
real master (``vega master``) and worker: the rows the cluster commands print are decided
by the master's status (``cluster._wait_for_workers``)."""

import os
import types

from vega_cli.cluster import Row, _wait_for_workers
from proc_helpers import master_and_worker


def _rows_after_waiting(cluster, hosts):
    port = int(cluster["url"].rsplit(":", 1)[1])
    master = types.SimpleNamespace(host="127.0.0.1", port=port, url=cluster["url"])
    rows = [Row(host, "worker", "start", "started") for host in hosts]
    _wait_for_workers(types.SimpleNamespace(master=master),
                      os.path.join(str(cluster["home"]), "secret"), rows, timeout=1.0)
    return [(row.result, row.failed) for row in rows]


def test_two_workers_on_a_host_where_one_registered_are_not_both_called_registered(tmp_path):
    """One worker alive on 127.0.0.1 and two started there: the rows said both registered
    (any live worker on a host counted for each of its rows); the master cannot say which
    one is missing, so both rows say how many did, and fail."""
    with master_and_worker(tmp_path) as cluster:
        assert _rows_after_waiting(cluster, ["127.0.0.1"]) == [("started, registered", False)]
        missing = ("started, but only 1 of the 2 workers on 127.0.0.1 registered with the "
                   "master", True)
        assert _rows_after_waiting(cluster, ["127.0.0.1", "127.0.0.1"]) == [missing, missing]
