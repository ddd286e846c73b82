"""Hosts named in the cluster file by names their own /etc/hosts maps to 127.0.1.1 (Debian's
and Ubuntu's default): network namespaces with a real sshd each (``netns_hosts``), each with
its own /etc/hosts (``ip netns exec`` bind-mounts ``/etc/netns/NS/hosts`` over it)."""

import contextlib
import os
import shutil
import sys
from pathlib import Path

from netns_hosts import CONTROL_NS, HOST_NS_PREFIX, NetworkHosts, requires_netns_sshd
from proc_helpers import REPO, vega_processes
from test_start_cluster import write_cluster
from test_start_cluster_netns import vega_in_control, write_hosts_job


@contextlib.contextmanager
def own_hosts_files(n):
    """``/etc/hosts`` for the control namespace and hosts 1..n (``node1``..``nodeN`` at
    10.88.0.11..), each host mapping its own name to 127.0.1.1, as Debian's installer
    writes it; removed afterwards."""
    names = {f"node{i}": f"10.88.0.{10 + i}" for i in range(1, n + 1)}
    made = []
    try:
        for ns, own in [(CONTROL_NS, None), *((f"{HOST_NS_PREFIX}{i}", f"node{i}")
                                              for i in range(1, n + 1))]:
            directory = f"/etc/netns/{ns}"
            os.makedirs(directory, exist_ok=True)
            made.append(directory)
            lines = ["127.0.0.1 localhost"] + [
                f"{'127.0.1.1' if name == own else ip} {name}" for name, ip in names.items()]
            Path(directory, "hosts").write_text("\n".join(lines) + "\n")
        yield sorted(names)
    finally:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)


def this_checkout_python(tmp_path):
    """An interpreter running this checkout's code on the hosts (``python:`` of a worker
    entry): the editable install may point at another checkout, and SSH passes no
    PYTHONPATH."""
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} \"$@\"\n")
    os.chmod(path, 0o755)
    return str(path)


def named_known_hosts(net, tmp_path):
    """A known_hosts file naming each host by its name (ssh checks the name it was given)."""
    path = tmp_path / "known_hosts_named"
    lines = Path(net.known_hosts_path).read_text().splitlines()
    path.write_text("".join(f"node{i} {' '.join(line.split()[1:3])}\n"
                            for i, line in enumerate(lines, start=1)))
    return str(path)


@requires_netns_sshd
def test_workers_whose_names_resolve_to_loopback_at_home_advertise_a_reachable_address(
        tmp_path):
    """Two workers named node1 and node2, each host's /etc/hosts mapping its own name to
    127.0.1.1: each advertises the address of its interface towards the master, with one
    warning saying so and how to override it; a job whose tasks shuffle across both runs."""
    with own_hosts_files(2) as names, NetworkHosts(2, tmp_path / "net") as net:
        python = this_checkout_python(tmp_path)
        workers = [f"host: {name}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work\n"
                   f"python: {python}" for name in names]
        config, _ = write_cluster(tmp_path, net.hosts[0], workers, master_host=net.control_ip,
                                  port=7077, known_hosts=named_known_hosts(net, tmp_path))
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.count("started, registered") == 2, started.stdout
        for name, ip in zip(names, net.ips):
            warned = (f"WARNING vega_cli: vega.worker.host {name} resolves here to a loopback "
                      f"address (127.0.1.1), where the master at {net.control_ip} cannot reach "
                      f"this worker: advertising and listening on {ip} instead")
            log = net.ssh(names.index(name), f"cat {tmp_path}/work/{name}-22-*/run/worker.out")
            assert log.stdout.count(warned) == 1, log.stdout
        env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
        ran = vega_in_control(net, "submit", "--master", f"vega://{net.control_ip}:7077",
                              write_hosts_job(tmp_path), env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout == f"HOSTS {net.ips}\n", ran.stderr
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert vega_processes(str(tmp_path)) == []


@requires_netns_sshd
def test_a_master_whose_name_resolves_to_loopback_on_its_host_is_refused(tmp_path):
    """The master named node1, whose own /etc/hosts maps node1 to 127.0.1.1, with a worker
    on node2: start-cluster fails the master's row saying why and what to change, starts
    nothing (exit 1).  Before, the master started listening on 127.0.1.1 alone, its row
    said "started", and node2's worker failed: "cannot reach the master at node1:7077"."""
    with own_hosts_files(2) as names, NetworkHosts(2, tmp_path / "net") as net:
        workers = [f"host: {name}\ncores: 1\nwork_dir: {tmp_path}/work" for name in names]
        config, _ = write_cluster(tmp_path, net.hosts[0], workers, master_host="node1",
                                  port=7077, known_hosts=named_known_hosts(net, tmp_path))
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 1, started.stdout + started.stderr
        assert ("root@node1:22: master.host node1 resolves there to a loopback address "
                "(127.0.1.1): the master would listen on it alone, where the workers on other "
                "hosts (node2) cannot reach it; nothing was started. Set master.host in "
                f"{config} to that host's address on the workers' network, or map node1 to it "
                "in that host's /etc/hosts" in started.stdout), started.stdout
        assert "│ worker" not in started.stdout, started.stdout  # none started
        assert vega_processes(str(tmp_path)) == []
