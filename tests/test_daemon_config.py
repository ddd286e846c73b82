"""The daemons are configured like jobs, and every listener binds where it is told.

`vega master` and `vega worker` resolve their settings with the documented precedence
(defaults < conf/vega-defaults.yaml < --config < VEGA_* < flags) and `--verbose` prints
each value and its source.  Their sockets, and the driver's, listen on the advertised
address (`--host`, `vega.driver.host`) unless `--bind` / `vega.*.bind` says otherwise;
with a secret as without one, never on 0.0.0.0 unless asked.
"""

import json
import os
import shlex
import shutil
import socket
import subprocess

import pytest

from vega_runtime import Context
from vega_runtime.net.connection import create_secret_file

from proc_helpers import (REPO, clean_env, kill_group, read_text, spawn_vega, vega_argv,
                          wait_for)


# -- helpers ---------------------------------------------------------------------------

def listening_sockets(pid: int) -> set:
    """(address, port) of every TCP socket process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                address, port = local.split(":")
                if len(address) == 8:  # IPv4, little-endian
                    host = socket.inet_ntoa(bytes.fromhex(address)[::-1])
                else:
                    host = "v6:" + address
                found.add((host, int(port, 16)))
    return found


#: a terminal width no row wraps at: the origin column holds paths of the test's temporary
#: directory (~120 characters under a CI's TMPDIR and xdist), the key column the longest
#: setting's name, the value column a work directory's path
WIDE = "1000"


def settings_table(text: str) -> dict:
    """{setting: (value, origin)} from a `--verbose` table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 5 and cells[1].startswith("vega."):
            rows[cells[1]] = (cells[2], cells[3])
    return rows


