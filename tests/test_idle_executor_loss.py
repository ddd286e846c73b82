"""An executor lost while its application runs no job: its driver records it as it happens
(event log, the master's copy, so the REST API and the executors page), not at the next
job, as Spark's listener bus hears of an executor's removal whenever it comes."""

import os
import signal

from http_helpers import api_get
from proc_helpers import executor_processes, executors_up, wait_for

from vega_runtime import Context


def test_an_executor_killed_between_jobs_is_removed_without_another_job(tmp_path):
    """exec-N SIGKILLed after the application's only job: ``allexecutors`` shows it removed,
    with the reason, and ``executors`` no more, while no job runs (before, it stayed
    active, and its ExecutorRemoved was written only when a next job started)."""
    with Context(master="local-cluster[2,1]", app_name="idle",
                 conf={"vega.eventlog.dir": str(tmp_path)}) as ctx:
        victim_id, survivor_id = executors_up(ctx, 2)
        cluster = ctx.backend.owned_cluster
        site, token, app = (cluster.webui_port, cluster.ca_file), cluster.token, \
            ctx.backend.app_id
        victim = next(pid for pid, argv in executor_processes(ctx.app_dir).items()
                      if victim_id in argv)
        os.kill(victim, signal.SIGKILL)

        def removed():
            code, executors = api_get(site, f"/api/v1/applications/{app}/allexecutors", token)
            assert code == 200, executors
            gone = [e for e in executors if e["id"] == victim_id and not e["isActive"]]
            return gone[0] if gone else None

        gone = wait_for(removed, 30, f"{victim_id} removed on the master's REST API")
        assert "removeTime" in gone and victim_id in gone["removeReason"]
        code, live = api_get(site, f"/api/v1/applications/{app}/executors", token)
        live = [e["id"] for e in live]  # (the master may have started a replacement)
        assert code == 200 and survivor_id in live and victim_id not in live
        with open(tmp_path / f"{ctx.application_id}.jsonl") as log:
            assert '"event": "ExecutorRemoved"' in log.read()
        assert ctx.parallelize(range(4), 2).count() == 4  # and the next job runs on
