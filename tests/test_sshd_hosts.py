"""The sshd test fixtures themselves: real sshd on loopback and in network namespaces."""

import os
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from proc_helpers import cmdline, descendants, pid_alive, wait_for
from netns_hosts import CONTROL_IP, NetworkHosts, list_netns, requires_netns_sshd
from sshd_hosts import (fabric_connection, make_client_key, requires_sshd, ssh_run, sshd_host,
                        start_sshd)

__all__ = ["sshd_host"]  # the fixture, imported so tests here can use it


# ------------------------------------------------------------------ loopback sshd

@requires_sshd
def test_loopback_sshd_runs_commands_over_fabric_and_the_cli(sshd_host):
    assert sshd_host.host == "127.0.0.1" and sshd_host.user == "root"
    assert sshd_host.client_netns is None and sshd_host.alive()
    assert ssh_run(sshd_host, "echo ok") == (0, "ok\n")                 # fabric
    assert ssh_run(sshd_host, "echo ok", via="ssh") == (0, "ok\n")      # ssh CLI
    code, out = ssh_run(sshd_host, "echo err >&2; exit 3")
    assert code == 3 and out == ""


@requires_sshd
def test_loopback_sshd_put_uploads_over_sftp(sshd_host, tmp_path):
    local = tmp_path / "payload.txt"
    local.write_text("hello over sftp\n")
    remote = tmp_path / "uploaded" / "payload.txt"
    remote.parent.mkdir()
    with fabric_connection(sshd_host) as conn:
        conn.put(str(local), remote=str(remote))
    assert remote.read_text() == "hello over sftp\n"
    assert ssh_run(sshd_host, f"cat {remote}") == (0, "hello over sftp\n")
    assert "Starting session: subsystem 'sftp'" in Path(sshd_host.log_path).read_text()


@requires_sshd
def test_loopback_sshd_refuses_a_wrong_key(sshd_host, tmp_path):
    wrong = make_client_key(tmp_path / "wrong_key")
    result = ssh_run(sshd_host, "echo ok", key_path=wrong)
    assert result == (255, "") and "Authentication" in result.stderr
    result = ssh_run(sshd_host, "echo ok", key_path=wrong, via="ssh")
    assert result == (255, "") and "Permission denied" in result.stderr
    with pytest.raises(paramiko.AuthenticationException):
        with fabric_connection(sshd_host, key_path=wrong) as conn:
            conn.run("echo ok", hide=True)


@requires_sshd
def test_stop_kills_sshd_and_its_session_children(tmp_path):
    host = start_sshd(tmp_path / "sshd")
    try:
        client = subprocess.Popen(host.ssh_command("exec sleep 300"), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def session_sleep():
            pids = descendants(host.pid)
            for pid in pids:
                if cmdline(pid)[:2] == ["sleep", "300"]:
                    return pids
            return None

        pids = wait_for(session_sleep, 10, "the session's sleep under sshd")
        ours = [host.pid, *pids]
    finally:
        host.stop()
    assert host.process.returncode is not None
    assert not [pid for pid in ours if pid_alive(pid)]
    assert client.wait(timeout=10) != 0       # its session died with the server
    host.stop()                               # idempotent


# ------------------------------------------------------------------ network namespaces

LISTENER = r"""
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    s.accept()[0].close()
"""


def connect_cmd(ip, port):
    return f"python3 -c \"import socket; socket.create_connection(('{ip}', {port}), timeout=5)\""


@pytest.fixture(scope="class")
def net(tmp_path_factory):
    """Three hosts shared by TestNetworkHosts; torn down when that class is done."""
    with NetworkHosts(3, tmp_path_factory.mktemp("net")) as net:
        print(f"NetworkHosts(3) set up in {net.setup_seconds:.2f}s")
        yield net


@requires_netns_sshd
class TestNetworkHosts:

    def test_each_host_answers_ssh_from_the_control_namespace_with_its_address(self, net):
        assert [h.host for h in net.hosts] == ["10.88.0.11", "10.88.0.12", "10.88.0.13"]
        assert {ns for ns in ("vega-ctl", "vega-h1", "vega-h2", "vega-h3")} <= set(list_netns())
        for ns, h in zip(net.namespaces, net.hosts):
            assert (h.netns, h.client_netns, h.port, h.user) == (ns, "vega-ctl", 22, "root")
            code, out = ssh_run(h, "hostname -I")
            assert code == 0 and out.split() == [h.host]
        # From the root namespace the hosts do not exist.
        with pytest.raises(ValueError):
            fabric_connection(net.hosts[0])

    def test_hosts_reach_the_control_address_and_each_other(self, net):
        listener = net.run_in_control([sys.executable, "-c", LISTENER, CONTROL_IP],
                                      stdout=subprocess.PIPE, text=True)
        try:
            port = int(listener.stdout.readline())
            for h in net.hosts:
                assert ssh_run(h, connect_cmd(CONTROL_IP, port)) == (0, "")
            a, b, c = net.hosts
            assert ssh_run(a, connect_cmd(b.host, 22)) == (0, "")
            assert ssh_run(c, connect_cmd(a.host, 22)) == (0, "")
        finally:
            listener.kill()
            listener.wait()

    def test_drop_makes_a_host_unreachable_and_undrop_restores_it(self, net):
        try:
            net.drop(1)
            assert net.dropped() == [1]
            started = time.monotonic()
            result = ssh_run(net.hosts[1], "true", connect_timeout=1)
            assert result.exit_code == 255 and "timed out" in result.stderr
            assert time.monotonic() - started < 5
            assert ssh_run(net.hosts[0], "echo up") == (0, "up\n")   # others unaffected
            assert ssh_run(net.hosts[0], connect_cmd(net.hosts[1].host, 22)
                           .replace("timeout=5", "timeout=1"))[0] != 0
        finally:
            net.undrop(1)
        assert net.dropped() == []
        assert ssh_run(net.hosts[1], "echo back") == (0, "back\n")


@requires_netns_sshd
def test_network_hosts_cleanup_on_failure_and_of_a_crashed_runs_leftovers(tmp_path):
    foreign = {ns for ns in list_netns() if ns.startswith("vega-")
               and ns != "vega-ctl" and not ns.startswith("vega-h")}
    # A "crashed run": a namespace of ours left behind, with a process still in it.
    subprocess.run(["ip", "netns", "add", "vega-h7"], check=True)
    stale = subprocess.Popen(["ip", "netns", "exec", "vega-h7", "sleep", "300"])
    with pytest.raises(ZeroDivisionError):
        with NetworkHosts(1, tmp_path) as net:
            assert "vega-h7" not in list_netns()
            assert stale.wait(timeout=10) != 0
            sshd_pid = net.hosts[0].pid
            assert ssh_run(net.hosts[0], "echo ok") == (0, "ok\n")
            1 / 0
    assert not pid_alive(sshd_pid)
    assert [ns for ns in list_netns() if ns.startswith("vega-") and ns not in foreign] == []
    net.close()  # idempotent
    assert not os.path.exists("/run/netns/vega-ctl")
