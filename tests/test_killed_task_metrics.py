"""Killed task attempts in the master's vega_tasks_total: a started attempt stopped on
purpose (here: the tasks of a cancelled job) counts under ``outcome="killed"``, as the
REST API reports it (Spark's numKilledTasks). Before, it counted under no outcome."""

import os
import time

from vega_runtime import Context
from vega_runtime.errors import JobCancelled

from http_helpers import api_get
from proc_helpers import start_job_in_thread, wait_for
from test_master_metrics import scrape


def test_the_tasks_of_a_cancelled_job_count_as_killed_as_the_rest_api_has_them(tmp_path):
    marks = str(tmp_path)

    def sleep_long(x):
        open(os.path.join(marks, f"started-{x}"), "w").close()
        time.sleep(120)
        return x

    with Context(master="local-cluster[2,1]", app_name="killed") as ctx:
        cluster = ctx.backend.owned_cluster
        site, token, app = (cluster.webui_port, cluster.ca_file), cluster.token, \
            ctx.backend.app_id
        assert ctx.parallelize(range(4), 2).count() == 4
        thread, outcome = start_job_in_thread(
            ctx, "slow", "sleeps", lambda: ctx.parallelize(range(2), 2).map(sleep_long).collect())
        wait_for(lambda: len(os.listdir(marks)) == 2, 60, "both tasks to start")
        ctx.cancelJobGroup("slow")
        thread.join(60)
        assert isinstance(outcome[0], JobCancelled)
        assert ctx.job_metrics.snapshot()["tasks"] == {
            "success": 2, "failed": 0, "fetch_failed": 0, "lost": 0, "killed": 2}
        killed = ("vega_tasks_total", (("outcome", "killed"),))
        wait_for(lambda: scrape(cluster.webui_port, cluster.ca_file).get(killed) == 2, 30,
                 "the master to count the 2 killed tasks")
        samples = scrape(cluster.webui_port, cluster.ca_file)
        assert samples[("vega_tasks_total", (("outcome", "success"),))] == 2
        assert samples[("vega_tasks_total", (("outcome", "failed"),))] == 0
        job = wait_for(lambda: (lambda got: got[1] if got[0] == 200 and
                                got[1]["numKilledTasks"] == 2 else None)(
            api_get(site, f"/api/v1/applications/{app}/jobs/1", token)), 30,
            "the REST API to show the job's killed tasks")
        assert job["status"] == "FAILED" and job["numCompletedTasks"] == 0