def start_daemon(tmp_path, name, args, env):
    out = tmp_path / f"{name}.out"
    with open(out, "wb") as log:
        proc = spawn_vega(*args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
    return proc, out


@pytest.fixture
def secret(tmp_path):
    """A cluster secret: with one, the daemons used to listen on 0.0.0.0."""
    path = str(tmp_path / "secret")
    create_secret_file(path)
    return path


@pytest.fixture
def master(tmp_path, secret):
    """A master with a secret on 127.0.0.1, ephemeral ports."""
    ready = tmp_path / "master.ready"
    proc, out = start_daemon(tmp_path, "master", [
        "master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
        "--work-dir", str(tmp_path / "master"), "--secret-file", secret,
        "--ready-file", str(ready)], clean_env())
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master to start")
        assert proc.poll() is None, read_text(str(out))
        yield proc, json.loads(ready.read_text())
    finally:
        kill_group(proc)


# -- precedence ------------------------------------------------------------------------

def test_master_settings_come_from_defaults_file_config_env_and_flags_in_order(tmp_path):
    """vega master --verbose: a flag beats VEGA_*, which beats --config, which beats
    vega-defaults.yaml, which beats the built-in default; each row names its source."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    defaults = conf_dir / "vega-defaults.yaml"
    defaults.write_text("vega.worker.timeout: 5\nvega.master.finished_app_ttl: 100\n"
                        "vega.ui.request_timeout: 3\nvega.net.max_handshakes: 10\n"
                        "vega.master.port: 1\n")
    config = tmp_path / "daemon.yaml"
    # the nested form too: vega.master is a setting (the URL) and a prefix
    config.write_text("vega.worker.timeout: 6\nvega.net.max_handshakes: 11\n"
                      "vega:\n  master:\n    finished_app_ttl: 200\n    port: 2\n")
    env = clean_env(VEGA_CONF_DIR=str(conf_dir), VEGA_WORKER_TIMEOUT="7",
                    VEGA_MASTER_PORT="0", VEGA_UI_ALLOWED_HOSTS="ui.example.com",
                    VEGA_STRICT_MODES="false", COLUMNS=WIDE)
    ready = tmp_path / "ready"
    proc, out = start_daemon(tmp_path, "master", [
        "master", "--verbose", "--config", str(config), "--worker-timeout", "8",
        "--host", "127.0.0.1", "--webui-port", "0", "--work-dir", str(tmp_path / "m"),
        "--ready-file", str(ready)], env)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master to start")
        assert proc.poll() is None, read_text(str(out))
        port = json.loads(ready.read_text())["port"]  # the master deletes it when it stops
    finally:
        kill_group(proc)
    rows = settings_table(read_text(str(out)))
    assert rows["vega.worker.timeout"] == ("8.0", "command line")
    assert rows["vega.master.port"] == ("0", "environment")
    assert rows["vega.ui.allowed_hosts"] == ("ui.example.com", "environment")
    assert rows["vega.master.finished_app_ttl"] == ("200.0", str(config))
    assert rows["vega.net.max_handshakes"] == ("11", str(config))
    assert rows["vega.ui.request_timeout"] == ("3.0", str(defaults))
    assert rows["vega.net.send_timeout"] == ("20.0", "default")
    assert rows["vega.master.host"] == ("127.0.0.1", "command line")
    assert rows["vega.master.bind"] == ("127.0.0.1", "default: vega.master.host")
    # what it printed is what it did: the port came from the environment (0: any)
    assert port not in (1, 2, 7077)
    assert "vega.task.max_attempts" not in rows  # driver settings are not the master's
    # read by the daemons too (k8s/'s pods set it): it was missing from their table
    assert rows["vega.strict_modes"] == ("False", "environment")


def test_worker_verbose_prints_its_settings_with_flags_over_config(tmp_path, master):
    """vega worker --verbose: --death-timeout beats --config; cores and memory left at 0
    are this machine's, and say so."""
    _, ports = master
    config = tmp_path / "worker.yaml"
    config.write_text("vega.worker.death_timeout: 30\nvega.worker.heartbeat_interval: 0.5\n"
                      "vega.worker.labels: [gpu, ssd]\n")
    proc, out = start_daemon(tmp_path, "worker", [
        "worker", f"vega://127.0.0.1:{ports['port']}", "--verbose", "--config", str(config),
        "--death-timeout", "45", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
        "--work-dir", str(tmp_path / "w"), "--secret-file", str(tmp_path / "secret")],
        clean_env(COLUMNS=WIDE))
    try:
        wait_for(lambda: "registered with master" in read_text(str(out))
                 or proc.poll() is not None, 60, "the worker to register")
        assert proc.poll() is None, read_text(str(out))
    finally:
        kill_group(proc)
    rows = settings_table(read_text(str(out)))
    assert rows["vega.worker.death_timeout"] == ("45.0", "command line")
    assert rows["vega.worker.heartbeat_interval"] == ("0.5", str(config))
    assert rows["vega.worker.labels"] == ("gpu,ssd", str(config))
    assert rows["vega.worker.cores"] == (str(os.cpu_count()), "default: this machine's")
    value, origin = rows["vega.worker.bind"]  # left empty (in the defaults file): the host
    assert value == "127.0.0.1" and origin.endswith(": vega.worker.host"), origin
    assert "vega.worker.timeout" not in rows  # the master's


def test_a_bad_daemon_setting_names_its_source_and_key(tmp_path):
    """A malformed value in --config stops the daemon with exit code 2, naming file and key."""
    config = tmp_path / "bad.yaml"
    config.write_text("vega.worker.timeout: soon\n")
    proc = subprocess.run([*_vega(), "master", "--config", str(config), "--host", "127.0.0.1"],
                          cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{config}: vega.worker.timeout" in proc.stderr and "not a number" in proc.stderr


def _vega():
    import sys

    return [sys.executable, "-m", "vega_cli.main"]


# -- where the listeners bind -------------------------------------------------------------

@pytest.mark.parametrize("addresses,expected", [
    (["--host", "127.0.0.2", "--bind", "127.0.0.2"], "127.0.0.2"),
    (["--host", "127.0.0.2"], "127.0.0.2"),                      # bind defaults to --host
    (["--host", "127.0.0.2", "--bind", "0.0.0.0"], "0.0.0.0"),   # everywhere, when asked
])
def test_worker_listens_only_where_told(tmp_path, master, secret, addresses, expected):
    """A worker with a secret: its shuffle service and metrics listen on the --bind address
    (by default the --host one) and nowhere else; it registers with the master."""
    _, ports = master
    proc, out = start_daemon(tmp_path, "worker", [
        "worker", f"vega://127.0.0.1:{ports['port']}", *addresses, "--cores", "1",
        "--memory", "1g", "--port", "0", "--webui-port", "0",
        "--work-dir", str(tmp_path / "w"), "--secret-file", secret], clean_env())
    try:
        wait_for(lambda: "registered with master" in read_text(str(out))
                 or proc.poll() is not None, 60, "the worker to register")
        assert proc.poll() is None, read_text(str(out))
        wait_for(lambda: len(listening_sockets(proc.pid)) >= 2, 30, "shuffle and metrics ports")
        sockets = listening_sockets(proc.pid)
    finally:
        kill_group(proc)
    assert len(sockets) == 2, sockets  # the shuffle service and /metrics
    assert {host for host, _ in sockets} == {expected}, sockets


def test_master_listens_on_its_advertised_address_with_a_secret(tmp_path, secret):
    """vega master --host 127.0.0.2 with a secret: RPC and HTTP listen on 127.0.0.2 only."""
    ready = tmp_path / "ready"
    proc, out = start_daemon(tmp_path, "master", [
        "master", "--host", "127.0.0.2", "--port", "0", "--webui-port", "0",
        "--work-dir", str(tmp_path / "m"), "--secret-file", secret, "--ready-file", str(ready)],
        clean_env())
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master to start")
        assert proc.poll() is None, read_text(str(out))
        sockets = listening_sockets(proc.pid)
        ports = json.loads(ready.read_text())
    finally:
        kill_group(proc)
    assert sockets == {("127.0.0.2", ports["port"]), ("127.0.0.2", ports["webui_port"])}


def test_driver_listeners_bind_its_advertised_address(tmp_path):
    """A local-cluster driver advertised as 127.0.0.2 (vega.driver.host) serves executors
    and its metrics there only, with the cluster's secret; the job runs.  Its RPC port
    takes the vega.net.* limits it is given."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    with Context(master="local-cluster[1,1]", app_name="bind",
                 conf={"vega.driver.host": "127.0.0.2",
                       "vega.driver.metrics.port": metrics_port,
                       "vega.net.send_timeout": 7.5}) as ctx:
        assert ctx.parallelize(range(10), 2).map(lambda x: x * 2).sum() == 90
        assert ctx.backend.server.send_timeout == 7.5
        sockets = listening_sockets(os.getpid())
        driver_port = ctx.backend.server.port
    assert ("127.0.0.2", driver_port) in sockets
    assert ("127.0.0.2", metrics_port) in sockets
    assert not any(host == "0.0.0.0" or host.startswith("v6:") for host, _ in sockets), sockets


def test_a_worker_host_that_is_loopback_here_is_replaced_by_one_the_master_reaches(
        monkeypatch):
    """``--host`` 127.0.1.1 (a name Debian's /etc/hosts maps there) with the master at
    10.0.0.1: the worker advertises and listens on VEGA_LOCAL_IP instead, with a warning
    saying so; not when --bind says where to listen, nor with a master on loopback."""
    from vega_runtime.config import Config
    from vega_runtime.deploy.daemon_main import reachable_host

    monkeypatch.setenv("VEGA_LOCAL_IP", "10.0.0.7")
    conf = Config.load(cli={"vega.worker.host": "127.0.1.1"})
    moved, warning = reachable_host(conf, "vega.worker.host", "vega.worker.bind", "10.0.0.1")
    assert moved["vega.worker.host"] == "10.0.0.7" and moved["vega.worker.bind"] == ""
    assert warning == (
        "vega.worker.host 127.0.1.1 is a loopback address, where the master at 10.0.0.1 "
        "cannot reach this worker: advertising and listening on 10.0.0.7 instead "
        "(VEGA_LOCAL_IP). To choose, set VEGA_LOCAL_IP or --host to this machine's address "
        "on the cluster's network")
    assert reachable_host(conf, "vega.worker.host", "vega.worker.bind", "127.0.0.1") == \
        (conf, "")
    bound = Config.load(cli={"vega.worker.host": "127.0.1.1", "vega.worker.bind": "0.0.0.0"})
    assert reachable_host(bound, "vega.worker.host", "vega.worker.bind", "10.0.0.1") == \
        (bound, "")


def test_a_local_ip_given_as_a_host_name_is_taken_as_the_address(monkeypatch):
    """VEGA_LOCAL_IP of a name (Spark's SPARK_LOCAL_IP takes one) made a worker whose --host
    is loopback here, with its master elsewhere, die at start with a traceback: "ValueError:
    'node7.invalid' does not appear to be an IPv4 or IPv6 address".  A name that resolves to
    loopback only is no better than --host (nothing moves, as for 127.0.0.3); another is
    advertised as given."""
    from vega_runtime.config import Config
    from vega_runtime.deploy.daemon_main import reachable_host

    conf = Config.load(cli={"vega.worker.host": "127.0.1.1"})
    monkeypatch.setenv("VEGA_LOCAL_IP", "localhost")
    assert reachable_host(conf, "vega.worker.host", "vega.worker.bind", "10.0.0.1") == \
        (conf, "")
    monkeypatch.setenv("VEGA_LOCAL_IP", "node7.invalid")
    moved, warning = reachable_host(conf, "vega.worker.host", "vega.worker.bind", "10.0.0.1")
    assert moved["vega.worker.host"] == "node7.invalid"
    assert "advertising and listening on node7.invalid instead (VEGA_LOCAL_IP)" in warning


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root and unshare(1) for a host name and /etc/hosts of its own")
@pytest.mark.parametrize("local_ip, expected", [(None, "127.0.1.1"), ("127.0.0.3", "127.0.0.3")])
def test_a_master_whose_host_name_is_loopback_says_only_this_machine_reaches_it(
        tmp_path, secret, local_ip, expected):
    """A master started without --host on a machine whose /etc/hosts maps its own name to
    127.0.1.1 (Debian's default; here a UTS and mount namespace of the test's own) listens
    there and warns once that workers on other hosts cannot reach it, and how to choose;
    with VEGA_LOCAL_IP it listens there, without a word (it said nothing before)."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 node7\n")
    ready = tmp_path / "ready"
    env = clean_env() if local_ip is None else {**clean_env(), "VEGA_LOCAL_IP": local_ip}
    argv = " ".join(shlex.quote(a) for a in vega_argv(
        "master", "--port", "0", "--webui-port", "0", "--work-dir", str(tmp_path / "m"),
        "--secret-file", secret, "--ready-file", str(ready)))
    out = tmp_path / "master.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            ["unshare", "--uts", "--mount", "sh", "-c",
             f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && hostname node7 && "
             f"exec {argv}"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master to start")
        assert proc.poll() is None, read_text(str(out))
        hosts_listening = {host for host, _ in listening_sockets(proc.pid)}
    finally:
        kill_group(proc)
    assert hosts_listening == {expected}
    warned = [line.split(" WARNING vega_cli: ", 1)[1] for line in read_text(str(out)).splitlines()
              if " WARNING vega_cli: this machine's host name" in line]
    assert warned == ([] if local_ip else [
        "this machine's host name, node7, resolves to a loopback address (127.0.1.1): the "
        "master listens there, where only this machine reaches it. For workers on other "
        "hosts, start it with --host ADDRESS (this machine's address on their network) or "
        "set VEGA_LOCAL_IP"])
