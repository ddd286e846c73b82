"""A cluster file changed while its cluster runs: start-cluster over real SSH (sshd on
loopback) says which daemon runs otherwise than the file says, rather than "already
running" of a master the workers are then told to reach where it does not listen."""

import functools
import os

import proc_helpers
from proc_helpers import vega_processes
from sshd_hosts import free_port, requires_sshd, start_sshd
from test_start_cluster import write_cluster

#: ``vega ARGS`` from the repo root in this environment, with room for SSH round trips.
vega = functools.partial(proc_helpers.vega, env=os.environ, timeout=300)


@requires_sshd
def test_a_master_running_on_the_ports_the_file_had_is_named_with_both(tmp_path):
    """The master's port changed in the file since start-cluster: the next start-cluster
    fails the master's row naming the port it runs with and the file's, and what to do,
    exit 1, and leaves the worker alone; stop-cluster with the changed file stops both (the
    row said "already running" and the worker's "cannot reach the master at ...: nothing
    listens there: is the master running? (vega start-cluster starts it)")."""
    sshd = start_sshd(tmp_path / "sshd")
    try:
        config, port = write_cluster(tmp_path, sshd, [
            f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"])
        started = vega("start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        running = vega_processes(str(tmp_path))
        new_port = free_port()
        text = open(config).read()
        open(config, "w").write(text.replace(f"port: {port}\n", f"port: {new_port}\n", 1))
        again = vega("start-cluster", "--config", config)
        assert again.returncode == 1, again.stdout + again.stderr
        pid = open(tmp_path / "master/run/master.pid").read().split()[0]
        assert (f"127.0.0.1 (local): master already running (pid {pid}) with --port {port}, but "
                f"the cluster file says --port {new_port}: it was started before the file "
                "changed; stop it (vega stop-cluster), then start it again"
                in again.stdout), again.stdout
        assert " worker " not in again.stdout and vega_processes(str(tmp_path)) == running
        stopped = vega("stop-cluster", "--config", config)
        assert stopped.returncode == 0 and stopped.stdout.count("stopped") == 2, stopped.stdout
    finally:
        vega("stop-cluster", "--config", config)
        sshd.stop()
    assert vega_processes(str(tmp_path)) == []
