"""What a driver is told when the workers under its application stop on purpose (SIGTERM,
vega stop-workers) while it runs: real master, worker and vega submit on loopback."""

import os
import signal
import subprocess

from proc_helpers import spawn_vega, wait_for
from test_master_restart_status import Cluster


def test_a_job_whose_only_worker_was_stopped_says_it_stopped_not_that_none_registered(
        tmp_path):
    """The only worker is stopped (SIGTERM) while a job runs on it: the job waits, and its
    driver says the worker registered with the master has stopped and how to get one back;
    before, it said 'no workers are registered with the master yet', sending the operator
    after a registration problem."""
    cluster = Cluster(tmp_path)
    try:
        worker = cluster.worker("only")
        wait_for(lambda: cluster.worker_states() == {"only": "alive"}, what="the worker")
        job = tmp_path / "job.py"
        job.write_text("import time\nfrom vega_runtime import Context\n"
                       "with Context(app_name='orphaned') as ctx:\n"
                       "    ctx.parallelize(range(2), 2).map(lambda x: time.sleep(60)).count()\n")
        driver = spawn_vega("submit", "--master", cluster.url, str(job), env=cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
        cluster.procs.append(driver)
        lines = iter(driver.stdout.readline, "")
        next(line for line in lines if line.startswith("stage 0 started"))
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(10) == 0
        waiting = next(line for line in lines if "waiting:" in line)
        assert waiting == (
            "vega: WARNING waiting: no worker is alive: the 1 registered with the master has "
            "stopped (vega status shows it dead): the job will start when a worker registers "
            "(vega start-workers, or vega worker vega://MASTER:PORT)\n")
    finally:
        cluster.close()
