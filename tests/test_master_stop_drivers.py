"""How a cluster-mode driver's end reaches the ``vega submit`` following it: killed by a
master stopped under it (SIGTERM: vega stop-master, stop-cluster), the submitter says so and
exits as for a killed job; ended by a signal, it exits 128+N saying which."""

import json
import os
import signal
import subprocess

from proc_helpers import master_and_worker, spawn_vega, vega, wait_for, write_job


def test_a_followed_driver_the_stopping_master_kills_is_reported_killed(tmp_path):
    """``vega submit --deploy-mode cluster`` following a driver when the master is stopped
    exits 130 saying the driver was killed as the master stopped.  Before, the master ended
    its followers before it killed its drivers, and the submitter exited 1 with "lost the
    master while following driver ...; it may still be running", though it was killed."""
    job = write_job(tmp_path, "waits.py", """
        import os, sys, time
        from vega_runtime import Context
        with Context(app_name="waits") as ctx:
            print("COUNT", ctx.parallelize(range(10), 2).count(), flush=True)
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.05)
        """)
    with master_and_worker(tmp_path) as cluster:
        submit = spawn_vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster",
                            job, str(tmp_path / "never"), env=cluster["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
        try:
            assert submit.stdout.readline() == "COUNT 10\n"
            [driver] = json.loads(vega("status", "--master", cluster["url"], "--json",
                                       env=cluster["env"]).stdout)["drivers"]
            os.kill(cluster["master_pid"], signal.SIGTERM)
            _, stderr = submit.communicate(timeout=30)
        finally:
            if submit.poll() is None:
                os.killpg(submit.pid, signal.SIGKILL)
        assert submit.returncode == 130, stderr
        assert f"vega: driver {driver['id']} was killed: the master was stopped\n" in stderr
        assert "may still be running" not in stderr
        wait_for(lambda: not os.path.exists(f"/proc/{driver['pid']}"), 10, "the driver's end")


def test_a_cluster_mode_driver_ended_by_a_signal_exits_128_plus_it(tmp_path):
    """A cluster-mode driver ended by a signal (SIGKILL: the OOM killer, kill -9) makes its
    ``vega submit`` exit 128+9 saying so, as a shell does for a client-mode driver.  Before,
    the driver's exit code -9 became ``sys.exit(-9)``: exit code 247 and not a word."""
    job = write_job(tmp_path, "killed.py", """
        import os, signal
        print("running", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    with master_and_worker(tmp_path) as cluster:
        result = vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster", job,
                      env=cluster["env"], timeout=60)
    assert (result.returncode, result.stdout) == (137, "running\n"), result.stderr
    assert result.stderr.endswith(" was ended by SIGKILL\n"), result.stderr
