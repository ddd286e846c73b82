"""vega start-cluster / stop-cluster / start-workers across hosts: network namespaces on a
bridge, each with a real sshd (``netns_hosts``)."""

import os
import subprocess

from proc_helpers import REPO, vega_argv, vega_processes
from netns_hosts import NetworkHosts, requires_netns_sshd
from test_start_cluster import ssh_fingerprint, write_cluster


def vega_in_control(net, *args, env=None):
    """``vega ARGS`` run in the control namespace (where the hosts are reachable), to the end."""
    return subprocess.run(net.in_control(vega_argv(*args)), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def write_hosts_job(tmp_path):
    """A job printing the sorted hosts its tasks ran on (12 tasks, each long enough that every
    executor takes some)."""
    job = tmp_path / "hosts.py"
    job.write_text("import time\nfrom vega_runtime import Context, TaskContext\n"
                   "def where(_):\n"
                   "    time.sleep(0.3)  # long enough for every executor to take tasks\n"
                   "    return TaskContext.get().host\n"
                   "with Context() as ctx:\n"
                   "    hosts = ctx.parallelize(range(12), 12).map(where).distinct().collect()\n"
                   "    print('HOSTS', sorted(hosts))\n")
    return str(job)


@requires_netns_sshd
def test_start_cluster_across_three_hosts(tmp_path):
    """Three namespaces with their own sshd: the master on one, workers on all three (sharing
    one work dir, as hosts sharing an NFS home do); a job's tasks run on every worker;
    stop-cluster leaves nothing running on any host."""
    with NetworkHosts(3, tmp_path / "net") as net:
        first = net.hosts[0]
        workers = [f"host: {h.host}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"
                   for h in net.hosts]
        config, port = write_cluster(tmp_path, first, workers, master_host=first.host, port=7077)
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.count("started, registered") == 3
        env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
        ran = vega_in_control(net, "submit", "--master", f"vega://{first.host}:7077",
                              write_hosts_job(tmp_path), env=env)
        assert f"HOSTS {sorted(h.host for h in net.hosts)}" in ran.stdout, ran.stdout + ran.stderr
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("stopped") == 4
        assert vega_processes(str(tmp_path / "work")) == []


@requires_netns_sshd
def test_start_cluster_starts_a_master_named_by_a_second_interface_locally(tmp_path):
    """The master is named by the bridge address of the machine start-cluster runs on, not the
    address its host name resolves to: it starts locally (no sshd listens there), the workers
    on two hosts over SSH, a job runs on both, and stop-cluster leaves nothing."""
    with NetworkHosts(2, tmp_path / "net") as net:
        workers = [f"host: {h.host}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"
                   for h in net.hosts]
        config, _ = write_cluster(tmp_path, net.hosts[0], workers, master_host=net.control_ip,
                                  port=7077)
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.count("started, registered") == 2
        env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
        ran = vega_in_control(net, "submit", "--master", f"vega://{net.control_ip}:7077",
                              write_hosts_job(tmp_path), env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout == f"HOSTS {sorted(h.host for h in net.hosts)}\n", ran.stderr
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("stopped") == 3
        assert vega_processes(str(tmp_path)) == []


@requires_netns_sshd
def test_host_keys_are_checked_per_host_across_namespaces(tmp_path):
    """Two hosts, only the first one's key known: start-cluster starts the master and the
    first worker, fails the second host's row with its fingerprint and the ssh-keyscan hint
    (no secret sent there); --accept-new-host-keys starts it and records its key; a forged
    key for the first host then fails its row of stop-workers as a possible man-in-the-middle."""
    with NetworkHosts(2, tmp_path / "net") as net:
        first, second = net.hosts
        known = tmp_path / "known_hosts"
        lines = open(net.known_hosts_path).read().splitlines(keepends=True)
        known.write_text(lines[0])
        workers = [f"host: {h.host}\ncores: 1\nwork_dir: {tmp_path}/work{i}"
                   for i, h in enumerate(net.hosts)]
        config, _ = write_cluster(tmp_path, first, workers, master_host=net.control_ip,
                                  port=7077, known_hosts=str(known))
        refused = vega_in_control(net, "start-cluster", "--config", config)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stdout.count("started, registered") == 1
        assert ("unknown SSH host key ED25519 " + ssh_fingerprint(second.host_key_path + ".pub")
                in refused.stdout)
        assert f"ssh-keyscan -p 22 {second.host} >> {known}" in refused.stdout
        assert list(tmp_path.glob("work1/*/vega-secret")) == []
        copies = list(tmp_path.glob("work0/*/vega-secret"))
        assert [oct(os.stat(c).st_mode & 0o777) for c in copies] == ["0o600"]
        accepted = vega_in_control(net, "start-cluster", "--accept-new-host-keys",
                                   "--config", config)
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert accepted.stdout.count("already running") == 2
        assert accepted.stdout.count("started, registered") == 1
        assert known.read_text() == "".join(lines)
        assert [oct(os.stat(c).st_mode & 0o777) for c in tmp_path.glob("work*/*/vega-secret")
                ] == ["0o600", "0o600"]
        kind, blob = open(make_key(tmp_path / "forged") + ".pub").read().split()[:2]
        known.write_text(f"{first.host} {kind} {blob}\n" + lines[1])
        forged = vega_in_control(net, "stop-workers", "--accept-new-host-keys", "--config", config)
        assert forged.returncode == 1 and "man-in-the-middle" in forged.stdout, forged.stdout
        assert forged.stdout.count("stopped") == 1  # the second host's worker
        known.write_text("".join(lines))
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("stopped") == 2  # the first host's worker, the master
        assert vega_processes(str(tmp_path)) == []


def make_key(path):
    from sshd_hosts import make_client_key

    return make_client_key(path)


def listen_in(argv_prefix, host, port):
    """A process (in the namespace ``argv_prefix`` enters) holding ``host:port`` open, once it
    listens; the caller kills it."""
    import sys

    holder = subprocess.Popen(
        [*argv_prefix, sys.executable, "-c",
         "import socket, sys, time\n"
         "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         f"s.bind(({host!r}, {port})); s.listen(); print('listening', flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "listening\n"
    return holder


@requires_netns_sshd
def test_a_daemon_whose_port_is_taken_fails_its_row_saying_so(tmp_path):
    """A port already taken: the row of the daemon that cannot listen says so (its own error,
    naming the address, and what to do), exit code 1, nothing of it left running. First the
    master's web UI port (the master starts here), then a worker's shuffle port on its host
    (over SSH; its interpreter is a wrapper fixing vega.worker.port, as VEGA_WORKER_PORT)."""
    import sys

    import yaml

    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        python = tmp_path / "python"
        python.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} VEGA_WORKER_PORT=7999 "
                          f'exec {sys.executable} "$@"\n')
        python.chmod(0o755)
        config, _ = write_cluster(tmp_path, host, [
            f"host: {host.host}\ncores: 1\nmemory: 1g\npython: {python}\n"
            f"work_dir: {tmp_path}/work"], master_host=net.control_ip, port=7077)
        webui_port = yaml.safe_load(open(config))["master"]["webui_port"]
        holder = listen_in(net.in_control([]), net.control_ip, webui_port)
        try:
            refused = vega_in_control(net, "start-cluster", "--config", config)
        finally:
            holder.kill()
            holder.wait()
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (f"master did not start (exit 1): vega: error: cannot start the master's web UI "
                f"on {net.control_ip}:{webui_port}: [Errno 98] Address already in use"
                in refused.stdout), refused.stdout
        assert "Another process already listens on that port" in refused.stdout
        assert vega_processes(str(tmp_path)) == []
        holder = listen_in(net.in_host(0, []), host.host, 7999)
        try:
            started = vega_in_control(net, "start-cluster", "--config", config)
            assert started.returncode == 1, started.stdout + started.stderr
            assert "| started " in started.stdout.replace("│", "|")  # the master
            assert ("worker did not start (exit 1): vega: error: cannot start the worker: "
                    "[Errno 98] Address already in use (while attempting to bind on address "
                    f"('{host.host}', 7999))" in started.stdout), started.stdout
            assert "Another process already listens on that port" in started.stdout
        finally:
            holder.kill()
            holder.wait()
            stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert vega_processes(str(tmp_path)) == []


@requires_netns_sshd
def test_a_host_dropping_off_mid_command_is_given_up_quickly(tmp_path):
    """stop-workers is running its command on a host when the host drops off the network
    (iptables DROP): its row says the connection was lost after ~3 x ssh.connect_timeout
    (3 s here), not after the command's 120 s timeout, with what to do; exit code 1."""
    import time

    from proc_helpers import wait_for

    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        running = tmp_path / "running"
        python = tmp_path / "python"  # marks that the command runs on the host, then hangs
        python.write_text(f"#!/bin/sh\ntouch {running}\nsleep 300\n")
        python.chmod(0o755)
        config, _ = write_cluster(tmp_path, host, [
            f"host: {host.host}\npython: {python}\nwork_dir: {tmp_path}/work"],
            master_host=net.control_ip, port=7077)
        began = time.monotonic()
        stopping = net.run_in_control(vega_argv("stop-workers", "--config", config), cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(running.exists, what="the stop command to run on the host")
        net.drop(0)
        out, err = stopping.communicate(timeout=120)
        took = time.monotonic() - began
    assert stopping.returncode == 1, out + err
    assert (f"root@{host.host}:22: lost the SSH connection: no answer from the host for 9s (did "
            "it go down or off the network?); check it, then run this command again" in out), out
    assert took < 40, took


@requires_netns_sshd
def test_stop_workers_gives_an_unreachable_host_one_connect_timeout(tmp_path):
    """A worker host that drops every packet: stop-workers fails its row after one
    ssh.connect_timeout (6 s here), not two (it tried to connect a second time), exit 1."""
    import time

    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        config, _ = write_cluster(tmp_path, host, [f"host: {host.host}\nwork_dir: {tmp_path}/w"],
                                  master_host=net.control_ip, port=7077)
        config_text = open(config).read().replace("connect_timeout: 3", "connect_timeout: 6")
        open(config, "w").write(config_text)
        net.drop(0)
        began = time.monotonic()
        result = vega_in_control(net, "stop-workers", "--config", config)
        took = time.monotonic() - began
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"root@{host.host}:22: SSH connection timed out; is the host up and the SSH port "
            "right?; NOT STOPPED: the worker there, if it runs, keeps running (run this command "
            "again once the host answers)" in result.stdout), result.stdout
    assert took < 11, took


@requires_netns_sshd
def test_an_address_no_host_has_fails_its_row_saying_it_cannot_be_reached(tmp_path):
    """A worker address on the hosts' network that no host has (a typo): its row says the
    host cannot be reached, with the system's reason, and to check the address (it said
    '[Errno None] Unable to connect to port 22 on ...; is sshd running on that port?')."""
    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        nobody = host.host.rsplit(".", 1)[0] + ".99"
        config, _ = write_cluster(tmp_path, host, [f"host: {nobody}\nwork_dir: {tmp_path}/w"],
                                  master_host=net.control_ip, port=7077)
        config_text = open(config).read().replace("connect_timeout: 3", "connect_timeout: 30")
        open(config, "w").write(config_text)  # the neighbour lookup gives up first (~3 s)
        result = vega_in_control(net, "stop-workers", "--config", config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"root@{nobody}:22: cannot connect over SSH: {nobody} cannot be reached (No route "
            "to host); is the host up, and its address in the cluster file right "
            "(workers[].host, master.host)?" in result.stdout), result.stdout


@requires_netns_sshd
def test_start_cluster_interrupted_says_what_keeps_running(tmp_path):
    """Ctrl-C while start-cluster waits for an unreachable worker host: exit code 130 and
    one message saying that what had started keeps running and how to stop it."""
    import signal

    from proc_helpers import wait_for

    with NetworkHosts(2, tmp_path / "net") as net:
        workers = [f"host: {h.host}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"
                   for h in net.hosts]
        config, _ = write_cluster(tmp_path, net.hosts[0], workers, master_host=net.control_ip,
                                  port=7077)
        net.drop(1)
        starting = net.run_in_control(vega_argv("start-cluster", "--config", config), cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: vega_processes(str(tmp_path / "work")), what="the first worker")
        starting.send_signal(signal.SIGINT)
        out, err = starting.communicate(timeout=120)
        assert starting.returncode == 130, out + err
        assert err.endswith("vega: error: interrupted: what had started keeps running\n"
                            f"vega stop-cluster --config {config} stops it; vega start-cluster "
                            "again starts the rest\n"), err
        net.undrop(1)
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert vega_processes(str(tmp_path)) == []



@requires_netns_sshd
def test_start_cluster_on_ipv6_only_hosts(tmp_path):
    """Hosts that have IPv6 addresses only: the cluster file names them bare (and the master
    in brackets, as a URL does); start-cluster reaches them over SSH, the master and the
    workers listen on their IPv6 addresses, a job with a shuffle runs on both workers,
    `vega status` reads the master, and stop-cluster leaves nothing running."""
    with NetworkHosts(2, tmp_path / "net", ipv6=True) as net:
        first = net.hosts[0]
        workers = [f"host: '{h.host}'\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"
                   for h in net.hosts]
        config, _ = write_cluster(tmp_path, first, workers, master_host=f"'[{first.host}]'",
                                  port=7077)
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.count("started, registered") == 2
        url = f"vega://[{first.host}]:7077"
        env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
        job = tmp_path / "shuffle.py"
        job.write_text("import time\nfrom vega_runtime import Context, TaskContext\n"
                       "def where(x):\n"
                       "    time.sleep(0.3)\n"
                       "    return (x % 3, TaskContext.get().host)\n"
                       "with Context() as ctx:\n"
                       "    pairs = ctx.parallelize(range(12), 12).map(where)\n"
                       "    print('HOSTS', sorted(set(pairs.values().collect())))\n"
                       "    print('KEYS', sorted(pairs.group_by_key().keys().collect()))\n")
        ran = vega_in_control(net, "submit", "--master", url, str(job), env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout == f"HOSTS {sorted(h.host for h in net.hosts)}\nKEYS [0, 1, 2]\n", \
            ran.stderr
        shown = vega_in_control(net, "status", "--master", url, env=env)
        assert shown.returncode == 0 and shown.stdout.count("alive") == 2, shown.stdout
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.count("stopped") == 3
        assert vega_processes(str(tmp_path / "work")) == []


@requires_netns_sshd
def test_workers_are_not_called_unregistered_when_only_this_machine_cannot_reach_the_master(
        tmp_path):
    """A firewall drops what this machine sends to the master's port (the workers reach it,
    this machine reaches the hosts over SSH only): start-cluster's worker row says that it
    could not check the registration and why, exit code 0 (it said "started, but never
    registered with the master", exit 1, of a worker that had registered)."""
    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        config, _ = write_cluster(tmp_path, host, [
            f"host: {host.host}\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"],
            master_host=host.host, port=7077)
        rule = ["OUTPUT", "-p", "tcp", "-d", host.host, "--dport", "7077", "-j", "DROP"]
        subprocess.run(net.in_control(["iptables", "-w", "-I", *rule]), check=True)
        started = vega_in_control(net, "start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert (f"| started; not checked that it registered: this machine cannot reach the "
                f"master at vega://{host.host}:7077 ({host.host}:7077 did not answer within 5s: "
                "its host is down or cut off the network, or a firewall drops what is sent to "
                "that port); vega status on a host that can shows it |"
                in started.stdout.replace("│", "|")), started.stdout
        subprocess.run(net.in_control(["iptables", "-w", "-D", *rule]), check=True)
        env = {**os.environ, "VEGA_SECRET_FILE": str(tmp_path / "secret")}
        shown = vega_in_control(net, "status", "--master", f"vega://{host.host}:7077", env=env)
        assert shown.returncode == 0 and shown.stdout.count(" alive ") == 1, shown.stdout
        stopped = vega_in_control(net, "stop-cluster", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert vega_processes(str(tmp_path)) == []


@requires_netns_sshd
def test_ctrl_c_while_a_host_does_not_answer_leaves_at_once(tmp_path):
    """Ctrl-C while stop-workers waits for a host that drops every packet (connect_timeout
    30 s): it exits at once, 130, saying the daemons being stopped may still run and how to
    go on (it waited for the connection to time out first, and said only 'interrupted')."""
    import signal
    import time

    from proc_helpers import wait_for

    with NetworkHosts(1, tmp_path / "net") as net:
        [host] = net.hosts
        config, _ = write_cluster(tmp_path, host, [f"host: {host.host}\nwork_dir: {tmp_path}/w"],
                                  master_host=net.control_ip, port=7077)
        text = open(config).read()
        open(config, "w").write(text.replace("connect_timeout: 3", "connect_timeout: 30"))
        net.drop(0)
        stopping = net.run_in_control(vega_argv("stop-workers", "--config", config), cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        connecting = net.in_control(["ss", "-Htn", "state", "syn-sent", "dst", host.host])
        wait_for(lambda: subprocess.run(connecting, capture_output=True, text=True).stdout,
                 what="stop-workers connecting to the host")
        interrupted = time.monotonic()
        stopping.send_signal(signal.SIGINT)
        out, err = stopping.communicate(timeout=60)
        took = time.monotonic() - interrupted
    assert stopping.returncode == 130, out + err
    assert err == ("vega: error: interrupted: the daemons being stopped may still run\n"
                   f"vega stop-workers --config {config} again stops what is left\n"), err
    assert took < 5, took


@requires_netns_sshd
def test_the_master_host_is_logged_in_to_as_its_worker_entry_says(tmp_path):
    """The master's host runs its sshd on port 2222 only, which its worker entry says
    (ssh_port: 2222; the ssh section keeps 22 for the other host): start-cluster starts the
    master there over SSH on 2222 and both workers, stop-cluster stops all three.  Before,
    the master was tried on the ssh section's port 22 and its row failed ("nothing listens
    on port 22")."""
    from sshd_hosts import start_sshd

    with NetworkHosts(2, tmp_path / "net") as net:
        first, second = net.hosts
        first.stop()
        moved = start_sshd(tmp_path / "sshd2222", host=first.host, port=2222,
                           netns=net.namespaces[0], client_key=net.key_path,
                           client_netns=net.control_ns)
        try:
            known = tmp_path / "known_hosts"
            known.write_text(open(moved.known_hosts_path).read()
                             + open(net.known_hosts_path).read().splitlines(True)[1])
            workers = [f"host: {first.host}\nssh_port: 2222\ncores: 1\nwork_dir: {tmp_path}/w1",
                       f"host: {second.host}\ncores: 1\nwork_dir: {tmp_path}/w2"]
            config, _ = write_cluster(tmp_path, second, workers, master_host=first.host,
                                      port=7077, known_hosts=str(known))
            started = vega_in_control(net, "start-cluster", "--config", config)
            assert started.returncode == 0, started.stdout + started.stderr
            assert started.stdout.count("started, registered") == 2, started.stdout
            assert "│ master │ start  │ started " in started.stdout, started.stdout
            stopped = vega_in_control(net, "stop-cluster", "--config", config)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
            assert stopped.stdout.count("stopped") == 3, stopped.stdout
            assert vega_processes(str(tmp_path)) == []
        finally:
            moved.stop()


def _control_only_python(directory) -> str:
    """An interpreter at a path of its own (a venv of this one, seeing its packages) that
    runs only where CONTROL_MACHINE is set: in the control namespace, not in a command an
    sshd runs (which has none of this environment), as the path of the control machine's
    Python that the other hosts lack."""
    import sysconfig
    import venv

    venv.create(directory, with_pip=False, symlinks=True)
    site_packages = next(directory.glob("lib/python3*/site-packages"))
    base = sysconfig.get_paths()["purelib"]  # this interpreter's packages (click, rich ...)
    (site_packages / "control_only.pth").write_text(
        "import os, sys; os.environ.get('CONTROL_MACHINE') or (sys.stderr.write("
        "'no such interpreter on this host\\n'), sys.stderr.flush(), os._exit(127))\n"
        f"import site; site.addsitedir({base!r})\n")
    return str(directory / "bin" / "python")


@requires_netns_sshd
def test_the_master_runs_the_python_its_host_has(tmp_path):
    """The control machine's interpreter is not on the master's host (it runs only in the
    control namespace); the master's Python lives at another path, named by master.python,
    else by the worker entry on the master's host: start-cluster starts the master (and
    the workers) with it and stop-cluster stops them.  Before, the master was run with the
    control machine's path, and its row failed ("no such interpreter on this host")."""
    import sys

    python = tmp_path / "host-python"  # the hosts' interpreter, at a path of its own
    python.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    control = _control_only_python(tmp_path / "control")
    env = {**os.environ, "CONTROL_MACHINE": "1", "PYTHONPATH": REPO}
    with NetworkHosts(2, tmp_path / "net") as net:
        first, second = net.hosts

        def run(*args):
            return subprocess.run(net.in_control([control, "-m", "vega_cli.main", *args]),
                                  cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=300)

        layouts = {  # the master's own python; the python of the worker on its host
            "master.python": ([f"host: {second.host}\ncores: 1\npython: {python}\n"
                               f"work_dir: {tmp_path}/w2"], f"  python: {python}\n"),
            "its worker's": ([f"host: {first.host}\ncores: 1\npython: {python}\n"
                              f"work_dir: {tmp_path}/w1"], "")}
        for name, (workers, master_python) in layouts.items():
            config, _ = write_cluster(tmp_path, first, workers, master_host=first.host,
                                      port=7077)
            text = open(config).read()
            open(config, "w").write(text.replace("\nssh:\n", f"\n{master_python}ssh:\n", 1))
            started = run("start-cluster", "--config", config)
            assert started.returncode == 0, (name, started.stdout + started.stderr)
            assert "│ master │ start  │ started " in started.stdout, (name, started.stdout)
            assert started.stdout.count("started, registered") == 1, (name, started.stdout)
            stopped = run("stop-cluster", "--config", config)
            assert stopped.returncode == 0, (name, stopped.stdout + stopped.stderr)
            assert stopped.stdout.count("stopped") == 2, (name, stopped.stdout)
            assert vega_processes(str(tmp_path)) == []
