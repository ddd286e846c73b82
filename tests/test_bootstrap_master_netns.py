"""``vega start-cluster --bootstrap`` on a master host without Vega: network namespaces, each
with a real sshd (``netns_hosts``)."""

import os
import stat
import subprocess

import pytest

from netns_hosts import NetworkHosts, requires_netns_sshd
from proc_helpers import REPO, processes_matching, vega_argv, vega_processes
from test_start_cluster import write_cluster

BARE_PYTHON = "/usr/bin/python3"  # an interpreter without Vega, on every "host"


def vega_in_control(net, *args):
    """``vega ARGS`` run in the control namespace (where the hosts are reachable), to the end."""
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run(net.in_control(vega_argv(*args)), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@requires_netns_sshd
@pytest.mark.skipif(not os.path.exists(BARE_PYTHON), reason="needs a system python3")
def test_bootstrap_installs_vega_on_a_master_host_without_it(tmp_path):
    """The master's host (no worker there) has a Python without Vega: start-cluster refuses
    it, naming --bootstrap; start-cluster --bootstrap installs Vega into a virtualenv in the
    master's work dir (made 0700), starts the master with it and the worker registers; run
    again it installs and starts nothing new; stop-cluster stops the master with that
    virtualenv's Python and leaves nothing running.  Before, --bootstrap prepared the
    workers' hosts only, and the master's row failed saying to run with --bootstrap."""
    from vega_cli.bootstrap import build_wheels

    # built here, where the package index is reachable (the control namespace has no route
    # out), into the cache start-cluster --bootstrap takes them from
    build_wheels()
    with NetworkHosts(2, tmp_path / "net") as net:
        first, second = net.hosts
        config, _ = write_cluster(
            tmp_path, first, [f"host: {second.host}\ncores: 1\nmemory: 1g\n"
                              f"work_dir: {tmp_path}/work"],
            master_host=first.host, port=7077)
        text = open(config).read()
        open(config, "w").write(text.replace("\nssh:\n", f"\n  python: {BARE_PYTHON}\nssh:\n"))
        refused = vega_in_control(net, "start-cluster", "--config", config)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (f"root@{first.host}:22: Vega 0.1.0 is needed with {BARE_PYTHON}, found not "
                "installed (or too old to have vega_cli.remote_ops); install it there or run "
                "with --bootstrap" in refused.stdout
                ), refused.stdout
        assert vega_processes(str(tmp_path)) == []
        try:
            started = vega_in_control(net, "start-cluster", "--bootstrap", "--config", config)
            assert started.returncode == 0, started.stdout + started.stderr
            assert "│ master │ start (bootstrapped Vega 0.1.0 (" in started.stdout, \
                started.stdout
            assert started.stdout.count("started, registered") == 1, started.stdout
            master_dir = tmp_path / "master"
            [venv] = master_dir.glob("vega-home/venv-*")
            masters = [pid for pid, argv in processes_matching(str(master_dir)).items()
                       if argv[0] == f"{venv}/bin/python" and "master" in argv]
            assert len(masters) == 1, processes_matching(str(master_dir))
            for private in (master_dir, master_dir / "vega-home"):
                assert stat.S_IMODE(os.stat(private).st_mode) == 0o700, private
            again = vega_in_control(net, "start-cluster", "--bootstrap", "--config", config)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "│ master │ start (Vega already bootstrapped) │ already running" in \
                again.stdout, again.stdout
            assert again.stdout.count("already running") == 2, again.stdout
            assert len(vega_processes(str(tmp_path))) == 2
        finally:
            stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("│ stopped") == 2, stopped.stdout
        assert vega_processes(str(tmp_path)) == []
